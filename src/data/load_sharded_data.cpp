#include <algorithm>
#include <new>
#include <stdexcept>

#include "data/loaders.h"
#include "meshtrain/data.h"

namespace meshtrain {
namespace {

Status CheckRequest(const DataConfig& cfg, int num_peers, int peer_index) {
  if (num_peers < 1) return Status::InvalidArgument("data: need at least one peer, got " + std::to_string(num_peers));
  if (peer_index < 0 || peer_index >= num_peers) {
    return Status::InvalidArgument("data: peer index " + std::to_string(peer_index) + " is outside [0, " +
                                   std::to_string(num_peers) + ")");
  }
  if (cfg.train_limit < 0) return Status::InvalidArgument("data.train_limit must be >= 0 (0 = all rows)");
  if (cfg.test_limit < 0) return Status::InvalidArgument("data.test_limit must be >= 0 (0 = all rows)");
  return Status::OK();
}

}  // namespace

int NumClassesOf(const std::vector<int32_t>& labels) {
  const int32_t top = labels.empty() ? 0 : *std::max_element(labels.begin(), labels.end());
  return std::max(2, top + 1);
}

Result<ShardPlan> PlanOwnShard(const DataConfig& cfg, const ShardRequest& request, const std::vector<int32_t>& labels,
                               ShardedData* out) {
  auto plan = PlanShards(cfg.shard, request.num_peers, out->total_train_rows, labels, out->train.num_classes,
                         cfg.alpha, cfg.shard_seed);
  if (!plan.ok()) return plan.status();
  out->shard_sizes = plan->sizes;
  const int64_t mine = plan->sizes[static_cast<size_t>(request.peer_index)];
  out->train.rows = mine;
  out->train.labels.reserve(static_cast<size_t>(mine));
  return plan;
}

Result<ShardedData> LoadShardedData(const DataConfig& cfg, int num_peers, int peer_index) {
  MESHTRAIN_RETURN_IF_ERROR(CheckRequest(cfg, num_peers, peer_index));
  const ShardRequest request{num_peers, peer_index};
  try {
    if (cfg.format == DataFormat::kIdx) return LoadIdxShard(cfg, request);
    if (cfg.format == DataFormat::kCsv) return LoadCsvShard(cfg, request);
    return LoadSyntheticShard(cfg, request);
  } catch (const std::bad_alloc&) {
    return Status::IOError("data (" + std::string(ToString(cfg.format)) +
                           "): out of memory while loading; a header or row count is "
                           "larger than this machine can hold (set data.train_limit / data.test_limit?)");
  } catch (const std::exception& e) {
    return Status::IOError("data (" + std::string(ToString(cfg.format)) + "): " + e.what());
  }
}

}  // namespace meshtrain
