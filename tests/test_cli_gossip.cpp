// Eight peers training by gossip averaging (docs/gossip.md), as separate
// processes over loopback TCP with configs/fashion_mlp_8.toml (on OS-chosen
// ports): accuracy of the averaged model on two topologies, label-skewed
// shards against local training, a 5x straggler under async and sync gossip
// and the ring, and config errors that name the key.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>

#include "meshtrain/checkpoint.h"
#include "meshtrain/config.h"
#include "meshtrain/trainer.h"
#include "support/cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

constexpr int kPeers = 8;

std::string Id(int i) {
  std::string id = "p";
  id.append(std::to_string(i));
  return id;
}

// The shipped 8-peer config with OS-chosen ports instead of its fixed ones.
std::string WriteShippedConfig(const TempDir& dir) {
  const std::string base = ReadFile(std::string(MESHTRAIN_SOURCE_DIR) + "/configs/fashion_mlp_8.toml");
  REQUIRE(base.find("[data]") != std::string::npos);
  return WriteClusterConfig(dir, kPeers, base.substr(base.find("[data]")));
}

struct Outcome {
  double test_acc = -1;
  double steps_per_s = -1;
  std::string metrics;
  std::string checkpoints;
};

// Runs all eight peers with `extra` (plus `slow_extra` on p3) and waits for them.
std::vector<Outcome> RunCluster(const TempDir& dir, const std::string& config, const std::string& name,
                                const std::vector<std::string>& extra, const std::vector<std::string>& slow_extra = {}) {
  std::vector<PeerRun> peers;
  for (int i = 0; i < kPeers; ++i) {
    std::vector<std::string> args = extra;
    args.insert(args.end(), {"--set", "checkpoint.every_steps=0"});
    if (i == 3) args.insert(args.end(), slow_extra.begin(), slow_extra.end());
    peers.push_back(StartPeer(dir, config, Id(i), args, name + "-" + Id(i)));
  }
  std::vector<Outcome> out;
  for (auto& p : peers) {
    REQUIRE_MESSAGE(FinishPeer(p, 300s) == 0, name << " " << p.id << ":\n" << p.log());
    Outcome o;
    o.metrics = p.metrics();
    o.test_acc = LastMetric(o.metrics, "test_acc");
    o.steps_per_s = LastMetric(o.metrics, "steps_per_s");
    o.checkpoints = p.checkpoints();
    out.push_back(o);
  }
  return out;
}

// Test accuracy of the plain mean of every peer's final parameters.
double AveragedModelAccuracy(const TempDir& dir, const std::string& config, const std::vector<Outcome>& peers,
                             const std::vector<std::string>& overrides, const std::string& name) {
  Checkpoint mean;
  for (const Outcome& p : peers) {
    auto c = LoadNewestCheckpoint(p.checkpoints, nullptr);
    REQUIRE_MESSAGE(c.ok(), c.status().ToString());
    if (mean.params.empty()) {
      mean = c.value();
      std::fill(mean.params.begin(), mean.params.end(), 0.0f);
    }
    REQUIRE(c->params.size() == mean.params.size());
    for (size_t i = 0; i < mean.params.size(); ++i) mean.params[i] += c->params[i] / kPeers;
  }
  auto path = SaveCheckpoint(dir.File("averaged-" + name), mean, 1);
  REQUIRE_MESSAGE(path.ok(), path.status().ToString());
  auto cfg = LoadConfig(config, "p0", overrides);
  REQUIRE_MESSAGE(cfg.ok(), cfg.status().ToString());
  auto result = EvaluateCheckpoint(cfg.value(), path.value());
  REQUIRE_MESSAGE(result.ok(), result.status().ToString());
  return result->test_acc;
}

double Mean(const std::vector<double>& v) { return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size()); }

// Steps per second of every peer but p3.
double OthersStepsPerSecond(const std::vector<Outcome>& peers) {
  std::vector<double> rates;
  for (int i = 0; i < kPeers; ++i) {
    if (i != 3) rates.push_back(peers[static_cast<size_t>(i)].steps_per_s);
  }
  return Mean(rates);
}

}  // namespace

TEST_CASE("8 peers gossiping on exponential and on ring reach 0.87; each peer within a point of the average") {
  TempDir dir;
  const std::string config = WriteShippedConfig(dir);
  for (const std::string topology : {"exponential", "ring"}) {
    CAPTURE(topology);
    const std::vector<std::string> overrides = {"sync.topology=" + topology};
    const auto peers = RunCluster(dir, config, topology, {"--set", overrides[0]});
    const double averaged = AveragedModelAccuracy(dir, config, peers, overrides, topology);
    MESSAGE(topology << ": averaged model test_acc " << averaged);
    CHECK(averaged >= 0.87);
    for (int i = 0; i < kPeers; ++i) {
      const Outcome& p = peers[static_cast<size_t>(i)];
      MESSAGE(topology << ": " << Id(i) << " test_acc " << p.test_acc);
      CHECK(std::abs(p.test_acc - averaged) <= 0.01);
      // Every step line reports the consensus distance; the run ends agreed.
      CHECK(p.metrics.find("\"consensus\":") != std::string::npos);
      CHECK(p.metrics.find("\"event\":\"agreed\"") != std::string::npos);
      CHECK(LastMetric(p.metrics, "consensus") < 1e-4);
    }
  }
}

TEST_CASE("label-skewed shards (Dirichlet 0.3): gossip reaches 0.85, local peers on the same shards do much worse") {
  TempDir dir;
  const std::string config = WriteShippedConfig(dir);
  const std::vector<std::string> skew = {"--set", "data.shard=dirichlet", "--set", "data.alpha=0.3",
                                         "--set", "train.epochs=6"};
  const auto gossip = RunCluster(dir, config, "gossip", skew);
  std::vector<std::string> local = skew;
  local.insert(local.end(), {"--set", "sync.mode=local"});
  const auto alone = RunCluster(dir, config, "local", local);

  std::vector<double> gossip_acc, local_acc;
  for (const auto& p : gossip) gossip_acc.push_back(p.test_acc);
  for (const auto& p : alone) local_acc.push_back(p.test_acc);
  const double best_local = *std::max_element(local_acc.begin(), local_acc.end());
  MESSAGE("non-IID gossip test_acc: min " << *std::min_element(gossip_acc.begin(), gossip_acc.end()) << ", mean "
                                          << Mean(gossip_acc) << "; local peers: mean " << Mean(local_acc)
                                          << ", best " << best_local << ", worst "
                                          << *std::min_element(local_acc.begin(), local_acc.end()));
  for (double acc : gossip_acc) CHECK(acc >= 0.85);
  CHECK(Mean(local_acc) <= Mean(gossip_acc) - 0.15);
  CHECK(best_local < 0.85);
}

TEST_CASE("a peer slowed 5x: async gossip keeps the others' pace and converges; sync gossip and ring wait") {
  TempDir dir;
  const std::string config = WriteShippedConfig(dir);
  // Every peer "computes" 8 ms a step on a device of its own (a sleep: the 8
  // processes share 2 cores here); p3's steps take 5x as long.
  const std::vector<std::string> common = {"--set", "train.max_steps=200", "--set", "debug.step_delay_ms=8",
                                           "--set", "train.eval_every=1000"};
  const std::vector<std::string> slow = {"--set", "debug.slowdown=5"};
  std::map<std::string, double> ratio;
  for (const std::string mode : {"async", "sync", "ring"}) {
    CAPTURE(mode);
    std::vector<std::string> args = common;
    if (mode == "async") args.insert(args.end(), {"--set", "sync.async=true"});
    if (mode == "ring") args.insert(args.end(), {"--set", "sync.mode=ring"});
    const auto base = RunCluster(dir, config, mode + "-base", args);
    const auto straggled = RunCluster(dir, config, mode + "-straggler", args, slow);
    const double before = OthersStepsPerSecond(base), after = OthersStepsPerSecond(straggled);
    ratio[mode] = after / before;
    MESSAGE(mode << ": others " << before << " steps/s alone, " << after << " with p3 slowed 5x (" << ratio[mode]
                 << "); p3 " << straggled[3].steps_per_s << " steps/s; test_acc " << straggled[0].test_acc);
    // Every run still learns.
    for (const auto& p : straggled) CHECK(p.test_acc >= 0.75);
    if (mode == "async") {
      // Unhindered by the others, the straggler really runs slow; the peers agree at the end.
      CHECK(straggled[3].steps_per_s <= 0.5 * base[3].steps_per_s);
      for (const auto& p : straggled) CHECK(std::abs(p.test_acc - straggled[0].test_acc) <= 0.01);
    }
  }
  CHECK(ratio["async"] >= 0.8);
  // Lockstep modes run at the straggler's pace: recorded (MESSAGE above, docs/gossip.md), not
  // asserted, since on a loaded 2-core machine every ratio is squeezed toward the same value.
}

TEST_CASE("explicit neighbours: a connected graph trains; bad ones are refused with exit code 2") {
  TempDir dir;
  const std::string small = R"(
[data]
dir = "/usr/share/datasets/fashion-mnist"
train_limit = 2000
test_limit = 200

[model]
type = "mlp"
hidden = [16]

[train]
epochs = 1
batch_size = 32

[sync]
mode = "gossip"
topology = "explicit"
final_rounds = 30
)";
  // A path p0 - p1 - p2 - p3, written from both ends.
  std::string peers;
  const char* neighbors[] = {R"(["p1"])", R"(["p2"])", R"(["p1", "p3"])", R"([])"};
  for (int i = 0; i < 4; ++i) {
    peers += "[[cluster.peers]]\nid = \"" + Id(i) + "\"\nendpoint = \"tcp://127.0.0.1:" +
             std::to_string(FreeLoopbackPort()) + "\"\nneighbors = " + neighbors[i] + "\n\n";
  }
  const std::string config = dir.Write("path.toml", peers + small);
  std::vector<PeerRun> runs;
  for (int i = 0; i < 4; ++i) runs.push_back(StartPeer(dir, config, Id(i)));
  for (auto& r : runs) REQUIRE_MESSAGE(FinishPeer(r, 120s) == 0, r.id << ":\n" << r.log());
  std::vector<std::vector<float>> finals;
  for (auto& r : runs) {
    auto c = LoadNewestCheckpoint(r.checkpoints(), nullptr);
    REQUIRE(c.ok());
    finals.push_back(c->params);
  }
  double worst = 0;
  for (size_t k = 1; k < finals.size(); ++k) {
    for (size_t i = 0; i < finals[0].size(); ++i) worst = std::max(worst, std::abs(double(finals[k][i]) - finals[0][i]));
  }
  MESSAGE("explicit path of 4: largest difference between peers after 30 final rounds: " << worst);
  CHECK(worst < 1e-3);

  // Refused before any socket opens: unknown neighbour, self, and a graph in two pieces.
  const auto refused = [&](const std::string& name, const std::string& text, const std::string& expect) {
    const std::string path = dir.Write(name, text);
    PeerRun r = StartPeer(dir, path, "p0", {}, name);
    CHECK(FinishPeer(r, 30s) == 2);
    CHECK_MESSAGE(r.log().find(expect) != std::string::npos, r.log());
  };
  const std::string two = "[[cluster.peers]]\nid = \"p0\"\nendpoint = \"tcp://127.0.0.1:7001\"\nneighbors = [NB0]\n\n"
                          "[[cluster.peers]]\nid = \"p1\"\nendpoint = \"tcp://127.0.0.1:7002\"\n\n"
                          "[[cluster.peers]]\nid = \"p2\"\nendpoint = \"tcp://127.0.0.1:7003\"\n\n";
  const auto with = [&](const std::string& nb) {
    std::string t = two;
    t.replace(t.find("NB0"), 3, nb);
    return t + small;
  };
  refused("unknown.toml", with("\"p9\""), "cluster.peers[0].neighbors: 'p9' is not in cluster.peers");
  refused("self.toml", with("\"p0\""), "cluster.peers[0].neighbors: a peer cannot be its own neighbour");
  refused("split.toml", with("\"p1\""), "the neighbour graph of cluster.peers[*].neighbors is not connected: 'p2'");
}
