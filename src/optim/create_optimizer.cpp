// CreateOptimizer and the checks of every [optim] key this module reads.
#include <cmath>
#include <new>
#include <sstream>

#include "meshtrain/optim.h"
#include "optim/adam.h"
#include "optim/sgd.h"

namespace meshtrain {
namespace {

std::string Num(double value) {
  std::ostringstream text;
  text << value;
  return text.str();
}

Status OutOfRange(const std::string& key, const std::string& rule, double value) {
  return Status::InvalidArgument("optim." + key + ": must be " + rule + " (got " + Num(value) + ")");
}

}  // namespace

Status ValidateOptimConfig(const OptimConfig& c) {
  if (!(c.lr > 0) || !std::isfinite(c.lr)) return OutOfRange("lr", "> 0", c.lr);
  if (!(c.momentum >= 0 && c.momentum < 1)) return OutOfRange("momentum", "in [0, 1)", c.momentum);
  if (c.nesterov && c.type == OptimizerType::kSgd && c.momentum == 0) {
    return Status::InvalidArgument("optim.nesterov: needs optim.momentum > 0");
  }
  if (!(c.weight_decay >= 0) || !std::isfinite(c.weight_decay)) {
    return OutOfRange("weight_decay", ">= 0", c.weight_decay);
  }
  if (!(c.beta1 >= 0 && c.beta1 < 1)) return OutOfRange("beta1", "in [0, 1)", c.beta1);
  if (!(c.beta2 >= 0 && c.beta2 < 1)) return OutOfRange("beta2", "in [0, 1)", c.beta2);
  if (!(c.eps > 0) || !std::isfinite(c.eps)) return OutOfRange("eps", "> 0", c.eps);
  if (c.warmup_steps < 0) return OutOfRange("warmup_steps", ">= 0", static_cast<double>(c.warmup_steps));
  if (c.step_size <= 0) return OutOfRange("step_size", "> 0", static_cast<double>(c.step_size));
  if (!(c.gamma > 0) || !std::isfinite(c.gamma)) return OutOfRange("gamma", "> 0", c.gamma);
  if (!(c.min_lr >= 0) || !std::isfinite(c.min_lr)) return OutOfRange("min_lr", ">= 0", c.min_lr);
  if (!(c.clip_norm >= 0) || !std::isfinite(c.clip_norm)) return OutOfRange("clip_norm", ">= 0", c.clip_norm);
  return Status::OK();
}

Result<std::unique_ptr<Optimizer>> CreateOptimizer(const OptimConfig& config, int64_t num_params) {
  MESHTRAIN_RETURN_IF_ERROR(ValidateOptimConfig(config));
  if (num_params <= 0) {
    return Status::InvalidArgument("optimizer: the model has " + std::to_string(num_params) + " parameters");
  }
  try {
    if (config.type == OptimizerType::kAdam) {
      return std::unique_ptr<Optimizer>(std::make_unique<AdamOptimizer>(num_params, config.beta1, config.beta2,
                                                                        config.eps, config.weight_decay));
    }
    return std::unique_ptr<Optimizer>(std::make_unique<SgdOptimizer>(
        num_params, static_cast<float>(config.momentum), config.nesterov, static_cast<float>(config.weight_decay)));
  } catch (const std::bad_alloc&) {
    return Status::Unavailable("optimizer: out of memory for the state of " + std::to_string(num_params) +
                               " parameters");
  }
}

}  // namespace meshtrain
