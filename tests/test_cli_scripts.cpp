// The user-facing scripts: demo.sh (the README's first command) shows four
// peers in one live view and ends with the summary table; launch.sh runs a
// cluster and reports, stops exactly its own children on SIGTERM; plot.sh draws a run.
#include <doctest/doctest.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <optional>
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

// Waits for a script; one still running after `timeout` gets SIGTERM, on which
// launch.sh and demo.sh stop exactly the peers they started, so none outlives the test.
std::optional<int> FinishScript(ChildProcess& script, std::chrono::seconds timeout) {
  std::optional<int> code = script.Wait(timeout);
  if (!code) {
    script.Signal(SIGTERM);
    script.Wait(30s);
  }
  return code;
}

// The demo's model and data, cut down: Fashion-MNIST, an MLP, one epoch.
const std::string kDemoBody = R"(
[data]
dir = "/usr/share/datasets/fashion-mnist"
train_limit = 2048
test_limit = 500

[model]
type = "mlp"
hidden = [16]

[optim]
lr = 0.05
momentum = 0.9

[train]
epochs = 1
batch_size = 32
log_every = 5
)";

}  // namespace

TEST_CASE("demo.sh: four ring peers in one live view, then the summary table with the straggler") {
  TempDir dir;
  ::setenv("DEMO_CONFIG", WriteClusterConfig(dir, 4, kDemoBody).c_str(), 1);
  ::setenv("RUN_DIR", dir.File("runs").c_str(), 1);
  ::setenv("MESHTRAIN", MESHTRAIN_BINARY, 1);
  ChildProcess demo({"/bin/bash", kScripts + "demo.sh"}, dir.File("demo.txt"));
  const std::optional<int> code = FinishScript(demo, 120s);
  ::unsetenv("DEMO_CONFIG");
  const std::string out = ReadFile(dir.File("demo.txt"));
  REQUIRE_MESSAGE(code.value_or(-1) == 0, out);
  INFO("demo.sh printed:\n" << out);
  // One live view (not four interleaved streams): a line per peer, each "done" at the end.
  for (int i = 0; i < 4; ++i) {
    const std::string id = "p" + std::to_string(i);
    CHECK(std::regex_search(out, std::regex("\n" + id + " +step +[0-9]+ +epoch.*test_acc.*done")));
    // The summary: accuracy, steps (512 rows each, batch 32: 16 steps), bytes, compute and comm time.
    CHECK(std::regex_search(out, std::regex("\n" + id + " +0\\.[0-9]{4} +16 +[0-9.]+ [KMG]?B +[0-9.]+ [KMG]?B +[0-9.]+s +[0-9.]+s +[0-9]+% +done")));
  }
  CHECK(out.find("peer     test_acc") != std::string::npos);
  CHECK(std::regex_search(out, std::regex("straggler: p[0-3] ")));
  CHECK(std::regex_search(out, std::regex("longest waits were on messages from: p[0-3] ")));
  CHECK(out.find("demo: plot it with scripts/plot.sh " + dir.File("runs")) != std::string::npos);
  for (int i = 0; i < 4; ++i) CHECK(std::filesystem::exists(dir.File("runs/p" + std::to_string(i) + "/metrics.jsonl")));
}

TEST_CASE("launch.sh runs N peers, prints every peer's result, and plot.sh draws the run") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 3, kLinregBody);
  ::setenv("RUN_DIR", dir.File("runs").c_str(), 1);
  ::setenv("MESHTRAIN", MESHTRAIN_BINARY, 1);
  ChildProcess launch({"/bin/bash", kScripts + "launch.sh", "2", config}, dir.File("launch.txt"));
  REQUIRE_MESSAGE(FinishScript(launch, 120s).value_or(-1) == 0, ReadFile(dir.File("launch.txt")));
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
  CHECK(*code == 143);  // 128 + SIGTERM
  for (int pid : pids) CHECK_MESSAGE(::kill(pid, 0) != 0, "peer pid " << pid << " outlived launch.sh");
}
