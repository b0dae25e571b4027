// The end of a run is a shared fact (docs/membership.md, "The end of a run"):
// a peer that was away when the others finished (paused across their end, or
// killed and restarted after it) learns "finished at step S" from their
// goodbye, takes their final state while they linger (membership.farewell_ms)
// and ends with it (exit 0); past the farewell it stops without training on
// alone and says so (exit 1). It never ends with a replica of its own.
#include <doctest/doctest.h>

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
  // in p1's socket, which stays connected while p1 is stopped as long as the
  // connection's own heartbeats do not give up on it (transport.md): long here.
  const std::vector<std::string> extra = {"--set", "train.max_steps=" + std::to_string(kLastStep), "--set",
                                          "train.log_every=1", "--set", "membership.farewell_ms=0", "--set",
                                          "transport.heartbeat_timeout_ms=60000"};
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
