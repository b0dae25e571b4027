// This peer's shard of the training data, re-cut when the epoch plan gives
// the shards to other owners (docs/faults.md, "A dead peer's shard"), and the
// sampler over it. The data layer's side of the epoch plan: the sync layer
// decides the owners, this loads the rows.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "meshtrain/config.h"
#include "meshtrain/data.h"
#include "meshtrain/membership_epochs.h"
#include "meshtrain/sync_strategy.h"

namespace meshtrain {

class ShardKeeper {
 public:
  // `data`: the shard of the static plan (every listed peer, in order).
  ShardKeeper(const Config& cfg, ShardedData data);
  ShardKeeper(const ShardKeeper&) = delete;
  ShardKeeper& operator=(const ShardKeeper&) = delete;

  const ShardedData& data() const { return data_; }
  BatchSampler& sampler() { return *sampler_; }
  bool has_shard() const { return has_shard_; }
  // Loads our shard of `plan` if the one in memory was cut for another.
  Result<ShardFacts> Ensure(const EpochPlan& plan);

 private:
  const Config& cfg_;
  ShardedData data_;
  std::unique_ptr<BatchSampler> sampler_;  // over data_.train
  std::vector<std::string> loaded_owners_;  // the plan data_.train was cut for
  bool has_shard_ = true;  // false: we hold no shard this epoch (a newcomer)
};

}  // namespace meshtrain
