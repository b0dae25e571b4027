// Gossip averaging against ring all-reduce, peers as separate processes on 127.0.0.1.
//
//   bench_sync_gossip                 both parts below, for N = 4 and 8
//   bench_sync_gossip --mix           part 1 only: communication alone
//   bench_sync_gossip --train         part 2 only: real training runs
//   options: --peers 4,8  --elems 50890  --rounds 60  --meshtrain PATH  --config FILE
//
// Part 1 (--mix): a buffer the size of the model (default: MLP 784-64-10 of
// configs/fashion_mlp_8.toml, 50,890 floats) is averaged over and over, with no
// training: ring all-reduce (mean), synchronous gossip on each topology, and
// push-sum (async) on the exponential graph. Per algorithm: the slowest peer's
// median time per round, and the bytes a peer sends per round (worst peer),
// also as a multiple of the model. Workers are this program ("--worker"),
// started by fork/exec and always reaped.
//
// Part 2 (--train): `meshtrain run` on every peer with the shipped 8-peer config
// (first N peers, OS-chosen ports, an evaluation every 50 steps), once per
// algorithm. Per run: steps per second (mean over peers, training only), bytes
// sent per peer per step, the final test accuracy, and the time from launch
// until every peer's model has reached 0.85 test accuracy.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "meshtrain/config.h"
#include "meshtrain/gossip.h"
#include "meshtrain/peer_group.h"

using namespace meshtrain;
using namespace meshtrain::bench;

namespace {

std::string PeerName(size_t i) {
  std::string id = "p";
  id.append(std::to_string(i));
  return id;
}

std::filesystem::path MakeTempDir() {
  std::string tmpl = (std::filesystem::temp_directory_path() / "meshtrain-gossip-bench-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) return {};
  return tmpl;
}

void DumpLogs(const std::filesystem::path& dir, size_t n) {
  for (size_t r = 0; r < n; ++r) {
    std::ifstream log(dir / (PeerName(r) + ".log"));
    std::string line;
    int shown = 0;
    while (std::getline(log, line) && shown++ < 20) std::fprintf(stderr, "  %s: %s\n", PeerName(r).c_str(), line.c_str());
  }
}

// ---- part 1: communication alone ----------------------------------------------

struct Algorithm {
  std::string name;      // shown in the table
  std::string mode;      // ring | gossip
  std::string topology;  // gossip only
  bool async = false;
};

const std::vector<Algorithm>& Algorithms() {
  static const std::vector<Algorithm> all = {
      {"ring all-reduce", "ring", "", false},         {"gossip ring", "gossip", "ring", false},
      {"gossip torus", "gossip", "torus", false},     {"gossip exponential", "gossip", "exponential", false},
      {"gossip random", "gossip", "random", false},   {"push-sum exponential", "gossip", "exponential", true},
  };
  return all;
}

int RunWorker(size_t rank, const std::vector<int64_t>& ports, const Algorithm& algo, size_t elems, int rounds,
              const std::string& out_path) {
  Config cfg;
  for (size_t i = 0; i < ports.size(); ++i) {
    cfg.cluster.peers.push_back({PeerName(i), "tcp://127.0.0.1:" + std::to_string(ports[i])});
  }
  cfg.self_id = PeerName(rank);
  cfg.self_index = rank;
  // The same texts go to --set in part 2.
  cfg.sync.mode = ParseEnum<SyncMode>(algo.mode).value();
  cfg.sync.topology = algo.topology.empty() ? TopologyKind::kRing : ParseEnum<TopologyKind>(algo.topology).value();
  cfg.sync.async = algo.async;
  cfg.sync.timeout_ms = 60000;
  // Push-sum never waits, so a fast peer would say Bye while a slow one is still
  // in the start barrier; one final round makes everyone finish together.
  cfg.sync.final_rounds = algo.async ? 1 : 0;
  auto group = PeerGroup::Create(cfg);
  if (!group.ok()) {
    std::fprintf(stderr, "%s: %s\n", cfg.self_id.c_str(), group.status().ToString().c_str());
    return 1;
  }
  PeerGroup& g = *group.value();
  std::unique_ptr<Gossip> gossip;
  if (cfg.sync.mode == SyncMode::kGossip) {  // before the barrier: a fast peer's first message may come during it
    auto created = Gossip::Create(cfg, g.gossip_links(), elems);
    if (!created.ok()) {
      std::fprintf(stderr, "%s: %s\n", cfg.self_id.c_str(), created.status().ToString().c_str());
      return 1;
    }
    gossip = std::move(created).value();
  }
  Status st = g.WaitForPeers(std::chrono::milliseconds(30000));
  std::vector<float> buf(elems, static_cast<float>(rank));
  std::vector<double> seconds;
  const int warmup = 3;
  uint64_t sent_before = 0;
  for (int k = 0; st.ok() && k < warmup + rounds; ++k) {
    if (k == warmup) sent_before = g.stats().bytes_sent;
    const Clock::time_point t0 = Clock::now();
    if (gossip) {
      st = gossip->Mix(buf, static_cast<uint64_t>(k));
    } else {
      st = g.AllreduceSum(buf, g.peer_ids(), 0, static_cast<uint64_t>(k));
      for (float& x : buf) x /= static_cast<float>(ports.size());
    }
    if (k >= warmup) seconds.push_back(std::chrono::duration<double>(Clock::now() - t0).count());
  }
  const double sent_per_round = static_cast<double>(g.stats().bytes_sent - sent_before) / rounds;
  if (st.ok() && gossip) st = gossip->Finish(buf, static_cast<uint64_t>(warmup + rounds));
  if (!st.ok()) {
    std::fprintf(stderr, "%s: %s\n", cfg.self_id.c_str(), st.ToString().c_str());
    return 1;
  }
  std::ofstream(out_path) << Median(seconds) << ' ' << sent_per_round << '\n';
  g.Shutdown();
  return 0;
}

void RunMixPart(const std::string& self_exe, const std::vector<int64_t>& peers, size_t elems, int rounds) {
  const double model_bytes = static_cast<double>(elems) * sizeof(float);
  std::printf("\n== communication alone: a %zu-float buffer (%.0f KB), %d rounds after 3 warm-up ==\n", elems,
              model_bytes / 1024, rounds);
  std::printf("time/round: slowest peer's median (push-sum: one mix, never waiting); sent: bytes a peer sends\n"
              "per round, worst peer, headers included\n");
  for (int64_t n : peers) {
    std::printf("\nN = %lld\n%-22s %12s %10s %14s %10s\n", static_cast<long long>(n), "algorithm", "time/round",
                "rounds/s", "sent/round", "x model");
    for (const Algorithm& algo : Algorithms()) {
      const std::filesystem::path dir = MakeTempDir();
      std::vector<int64_t> ports;
      for (int64_t i = 0; i < n; ++i) ports.push_back(FreeLoopbackPort());
      std::vector<std::vector<std::string>> argvs;
      std::vector<std::string> logs;
      for (int64_t r = 0; r < n; ++r) {
        const auto rank = static_cast<size_t>(r);
        argvs.push_back({self_exe, "--worker", std::to_string(r), JoinList(ports), algo.name, std::to_string(elems),
                         std::to_string(rounds), (dir / (PeerName(rank) + ".txt")).string()});
        logs.push_back((dir / (PeerName(rank) + ".log")).string());
      }
      if (!RunChildren(argvs, logs, std::chrono::minutes(10))) {
        std::printf("%-22s   (failed)\n", algo.name.c_str());
        DumpLogs(dir, static_cast<size_t>(n));
      } else {
        double worst_median = 0, worst_sent = 0;
        for (int64_t r = 0; r < n; ++r) {
          std::ifstream in(dir / (PeerName(static_cast<size_t>(r)) + ".txt"));
          double median = 0, sent = 0;
          in >> median >> sent;
          worst_median = std::max(worst_median, median);
          worst_sent = std::max(worst_sent, sent);
        }
        std::printf("%-22s %9.3f ms %10.1f %11.2f MB %10.2f\n", algo.name.c_str(), worst_median * 1e3,
                    1.0 / worst_median, worst_sent / 1e6, worst_sent / model_bytes);
      }
      std::fflush(stdout);
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
}

// ---- part 2: training -----------------------------------------------------------

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The number after "key": in one JSON line, or nothing.
std::optional<double> Field(const std::string& line, const std::string& key) {
  const std::string needle = "\"" + key + "\":";
  const size_t at = line.find(needle);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(line.c_str() + at + needle.size(), nullptr);
}

struct TrainRow {
  bool ok = false;
  double steps_per_s = 0;
  double bytes_per_step = 0;
  double test_acc = 0;
  double seconds_to_085 = -1;  // until every peer's model reached it; -1: never
};

TrainRow RunTraining(const std::string& meshtrain, const std::string& config_text, int64_t n,
                     const std::vector<std::string>& extra) {
  TrainRow row;
  const std::filesystem::path dir = MakeTempDir();
  std::string peers;
  for (int64_t i = 0; i < n; ++i) {
    peers += "[[cluster.peers]]\nid = \"" + PeerName(static_cast<size_t>(i)) + "\"\nendpoint = \"tcp://127.0.0.1:" +
             std::to_string(FreeLoopbackPort()) + "\"\n\n";
  }
  const std::filesystem::path config = dir / "cluster.toml";
  std::ofstream(config) << peers << config_text.substr(config_text.find("[data]"));
  const double launched = static_cast<double>(std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::system_clock::now().time_since_epoch()).count()) / 1e3;
  std::vector<std::vector<std::string>> argvs;
  std::vector<std::string> logs;
  for (int64_t i = 0; i < n; ++i) {
    const std::string id = PeerName(static_cast<size_t>(i));
    std::vector<std::string> argv = {meshtrain, "run", "--config", config.string(), "--id", id,
                                     "--set", "log.metrics=" + (dir / (id + ".jsonl")).string(),
                                     "--set", "checkpoint.dir=" + (dir / ("ckpt-" + id)).string(),
                                     "--set", "checkpoint.every_steps=0", "--set", "log.progress=none",
                                     "--set", "train.eval_every=50"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argvs.push_back(std::move(argv));
    logs.push_back((dir / (id + ".log")).string());
  }
  if (!RunChildren(argvs, logs, std::chrono::minutes(30))) {
    DumpLogs(dir, static_cast<size_t>(n));
  } else {
    row.ok = true;
    double rate = 0, bytes = 0, acc = 0, reached_all = 0;
    for (int64_t i = 0; i < n; ++i) {
      std::istringstream lines(ReadFile(dir / (PeerName(static_cast<size_t>(i)) + ".jsonl")));
      double reached = -1;
      for (std::string line; std::getline(lines, line);) {
        if (line.find("\"event\":\"done\"") != std::string::npos) {
          rate += Field(line, "steps_per_s").value_or(0) / static_cast<double>(n);
          bytes += Field(line, "bytes_sent").value_or(0) / Field(line, "step").value_or(1) / static_cast<double>(n);
          acc += Field(line, "test_acc").value_or(0) / static_cast<double>(n);
        } else if (reached < 0 && Field(line, "test_acc").value_or(0) >= 0.85) {
          reached = Field(line, "t").value_or(launched) - launched;
        }
      }
      reached_all = reached < 0 || reached_all < 0 ? -1 : std::max(reached_all, reached);
    }
    row.steps_per_s = rate;
    row.bytes_per_step = bytes;
    row.test_acc = acc;
    row.seconds_to_085 = reached_all;
  }
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return row;
}

void RunTrainPart(const std::string& meshtrain, const std::string& config_path, const std::vector<int64_t>& peers) {
  const std::string text = ReadFile(config_path);
  if (text.find("[data]") == std::string::npos) {
    std::fprintf(stderr, "%s: no [data] section; pass --config FILE\n", config_path.c_str());
    return;
  }
  std::printf("\n== training: %s, evaluation every 50 steps ==\n", config_path.c_str());
  std::printf("steps/s: mean over peers (training only); sent/step: bytes per peer per step; to 0.85: seconds\n"
              "from launch until every peer's model reached 0.85 test accuracy\n");
  for (int64_t n : peers) {
    std::printf("\nN = %lld\n%-22s %9s %12s %9s %10s\n", static_cast<long long>(n), "algorithm", "steps/s",
                "sent/step", "test_acc", "to 0.85");
    for (const Algorithm& algo : Algorithms()) {
      std::vector<std::string> extra = {"--set", "sync.mode=" + algo.mode};
      if (!algo.topology.empty()) extra.insert(extra.end(), {"--set", "sync.topology=" + algo.topology});
      extra.insert(extra.end(), {"--set", std::string("sync.async=") + (algo.async ? "true" : "false")});
      const TrainRow row = RunTraining(meshtrain, text, n, extra);
      if (!row.ok) {
        std::printf("%-22s   (failed)\n", algo.name.c_str());
      } else if (row.seconds_to_085 < 0) {
        std::printf("%-22s %9.1f %9.2f MB %9.4f %10s\n", algo.name.c_str(), row.steps_per_s, row.bytes_per_step / 1e6,
                    row.test_acc, "never");
      } else {
        std::printf("%-22s %9.1f %9.2f MB %9.4f %8.1f s\n", algo.name.c_str(), row.steps_per_s,
                    row.bytes_per_step / 1e6, row.test_acc, row.seconds_to_085);
      }
      std::fflush(stdout);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  meshtrain::TuneAllocatorForMessages();  // as the meshtrain binary does
  std::vector<std::string> args(argv + 1, argv + argc);
  if (!args.empty() && args[0] == "--worker") {
    if (args.size() != 7) return 2;
    const auto& all = Algorithms();
    auto algo = std::find_if(all.begin(), all.end(), [&](const Algorithm& a) { return a.name == args[3]; });
    if (algo == all.end()) return 2;
    return RunWorker(std::stoul(args[1]), ParseList(args[2]), *algo, std::stoul(args[4]), std::stoi(args[5]), args[6]);
  }

  const std::string self_exe = std::filesystem::canonical("/proc/self/exe").string();
  const std::filesystem::path build_dir = std::filesystem::path(self_exe).parent_path().parent_path();
  std::string meshtrain = (build_dir / "meshtrain").string();
  // The source tree this file was compiled from (CMake passes absolute paths).
  std::string config = (std::filesystem::path(__FILE__).parent_path().parent_path() / "configs" /
                        "fashion_mlp_8.toml").string();
  std::vector<int64_t> peers = {4, 8};
  size_t elems = 50890;  // MLP 784-64-10
  int rounds = 60;
  bool mix = true, train = true;
  for (size_t i = 0; i < args.size(); ++i) {
    const bool has_value = i + 1 < args.size();
    if (args[i] == "--mix") {
      train = false;
    } else if (args[i] == "--train") {
      mix = false;
    } else if (args[i] == "--peers" && has_value) {
      peers = ParseList(args[++i]);
    } else if (args[i] == "--elems" && has_value) {
      elems = std::stoul(args[++i]);
    } else if (args[i] == "--rounds" && has_value) {
      rounds = std::max(1, std::stoi(args[++i]));
    } else if (args[i] == "--meshtrain" && has_value) {
      meshtrain = args[++i];
    } else if (args[i] == "--config" && has_value) {
      config = args[++i];
    } else {
      std::fprintf(stderr,
                   "usage: %s [--mix | --train] [--peers 4,8] [--elems N] [--rounds R] [--meshtrain PATH] "
                   "[--config FILE]\n",
                   argv[0]);
      return 2;
    }
  }
  std::printf("gossip vs ring all-reduce, separate processes on 127.0.0.1 (%u hardware threads)\n",
              std::thread::hardware_concurrency());
  if (mix) RunMixPart(self_exe, peers, elems, rounds);
  if (train) {
    if (::access(meshtrain.c_str(), X_OK) != 0) {
      std::fprintf(stderr, "%s not found: build the meshtrain target or pass --meshtrain PATH\n", meshtrain.c_str());
      return 1;
    }
    RunTrainPart(meshtrain, config, peers);
  }
  return 0;
}
