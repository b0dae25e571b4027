// Whole-buffer helpers the step loop applies to the flat gradient.
#include <Eigen/Core>
#include <cmath>

#include "meshtrain/optim.h"

namespace meshtrain {

double ClipByGlobalNorm(std::span<float> grads, double max_norm) {
  Eigen::Map<Eigen::ArrayXf> g(grads.data(), static_cast<Eigen::Index>(grads.size()));
  // Sum of squares in double: a float sum over millions of values loses digits.
  const double norm = std::sqrt(g.cast<double>().square().sum());
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) g *= static_cast<float>(max_norm / norm);
  return norm;
}

bool AllFinite(std::span<const float> values) {
  Eigen::Map<const Eigen::ArrayXf> v(values.data(), static_cast<Eigen::Index>(values.size()));
  // x - x is 0 for finite x and NaN for inf/NaN, so the (vectorized) sum is 0 iff all are finite.
  return (v - v).sum() == 0.0f;
}

}  // namespace meshtrain
