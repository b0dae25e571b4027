// Models: linear regression, softmax regression and MLPs on Eigen, each keeping
// its parameters and gradients in ONE contiguous float buffer (per-layer
// Eigen::Map views into it), so that all-reduce, gossip, checkpoints and state
// sync move the flat buffer as it is.
//
// Layout of the flat buffer, layer by layer from the input: W (out x in,
// column-major) then b (out). A step allocates nothing: activations are
// preallocated for `max_batch` rows at construction.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "meshtrain/aligned_buffer.h"
#include "meshtrain/batch.h"
#include "meshtrain/config.h"
#include "meshtrain/status.h"

namespace meshtrain {

// Running sums of an evaluation over any number of batches.
struct EvalTotals {
  double loss_sum = 0;  // sum over samples of the per-sample loss
  int64_t correct = 0;  // classification only: argmax == label
  int64_t count = 0;    // samples seen

  double loss() const { return count > 0 ? loss_sum / static_cast<double>(count) : 0.0; }
  double accuracy() const { return count > 0 ? static_cast<double>(correct) / static_cast<double>(count) : 0.0; }
};

class Model {
 public:
  virtual ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  std::span<float> params() { return params_; }
  std::span<const float> params() const { return params_; }
  std::span<float> grads() { return grads_; }
  std::span<const float> grads() const { return grads_; }
  int64_t num_params() const { return static_cast<int64_t>(params_.size()); }

  // e.g. "mlp 784-128-10 relu", "softmax 784-10", "linear 8-1".
  virtual std::string Describe() const = 0;

  // Weights uniform in +-sqrt(6/fan_in) (he) or +-sqrt(6/(fan_in+fan_out))
  // (xavier) from a portable generator seeded by `seed` (the same seed gives the
  // same bits on every platform); biases and gradients zero.
  virtual void InitParams(uint64_t seed) = 0;

  // Returns the mean loss over the batch and writes the mean gradient into grads().
  // Linear regression: loss = mean of 0.5*(y_hat - y)^2; classifiers: softmax
  // cross-entropy. Batches larger than max_batch are processed in chunks (exact
  // same result). A batch that does not fit the model (wrong dim, missing labels
  // or targets, a label outside [0, num_classes)) returns NaN, so the caller's
  // finite check skips the update; an empty batch returns 0 with zero grads.
  virtual double ForwardBackward(const Batch& batch) = 0;

  // Adds the batch's loss sum, correct count (classifiers) and row count to
  // *totals. Leaves grads() untouched.
  virtual void Evaluate(const Batch& batch, EvalTotals* totals) = 0;

 protected:
  explicit Model(int64_t num_params);

 private:
  AlignedFloats params_;
  AlignedFloats grads_;
};

// Builds the model `config` describes for inputs of `input_dim` features and
// `num_classes` classes (0 = regression, which needs type "linear"; "softmax"
// and "mlp" need num_classes >= 2). Activations are preallocated for
// `max_batch` rows. Invalid combinations return InvalidArgument naming the key.
Result<std::unique_ptr<Model>> CreateModel(const ModelConfig& config, int64_t input_dim, int num_classes,
                                           int64_t max_batch);

}  // namespace meshtrain
