// Epochs in a cluster whose membership changes (docs/faults.md, "A dead
// peer's shard"). An epoch plan says which peers' shards make up an epoch
// (shard i of the data split goes to shard_owners[i]), where it starts and
// how many lockstep steps it has, and who will own the shards of the next
// epoch. That last part is decided at every reconciliation from the view
// being reconciled (every member of it computes the same), so the next epoch
// starts the same way everywhere without another agreement; a peer that
// syncs its state from another takes the plan along (it travels as the
// state's metadata, under the state's checksum).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "meshtrain/config.h"

namespace meshtrain {

struct EpochPlan {
  int64_t epoch = 0;        // the epoch these shards serve
  int64_t start_step = 0;   // its first global step
  int64_t steps = 1;        // its lockstep steps: ceil(largest shard / batch)
  std::vector<std::string> shard_owners;  // LoadShardedData(data, owners.size(), i) belongs to owners[i]
  std::vector<std::string> next_owners;   // the shard owners of the next epoch
  int64_t lr_peers = 1;     // the cluster size optim.lr was scaled for (lr_scaling = linear)
  std::string compat;       // what must match to share state: EncodeSettings(Config::AgreementKeys())
  bool operator==(const EpochPlan&) const = default;

  int64_t end_step() const { return start_step + steps; }
  // Index of `id` among the shard owners, or -1 if it holds no shard this epoch.
  int ShardIndexOf(const std::string& id) const;
};

std::string EncodeEpochPlan(const EpochPlan& plan);
// nullopt if the bytes are not a plan (truncated, trailing bytes, nonsense sizes).
std::optional<EpochPlan> DecodeEpochPlan(std::string_view bytes);

// The owners for the epoch after `plan`, given the view being reconciled:
// kEpoch re-cuts the data over the view (sorted ids), so the shard of a peer
// that died is spread over the survivors and a newcomer gets one; kNone keeps
// the owners (a dead peer's shard is skipped while it is away). The same set
// as now keeps the current order, so a fault-free run never re-cuts.
std::vector<std::string> NextShardOwners(const EpochPlan& plan, const std::vector<std::string>& view_ids,
                                         ReshardPolicy reshard);

}  // namespace meshtrain
