// Compressed ring all-reduce end to end: 4 `meshtrain run` processes train the
// Fashion-MNIST MLP with sync.compression = none, int8 and topk (1%, error
// feedback); the compressed runs reach within 1 point of the fp32 accuracy,
// every peer ends with the same parameters, and the bytes each peer sent
// (from its metrics) drop by the codec's factor: fp16 and bf16 halve them,
// int8 quarters them, topk 1% sends 2% to 6% of them.
#include <doctest/doctest.h>

#include <cstring>

#include "meshtrain/checkpoint.h"
#include "support/cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

// The shipped Fashion MLP (784-256-128-10, SGD with Nesterov momentum, cosine)
// for 4 epochs instead of 10: about 940 steps, 8 to 20 s per run here.
std::string FashionBody() {
  const std::string base = ReadFile(std::string(MESHTRAIN_SOURCE_DIR) + "/configs/fashion_mlp.toml");
  return base.substr(base.find("[data]"));
}

struct RunResult {
  double test_acc = -1;          // peer p0's final accuracy
  double bytes_per_step = 0;     // mean over the peers of bytes_sent / steps
};

// Runs 4 peers to the end with `extra` settings; checks they all finish with
// bit-identical parameters.
RunResult RunCluster(const std::string& name, const std::vector<std::string>& extra) {
  CAPTURE(name);
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 4, FashionBody());
  std::vector<std::string> args = {"--set", "train.epochs=4", "--set", "checkpoint.every_steps=0"};
  args.insert(args.end(), extra.begin(), extra.end());
  std::vector<PeerRun> peers;
  for (int i = 0; i < 4; ++i) {
    std::string id = "p";
    id.append(std::to_string(i));
    peers.push_back(StartPeer(dir, config, id, args));
  }
  for (auto& p : peers) REQUIRE_MESSAGE(FinishPeer(p, 170s) == 0, p.id << ":\n" << p.log());

  RunResult result;
  std::vector<float> first;
  for (auto& p : peers) {
    const std::string metrics = p.metrics();
    const double steps = LastMetric(metrics, "step");
    const double sent = LastMetric(metrics, "bytes_sent");
    REQUIRE(steps > 0);
    REQUIRE(sent > 0);
    result.bytes_per_step += sent / steps / 4;
    auto c = LoadNewestCheckpoint(p.checkpoints(), nullptr);
    REQUIRE(c.ok());
    if (first.empty()) {
      first = c->params;
      result.test_acc = LastMetric(metrics, "test_acc");
    } else {
      REQUIRE(c->params.size() == first.size());
      CHECK_MESSAGE(std::memcmp(c->params.data(), first.data(), first.size() * sizeof(float)) == 0,
                    p.id << " ends with other parameters than p0");
      CHECK(LastMetric(metrics, "test_acc") == result.test_acc);
    }
  }
  MESSAGE(name << ": test_acc " << result.test_acc << ", " << result.bytes_per_step << " bytes sent per peer per step");
  return result;
}

}  // namespace

TEST_CASE("4 ring peers: int8 and topk 1% with error feedback reach fp32 accuracy in far fewer bytes") {
  const RunResult f32 = RunCluster("fp32", {});
  REQUIRE(f32.test_acc > 0.85);
  const RunResult int8 = RunCluster("int8", {"--set", "sync.compression=int8"});
  const RunResult topk =
      RunCluster("topk 1%", {"--set", "sync.compression=topk", "--set", "sync.topk_ratio=0.01"});
  CHECK(int8.test_acc >= f32.test_acc - 0.01);
  CHECK(topk.test_acc >= f32.test_acc - 0.01);

  // int8: one byte per float plus a 4-byte scale per piece; topk 1%: each peer
  // keeps 1% of its values, and the partial sums carry the union of the peers'
  // picks (8 bytes an entry): between 2% (all pick the same) and 6% (all differ)
  // of the f32 bytes, plus the message headers.
  const double int8_ratio = int8.bytes_per_step / f32.bytes_per_step;
  const double topk_ratio = topk.bytes_per_step / f32.bytes_per_step;
  CHECK(int8_ratio >= 0.245);
  CHECK(int8_ratio <= 0.26);
  CHECK(topk_ratio >= 0.02);
  CHECK(topk_ratio <= 0.062);

  // fp16 and bf16 only need to show their bytes: a short run each.
  for (const char* codec : {"fp16", "bf16"}) {
    const RunResult half =
        RunCluster(codec, {"--set", std::string("sync.compression=") + codec, "--set", "train.max_steps=100"});
    const double ratio = half.bytes_per_step / f32.bytes_per_step;
    CAPTURE(codec);
    CHECK(ratio >= 0.49);
    CHECK(ratio <= 0.51);
  }
}

TEST_CASE("compression where it cannot apply is refused with exit code 2, naming the key") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 2, FashionBody());
  const std::vector<std::vector<std::string>> cases = {
      {"--set", "sync.compression=int8", "--set", "sync.every=4"},
      // Gossip compresses synchronous rounds over a fixed graph only (docs/gossip.md).
      {"--set", "sync.compression=topk", "--set", "sync.mode=gossip", "--set", "sync.async=true"},
      {"--set", "sync.compression=int8", "--set", "sync.mode=gossip", "--set", "sync.topology=random"},
  };
  for (const auto& extra : cases) {
    std::vector<std::string> args = {"--set", "data.train_limit=100", "--set", "data.test_limit=100"};
    args.insert(args.end(), extra.begin(), extra.end());
    PeerRun p = StartPeer(dir, config, "p0", args);
    CHECK(FinishPeer(p, 60s) == 2);
    const std::string log = p.log();
    CHECK_MESSAGE(log.find("sync.compression") != std::string::npos, log);
  }
}
