// The losses at the top of a model, over a block of output columns (one column
// per sample): each adds the per-sample losses and, when asked, writes the
// gradient with respect to the outputs, scaled by `delta_scale` (1 / batch rows,
// for a mean loss).
#pragma once

#include <cstdint>

#include "model/eigen_views.h"

namespace meshtrain {

enum class LossKind { kHalfSquaredError, kSoftmaxCrossEntropy };

struct LossSums {
  double loss_sum = 0;  // NaN if any label/target did not fit the model
  int64_t correct = 0;  // classification: argmax (first on ties) == label
};

// Softmax cross-entropy with a numerically stable log-sum-exp: for logits z and
// label y, loss = max(z) + log(sum(exp(z - max(z)))) - z_y, and
// delta = (softmax(z) - onehot(y)) * delta_scale. A label outside [0, classes)
// makes the loss NaN and that column's delta zero. `delta` may be null (evaluation).
LossSums SoftmaxCrossEntropy(const ConstMatrixView& logits, const int32_t* labels, float delta_scale,
                             MatrixView* delta);

// Half squared error of a single output: loss = 0.5 * (y_hat - y)^2,
// delta = (y_hat - y) * delta_scale. `delta` may be null.
LossSums HalfSquaredError(const ConstMatrixView& predictions, const float* targets, float delta_scale,
                          MatrixView* delta);

}  // namespace meshtrain
