// A batch larger than a model's max_batch runs in chunks of at most max_batch
// rows (the activations are preallocated for max_batch): the loop every model
// type shares, around the chunk work that is its own.
#pragma once

#include <algorithm>
#include <cstdint>
#include <limits>
#include <span>

#include "meshtrain/batch.h"
#include "meshtrain/model.h"
#include "model/loss_heads.h"

namespace meshtrain {

// A training pass: `chunk(first, rows, delta_scale)` runs rows [first, first +
// rows) forward and backward, each chunk adding its share (scaled by
// delta_scale = 1 / batch.rows) of the mean gradient, and returns its loss sum.
// The mean loss; NaN when the batch does not fit the model (`fits`).
template <typename TrainChunk>
double TrainInChunks(const Batch& batch, bool fits, int64_t max_batch, std::span<float> grads, TrainChunk chunk) {
  if (!fits) return std::numeric_limits<double>::quiet_NaN();
  if (batch.rows == 0) {
    std::fill(grads.begin(), grads.end(), 0.0f);
    return 0.0;
  }
  const float delta_scale = 1.0f / static_cast<float>(batch.rows);
  double loss_sum = 0;
  for (int64_t first = 0; first < batch.rows; first += max_batch) {
    const int64_t rows = std::min(max_batch, batch.rows - first);
    loss_sum += chunk(first, rows, delta_scale);
  }
  return loss_sum / static_cast<double>(batch.rows);
}

// An evaluation pass: `chunk(first, rows)` runs rows [first, first + rows)
// forward and returns their LossSums, added to *totals. A batch that does not
// fit counts its rows with a NaN loss.
template <typename EvalChunk>
void EvaluateInChunks(const Batch& batch, bool fits, int64_t max_batch, EvalTotals* totals, EvalChunk chunk) {
  if (!fits) {
    totals->loss_sum += std::numeric_limits<double>::quiet_NaN();
    totals->count += std::max<int64_t>(batch.rows, 0);
    return;
  }
  for (int64_t first = 0; first < batch.rows; first += max_batch) {
    const int64_t rows = std::min(max_batch, batch.rows - first);
    const LossSums sums = chunk(first, rows);
    totals->loss_sum += sums.loss_sum;
    totals->correct += sums.correct;
  }
  totals->count += batch.rows;
}

}  // namespace meshtrain
