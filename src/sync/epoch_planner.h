// The epoch plan of a cluster whose membership changes (docs/faults.md, "A
// dead peer's shard"): which peers' shards make the epoch, its length, who
// owns the next one, and the steps a dead peer's shard sat out.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "meshtrain/membership.h"
#include "meshtrain/membership_epochs.h"
#include "meshtrain/status.h"
#include "meshtrain/sync_events.h"
#include "meshtrain/sync_strategy.h"

namespace meshtrain {

struct EpochSchedule {
  int64_t epochs = 1;  // train.epochs
  int64_t max_steps = 0;  // train.max_steps (0: no limit)
  int64_t batch_size = 1;  // train.batch_size
  ReshardPolicy reshard = ReshardPolicy::kEpoch;  // membership.reshard
};

class EpochPlanner {
 public:
  // Loads this peer's shard of a plan (the data layer's side: ReplicaAccess::LoadShard).
  using ShardLoader = std::function<Result<ShardFacts>(const EpochPlan&)>;

  EpochPlanner(EpochSchedule schedule, EventSink& events) : schedule_(std::move(schedule)), events_(events) {}

  // The static plan at `step`: every listed peer holds its shard, epochs of equal length.
  void Begin(const std::vector<std::string>& owners, int64_t step, int64_t steps_per_epoch, int64_t lr_peers,
             std::string compat);
  const EpochPlan& plan() const { return plan_; }
  int64_t total_steps() const { return total_steps_; }
  std::string Encoded() const { return EncodeEpochPlan(plan_); }

  // At a reconciliation: the next epoch's owners, from the view being reconciled.
  void PlanNextOwners(const std::vector<std::string>& view_ids);
  // The plan that came with a state fetched from the cluster.
  void Adopt(EpochPlan plan);
  // The next epoch, once the current one has ended: its shards go to the
  // owners decided at the last reconciliation (event reshard when they differ).
  Status StartNextEpoch(const ShardLoader& load);
  // After each step: every owner of a shard that is not in `view` sat it out.
  void CountMissingShards(const View& view);
  int64_t missing_shard_steps() const { return missing_shard_steps_total_; }

 private:
  void ReportMissingShards();
  void RecomputeTotalSteps();

  EpochSchedule schedule_;
  EventSink& events_;
  EpochPlan plan_;
  int64_t total_steps_ = 0;
  std::map<std::string, int64_t> missing_shard_steps_;  // this epoch: steps each absent owner's shard sat out
  int64_t missing_shard_steps_total_ = 0;
};

}  // namespace meshtrain
