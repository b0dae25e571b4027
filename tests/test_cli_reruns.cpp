// What a user does across runs, through the real binary (issue 21): rerunning in
// the same directories, pressing Ctrl-C while a peer waits for the others,
// reading reports of several runs, and asking any command for --help.
#include <doctest/doctest.h>

#include <csignal>
#include <regex>
#include <set>

#include "meshtrain/checkpoint.h"
#include "support/cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

const std::string kFashionSoftmax = std::string(MESHTRAIN_SOURCE_DIR) + "/configs/fashion_softmax.toml";
const std::string kFashionMlp = std::string(MESHTRAIN_SOURCE_DIR) + "/configs/fashion_mlp.toml";

// A lone softmax peer on a small slice of Fashion-MNIST: hundreds of steps in a second.
std::vector<std::string> LonePeer(int64_t max_steps, std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"--set", "cluster.size=1", "--set", "sync.mode=local",
                                   "--set", "data.train_limit=2000", "--set", "data.test_limit=200",
                                   "--set", "train.epochs=100", "--set", "train.max_steps=" + std::to_string(max_steps),
                                   "--set", "checkpoint.every_steps=200"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

struct Outcome {
  int code;
  std::string output;
};

Outcome RunCommand(const TempDir& dir, std::vector<std::string> args, const std::string& name) {
  args.insert(args.begin(), MESHTRAIN_BINARY);
  const std::string log = dir.File(name + ".txt");
  ChildProcess p(args, log);
  auto code = p.Wait(60s);
  if (!code) {
    FAIL_CHECK(name << ": still running after 60 s; output:\n" << ReadFile(log));
    p.Signal(SIGKILL);
    code = p.Wait(10s);
  }
  return {code.value_or(-1), ReadFile(log)};
}

// The distinct values of "run" in a metrics file, in order of first appearance.
std::vector<std::string> RunIds(const std::string& metrics) {
  std::vector<std::string> ids;
  static const std::regex kRun("\"run\":\"([^\"]+)\"");
  for (auto it = std::sregex_iterator(metrics.begin(), metrics.end(), kRun); it != std::sregex_iterator(); ++it) {
    const std::string id = (*it)[1];
    if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
  }
  return ids;
}

}  // namespace

TEST_CASE("a rerun with fewer steps keeps its final checkpoint, and --resume takes the one written last") {
  TempDir dir;
  // The sequence in one checkpoint.dir: 600 steps, then 250, then 100.
  for (int64_t steps : {600, 250, 100}) {
    PeerRun run = StartPeer(dir, kFashionSoftmax, "p0", LonePeer(steps));
    REQUIRE_MESSAGE(FinishPeer(run, 120s) == 0, run.log());
  }
  const std::string ckpt = dir.File("runs/p0/checkpoints");
  const auto files = ListCheckpoints(ckpt);
  REQUIRE_MESSAGE(!files.empty(), "no checkpoint left in " << ckpt);
  CHECK_MESSAGE(files[0].find("ckpt-000000000100.bin") != std::string::npos,
                "the third run's final checkpoint is not the newest: " << files[0]);
  CHECK_MESSAGE(std::filesystem::exists(ckpt + "/ckpt-000000000100.bin"), "the final checkpoint of step 100 was deleted");
  CHECK(files.size() == 3);  // checkpoint.keep = 3: 100, 250 and the second run's 200

  PeerRun resumed = StartPeer(dir, kFashionSoftmax, "p0", LonePeer(150, {"--resume"}));
  REQUIRE_MESSAGE(FinishPeer(resumed, 120s) == 0, resumed.log());
  CHECK_MESSAGE(resumed.metrics().find("from checkpoint of step 100 in") != std::string::npos, resumed.metrics());
  CHECK_MESSAGE(resumed.log().find("150/150") != std::string::npos, resumed.log());
  CHECK_MESSAGE(resumed.log().find("600/") == std::string::npos, resumed.log());
}

TEST_CASE("a resume from a checkpoint past the run's last step says there is nothing left to train") {
  TempDir dir;
  PeerRun first = StartPeer(dir, kFashionSoftmax, "p0", LonePeer(400));
  REQUIRE_MESSAGE(FinishPeer(first, 120s) == 0, first.log());
  PeerRun again = StartPeer(dir, kFashionSoftmax, "p0", LonePeer(100, {"--resume"}));
  REQUIRE_MESSAGE(FinishPeer(again, 120s) == 0, again.log());
  CHECK_MESSAGE(again.log().find("nothing left to train") != std::string::npos, again.log());
  // The model it ends with is still evaluated: the report has its accuracy, not "-".
  CHECK_MESSAGE(LastMetric(again.metrics(), "test_acc") > 0.5, again.metrics());
}

TEST_CASE("SIGINT and SIGTERM while a peer waits for the others end it at once with 130 and 143") {
  TempDir dir;
  // p1 is never started: p0 waits for it (start_timeout_ms 60 s, far above the bounded waits here).
  const std::string config = WriteClusterConfig(dir, 2, ReadFile(kFashionSoftmax).substr(
                                                            ReadFile(kFashionSoftmax).find("[data]")));
  for (int sig : {SIGINT, SIGTERM}) {
    CAPTURE(sig);
    PeerRun p0 = StartPeer(dir, config, "p0",
                           {"--set", "sync.start_timeout_ms=60000", "--set", "data.train_limit=2000"},
                           "p0_" + std::to_string(sig));
    // It says whom it waits for every few seconds; once it has, it is in the wait.
    REQUIRE_MESSAGE(WaitUntil(30s, [&] { return p0.log().find("never heard from p1") != std::string::npos; }),
                    "p0 never said it waits for p1; log:\n" << p0.log());
    const auto signalled = std::chrono::steady_clock::now();
    p0.process->Signal(sig);
    auto code = p0.process->Wait(10s);
    REQUIRE_MESSAGE(code.has_value(), "p0 still waiting 10 s after the signal; log:\n" << p0.log());
    MESSAGE("exit " << *code << " after " << std::chrono::duration<double>(std::chrono::steady_clock::now() - signalled).count()
                    << " s");
    CHECK_MESSAGE(*code == 128 + sig, p0.log());
    CHECK_MESSAGE(p0.log().find("stopped by signal") != std::string::npos, p0.log());
    CHECK_MESSAGE(p0.metrics().find("\"event\":\"start_failed\"") == std::string::npos, p0.metrics());
    CHECK_MESSAGE(ListCheckpoints(p0.checkpoints()).empty(), "a checkpoint was written though nothing was trained");
  }
}

TEST_CASE("runs appended to one metrics file carry their own run id; report shows the latest, a resume continues it") {
  TempDir dir;
  for (int64_t steps : {300, 120}) {
    PeerRun run = StartPeer(dir, kFashionSoftmax, "p0", LonePeer(steps));
    REQUIRE_MESSAGE(FinishPeer(run, 120s) == 0, run.log());
  }
  const std::string metrics_path = dir.File("runs/p0/metrics.jsonl");
  std::vector<std::string> ids = RunIds(ReadFile(metrics_path));
  REQUIRE_MESSAGE(ids.size() == 2, ReadFile(metrics_path));
  // Every line names its run.
  std::istringstream lines(ReadFile(metrics_path));
  for (std::string line; std::getline(lines, line);) CHECK_MESSAGE(line.rfind("{\"run\":\"", 0) == 0, line);

  Outcome report = RunCommand(dir, {"report", dir.File("runs")}, "report");
  CHECK(report.code == 0);
  CHECK_MESSAGE(std::regex_search(report.output, std::regex("p0 +[0-9.]+ +120 ")), report.output);
  CHECK_MESSAGE(report.output.find("1 earlier run(s)") != std::string::npos, report.output);

  PeerRun resumed = StartPeer(dir, kFashionSoftmax, "p0", LonePeer(180, {"--resume"}));
  REQUIRE_MESSAGE(FinishPeer(resumed, 120s) == 0, resumed.log());
  ids = RunIds(ReadFile(metrics_path));
  CHECK_MESSAGE(ids.size() == 2, "the resume started a run of its own: " << ids.size() << " run ids");
  report = RunCommand(dir, {"report", dir.File("runs")}, "report_after_resume");
  CHECK_MESSAGE(std::regex_search(report.output, std::regex("p0 +[0-9.]+ +180 ")), report.output);
}

TEST_CASE("every command answers --help; wrong paths and impossible configs are user mistakes (exit 2)") {
  TempDir dir;
  for (const char* verb : {"run", "eval", "inspect", "peers", "report", "watch", "keygen"}) {
    CAPTURE(verb);
    Outcome help = RunCommand(dir, {verb, "--help"}, std::string("help_") + verb);
    CHECK_MESSAGE(help.code == 0, help.output);
    CHECK_MESSAGE(help.output.find(std::string("usage: meshtrain ") + verb) != std::string::npos, help.output);
    CHECK_MESSAGE(help.output.find("exit codes") != std::string::npos, help.output);
  }
  // --help wins over everything else on the line: nothing is run, nothing written.
  Outcome run_help = RunCommand(dir, {"run", "--config", kFashionMlp, "--id", "p0", "-h"}, "run_help");
  CHECK(run_help.code == 0);
  CHECK_FALSE(std::filesystem::exists(dir.File("runs")));

  Outcome bare = RunCommand(dir, {}, "bare");
  CHECK(bare.code == 2);
  for (const char* verb : {"run", "eval", "inspect", "peers", "report", "watch", "keygen"}) {
    CHECK_MESSAGE(bare.output.find(std::string("missing command")) != std::string::npos, bare.output);
    CHECK_MESSAGE(bare.output.find(verb) != std::string::npos, verb << " not named: " << bare.output);
  }

  const std::string not_checkpoint = dir.Write("notes.txt", "hello, not a checkpoint\n");
  const std::string missing = dir.File("nope/ckpt-000000000001.bin");
  struct Case {
    std::vector<std::string> args;
    std::string needle;
  };
  const std::vector<Case> cases = {
      {{"watch", dir.File("nonexistent")}, "no such run directory"},
      {{"report", dir.File("nonexistent")}, "no such run directory"},
      {{"report", not_checkpoint}, "not a directory"},
      {{"inspect", not_checkpoint}, "not a meshtrain checkpoint"},
      {{"inspect", dir.path()}, "is a directory"},
      {{"inspect", missing}, "no checkpoint file"},
      {{"eval", "--config", kFashionMlp, "--id", "p0", "--checkpoint", not_checkpoint}, "not a meshtrain checkpoint"},
      {{"eval", "--config", kFashionMlp, "--id", "p0", "--checkpoint", dir.path()}, "is a directory"},
      {{"peers", "--config", kFashionMlp, "--set", "cluster.size=2", "--set", "membership.quorum=9"},
       "membership.quorum"},
      {{"run", "--config", kFashionMlp, "--id", "p0", "--set", "cluster.size=2", "--set", "membership.quorum=9"},
       "membership.quorum"},
  };
  int i = 0;
  for (const Case& c : cases) {
    Outcome out = RunCommand(dir, c.args, "case" + std::to_string(i++));
    CHECK_MESSAGE(out.code == 2, c.args[0] << " " << c.args.back() << ": " << out.output);
    CHECK_MESSAGE(out.output.find(c.needle) != std::string::npos, out.output);
  }
}
