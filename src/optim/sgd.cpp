#include "optim/sgd.h"

#include <cassert>
#include <sstream>

namespace meshtrain {

SgdOptimizer::SgdOptimizer(int64_t num_params, float momentum, bool nesterov, float weight_decay)
    : Optimizer(num_params, momentum > 0.0f ? num_params : 0),
      momentum_(momentum),
      nesterov_(nesterov),
      weight_decay_(weight_decay) {}

void SgdOptimizer::Step(std::span<float> params, std::span<const float> grads, double lr, int64_t /*step*/) {
  assert(static_cast<int64_t>(params.size()) == num_params() && params.size() == grads.size());
  const float rate = static_cast<float>(lr);
  const float wd = weight_decay_;
  const size_t n = params.size();
  float* p = params.data();
  const float* g = grads.data();
  if (momentum_ == 0.0f) {
    for (size_t i = 0; i < n; ++i) p[i] -= rate * (g[i] + wd * p[i]);
    return;
  }
  float* v = state().data();
  const float mu = momentum_;
  if (nesterov_) {
    for (size_t i = 0; i < n; ++i) {
      const float d = g[i] + wd * p[i];
      v[i] = mu * v[i] + d;
      p[i] -= rate * (d + mu * v[i]);
    }
  } else {
    for (size_t i = 0; i < n; ++i) {
      v[i] = mu * v[i] + (g[i] + wd * p[i]);
      p[i] -= rate * v[i];
    }
  }
}

std::string SgdOptimizer::Describe() const {
  std::ostringstream text;
  text << "sgd";
  if (momentum_ > 0.0f) text << " momentum=" << momentum_ << (nesterov_ ? " nesterov" : "");
  if (weight_decay_ > 0.0f) text << " wd=" << weight_decay_;
  return text.str();
}

}  // namespace meshtrain
