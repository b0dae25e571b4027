// Sharding: every mode gives disjoint shards that cover the train set for any
// number of peers, dirichlet skews classes for small alpha and is fixed by its
// seed, and a peer that loads its shard gets exactly the rows the plan names.
#include <doctest/doctest.h>

#include <algorithm>
#include <set>

#include "data/sharding.h"
#include "meshtrain/data.h"
#include "test_data_fixtures.h"

using namespace meshtrain;
using namespace meshtrain::testing;

namespace {

std::vector<int32_t> Labels(int64_t rows, int classes) {
  std::vector<int32_t> labels(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) labels[static_cast<size_t>(r)] = static_cast<int32_t>((r * 7 + r / 5) % classes);
  return labels;
}

void CheckPlan(const ShardPlan& plan, int peers, int64_t rows) {
  REQUIRE(plan.owner.size() == static_cast<size_t>(rows));
  REQUIRE(plan.sizes.size() == static_cast<size_t>(peers));
  std::vector<int64_t> counted(static_cast<size_t>(peers), 0);
  for (int32_t p : plan.owner) {
    REQUIRE(p >= 0);
    REQUIRE(p < peers);
    ++counted[static_cast<size_t>(p)];
  }
  CHECK(counted == plan.sizes);
  for (int64_t size : plan.sizes) CHECK(size >= 1);
}

// Mean over peers of the share of a peer's rows that belong to its most common class.
double MeanTopClassShare(const ShardPlan& plan, const std::vector<int32_t>& labels, int peers, int classes) {
  std::vector<std::vector<int64_t>> counts(static_cast<size_t>(peers),
                                           std::vector<int64_t>(static_cast<size_t>(classes)));
  for (size_t r = 0; r < labels.size(); ++r)
    ++counts[static_cast<size_t>(plan.owner[r])][static_cast<size_t>(labels[r])];
  double total = 0;
  for (int p = 0; p < peers; ++p) {
    const auto& c = counts[static_cast<size_t>(p)];
    total += static_cast<double>(*std::max_element(c.begin(), c.end())) /
             static_cast<double>(plan.sizes[static_cast<size_t>(p)]);
  }
  return total / peers;
}

// Mean over classes of the share of a class's rows held by the peer with most of them.
double MeanClassConcentration(const ShardPlan& plan, const std::vector<int32_t>& labels, int peers, int classes) {
  std::vector<std::vector<int64_t>> counts(static_cast<size_t>(classes),
                                           std::vector<int64_t>(static_cast<size_t>(peers)));
  std::vector<int64_t> class_rows(static_cast<size_t>(classes));
  for (size_t r = 0; r < labels.size(); ++r) {
    ++counts[static_cast<size_t>(labels[r])][static_cast<size_t>(plan.owner[r])];
    ++class_rows[static_cast<size_t>(labels[r])];
  }
  double total = 0;
  for (size_t k = 0; k < counts.size(); ++k) {
    total +=
        static_cast<double>(*std::max_element(counts[k].begin(), counts[k].end())) / static_cast<double>(class_rows[k]);
  }
  return total / classes;
}

}  // namespace

TEST_CASE("every mode: disjoint, covering, every peer at least one row") {
  const int64_t rows = 1001;
  const auto labels = Labels(rows, 10);
  for (ShardMode mode : {ShardMode::kContiguous, ShardMode::kStrided, ShardMode::kDirichlet}) {
    for (int peers : {1, 3, 4, 8}) {
      CAPTURE(ToString(mode));
      CAPTURE(peers);
      auto plan = PlanShards(mode, peers, rows, labels, 10, 0.5, 1234);
      REQUIRE_MESSAGE(plan.ok(), plan.status().ToString());
      CheckPlan(*plan, peers, rows);
      if (peers == 1) CHECK(plan->sizes == std::vector<int64_t>{rows});
    }
  }
}

TEST_CASE("contiguous and strided layouts") {
  auto contiguous = PlanShards(ShardMode::kContiguous, 3, 10, {}, 0, 0.5, 1);
  REQUIRE(contiguous.ok());
  CHECK(contiguous->owner == std::vector<int32_t>{0, 0, 0, 1, 1, 1, 2, 2, 2, 2});
  auto strided = PlanShards(ShardMode::kStrided, 4, 10, {}, 0, 0.5, 1);
  REQUIRE(strided.ok());
  CHECK(strided->owner == std::vector<int32_t>{0, 1, 2, 3, 0, 1, 2, 3, 0, 1});
  CHECK(strided->sizes == std::vector<int64_t>{3, 3, 2, 2});
}

TEST_CASE("dirichlet: skewed for small alpha, near-uniform for large, fixed by the seed") {
  const int classes = 10, peers = 4;
  const auto labels = Labels(4000, classes);
  auto skewed = PlanShards(ShardMode::kDirichlet, peers, 4000, labels, classes, 0.05, 7);
  auto mixed = PlanShards(ShardMode::kDirichlet, peers, 4000, labels, classes, 1000.0, 7);
  REQUIRE(skewed.ok());
  REQUIRE(mixed.ok());
  const double skewed_top = MeanTopClassShare(*skewed, labels, peers, classes);
  const double mixed_top = MeanTopClassShare(*mixed, labels, peers, classes);
  CHECK(skewed_top > 0.4);  // a few classes dominate each shard (uniform: 0.1)
  CHECK(mixed_top < 0.15);  // every shard looks like the whole set
  CHECK(MeanClassConcentration(*skewed, labels, peers, classes) > 0.75);  // a class lives mostly on one peer
  CHECK(MeanClassConcentration(*mixed, labels, peers, classes) < 0.3);    // spread evenly (uniform: 0.25)

  auto again = PlanShards(ShardMode::kDirichlet, peers, 4000, labels, classes, 0.05, 7);
  REQUIRE(again.ok());
  CHECK(again->owner == skewed->owner);
  auto other_seed = PlanShards(ShardMode::kDirichlet, peers, 4000, labels, classes, 0.05, 8);
  REQUIRE(other_seed.ok());
  CHECK(other_seed->owner != skewed->owner);
}

TEST_CASE("dirichlet with a tiny alpha still gives every peer a row") {
  const auto labels = Labels(40, 2);
  for (uint64_t seed = 0; seed < 20; ++seed) {
    auto plan = PlanShards(ShardMode::kDirichlet, 8, 40, labels, 2, 0.001, seed);
    REQUIRE(plan.ok());
    CheckPlan(*plan, 8, 40);
  }
  auto exact = PlanShards(ShardMode::kDirichlet, 8, 8, Labels(8, 2), 2, 0.001, 3);
  REQUIRE(exact.ok());
  CHECK(exact->sizes == std::vector<int64_t>(8, 1));
}

TEST_CASE("sharding errors") {
  auto few = PlanShards(ShardMode::kContiguous, 4, 3, {}, 0, 0.5, 1);
  REQUIRE_FALSE(few.ok());
  CHECK(few.status().message().find("3 rows, fewer than the 4 peers") != std::string::npos);
  auto unlabeled = PlanShards(ShardMode::kDirichlet, 2, 10, {}, 0, 0.5, 1);
  REQUIRE_FALSE(unlabeled.ok());
  CHECK(unlabeled.status().message().find("regression") != std::string::npos);
  auto bad_alpha = PlanShards(ShardMode::kDirichlet, 2, 10, Labels(10, 2), 2, 0.0, 1);
  REQUIRE_FALSE(bad_alpha.ok());
  CHECK(bad_alpha.status().message().find("data.alpha") != std::string::npos);
}

TEST_CASE("loaded IDX shards: each peer holds exactly its rows; the union is the train set") {
  TempDir dir;
  DataConfig cfg = WriteIdxSet(dir, 50, 6, 2, 2, 5, true);
  cfg.train_limit = 45;
  for (ShardMode mode : {ShardMode::kContiguous, ShardMode::kStrided, ShardMode::kDirichlet}) {
    for (int peers : {1, 3, 4, 8}) {
      CAPTURE(ToString(mode));
      CAPTURE(peers);
      cfg.shard = mode;
      auto plan = PlanShards(
          mode, peers, 45,
          [] {
            std::vector<int32_t> l;
            for (uint8_t v : CyclicLabels(45, 5)) l.push_back(v);
            return l;
          }(),
          5, cfg.alpha, cfg.shard_seed);
      REQUIRE(plan.ok());
      std::set<int64_t> seen;
      for (int p = 0; p < peers; ++p) {
        auto data = LoadShardedData(cfg, peers, p);
        REQUIRE_MESSAGE(data.ok(), data.status().ToString());
        CHECK(data->shard_sizes == plan->sizes);
        CHECK(data->total_train_rows == 45);
        REQUIRE(data->train.rows == plan->sizes[static_cast<size_t>(p)]);
        CHECK(data->test.rows == 6);
        int64_t previous = -1;
        for (int64_t r = 0; r < data->train.rows; ++r) {
          const uint8_t* px = data->train.bytes.data() + r * 4;
          const int64_t id = px[0] | (px[1] << 8);
          CHECK(plan->owner[static_cast<size_t>(id)] == p);
          CHECK(id > previous);  // file order
          CHECK(data->train.labels[static_cast<size_t>(r)] == CyclicLabels(45, 5)[static_cast<size_t>(id)]);
          CHECK(seen.insert(id).second);  // disjoint
          previous = id;
        }
      }
      CHECK(seen.size() == 45);  // covering
    }
  }
}

TEST_CASE("loaded CSV and synthetic shards cover their train set") {
  TempDir dir;
  std::string csv = "id,label\n";
  for (int i = 0; i < 30; ++i) csv += std::to_string(i) + "," + std::to_string(i % 3) + "\n";
  DataConfig cfg;
  cfg.format = DataFormat::kCsv;
  cfg.train_csv = dir.Write("train.csv", csv);
  cfg.test_csv = dir.Write("test.csv", "id,label\n1,0\n");
  cfg.scaling = ScalingMode::kNone;
  cfg.shard = ShardMode::kDirichlet;
  std::set<float> ids;
  for (int p = 0; p < 4; ++p) {
    auto data = LoadShardedData(cfg, 4, p);
    REQUIRE_MESSAGE(data.ok(), data.status().ToString());
    CHECK(data->train.rows == data->shard_sizes[static_cast<size_t>(p)]);
    for (size_t r = 0; r < data->train.values.size(); ++r) {
      CHECK(ids.insert(data->train.values[r]).second);
      CHECK(data->train.labels[r] == static_cast<int32_t>(data->train.values[r]) % 3);
    }
  }
  CHECK(ids.size() == 30);

  DataConfig syn;
  syn.format = DataFormat::kSynthetic;
  syn.synthetic_train = 100;
  syn.shard = ShardMode::kStrided;
  auto whole = LoadShardedData(syn, 1, 0);
  REQUIRE(whole.ok());
  std::multiset<float> all(whole->train.targets.begin(), whole->train.targets.end()), union_of;
  for (int p = 0; p < 3; ++p) {
    auto data = LoadShardedData(syn, 3, p);
    REQUIRE(data.ok());
    CHECK(data->shard_sizes == std::vector<int64_t>{34, 33, 33});
    for (int64_t r = 0; r < data->train.rows; ++r) {
      CHECK(data->train.targets[static_cast<size_t>(r)] == whole->train.targets[static_cast<size_t>(r * 3 + p)]);
    }
    union_of.insert(data->train.targets.begin(), data->train.targets.end());
  }
  CHECK(union_of == all);
  syn.shard = ShardMode::kDirichlet;
  auto regression = LoadShardedData(syn, 3, 0);
  REQUIRE_FALSE(regression.ok());
  CHECK(regression.status().code() == Status::Code::kInvalidArgument);
}

TEST_CASE("too few rows for the peers is an error, not an empty shard") {
  TempDir dir;
  DataConfig cfg = WriteIdxSet(dir, 10, 2, 2, 2, 2, false);
  cfg.train_limit = 3;
  auto data = LoadShardedData(cfg, 4, 0);
  REQUIRE_FALSE(data.ok());
  CHECK(data.status().message().find("data.train_limit") != std::string::npos);
}
