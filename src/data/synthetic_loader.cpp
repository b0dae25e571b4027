// Synthetic linear regression: every peer generates the same stream and keeps
// its shard's rows; scaling statistics come from the whole train stream.
#include <cmath>

#include "data/feature_scaling.h"
#include "data/loaders.h"
#include "data/sharding.h"
#include "data/synthetic.h"

namespace meshtrain {
namespace {

constexpr int64_t kMaxSyntheticFeatures = int64_t{1} << 20;

Status CheckSyntheticConfig(const DataConfig& cfg) {
  if (cfg.synthetic_train < 1) return Status::InvalidArgument("data.synthetic_train must be >= 1");
  if (cfg.synthetic_test < 1) return Status::InvalidArgument("data.synthetic_test must be >= 1");
  if (cfg.synthetic_features < 1 || cfg.synthetic_features > kMaxSyntheticFeatures) {
    return Status::InvalidArgument("data.synthetic_features must be in [1, " + std::to_string(kMaxSyntheticFeatures) +
                                   "] (got " + std::to_string(cfg.synthetic_features) + ")");
  }
  if (!(cfg.synthetic_noise >= 0) || !std::isfinite(cfg.synthetic_noise)) {
    return Status::InvalidArgument("data.synthetic_noise must be a finite number >= 0");
  }
  return Status::OK();
}

}  // namespace

Result<ShardedData> LoadSyntheticShard(const DataConfig& cfg, const ShardRequest& request) {
  MESHTRAIN_RETURN_IF_ERROR(CheckSyntheticConfig(cfg));
  const std::string source = "synthetic(seed=" + std::to_string(cfg.synthetic_seed) + ")";
  const SyntheticTruth truth = MakeSyntheticTruth(cfg.synthetic_seed, cfg.synthetic_features);

  ShardedData out;
  out.true_weights = truth.weights;
  out.true_bias = truth.bias;
  out.total_train_rows = RowsToUse(cfg.synthetic_train, cfg.train_limit);
  auto plan = PlanShards(cfg.shard, request.num_peers, out.total_train_rows, {}, 0, cfg.alpha, cfg.shard_seed);
  if (!plan.ok()) return plan.status();
  out.shard_sizes = plan->sizes;

  Dataset& train = out.train;
  train.source = source + " train";
  train.dim = cfg.synthetic_features;
  train.rows = plan->sizes[static_cast<size_t>(request.peer_index)];
  train.values.reserve(static_cast<size_t>(train.rows * train.dim));
  train.targets.reserve(static_cast<size_t>(train.rows));
  FeatureStats stats(train.dim);
  GenerateSyntheticRows(cfg.synthetic_seed, SyntheticStream::kTrain, out.total_train_rows, truth, cfg.synthetic_noise,
                        [&](int64_t row, const float* x, float y) {
                          stats.Add(x);
                          if (plan->owner[static_cast<size_t>(row)] != request.peer_index) return;
                          train.values.insert(train.values.end(), x, x + train.dim);
                          train.targets.push_back(y);
                        });
  FeatureScaling scaling = MakeScaling(cfg.scaling, /*pixels=*/false, stats);
  train.offset = std::move(scaling.offset);
  train.scale = std::move(scaling.scale);

  Dataset& test = out.test;
  test.source = source + " test";
  test.dim = train.dim;
  test.rows = RowsToUse(cfg.synthetic_test, cfg.test_limit);
  test.values.reserve(static_cast<size_t>(test.rows * test.dim));
  test.targets.reserve(static_cast<size_t>(test.rows));
  GenerateSyntheticRows(cfg.synthetic_seed, SyntheticStream::kTest, test.rows, truth, cfg.synthetic_noise,
                        [&](int64_t, const float* x, float y) {
                          test.values.insert(test.values.end(), x, x + test.dim);
                          test.targets.push_back(y);
                        });
  test.offset = train.offset;
  test.scale = train.scale;
  return out;
}

}  // namespace meshtrain
