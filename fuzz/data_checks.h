// Invariants every successfully loaded ShardedData must satisfy, shared by the
// IDX and CSV targets; a batch is drawn from each set so the scaled rows are read too.
#pragma once

#include <cmath>

#include "fuzz_support.h"
#include "meshtrain/data.h"

namespace meshtrain::fuzz {

// Two bits of an input's knobs pick how the loaders shard and scale (Dirichlet
// twice: it has the most paths). Shared by the IDX and CSV targets.
inline ShardMode ShardKnob(unsigned bits) {
  static constexpr ShardMode kShards[] = {ShardMode::kContiguous, ShardMode::kStrided, ShardMode::kDirichlet,
                                          ShardMode::kDirichlet};
  return kShards[bits & 3];
}
inline ScalingMode ScalingKnob(unsigned bits) {
  static constexpr ScalingMode kScalings[] = {ScalingMode::kUnit, ScalingMode::kNone, ScalingMode::kStandardize,
                                              ScalingMode::kUnit};
  return kScalings[bits & 3];
}

inline void CheckDataset(const Dataset& d, bool pixels) {
  MESHTRAIN_FUZZ_CHECK(d.rows >= 1 && d.dim >= 1);
  const auto cells = static_cast<size_t>(d.rows * d.dim);
  if (d.streamed) {
    // An IDX test set stays in its file (docs/data.md, "Memory"): nothing held.
    MESHTRAIN_FUZZ_CHECK(pixels && d.bytes.empty() && d.values.empty());
  } else {
    MESHTRAIN_FUZZ_CHECK(pixels ? d.bytes.size() == cells && d.values.empty()
                                : d.values.size() == cells && d.bytes.empty());
  }
  MESHTRAIN_FUZZ_CHECK(d.offset.size() == static_cast<size_t>(d.dim));
  MESHTRAIN_FUZZ_CHECK(d.scale.size() == static_cast<size_t>(d.dim));
  for (size_t j = 0; j < d.scale.size(); ++j)
    MESHTRAIN_FUZZ_CHECK(std::isfinite(d.scale[j]) && std::isfinite(d.offset[j]));
  if (d.num_classes > 0) {
    MESHTRAIN_FUZZ_CHECK(d.labels.size() == static_cast<size_t>(d.rows));
    for (int32_t label : d.labels) MESHTRAIN_FUZZ_CHECK(label >= 0 && label < d.num_classes);
  } else {
    MESHTRAIN_FUZZ_CHECK(d.targets.size() == static_cast<size_t>(d.rows));
  }
}

inline void CheckShardedData(const ShardedData& data, int num_peers, int peer_index, bool pixels) {
  MESHTRAIN_FUZZ_CHECK(data.shard_sizes.size() == static_cast<size_t>(num_peers));
  int64_t sum = 0;
  for (int64_t s : data.shard_sizes) {
    MESHTRAIN_FUZZ_CHECK(s >= 1);
    sum += s;
  }
  MESHTRAIN_FUZZ_CHECK(sum == data.total_train_rows);
  MESHTRAIN_FUZZ_CHECK(data.train.rows == data.shard_sizes[static_cast<size_t>(peer_index)]);
  CheckDataset(data.train, pixels);
  CheckDataset(data.test, pixels);
  MESHTRAIN_FUZZ_CHECK(!data.train.streamed);
  MESHTRAIN_FUZZ_CHECK(data.test.dim == data.train.dim);
  MESHTRAIN_FUZZ_CHECK(data.test.num_classes == data.train.num_classes);

  // Draw batches (with wrap-around) and an eval slice; ASan checks every row read.
  BatchSampler train(data.train, 3, 11);
  for (int64_t index : {0, 1, 7}) {
    const Batch b = train.Get(index % 2, index);
    MESHTRAIN_FUZZ_CHECK(b.rows == train.batch_rows() && b.dim == data.train.dim);
    for (int64_t i = 0; i < b.rows * b.dim; ++i) MESHTRAIN_FUZZ_CHECK(std::isfinite(b.x[i]));
  }
  // The test set as an evaluation reads it: window by window (from its file
  // when streamed), every window a set in memory of the same shape.
  int64_t seen = 0;
  const Status read = ForEachWindow(data.test, 3, [&](const Dataset& window) {
    CheckDataset(window, pixels);
    MESHTRAIN_FUZZ_CHECK(!window.streamed && window.dim == data.test.dim && window.rows <= 3);
    BatchSampler test(window, 4, 1);
    const Batch b = test.Sequential(window.rows - 1, 4);
    MESHTRAIN_FUZZ_CHECK(b.rows == 1);
    for (int64_t i = 0; i < b.rows * b.dim; ++i) MESHTRAIN_FUZZ_CHECK(std::isfinite(b.x[i]));
    seen += window.rows;
  });
  MESHTRAIN_FUZZ_CHECK(read.ok() && seen == data.test.rows);
}

}  // namespace meshtrain::fuzz
