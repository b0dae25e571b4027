// The real Fashion-MNIST (Debian package dataset-fashion-mnist): the whole set,
// and one peer's quarter of it holding exactly its rows, as bytes.
#include <doctest/doctest.h>

#include <algorithm>
#include <filesystem>

#include "meshtrain/data.h"

using namespace meshtrain;

namespace {

DataConfig Fashion() {
  DataConfig cfg;  // the defaults point at /usr/share/datasets/fashion-mnist
  cfg.scaling = ScalingMode::kUnit;
  return cfg;
}

}  // namespace

TEST_CASE("Fashion-MNIST: the whole set, then a 4-way shard of it") {
  const DataConfig cfg = Fashion();
  REQUIRE_MESSAGE(std::filesystem::exists(cfg.dir + "/" + cfg.train_images),
                  cfg.dir << " is missing: scripts/setup.sh installs dataset-fashion-mnist");
  auto whole = LoadShardedData(cfg, 1, 0);
  REQUIRE_MESSAGE(whole.ok(), whole.status().ToString());
  const Dataset& train = whole->train;
  CHECK(train.rows == 60000);
  CHECK(train.dim == 784);
  CHECK(train.num_classes == 10);
  CHECK(train.bytes.size() == 60000u * 784);
  CHECK(train.values.empty());
  CHECK(whole->test.rows == 10000);
  CHECK(whole->test.num_classes == 10);
  std::vector<int64_t> per_class(10);
  for (int32_t label : train.labels) ++per_class[static_cast<size_t>(label)];
  CHECK(per_class == std::vector<int64_t>(10, 6000));  // Fashion-MNIST is balanced

  BatchSampler sampler(train, 64, 1);
  Batch b = sampler.Get(0, 0);
  float lo = 1, hi = 0;
  for (int64_t i = 0; i < b.rows * b.dim; ++i) {
    lo = std::min(lo, b.x[i]);
    hi = std::max(hi, b.x[i]);
  }
  CHECK(lo >= 0.0f);
  CHECK(hi <= 1.0f);
  CHECK(hi > 0.5f);

  DataConfig quarter_cfg = cfg;
  quarter_cfg.shard = ShardMode::kContiguous;
  auto quarter = LoadShardedData(quarter_cfg, 4, 1);
  REQUIRE_MESSAGE(quarter.ok(), quarter.status().ToString());
  CHECK(quarter->shard_sizes == std::vector<int64_t>(4, 15000));
  CHECK(quarter->total_train_rows == 60000);
  CHECK(quarter->train.rows == 15000);
  REQUIRE(quarter->train.bytes.size() == 15000u * 784);
  CHECK(quarter->train.bytes.capacity() < 16000u * 784);  // only its rows, little slack
  // Peer 1 holds rows 15000..29999 of the file.
  CHECK(std::equal(quarter->train.bytes.begin(), quarter->train.bytes.end(), train.bytes.begin() + 15000 * 784));
  CHECK(std::equal(quarter->train.labels.begin(), quarter->train.labels.end(), train.labels.begin() + 15000));
  CHECK(quarter->test.rows == 10000);
}

TEST_CASE("Fashion-MNIST: a dirichlet shard agrees with the plan every peer computes") {
  DataConfig cfg = Fashion();
  cfg.shard = ShardMode::kDirichlet;
  cfg.alpha = 0.1;
  cfg.test_limit = 100;
  auto peer = LoadShardedData(cfg, 4, 2);
  REQUIRE_MESSAGE(peer.ok(), peer.status().ToString());
  int64_t sum = 0;
  for (int64_t s : peer->shard_sizes) {
    CHECK(s >= 1);
    sum += s;
  }
  CHECK(sum == 60000);
  CHECK(peer->train.rows == peer->shard_sizes[2]);
  std::vector<int64_t> per_class(10);
  for (int32_t label : peer->train.labels) ++per_class[static_cast<size_t>(label)];
  const int64_t top = *std::max_element(per_class.begin(), per_class.end());
  CHECK(top * 4 > peer->train.rows);  // skewed: one class is over a quarter of the shard
}
