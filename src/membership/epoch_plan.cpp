#include <algorithm>

#include "common/byte_io.h"
#include "meshtrain/membership_epochs.h"

namespace meshtrain {

namespace {
constexpr uint8_t kPlanFormat = 1;
constexpr uint32_t kMaxOwners = 4096;
// compat holds the agreement keys as text (docs/agreement.md): a few KB with
// long data paths and a layer list, far below this bound.
constexpr size_t kMaxCompatBytes = 64 << 10;
}  // namespace

int EpochPlan::ShardIndexOf(const std::string& id) const {
  auto it = std::find(shard_owners.begin(), shard_owners.end(), id);
  return it == shard_owners.end() ? -1 : static_cast<int>(it - shard_owners.begin());
}

std::string EncodeEpochPlan(const EpochPlan& plan) {
  std::string out;
  ByteWriter w(&out);
  w.U8(kPlanFormat);
  w.U64(static_cast<uint64_t>(plan.epoch));
  w.U64(static_cast<uint64_t>(plan.start_step));
  w.U64(static_cast<uint64_t>(plan.steps));
  w.U64(static_cast<uint64_t>(plan.lr_peers));
  w.U32(static_cast<uint32_t>(std::min<size_t>(plan.shard_owners.size(), kMaxOwners)));
  for (size_t i = 0; i < plan.shard_owners.size() && i < kMaxOwners; ++i) w.ShortStr(plan.shard_owners[i]);
  w.U32(static_cast<uint32_t>(std::min<size_t>(plan.next_owners.size(), kMaxOwners)));
  for (size_t i = 0; i < plan.next_owners.size() && i < kMaxOwners; ++i) w.ShortStr(plan.next_owners[i]);
  w.Str(plan.compat);
  return out;
}

std::optional<EpochPlan> DecodeEpochPlan(std::string_view bytes) {
  ByteReader r(bytes);
  if (r.U8() != kPlanFormat) return std::nullopt;
  EpochPlan plan;
  plan.epoch = static_cast<int64_t>(r.U64());
  plan.start_step = static_cast<int64_t>(r.U64());
  plan.steps = static_cast<int64_t>(r.U64());
  plan.lr_peers = static_cast<int64_t>(r.U64());
  const uint32_t n = r.U32();
  if (r.failed() || n > kMaxOwners) return std::nullopt;
  for (uint32_t i = 0; i < n && !r.failed(); ++i) plan.shard_owners.push_back(r.ShortStr());
  const uint32_t n_next = r.U32();
  if (r.failed() || n_next > kMaxOwners) return std::nullopt;
  for (uint32_t i = 0; i < n_next && !r.failed(); ++i) plan.next_owners.push_back(r.ShortStr());
  plan.compat = r.Str(kMaxCompatBytes);
  if (r.failed() || !r.done() || plan.epoch < 0 || plan.start_step < 0 || plan.steps < 1 || plan.lr_peers < 1) {
    return std::nullopt;
  }
  return plan;
}

std::vector<std::string> NextShardOwners(const EpochPlan& plan, const std::vector<std::string>& view_ids,
                                         ReshardPolicy reshard) {
  if (reshard != ReshardPolicy::kEpoch) return plan.shard_owners;
  std::vector<std::string> owners = view_ids;
  std::sort(owners.begin(), owners.end());
  std::vector<std::string> current = plan.shard_owners;
  std::sort(current.begin(), current.end());
  return current == owners ? plan.shard_owners : owners;
}

}  // namespace meshtrain
