#include "optim/adam.h"

#include <algorithm>
#include <cassert>
#include <cmath>
#include <sstream>

#include "optim/exact_power.h"

namespace meshtrain {

AdamOptimizer::AdamOptimizer(int64_t num_params, double beta1, double beta2, double eps, double weight_decay)
    : Optimizer(num_params, 2 * num_params), beta1_(beta1), beta2_(beta2), eps_(eps), weight_decay_(weight_decay) {}

void AdamOptimizer::Step(std::span<float> params, std::span<const float> grads, double lr, int64_t step) {
  assert(static_cast<int64_t>(params.size()) == num_params() && params.size() == grads.size());
  assert(step >= 1);
  // Every peer of a ring applies the same reduced gradient and must compute the
  // same step to the bit: integer powers by multiplication, not std::pow.
  const int64_t t = std::max<int64_t>(step, 1);
  const double correction1 = 1.0 - optim_internal::PowInt(beta1_, t);
  const double correction2 = 1.0 - optim_internal::PowInt(beta2_, t);
  // p -= (lr / c1) * m / (sqrt(v) / sqrt(c2) + eps): the corrections folded into two scalars.
  const float step_size = static_cast<float>(lr / correction1);
  const float inv_sqrt_c2 = static_cast<float>(1.0 / std::sqrt(correction2));
  const float b1 = static_cast<float>(beta1_);
  const float b2 = static_cast<float>(beta2_);
  const float one_minus_b1 = static_cast<float>(1.0 - beta1_);
  const float one_minus_b2 = static_cast<float>(1.0 - beta2_);
  const float eps = static_cast<float>(eps_);
  const float wd = static_cast<float>(weight_decay_);

  const size_t n = params.size();
  float* p = params.data();
  const float* g = grads.data();
  float* m = state().data();
  float* v = m + n;
  for (size_t i = 0; i < n; ++i) {
    const float d = g[i] + wd * p[i];
    m[i] = b1 * m[i] + one_minus_b1 * d;
    v[i] = b2 * v[i] + one_minus_b2 * d * d;
    p[i] -= step_size * m[i] / (std::sqrt(v[i]) * inv_sqrt_c2 + eps);
  }
}

std::string AdamOptimizer::Describe() const {
  std::ostringstream text;
  text << "adam b1=" << beta1_ << " b2=" << beta2_ << " eps=" << eps_;
  if (weight_decay_ > 0.0) text << " wd=" << weight_decay_;
  return text.str();
}

}  // namespace meshtrain
