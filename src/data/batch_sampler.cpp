#include <algorithm>
#include <cassert>
#include <numeric>

#include "data/data_rng.h"
#include "meshtrain/data.h"

namespace meshtrain {

BatchSampler::BatchSampler(const Dataset& data, int64_t batch_size, uint64_t seed)
    : data_(data), batch_rows_(std::min(std::max<int64_t>(batch_size, 1), data.rows)), seed_(seed) {
  perm_.resize(static_cast<size_t>(data.rows));
  x_.resize(static_cast<size_t>(batch_rows_ * data.dim));
  if (data.num_classes > 0) {
    labels_.resize(static_cast<size_t>(batch_rows_));
  } else {
    targets_.resize(static_cast<size_t>(batch_rows_));
  }
}

int64_t BatchSampler::batches_per_epoch() const {
  return batch_rows_ == 0 ? 0 : (data_.rows + batch_rows_ - 1) / batch_rows_;
}

void BatchSampler::ShuffleFor(int64_t epoch) {
  if (epoch == perm_epoch_) return;
  // Start from the identity every time: the order is a function of (seed, epoch) only.
  std::iota(perm_.begin(), perm_.end(), int64_t{0});
  DataRng rng(MixSeeds(seed_, static_cast<uint64_t>(epoch)));
  for (size_t i = perm_.size(); i > 1; --i) std::swap(perm_[i - 1], perm_[rng.Below(i)]);
  perm_epoch_ = epoch;
}

Batch BatchSampler::Get(int64_t epoch, int64_t index) {
  assert(epoch >= 0 && index >= 0);
  if (batch_rows_ == 0) return View(0);
  ShuffleFor(epoch);
  const int64_t rows = data_.rows;
  int64_t pos = (index % rows) * batch_rows_ % rows;
  for (int64_t i = 0; i < batch_rows_; ++i) {
    const int64_t row = perm_[static_cast<size_t>(pos)];
    data_.FillRow(row, x_.data() + i * data_.dim);
    if (!labels_.empty()) labels_[static_cast<size_t>(i)] = data_.labels[static_cast<size_t>(row)];
    if (!targets_.empty()) targets_[static_cast<size_t>(i)] = data_.targets[static_cast<size_t>(row)];
    if (++pos == rows) pos = 0;
  }
  return View(batch_rows_);
}

Batch BatchSampler::Sequential(int64_t first_row, int64_t count) {
  first_row = std::clamp<int64_t>(first_row, 0, data_.rows);
  count = std::clamp<int64_t>(count, 0, std::min(batch_rows_, data_.rows - first_row));
  for (int64_t i = 0; i < count; ++i) {
    const int64_t row = first_row + i;
    data_.FillRow(row, x_.data() + i * data_.dim);
    if (!labels_.empty()) labels_[static_cast<size_t>(i)] = data_.labels[static_cast<size_t>(row)];
    if (!targets_.empty()) targets_[static_cast<size_t>(i)] = data_.targets[static_cast<size_t>(row)];
  }
  return View(count);
}

Batch BatchSampler::View(int64_t rows) const {
  Batch b;
  b.x = x_.data();
  b.rows = rows;
  b.dim = data_.dim;
  b.labels = labels_.empty() ? nullptr : labels_.data();
  b.targets = targets_.empty() ? nullptr : targets_.data();
  return b;
}

}  // namespace meshtrain
