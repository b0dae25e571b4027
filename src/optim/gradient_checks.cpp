// Whole-buffer helpers the step loop applies to the flat gradient.
#include <Eigen/Core>
#include <cmath>

#include "meshtrain/optim.h"

namespace meshtrain {

double SumOfSquares(std::span<const float> values) {
  // Eight running sums, lane k taking the elements i with i % 8 == k, folded in a
  // fixed order: the same bits on every CPU (Eigen's sum() folds by the vector
  // width, 2 lanes on NEON, 4 or 8 on x86-64, so peers of a ring would clip their
  // identical gradients by different factors). Eight chains also keep the adds
  // in flight in parallel. In double: a float sum over millions of values loses digits.
  constexpr size_t kLanes = 8;
  double lane[kLanes] = {};
  const size_t n = values.size();
  const size_t whole = n - n % kLanes;
  for (size_t i = 0; i < whole; i += kLanes) {
    for (size_t k = 0; k < kLanes; ++k) {
      const double v = values[i + k];
      lane[k] += v * v;
    }
  }
  for (size_t i = whole; i < n; ++i) {
    const double v = values[i];
    lane[i - whole] += v * v;
  }
  return ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
}

double ClipByGlobalNorm(std::span<float> grads, double max_norm) {
  const double norm = std::sqrt(SumOfSquares(grads));
  if (max_norm > 0 && std::isfinite(norm) && norm > max_norm) {
    const float scale = static_cast<float>(max_norm / norm);
    for (float& g : grads) g *= scale;
  }
  return norm;
}

bool AllFinite(std::span<const float> values) {
  Eigen::Map<const Eigen::ArrayXf> v(values.data(), static_cast<Eigen::Index>(values.size()));
  // x - x is 0 for finite x and NaN for inf/NaN, so the (vectorized) sum is 0 iff all are finite.
  return (v - v).sum() == 0.0f;
}

}  // namespace meshtrain
