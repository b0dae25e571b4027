// Peak memory of a peer (docs/models.md, "Memory"; docs/edge.md, "Peak
// memory"): the peers of a shipped config, each holding its share of the data,
// train on loopback as the config says (ring by default) for --steps steps,
// with the evaluations and the final checkpoint of a run, and each peer's peak
// resident set (wait4's ru_maxrss: what /usr/bin/time -v reports) is printed.
//
//   bench_cli_peer_rss [--meshtrain PATH] [--config PATH] [--steps 300] [--repeats 1] [--local] [--set K=V]...
//
// --config defaults to configs/fashion_cnn.toml (four peers, the reference
// CNN). Its [[cluster.peers]] are replaced by as many on OS-chosen loopback
// ports. --local: only p0 runs, with sync.mode=local (the same share of the
// data, no transport). The membership timers get slack for a loaded machine.
// PATH defaults to ../meshtrain next to this program (the build tree).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "support/process.h"
#include "support/temp_dir.h"

using namespace meshtrain;

namespace {

struct Options {
  std::string meshtrain;
  std::string config = std::string(MESHTRAIN_SOURCE_DIR) + "/configs/fashion_cnn.toml";
  int steps = 300;
  int repeats = 1;
  bool local = false;
  std::vector<std::string> sets;
};

int CountPeers(const std::string& toml) {
  int n = 0;
  for (size_t at = toml.find("[[cluster.peers]]"); at != std::string::npos; at = toml.find("[[cluster.peers]]", at + 1)) {
    ++n;
  }
  return n;
}

// The config with its peers on fresh loopback ports: everything from [data] on
// is kept (the shipped configs list their peers first).
std::string WithFreePorts(const std::string& toml, int peers) {
  std::ostringstream out;
  for (int i = 0; i < peers; ++i) {
    out << "[[cluster.peers]]\nid = \"p" << i << "\"\nendpoint = \"tcp://127.0.0.1:" << testing::FreeLoopbackPort()
        << "\"\n\n";
  }
  const size_t data = toml.find("[data]");
  out << (data == std::string::npos ? toml : toml.substr(data));
  return out.str();
}

// One run: the peak RSS of each peer in KB (-1: it failed; its log is printed).
std::vector<long> RunOnce(const Options& o, const std::string& body, int peers) {
  testing::TempDir dir;
  const std::string config = dir.Write("config.toml", WithFreePorts(body, peers));
  std::vector<std::unique_ptr<testing::ChildProcess>> procs;
  const int running = o.local ? 1 : peers;
  for (int i = 0; i < running; ++i) {
    const std::string id = "p" + std::to_string(i);
    std::vector<std::string> argv = {o.meshtrain, "run", "--config", config, "--id", id,
                                     "--set", "train.max_steps=" + std::to_string(o.steps),
                                     "--set", "log.metrics=" + dir.File(id + ".jsonl"),
                                     "--set", "checkpoint.dir=" + dir.File(id + "-checkpoints"),
                                     "--set", "log.progress=none",
                                     "--set", "membership.suspect_ms=5000",
                                     "--set", "membership.dead_ms=15000"};
    if (o.local) argv.insert(argv.end(), {"--set", "sync.mode=local"});
    for (const std::string& s : o.sets) argv.insert(argv.end(), {"--set", s});
    procs.push_back(std::make_unique<testing::ChildProcess>(argv, dir.File(id + ".log")));
  }
  std::vector<long> kb;
  for (int i = 0; i < running; ++i) {
    const std::optional<int> code = procs[static_cast<size_t>(i)]->Wait(std::chrono::minutes(20));
    if (code && *code == 0) {
      kb.push_back(procs[static_cast<size_t>(i)]->peak_rss_kb().value_or(-1));
      continue;
    }
    std::ifstream log(dir.File("p" + std::to_string(i) + ".log"));
    std::fprintf(stderr, "p%d failed (exit %d):\n%s\n", i, code.value_or(-1),
                 std::string(std::istreambuf_iterator<char>(log), std::istreambuf_iterator<char>()).c_str());
    kb.push_back(-1);
  }
  return kb;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  o.meshtrain = (std::filesystem::canonical("/proc/self/exe").parent_path().parent_path() / "meshtrain").string();
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(stderr, "bench: %s needs a value\n", a.c_str());
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--meshtrain") o.meshtrain = next();
    else if (a == "--config") o.config = next();
    else if (a == "--steps") o.steps = std::atoi(next().c_str());
    else if (a == "--repeats") o.repeats = std::atoi(next().c_str());
    else if (a == "--local") o.local = true;
    else if (a == "--set") o.sets.push_back(next());
    else {
      std::fprintf(stderr,
                   "usage: bench_cli_peer_rss [--meshtrain PATH] [--config PATH] [--steps N] [--repeats N] [--local] "
                   "[--set K=V]...\n");
      return 2;
    }
  }
  std::ifstream in(o.config);
  const std::string body((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const int peers = CountPeers(body);
  if (body.empty() || peers < 1 || o.steps < 1 || o.repeats < 1) {
    std::fprintf(stderr, "bench: %s: no [[cluster.peers]], or --steps / --repeats < 1\n", o.config.c_str());
    return 2;
  }
  std::printf("%s: %d peers, each on its share of the data, %s, %d steps; peak RSS per peer (ru_maxrss)\n",
              o.config.c_str(), peers, o.local ? "only p0, sync.mode=local" : "all of them, as configured", o.steps);
  long worst = 0;
  bool failed = false;
  for (int r = 0; r < o.repeats; ++r) {
    const std::vector<long> kb = RunOnce(o, body, peers);
    std::printf("run %d:", r + 1);
    for (size_t i = 0; i < kb.size(); ++i) {
      std::printf("  p%zu %ld KB (%.1f MiB)", i, kb[i], static_cast<double>(kb[i]) / 1024.0);
      failed = failed || kb[i] < 0;
      worst = std::max(worst, kb[i]);
    }
    std::printf("\n");
  }
  std::printf("largest: %ld KB = %.1f MB = %.1f MiB\n", worst, static_cast<double>(worst) * 1024.0 / 1e6,
              static_cast<double>(worst) / 1024.0);
  return failed ? 1 : 0;
}
