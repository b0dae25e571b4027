#include "train/shard_keeper.h"

#include <algorithm>

#include "meshtrain/trainer.h"

namespace meshtrain {

ShardKeeper::ShardKeeper(const Config& cfg, ShardedData data)
    : cfg_(cfg),
      data_(std::move(data)),
      sampler_(std::make_unique<BatchSampler>(data_.train, cfg.train.batch_size,
                                              SamplerSeed(cfg.train.seed, cfg.self_index))) {
  for (const PeerEntry& p : cfg.cluster.peers) loaded_owners_.push_back(p.id);
}

Result<ShardFacts> ShardKeeper::Ensure(const EpochPlan& plan) {
  const int index = plan.ShardIndexOf(cfg_.self_id);
  has_shard_ = index >= 0;
  if (has_shard_ && plan.shard_owners != loaded_owners_) {
    auto data = LoadShardedData(cfg_.data, static_cast<int>(plan.shard_owners.size()), index);
    if (!data.ok()) return data.status();
    sampler_.reset();
    data_ = std::move(data).value();
    sampler_ = std::make_unique<BatchSampler>(data_.train, cfg_.train.batch_size,
                                              SamplerSeed(cfg_.train.seed, static_cast<size_t>(index)));
    loaded_owners_ = plan.shard_owners;
  }
  ShardFacts facts;
  facts.held = has_shard_;
  if (!data_.shard_sizes.empty())
    facts.largest_rows = *std::max_element(data_.shard_sizes.begin(), data_.shard_sizes.end());
  return facts;
}

}  // namespace meshtrain
