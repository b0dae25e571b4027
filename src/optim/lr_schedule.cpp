#include <algorithm>
#include <cmath>
#include <numbers>

#include "meshtrain/optim.h"
#include "optim/exact_power.h"

namespace meshtrain {

double ScheduledLearningRate(const OptimConfig& config, int64_t step, int64_t total_steps) {
  step = std::max<int64_t>(step, 0);
  double lr = config.lr;
  if (config.schedule == LrSchedule::kStep) {
    lr = config.lr * optim_internal::PowInt(config.gamma, step / std::max<int64_t>(config.step_size, 1));
  } else if (config.schedule == LrSchedule::kCosine) {
    // A run no longer than its warmup is all warmup: the cosine never starts
    // (it used to be taken as finished, so lr was min_lr times the ramp: 0 by default).
    const double span = static_cast<double>(total_steps - config.warmup_steps);
    const double all_warmup = config.warmup_steps > 0 ? 0.0 : 1.0;  // no warmup and no run length: the floor
    const double progress =
        span > 0 ? std::clamp(static_cast<double>(step - config.warmup_steps) / span, 0.0, 1.0) : all_warmup;
    // std::cos may differ between CPUs in the last bit of the double; the step
    // uses lr as a float, which that changes only at a rounding tie (~2^-29).
    lr = config.min_lr + (config.lr - config.min_lr) * 0.5 * (1.0 + std::cos(std::numbers::pi * progress));
  }
  if (config.warmup_steps > 0 && step < config.warmup_steps) {
    lr *= static_cast<double>(step + 1) / static_cast<double>(config.warmup_steps);
  }
  return lr;
}

}  // namespace meshtrain
