// The end of a run is a shared fact (docs/membership.md, "The end of a run"):
// a peer that was away when the others finished (paused across their end, or
// killed and restarted after it) learns "finished at step S" from their
// goodbye, takes their final state while they linger (membership.farewell_ms)
// and ends with it (exit 0); past the farewell it stops without training on
// alone and says so (exit 1). It never ends with a replica of its own.
#include <doctest/doctest.h>

#include <map>

#include "test_cli_faults_support.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

constexpr int64_t kLastStep = 200;  // 3 peers: 125 steps per epoch, so the cap ends the run in epoch 2

// Step lines (they have a "loss") at or after unix time `t`.
std::vector<EventLine> StepLinesAfter(const std::string& metrics, double t) {
  std::vector<EventLine> out;
  std::istringstream in(metrics);
  std::string line;
  while (std::getline(in, line)) {
    if (line.find("\"loss\":") == std::string::npos || JsonNumber(line, "t") < t) continue;
    EventLine e;
    e.line = line;
    e.t = JsonNumber(line, "t");
    e.step = static_cast<int64_t>(JsonNumber(line, "step"));
    e.view = JsonStrings(line, "view");
    out.push_back(std::move(e));
  }
  return out;
}

// The final checkpoint is written before a peer waits for the others and says goodbye.
bool WroteFinalCheckpoint(const PeerRun& run) {
  for (const EventLine& e : Events(run.metrics(), "checkpoint")) {
    if (e.step == kLastStep) return true;
  }
  return false;
}

// After its return the peer never ran a round alone (a view of itself only)
// and never re-cut the data over itself.
void CheckNeverAlone(const PeerRun& run, double back_at) {
  const std::string metrics = run.metrics();
  for (const EventLine& e : StepLinesAfter(metrics, back_at)) {
    CHECK_MESSAGE(e.view != std::vector<std::string>({run.id}), run.id << " trained alone: " << e.line);
  }
  for (const EventLine& e : Events(metrics, "reshard")) {
    CHECK_MESSAGE(JsonStrings(e.line, "owners") != std::vector<std::string>({run.id}),
                  run.id << " re-cut the data over itself: " << e.line);
  }
}

EventLine TheClusterFinished(const PeerRun& run) {
  const std::vector<EventLine> events = Events(run.metrics(), "cluster_finished");
  REQUIRE_MESSAGE(events.size() == 1, run.id << " metrics:\n" << run.metrics());
  CHECK(JsonNumber(events[0].line, "finished_step") == static_cast<double>(kLastStep));
  return events[0];
}

}  // namespace

TEST_CASE("a peer paused across the others' end takes their final state instead of training on alone") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 3, kFaultBody);
  // The farewell ends as soon as p1 has said goodbye: the long window only
  // keeps a loaded machine from closing it before p1 is back.
  const std::vector<std::string> extra = {"--set", "train.max_steps=" + std::to_string(kLastStep), "--set",
                                          "train.log_every=1", "--set", "membership.farewell_ms=30000"};
  std::vector<PeerRun> peers = StartPeers(dir, config, {0, 1, 2}, extra);
  AwaitOrFail(120s, "p1 to reach step 100", [&] { return StepOf(peers[1]) >= 100; });
  peers[1].process->Signal(SIGSTOP);
  AwaitOrFail(120s, "p0 and p2 to finish the run without p1",
              [&] { return WroteFinalCheckpoint(peers[0]) && WroteFinalCheckpoint(peers[2]); });
  peers[1].process->Signal(SIGCONT);
  const double resumed_at = UnixNow();

  for (auto& p : peers) REQUIRE_MESSAGE(FinishPeer(p, 120s) == 0, p.id << ":\n" << p.log());
  const EventLine end = TheClusterFinished(peers[1]);
  CHECK(end.line.find("\"adopted\":true") != std::string::npos);
  CheckNeverAlone(peers[1], resumed_at);
  CHECK(FinalState(peers[1]).header.step == kLastStep);
  for (int i : {0, 2}) {
    const std::string metrics = peers[i].metrics();
    INFO(peers[i].id << " metrics:\n" << metrics);
    const std::vector<EventLine> farewells = Events(metrics, "farewell");
    REQUIRE(farewells.size() == 1);
    CHECK(farewells[0].line.find("p1 came back and took the end") != std::string::npos);
  }
  CheckAllEqual({&peers[0], &peers[1], &peers[2]});
}

TEST_CASE("a peer paused past the others' farewell stops without training on and says why") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 3, kFaultBody);
  // No farewell: p0 and p2 say goodbye and exit at once. Their goodbye waits
  // in p1's socket, which stays connected while p1 is stopped (no ZMTP
  // heartbeats give up on it: transport.md, "Options we avoid").
  const std::vector<std::string> extra = {"--set", "train.max_steps=" + std::to_string(kLastStep), "--set",
                                          "train.log_every=1", "--set", "membership.farewell_ms=0"};
  std::vector<PeerRun> peers = StartPeers(dir, config, {0, 1, 2}, extra);
  AwaitOrFail(120s, "p1 to reach step 100", [&] { return StepOf(peers[1]) >= 100; });
  peers[1].process->Signal(SIGSTOP);
  for (int i : {0, 2}) REQUIRE_MESSAGE(FinishPeer(peers[i], 120s) == 0, peers[i].id << ":\n" << peers[i].log());
  const int64_t paused_step = StepOf(peers[1]);
  peers[1].process->Signal(SIGCONT);
  const double resumed_at = UnixNow();

  CHECK(FinishPeer(peers[1], 60s) == 1);
  const std::string log = peers[1].log();
  INFO("p1 log:\n" << log);
  CHECK(log.find("finished its run at step " + std::to_string(kLastStep)) != std::string::npos);
  CHECK(log.find("stops here rather than train on alone") != std::string::npos);
  const EventLine end = TheClusterFinished(peers[1]);
  CHECK(end.line.find("\"adopted\":false") != std::string::npos);
  CHECK(end.step <= paused_step + 2);  // at most the rounds already queued for it (test_cli_faults_pause.cpp)
  CHECK_FALSE(HasEvent(peers[1].metrics(), "done"));  // no "final" model of its own
  CheckNeverAlone(peers[1], resumed_at);
  CheckAllEqual({&peers[0], &peers[2]});
}

TEST_CASE("a peer restarted after the others finished takes their final state at once, not after a timeout") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 3, kFaultBody);
  const std::vector<std::string> extra = {"--set", "train.max_steps=" + std::to_string(kLastStep), "--set",
                                          "membership.farewell_ms=30000", "--set", "sync.start_timeout_ms=60000"};
  std::vector<PeerRun> peers = StartPeers(dir, config, {0, 1, 2}, extra);
  AwaitOrFail(120s, "p1 to reach step 100", [&] { return StepOf(peers[1]) >= 100; });
  peers[1].process->Signal(SIGKILL);
  peers[1].process->Wait(10s);
  AwaitOrFail(120s, "p0 and p2 to finish the run without p1",
              [&] { return WroteFinalCheckpoint(peers[0]) && WroteFinalCheckpoint(peers[2]); });
  std::vector<std::string> again = extra;
  again.push_back("--resume");
  PeerRun restarted = StartPeer(dir, config, "p1", again, "p1-restarted");

  // Well under sync.start_timeout_ms: it must not wait for a cluster that is gone.
  REQUIRE_MESSAGE(FinishPeer(restarted, 30s) == 0, restarted.log());
  for (int i : {0, 2}) REQUIRE_MESSAGE(FinishPeer(peers[i], 60s) == 0, peers[i].id << ":\n" << peers[i].log());
  const EventLine end = TheClusterFinished(restarted);
  CHECK(end.line.find("\"adopted\":true") != std::string::npos);
  CHECK(StepLinesAfter(restarted.metrics(), 0).empty());  // not one step of its own
  CheckAllEqual({&peers[0], &restarted, &peers[2]});
}

TEST_CASE("chaos.sh counts a rejoin only for a round with another peer, and reports a victim that found the run over") {
  TempDir dir;
  // A run as chaos.sh would have logged it: p1 paused across the others' end
  // (it ran a round alone, then stopped on their goodbye), p2 killed and
  // restarted into a running cluster, p0 paused and back in a view of itself only.
  dir.Write("run/chaos.log",
            "100.0 pause p1\n104.0 resume p1\n110.0 kill p2\n113.0 restart p2\n120.0 pause p0\n124.0 resume p0\n");
  dir.Write("run/p0/metrics.jsonl",
            R"({"t":101.0,"peer":"p0","step":10,"event":"peer_dead","about":"p1"})" "\n"
            R"({"t":101.2,"peer":"p0","step":10,"event":"view_ready","view":["p0","p2"]})" "\n"
            R"({"t":111.0,"peer":"p0","step":20,"event":"peer_dead","about":"p2"})" "\n"
            R"({"t":111.1,"peer":"p0","step":20,"event":"view_ready","view":["p0"]})" "\n"
            R"({"t":113.3,"peer":"p0","step":25,"event":"view_ready","view":["p0","p2"]})" "\n"
            R"({"t":124.2,"peer":"p0","step":30,"event":"view_ready","view":["p0"]})" "\n");
  dir.Write("run/p1/metrics.jsonl",
            R"({"t":104.1,"peer":"p1","step":12,"event":"view_ready","view":["p1"]})" "\n"
            R"({"t":104.3,"peer":"p1","step":12,"event":"cluster_finished","finished_step":40,"from_step":12,)"
            R"("sources":["p0","p2"],"adopted":false,"detail":"..."})" "\n");
  dir.Write("run/p2/metrics.jsonl",
            R"({"t":101.0,"peer":"p2","step":10,"event":"peer_dead","about":"p1"})" "\n"
            R"({"t":113.4,"peer":"p2","step":25,"event":"view_ready","view":["p0","p2"]})" "\n");
  const std::string script = std::string(MESHTRAIN_SOURCE_DIR) + "/scripts/chaos.sh";
  ChildProcess chaos({"/bin/sh", "-c", "bash '" + script + "' '" + dir.File("run") + "' --report-only"},
                     dir.File("report.out"));
  const std::optional<int> code = chaos.Wait(30s);
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  const std::string report = ReadFile(dir.File("run/chaos_report.txt"));
  INFO("report:\n" << report);
  std::istringstream rows(report);
  std::map<std::string, std::string> rejoin;  // fault # -> its rejoin_s column
  for (std::string line; std::getline(rows, line);) {
    if (line.empty() || !std::isdigit(static_cast<unsigned char>(line[0]))) continue;
    std::istringstream columns(line);
    std::string number, fault, peer, detect, reform, rejoin_s;
    columns >> number >> fault >> peer >> detect >> reform >> rejoin_s;
    rejoin[number] = rejoin_s;
  }
  REQUIRE(rejoin.size() == 3);
  CHECK(rejoin["1"] == "end:stopped");  // not "rejoined" after its round alone
  CHECK(rejoin["2"] == "0.400");        // its first round with p0
  CHECK(rejoin["3"] == "-");            // a view of itself only is no rejoin
  CHECK(report.find("rejoin time (s):       median 0.400, max 0.400 over 1 returns") != std::string::npos);
  CHECK(report.find("#1 p1 came back after the others had finished: it stopped without their final state") !=
        std::string::npos);
}
