// Adam (Kingma & Ba) with bias correction and L2 weight decay added to the
// gradient (PyTorch's Adam, not AdamW):
//   g = grad + wd * p;  m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2
//   p -= lr * (m / (1 - b1^t)) / (sqrt(v / (1 - b2^t)) + eps)
// State: m (num_params floats) then v (num_params floats).
#pragma once

#include "meshtrain/optim.h"

namespace meshtrain {

class AdamOptimizer final : public Optimizer {
 public:
  AdamOptimizer(int64_t num_params, double beta1, double beta2, double eps, double weight_decay);

  void Step(std::span<float> params, std::span<const float> grads, double lr, int64_t step) override;
  std::string Describe() const override;

 private:
  double beta1_;
  double beta2_;
  double eps_;
  double weight_decay_;
};

}  // namespace meshtrain
