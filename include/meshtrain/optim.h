// Optimizers (SGD with momentum/Nesterov, Adam), learning-rate schedules and
// gradient helpers, all working on the model's flat buffers. The optimizer's own
// state is one flat float buffer too, so checkpoints and state sync can copy it
// byte for byte.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "meshtrain/aligned_buffer.h"
#include "meshtrain/config.h"
#include "meshtrain/status.h"

namespace meshtrain {

class Optimizer {
 public:
  virtual ~Optimizer();
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // Applies one update to `params` from `grads` (both num_params() long) with
  // learning rate `lr`. `step` is the 1-based global step (Adam's bias
  // correction); the optimizer keeps no step counter of its own, so restoring
  // state() and passing the right step resumes exactly. Allocates nothing.
  virtual void Step(std::span<float> params, std::span<const float> grads, double lr, int64_t step) = 0;

  // e.g. "sgd momentum=0.9 nesterov wd=0.0001", "adam b1=0.9 b2=0.999 eps=1e-08".
  virtual std::string Describe() const = 0;

  // The flat optimizer state: SGD's momentum buffer (empty without momentum),
  // Adam's first moments then second moments. Zero after construction.
  std::span<float> state() { return state_; }
  std::span<const float> state() const { return state_; }
  int64_t num_params() const { return num_params_; }

 protected:
  Optimizer(int64_t num_params, int64_t state_size);

 private:
  int64_t num_params_;
  AlignedFloats state_;
};

// Builds the optimizer of `config` for `num_params` parameters. An unknown type
// or an out-of-range hyperparameter returns InvalidArgument naming the key.
Result<std::unique_ptr<Optimizer>> CreateOptimizer(const OptimConfig& config, int64_t num_params);

// Checks every key of OptimConfig this module reads (type, lr, momentum, betas,
// eps, weight_decay, schedule and its knobs, clip_norm).
Status ValidateOptimConfig(const OptimConfig& config);

// The learning rate for the update with 0-based index `step` (= steps already
// applied) in a run of `total_steps`:
//   constant: lr;  step: lr * gamma^floor(step / step_size);
//   cosine:   min_lr + (lr - min_lr) * (1 + cos(pi * p)) / 2 with
//             p = (step - warmup_steps) / (total_steps - warmup_steps) clamped to [0, 1].
// With warmup_steps > 0 any schedule is multiplied by (step + 1) / warmup_steps
// while step < warmup_steps (so the first update is not wasted at lr 0).
double ScheduledLearningRate(const OptimConfig& config, int64_t step, int64_t total_steps);

// Σ v², in double, summed in a fixed order (eight interleaved lanes folded
// pairwise), so every CPU gets the same bits: peers of a ring apply the same
// reduced gradient and must clip it by the same factor.
double SumOfSquares(std::span<const float> values);

// Scales `grads` so that their L2 norm is at most max_norm; returns the norm
// before clipping. max_norm <= 0 or a non-finite norm leaves grads untouched.
double ClipByGlobalNorm(std::span<float> grads, double max_norm);

// True when no value is NaN or infinite.
bool AllFinite(std::span<const float> values);

}  // namespace meshtrain
