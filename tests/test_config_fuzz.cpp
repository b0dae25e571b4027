// Mutated config files and random --set arguments never crash the loader:
// each load either succeeds with a coherent Config or returns InvalidArgument
// with a message. Deterministic (fixed seeds) and quick; run it under
// -fsanitize=address,undefined to catch memory errors too.
#include <doctest/doctest.h>

#include <algorithm>
#include <random>

#include "config/schema.h"
#include "meshtrain/config.h"
#include "support/temp_dir.h"

using meshtrain::Config;
using meshtrain::LoadConfig;
using meshtrain::Result;
using meshtrain::Status;
using meshtrain::testing::TempDir;

namespace {

constexpr const char* kSeed = R"([peer]
id = "p1"
[cluster]
size = 2
bootstrap = ["tcp://10.0.0.1:9000"]
[[cluster.peers]]
id = "p0"
endpoint = "tcp://127.0.0.1:7101"
[[cluster.peers]]
id = "p1"
endpoint = "tcp://[::1]:7102"
[model]
hidden = [64, 32]
activation = "tanh"
[optim]
lr = 0.05
nesterov = true
schedule = "cosine"
[membership]
suspect_ms = 300
dead_ms = 900
[log]
metrics = "out/{id}.jsonl"
)";

// Checks the invariants every load result must satisfy.
void CheckCoherent(const Result<Config>& cfg) {
  if (!cfg.ok()) {
    CHECK(cfg.status().code() == Status::Code::kInvalidArgument);
    CHECK_FALSE(cfg.status().message().empty());
    return;
  }
  REQUIRE_FALSE(cfg->cluster.peers.empty());
  REQUIRE(cfg->self_index < cfg->cluster.peers.size());
  CHECK(cfg->cluster.peers[cfg->self_index].id == cfg->self_id);
  CHECK(cfg->optim.lr > 0);
  CHECK(cfg->train.batch_size >= 1);
  CHECK(cfg->membership.dead_ms > cfg->membership.suspect_ms);
}

std::string Mutate(std::string text, std::mt19937_64& rng) {
  static const std::string kAlphabet = "[]{}=\"'.,#\n \t0123456789-+eEtrufalsnix_:/\\";
  std::uniform_int_distribution<int> edits(1, 4);
  for (int n = edits(rng); n > 0 && !text.empty(); --n) {
    const size_t at = std::uniform_int_distribution<size_t>(0, text.size() - 1)(rng);
    const char c = kAlphabet[std::uniform_int_distribution<size_t>(0, kAlphabet.size() - 1)(rng)];
    switch (rng() % 5) {
      case 0: text[at] = c; break;
      case 1: text.insert(text.begin() + static_cast<std::ptrdiff_t>(at), c); break;
      case 2: text.erase(at, 1 + rng() % 8); break;
      case 3: text.resize(at); break;  // truncated file
      default: {                       // a line repeated elsewhere (duplicate keys, tables)
        const size_t start = text.rfind('\n', at) == std::string::npos ? 0 : text.rfind('\n', at) + 1;
        const size_t end = text.find('\n', at);
        const std::string line = text.substr(start, end == std::string::npos ? std::string::npos : end - start + 1);
        text.insert(std::uniform_int_distribution<size_t>(0, text.size())(rng), line);
      }
    }
  }
  return text;
}

}  // namespace

TEST_CASE("mutated files load or fail cleanly") {
  TempDir dir;
  std::mt19937_64 rng(20240531);
  const std::string path = dir.File("cfg.toml");
  CheckCoherent(LoadConfig(dir.Write("cfg.toml", kSeed), "", {}));
  int loaded = 0;
  for (int i = 0; i < 1500; ++i) {
    const std::string text = Mutate(kSeed, rng);
    dir.Write("cfg.toml", text);
    auto cfg = LoadConfig(path, (i % 3 == 0) ? "p0" : "", {});
    CAPTURE(text);
    CheckCoherent(cfg);
    loaded += cfg.ok();
  }
  CHECK(loaded > 0);  // some mutations (comments, whitespace) stay valid
}

TEST_CASE("random overrides apply or fail cleanly") {
  TempDir dir;
  const std::string path = dir.Write("cfg.toml", kSeed);
  std::mt19937_64 rng(7);
  const auto& fields = meshtrain::config_internal::AllFields();
  const std::vector<std::string> values = {
      "",        "0",    "-1",   "1",     "3.5",   "1e999", "-0",      "nan",       "inf",   "true",  "false",
      "[",       "]",    "[]",   "[1,",   ",",     ",,",    "''",      "'",         "\"",    "\"\\",  "\"a\\\"b\"",
      "[1,2]",   "1,2",  "[' ,']", "ring", "relu", "tcp://a:1", "tcp://*:1", "99999999999999999999", "+", "x=y", "{id}"};
  for (int i = 0; i < 3000; ++i) {
    std::vector<std::string> sets;
    for (int n = static_cast<int>(rng() % 3); n >= 0; --n) {
      const auto& field = fields[rng() % fields.size()];
      std::string key = field.name();
      if (rng() % 10 == 0) key.erase(rng() % key.size(), 1);  // a typo
      sets.push_back(key + "=" + values[rng() % values.size()]);
    }
    CAPTURE(sets);
    CheckCoherent(LoadConfig(path, "", sets));
  }
}
