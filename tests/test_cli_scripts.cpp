// The user-facing scripts: launch.sh runs a cluster and reports, stops exactly
// its own children on SIGTERM; plot.sh draws a run.
#include <doctest/doctest.h>

#include <cstdlib>
#include <regex>

#include "support/cluster.h"

using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

const std::string kScripts = std::string(MESHTRAIN_SOURCE_DIR) + "/scripts/";

const std::string kLinregBody = R"(
[data]
format = "synthetic"
synthetic_train = 2048
synthetic_test = 256
scaling = "none"

[model]
type = "linear"

[optim]
lr = 0.05

[train]
epochs = 3
batch_size = 32

[sync]
mode = "ring"
)";

std::vector<int> StartedPids(const std::string& log) {
  std::vector<int> pids;
  std::regex started("started p[0-9]+ \\(pid ([0-9]+)\\)");
  for (auto it = std::sregex_iterator(log.begin(), log.end(), started); it != std::sregex_iterator(); ++it) {
    pids.push_back(std::stoi((*it)[1]));
  }
  return pids;
}

}  // namespace

TEST_CASE("launch.sh runs N peers, prints every peer's result, and plot.sh draws the run") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 3, kLinregBody);
  ::setenv("RUN_DIR", dir.File("runs").c_str(), 1);
  ::setenv("MESHTRAIN", MESHTRAIN_BINARY, 1);
  ChildProcess launch({"/bin/bash", kScripts + "launch.sh", "2", config}, dir.File("launch.txt"));
  REQUIRE_MESSAGE(launch.Wait(120s).value_or(-1) == 0, ReadFile(dir.File("launch.txt")));
  const std::string out = ReadFile(dir.File("launch.txt"));
  CHECK(StartedPids(out).size() == 2);
  CHECK(out.find("test_acc") != std::string::npos);
  // 1024 rows per peer, batch 32, 3 epochs: 96 steps each.
  CHECK_MESSAGE(std::regex_search(out, std::regex("\\np0 +[-0-9.]+ +96 ")), out);
  CHECK(std::regex_search(out, std::regex("\\np1 ")));
  CHECK_FALSE(std::regex_search(out, std::regex("started p2|\\np2 ")));  // cluster.size = 2

  ChildProcess plot({"/bin/bash", kScripts + "plot.sh", dir.File("runs"), dir.File("run.png")}, dir.File("plot.txt"));
  REQUIRE_MESSAGE(plot.Wait(60s).value_or(-1) == 0, ReadFile(dir.File("plot.txt")));
  CHECK(ReadFile(dir.File("run.png")).substr(1, 3) == "PNG");
}

TEST_CASE("launch.sh exits non-zero when a peer fails, and SIGTERM stops exactly its children") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 2, kLinregBody);
  ::setenv("RUN_DIR", dir.File("runs").c_str(), 1);
  ::setenv("MESHTRAIN", MESHTRAIN_BINARY, 1);

  ChildProcess bad({"/bin/bash", kScripts + "launch.sh", "2", config, "--set", "optim.lr=-3"}, dir.File("bad.txt"));
  CHECK(bad.Wait(60s).value_or(-1) != 0);
  CHECK(ReadFile(dir.File("bad.txt")).find("optim.lr") != std::string::npos);

  ChildProcess slow({"/bin/bash", kScripts + "launch.sh", "2", config, "--set", "debug.step_delay_ms=50"},
                    dir.File("slow.txt"));
  std::vector<int> pids;
  REQUIRE(WaitUntil(30s, [&] { return (pids = StartedPids(ReadFile(dir.File("slow.txt")))).size() == 2; }));
  slow.Signal(SIGTERM);
  auto code = slow.Wait(30s);
  REQUIRE_MESSAGE(code.has_value(), "launch.sh ignored SIGTERM");
  CHECK(*code == 130);
  for (int pid : pids) CHECK_MESSAGE(::kill(pid, 0) != 0, "peer pid " << pid << " outlived launch.sh");
}
