// One loader per data format, called by LoadShardedData once the request has
// been validated (num_peers >= 1, peer_index in range, enums and limits checked).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "data/sharding.h"
#include "meshtrain/config.h"
#include "meshtrain/data.h"
#include "meshtrain/status.h"

namespace meshtrain {

struct ShardRequest {
  int num_peers = 1;
  int peer_index = 0;
};

Result<ShardedData> LoadIdxShard(const DataConfig& cfg, const ShardRequest& request);
Result<ShardedData> LoadCsvShard(const DataConfig& cfg, const ShardRequest& request);
Result<ShardedData> LoadSyntheticShard(const DataConfig& cfg, const ShardRequest& request);

// Rows to use from a file of `available` rows: all for limit 0, else at most `limit`.
inline int64_t RowsToUse(int64_t available, int64_t limit) {
  return limit > 0 && limit < available ? limit : available;
}

// max label + 1 over `labels`, at least 2 (a one-class set still trains a 2-way head).
int NumClassesOf(const std::vector<int32_t>& labels);

// The shards of the out->total_train_rows train rows (`labels`, one per row,
// for "dirichlet"), and this peer's share of them: fills out->shard_sizes and
// out->train.rows, and reserves room for its labels. Every loader plans this way.
Result<ShardPlan> PlanOwnShard(const DataConfig& cfg, const ShardRequest& request, const std::vector<int32_t>& labels,
                               ShardedData* out);

// Labels outside [0, num_classes) are an error naming the file, via `where(i)`.
template <typename Where>
Status CheckLabelsInRange(const std::vector<int32_t>& labels, int num_classes, const std::string& train_source,
                          Where where) {
  for (size_t i = 0; i < labels.size(); ++i) {
    if (labels[i] < 0 || labels[i] >= num_classes) {
      return Status::Corruption(where(i) + ": label " + std::to_string(labels[i]) + " is outside [0, " +
                                std::to_string(num_classes) + "), the classes of the train set " + train_source);
    }
  }
  return Status::OK();
}

}  // namespace meshtrain
