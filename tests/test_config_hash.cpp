// Config::Hash: stable for the same resume-relevant keys, different when one of
// them changes, and blind to everything a resumed run may change.
#include <doctest/doctest.h>

#include "meshtrain/config.h"
#include "support/temp_dir.h"

using meshtrain::Config;
using meshtrain::LoadConfig;
using meshtrain::testing::TempDir;

namespace {

constexpr const char* kFile = R"(
[[cluster.peers]]
id = "p0"
endpoint = "tcp://127.0.0.1:7101"

[[cluster.peers]]
id = "p1"
endpoint = "tcp://127.0.0.1:7102"

[[cluster.peers]]
id = "p2"
endpoint = "tcp://127.0.0.1:7103"
)";

class Fixture {
 public:
  Fixture() : path_(dir_.Write("cfg.toml", kFile)) {}
  uint64_t Hash(const std::vector<std::string>& sets, const std::string& id = "p0") {
    auto cfg = LoadConfig(path_, id, sets);
    REQUIRE_MESSAGE(cfg.ok(), cfg.status().ToString());
    return cfg->Hash();
  }

 private:
  TempDir dir_;
  std::string path_;
};

}  // namespace

TEST_CASE("the hash is stable") {
  Fixture f;
  const uint64_t base = f.Hash({});
  CHECK(f.Hash({}) == base);
  CHECK(Config().Hash() == Config().Hash());
  // Pinned (and checked against an independent FNV-1a in Python): a change here
  // makes every existing checkpoint unresumable. Only update it on purpose.
  Config defaults;
  CHECK(defaults.Hash() == 0xdb1356a9b53d7b5bULL);
  // The same config written another way hashes the same.
  CHECK(f.Hash({"optim.lr=0.1", "model.hidden=[128]", "train.seed=42"}) == base);
}

TEST_CASE("every peer of a cluster gets the same hash") {
  Fixture f;
  CHECK(f.Hash({}, "p1") == f.Hash({}, "p0"));
  CHECK(f.Hash({}, "p2") == f.Hash({}, "p0"));
}

TEST_CASE("the hash changes with each key a resume must agree on") {
  Fixture f;
  const uint64_t base = f.Hash({});
  const std::vector<std::vector<std::string>> changes = {
      {"cluster.size=2"},
      {"data.dir=/elsewhere"},
      {"data.train_images=x.gz"},
      {"data.train_labels=x.gz"},
      {"data.test_images=x.gz"},
      {"data.test_labels=x.gz"},
      {"data.scaling=standardize"},
      {"data.shard=strided"},
      {"data.train_limit=100"},
      {"data.test_limit=100"},
      {"data.format=csv", "data.train_csv=a.csv", "data.test_csv=b.csv"},
      {"data.format=synthetic", "model.type=linear"},
      {"model.type=softmax"},
      {"model.hidden=[64]"},
      {"model.hidden=[128, 10]"},
      {"model.activation=tanh"},
      {"model.init=xavier"},
      {"optim.type=adam"},
      {"train.batch_size=32"},
      {"train.seed=43"},
  };
  for (const auto& change : changes) {
    CAPTURE(change[0]);
    CHECK(f.Hash(change) != base);
  }
  // Keys that only matter in some modes count there.
  const uint64_t dirichlet = f.Hash({"data.shard=dirichlet"});
  CHECK(f.Hash({"data.shard=dirichlet", "data.alpha=2"}) != dirichlet);
  CHECK(f.Hash({"data.shard=dirichlet", "data.shard_seed=1"}) != dirichlet);
  const std::vector<std::string> csv = {"data.format=csv", "data.train_csv=a.csv", "data.test_csv=b.csv"};
  auto with = [](std::vector<std::string> sets, const std::string& more) {
    sets.push_back(more);
    return sets;
  };
  CHECK(f.Hash(with(csv, "data.label_column=y")) != f.Hash(csv));
  CHECK(f.Hash(with(csv, "data.train_csv=c.csv")) != f.Hash(csv));
  const std::vector<std::string> synthetic = {"data.format=synthetic", "model.type=linear"};
  CHECK(f.Hash(with(synthetic, "data.synthetic_seed=8")) != f.Hash(synthetic));
  CHECK(f.Hash(with(synthetic, "data.synthetic_features=9")) != f.Hash(synthetic));
  CHECK(f.Hash(with(synthetic, "data.synthetic_noise=0.5")) != f.Hash(synthetic));
}

TEST_CASE("the hash ignores what a resumed run may change") {
  Fixture f;
  const uint64_t base = f.Hash({});
  const std::vector<std::string> free_keys = {
      "train.epochs=99",       "optim.lr=0.01",         "optim.momentum=0.5",     "optim.schedule=cosine",
      "optim.clip_norm=1",     "train.max_steps=10",    "train.eval_every=7",     "train.log_every=3",
      "log.metrics=m.jsonl",   "log.progress=none",     "checkpoint.dir=ck",      "checkpoint.every_steps=5",
      "checkpoint.keep=9",     "sync.mode=ring",        "sync.every=4",           "sync.timeout_ms=99",
      "sync.compression=fp16", "membership.dead_ms=5000", "transport.linger_ms=0", "debug.slowdown=3",
      "data.alpha=3",          "data.shard_seed=5",     "data.synthetic_seed=1",  "data.train_csv=x.csv",
  };
  for (const auto& set : free_keys) {
    CAPTURE(set);
    CHECK(f.Hash({set}) == base);
  }
  // hidden sizes and activation only shape an mlp.
  const uint64_t softmax = f.Hash({"model.type=softmax"});
  CHECK(f.Hash({"model.type=softmax", "model.hidden=[7]", "model.activation=tanh"}) == softmax);
}
