// Stochastic gradient descent with optional heavy-ball or Nesterov momentum and
// L2 weight decay, with PyTorch's conventions (no dampening):
//   g = grad + wd * p;  v = mu * v + g;  p -= lr * (nesterov ? g + mu * v : v)
// Without momentum: p -= lr * g, and there is no state.
#pragma once

#include "meshtrain/optim.h"

namespace meshtrain {

class SgdOptimizer final : public Optimizer {
 public:
  SgdOptimizer(int64_t num_params, float momentum, bool nesterov, float weight_decay);

  void Step(std::span<float> params, std::span<const float> grads, double lr, int64_t step) override;
  std::string Describe() const override;

 private:
  float momentum_;
  bool nesterov_;
  float weight_decay_;
};

}  // namespace meshtrain
