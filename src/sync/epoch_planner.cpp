#include "sync/epoch_planner.h"

#include <algorithm>

namespace meshtrain {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::string JoinComma(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ",") + id;
  return out;
}

}  // namespace

void EpochPlanner::Begin(const std::vector<std::string>& owners, int64_t step, int64_t steps_per_epoch,
                         int64_t lr_peers, std::string compat) {
  plan_ = EpochPlan{};
  plan_.shard_owners = owners;
  plan_.next_owners = owners;
  plan_.epoch = step / steps_per_epoch;
  plan_.start_step = plan_.epoch * steps_per_epoch;
  plan_.steps = steps_per_epoch;
  plan_.lr_peers = lr_peers;
  plan_.compat = std::move(compat);
  total_steps_ = steps_per_epoch * schedule_.epochs;
  if (schedule_.max_steps > 0) total_steps_ = std::min(total_steps_, schedule_.max_steps);
}

void EpochPlanner::PlanNextOwners(const std::vector<std::string>& view_ids) {
  plan_.next_owners = NextShardOwners(plan_, view_ids, schedule_.reshard);
}

void EpochPlanner::Adopt(EpochPlan plan) {
  plan_ = std::move(plan);
  RecomputeTotalSteps();
}

Status EpochPlanner::StartNextEpoch(const ShardLoader& load) {
  ReportMissingShards();
  const std::vector<std::string> previous = plan_.shard_owners;
  plan_.epoch += 1;
  plan_.start_step = plan_.end_step();
  plan_.shard_owners = plan_.next_owners;
  Result<ShardFacts> shard = load(plan_);
  if (!shard.ok()) return shard.status();
  if (plan_.shard_owners != previous) {
    if (shard->held) {
      const int64_t largest = std::max<int64_t>(shard->largest_rows, 1);
      plan_.steps = CeilDiv(largest, std::min<int64_t>(schedule_.batch_size, largest));
    }
    events_.Record({"reshard",
                    {{"epoch", plan_.epoch}, {"owners", plan_.shard_owners}, {"steps", plan_.steps}},
                    "epoch " + std::to_string(plan_.epoch) + ": the data is re-cut over " +
                        std::to_string(plan_.shard_owners.size()) + " peers (" + JoinComma(plan_.shard_owners) + "), " +
                        std::to_string(plan_.steps) + " steps",
                    std::nullopt});
  }
  RecomputeTotalSteps();
  return Status::OK();
}

void EpochPlanner::CountMissingShards(const View& view) {
  for (const auto& owner : plan_.shard_owners) {
    if (!view.Contains(owner)) {
      ++missing_shard_steps_[owner];
      ++missing_shard_steps_total_;
    }
  }
}

// A dead peer's shard is not silently lost: the steps it sat out are reported
// at the end of the epoch.
void EpochPlanner::ReportMissingShards() {
  if (missing_shard_steps_.empty()) return;
  std::string detail = "epoch " + std::to_string(plan_.epoch) + ":";
  int64_t samples = 0;
  for (const auto& [owner, steps] : missing_shard_steps_) {
    detail +=
        " " + owner + "'s shard sat out " + std::to_string(steps) + " of " + std::to_string(plan_.steps) + " steps;";
    samples += steps * schedule_.batch_size;
  }
  detail += " about " + std::to_string(samples) + " samples not seen this epoch";
  if (plan_.next_owners != plan_.shard_owners) detail += "; the next epoch re-cuts the data over the live peers";
  events_.Record({"shard_missing", {{"epoch", plan_.epoch}, {"samples", samples}}, detail, std::nullopt});
  missing_shard_steps_.clear();
}

void EpochPlanner::RecomputeTotalSteps() {
  total_steps_ = plan_.start_step + plan_.steps * std::max<int64_t>(schedule_.epochs - plan_.epoch, 0);
  if (schedule_.max_steps > 0) total_steps_ = std::min(total_steps_, schedule_.max_steps);
}

}  // namespace meshtrain
