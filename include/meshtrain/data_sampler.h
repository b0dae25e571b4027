// Mini-batches from a Dataset without allocating per batch: the sampler owns
// one batch of buffers, refills them on every call, and hands out a Batch view.
#pragma once

#include <cstdint>
#include <vector>

#include "meshtrain/aligned_buffer.h"
#include "meshtrain/batch.h"

namespace meshtrain {

struct Dataset;

class BatchSampler {
 public:
  // `data` must outlive the sampler. B = min(batch_size, data.rows).
  BatchSampler(const Dataset& data, int64_t batch_size, uint64_t seed);

  // Batch `index` of epoch `epoch`: rows perm[(index * B + i) % rows], i in [0, B),
  // where perm is a permutation that depends only on (seed, epoch). Any index is
  // valid: past the end of the shard it wraps (lockstep with bigger shards).
  // The returned view stays valid until the next call.
  Batch Get(int64_t epoch, int64_t index);

  // Rows [first_row, first_row + count) in order (evaluation); clipped to the
  // data and to B rows.
  Batch Sequential(int64_t first_row, int64_t count);

  // ceil(rows / B): the batches that cover this shard once.
  int64_t batches_per_epoch() const;
  // B: rows per batch.
  int64_t batch_rows() const { return batch_rows_; }

 private:
  void ShuffleFor(int64_t epoch);
  Batch View(int64_t rows) const;

  const Dataset& data_;
  int64_t batch_rows_;
  uint64_t seed_;
  int64_t perm_epoch_ = -1;  // epoch whose order perm_ holds
  std::vector<int64_t> perm_;
  AlignedFloats x_;
  std::vector<int32_t> labels_;
  std::vector<float> targets_;
};

}  // namespace meshtrain
