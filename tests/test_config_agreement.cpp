// Config::AgreementKeys: every key a sync mode's guarantees depend on is in the
// list, per-peer keys are not, and a difference is named with both values.
#include <doctest/doctest.h>

#include <algorithm>

#include "meshtrain/config.h"
#include "support/temp_dir.h"

using namespace meshtrain;
using meshtrain::testing::TempDir;

namespace {

constexpr const char* kFile = R"(
[[cluster.peers]]
id = "p0"
endpoint = "tcp://127.0.0.1:7101"

[[cluster.peers]]
id = "p1"
endpoint = "tcp://127.0.0.1:7102"

[data]
format = "synthetic"

[model]
type = "linear"

[sync]
mode = "ring"
)";

Config Load(const TempDir& dir, std::vector<std::string> overrides = {}) {
  auto cfg = LoadConfig(dir.Write("c.toml", kFile), "p0", overrides);
  REQUIRE_MESSAGE(cfg.ok(), cfg.status().message());
  return cfg.value();
}

bool Has(const std::vector<Setting>& settings, const std::string& key) {
  return std::any_of(settings.begin(), settings.end(), [&](const Setting& s) { return s.key == key; });
}

}  // namespace

TEST_CASE("a ring agrees on the model, data, every optimizer constant, lockstep and the codec") {
  TempDir dir;
  const std::vector<Setting> keys = Load(dir).AgreementKeys();
  for (const char* key : {"sync.mode", "model.type", "data.format", "train.batch_size", "train.seed",
                          "train.epochs", "train.max_steps", "optim.type", "optim.lr", "optim.lr_scaling",
                          "optim.momentum", "optim.nesterov", "optim.weight_decay", "optim.clip_norm",
                          "optim.schedule", "optim.warmup_steps", "sync.every", "sync.compression"}) {
    CHECK_MESSAGE(Has(keys, key), key);
  }
  // What may differ per peer is not in it.
  for (const char* key : {"cluster.size", "log.metrics", "checkpoint.dir", "sync.timeout_ms", "membership.dead_ms",
                          "transport.io_threads", "log.progress"}) {
    CHECK_MESSAGE(!Has(keys, key), key);
  }
  const std::vector<Setting> int8 = Load(dir, {"sync.compression=int8"}).AgreementKeys();
  CHECK(Has(int8, "sync.int8_rounding"));
  CHECK(Has(int8, "sync.error_feedback"));
}

TEST_CASE("gossip agrees on its graph and mixing, not on each replica's learning rate") {
  TempDir dir;
  const std::vector<Setting> keys = Load(dir, {"sync.mode=gossip", "sync.robust=trimmed_mean"}).AgreementKeys();
  for (const char* key : {"sync.topology", "sync.async", "sync.final_rounds", "sync.robust", "sync.trim", "optim.type"}) {
    CHECK_MESSAGE(Has(keys, key), key);
  }
  CHECK_FALSE(Has(keys, "optim.lr"));
}

TEST_CASE("differences name each key with both values; the text form reads back") {
  TempDir dir;
  const std::vector<Setting> here = Load(dir, {"optim.lr=0.5", "train.seed=3"}).AgreementKeys();
  const std::vector<Setting> there = Load(dir).AgreementKeys();
  const std::string diff = DescribeSettingDifferences(here, there, "the cluster");
  CHECK_MESSAGE(diff.find("optim.lr = 0.5 here, 0.1 in the cluster") != std::string::npos, diff);
  CHECK_MESSAGE(diff.find("train.seed = 3 here, 42 in the cluster") != std::string::npos, diff);
  CHECK(DescribeSettingDifferences(there, there, "the cluster").empty());

  const std::vector<Setting> odd = {{"data.train_csv", "a\\b\nc.csv"}, {"optim.lr", "0.1"}};
  auto back = DecodeSettings(EncodeSettings(odd));
  REQUIRE(back.has_value());
  CHECK(*back == odd);
  CHECK_FALSE(DecodeSettings("no equals sign\n").has_value());
  CHECK_FALSE(DecodeSettings("optim.lr=0.1").has_value());  // not a whole line
  CHECK_FALSE(DecodeSettings("k=bad \\x escape\n").has_value());
}

TEST_CASE("a layer list is agreed layer by layer, so a refusal names the layer") {
  TempDir dir;
  const auto keys_with_filters = [&](int filters) {
    const std::string toml = "[[cluster.peers]]\nid = \"p0\"\nendpoint = \"tcp://127.0.0.1:7101\"\n\n"
                             "[data]\nformat = \"idx\"\ndir = \"/usr/share/datasets/fashion-mnist\"\n\n"
                             "[[model.layers]]\nkind = \"conv2d\"\nfilters = " + std::to_string(filters) +
                             "\nkernel = 5\npadding = 2\n\n[[model.layers]]\nkind = \"flatten\"\n\n"
                             "[[model.layers]]\nkind = \"dense\"\nunits = 10\n";
    auto cfg = LoadConfig(dir.Write("layers" + std::to_string(filters) + ".toml", toml), "p0", {});
    REQUIRE_MESSAGE(cfg.ok(), cfg.status().message());
    return cfg->AgreementKeys();
  };
  const std::vector<Setting> a = keys_with_filters(16), b = keys_with_filters(8);
  CHECK(Has(a, "model.layers[0]"));
  CHECK(Has(a, "model.layers[2]"));
  const std::string diff = DescribeSettingDifferences(a, b, "the cluster");
  CHECK_MESSAGE(diff == "model.layers[0] = conv2d filters=16 kernel=5 padding=2 here, conv2d filters=8 kernel=5 "
                        "padding=2 in the cluster",
                diff);
}
