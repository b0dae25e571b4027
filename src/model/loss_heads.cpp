#include "model/loss_heads.h"

#include <cassert>
#include <cmath>
#include <limits>

namespace meshtrain {

LossSums SoftmaxCrossEntropy(const ConstMatrixView& logits, const int32_t* labels, float delta_scale,
                             MatrixView* delta) {
  LossSums sums;
  const int64_t classes = logits.rows();
  for (int64_t j = 0; j < logits.cols(); ++j) {
    const auto z = logits.col(j);
    const int32_t y = labels[j];
    if (y < 0 || y >= classes) {
      sums.loss_sum = std::numeric_limits<double>::quiet_NaN();
      if (delta != nullptr) delta->col(j).setZero();
      continue;
    }
    Eigen::Index arg = 0;
    const float max = z.maxCoeff(&arg);
    if (arg == y) ++sums.correct;
    double sum_exp = 0;
    if (delta != nullptr) {
      auto e = delta->col(j);
      e = (z.array() - max).exp().matrix();
      const float s = e.sum();
      sum_exp = s;
      e *= delta_scale / s;
      e(y) -= delta_scale;
    } else {
      sum_exp = (z.array() - max).exp().sum();
    }
    sums.loss_sum += static_cast<double>(max) + std::log(sum_exp) - static_cast<double>(z(y));
  }
  return sums;
}

LossSums HalfSquaredError(const ConstMatrixView& predictions, const float* targets, float delta_scale,
                          MatrixView* delta) {
  assert(predictions.rows() == 1);
  LossSums sums;
  for (int64_t j = 0; j < predictions.cols(); ++j) {
    const float residual = predictions(0, j) - targets[j];
    sums.loss_sum += 0.5 * static_cast<double>(residual) * static_cast<double>(residual);
    if (delta != nullptr) (*delta)(0, j) = residual * delta_scale;
  }
  return sums;
}

}  // namespace meshtrain
