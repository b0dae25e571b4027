// Gossip under faults (docs/gossip.md, "Faults"): eight gossip peers as real
// processes on loopback, one killed with SIGKILL mid-run. The others detect
// it through membership (not a round timeout), rebuild the graph over the
// seven, reconcile, finish, agree on one model, and end near the accuracy of
// the same run without a fault; restarted with the same id it rejoins by
// state sync. Synchronous (D-PSGD) and asynchronous (push-sum). Everything is
// asserted from the metrics files.
#include <doctest/doctest.h>

#include "test_cli_faults_support.h"
#include "test_cli_gossip_support.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

const std::vector<int> kAll = {0, 1, 2, 3, 4, 5, 6, 7};
const std::vector<int> kSurvivors = {0, 1, 2, 4, 5, 6, 7};
const std::vector<std::string> kSeven = {"p0", "p1", "p2", "p4", "p5", "p6", "p7"};

double FaultFreeAccuracy(const TempDir& dir, const std::string& config, const std::vector<std::string>& extra,
                         const std::string& tag) {
  std::vector<PeerRun> peers = StartPeers(dir, config, kAll, extra, tag);
  for (auto& p : peers) REQUIRE_MESSAGE(FinishPeer(p, 240s) == 0, p.id << ":\n" << p.log());
  return FinalAccuracy(peers[0]);
}

// Kills p3 once it reached `kill_step`; returns the time of the kill.
double KillP3(std::vector<PeerRun>& peers, int64_t kill_step) {
  AwaitOrFail(120s, "p3 to reach step " + std::to_string(kill_step), [&] { return StepOf(peers[3]) >= kill_step; });
  peers[3].process->Signal(SIGKILL);
  const double killed_at = UnixNow();
  CHECK(peers[3].process->Wait(10s).value_or(-1) == 128 + SIGKILL);
  return killed_at;
}

// What every survivor's metrics must show after the kill.
void CheckSurvivor(const PeerRun& p, double killed_at, double reference_acc) {
  const std::string metrics = p.metrics();
  INFO(p.id << " metrics:\n" << metrics);
  CHECK(HasEvent(metrics, "peer_dead", "p3"));
  CHECK_FALSE(HasEvent(metrics, "sync_failed"));
  CHECK_FALSE(HasEvent(metrics, "agreement_failed"));
  CHECK(HasEvent(metrics, "agreed"));
  // Detected by membership, not by a round timing out (sync.timeout_ms = 20 s).
  for (const EventLine& e : Events(metrics, "round_aborted")) CHECK(e.line.find("within 20000 ms") == std::string::npos);
  bool reformed = false;
  for (const EventLine& e : Events(metrics, "view_change")) reformed = reformed || (e.t >= killed_at && e.view == kSeven);
  CHECK(reformed);
  const std::vector<EventLine> readies = Events(metrics, "view_ready");
  const EventLine* ready = FirstAfter(readies, killed_at);
  REQUIRE(ready != nullptr);
  CHECK(ready->view == kSeven);
  const double reform_s = ready->t - killed_at;
  MESSAGE(p.id << ": first gossip round without p3 " << reform_s << " s after the kill");
  CHECK(reform_s < 10);  // a missed detection would take sync.timeout_ms (20 s)
  const std::vector<EventLine> done = Events(metrics, "done");
  REQUIRE(done.size() == 1);
  const double consensus = JsonNumber(done[0].line, "consensus");
  CHECK(consensus >= 0);
  CHECK(consensus < 1e-4);  // the final rounds agreed on one model
  CHECK(JsonNumber(done[0].line, "gossip_view_changes") >= 1);
  const double acc = FinalAccuracy(p);
  MESSAGE(p.id << " test_acc " << acc << " (fault-free run: " << reference_acc << "); consensus " << consensus);
  CHECK(std::abs(acc - reference_acc) <= 0.02);
}

}  // namespace

TEST_CASE("8 gossip peers, sync: kill -9 one mid-run; the seven others finish near fault-free accuracy; it rejoins") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 8, kGossipBody);
  const double reference_acc = FaultFreeAccuracy(dir, config, {}, "reference");
  REQUIRE(reference_acc > 0.75);

  std::vector<PeerRun> peers = StartPeers(dir, config, kAll);
  const double killed_at = KillP3(peers, 60);
  // Restarted once every survivor has gossiped a round in the view of seven.
  AwaitOrFail(60s, "the survivors to re-form without p3", [&] {
    for (int i : kSurvivors) {
      const std::vector<EventLine> readies = Events(peers[i].metrics(), "view_ready");
      const EventLine* ready = FirstAfter(readies, killed_at);
      if (ready == nullptr || ready->view != kSeven) return false;
    }
    return true;
  });
  const double restarted_at = UnixNow();
  PeerRun restarted = StartPeer(dir, config, "p3", {}, "p3-restarted");
  for (int i : kSurvivors) REQUIRE_MESSAGE(FinishPeer(peers[i], 240s) == 0, peers[i].id << ":\n" << peers[i].log());
  REQUIRE_MESSAGE(FinishPeer(restarted, 240s) == 0, restarted.log());

  for (int i : kSurvivors) {
    CheckSurvivor(peers[i], killed_at, reference_acc);
    CHECK(HasEvent(peers[i].metrics(), "peer_joined", "p3"));
  }
  // The restarted p3 copied the survivors' state, gossiped in the full view
  // again and ended with the model the others agreed on.
  const std::string rejoined = restarted.metrics();
  INFO("restarted p3 metrics:\n" << rejoined);
  const std::vector<EventLine> syncs = Events(rejoined, "state_sync");
  REQUIRE(!syncs.empty());
  CHECK(JsonNumber(syncs[0].line, "from_step") == 0);
  const std::vector<EventLine> back = Events(rejoined, "view_ready");
  const EventLine* first = FirstAfter(back, restarted_at);
  REQUIRE(first != nullptr);
  CHECK(first->view.size() == 8);
  CHECK(FinalAccuracy(restarted) == doctest::Approx(FinalAccuracy(peers[0])).epsilon(0.005));
}

TEST_CASE("8 gossip peers, async (push-sum): kill -9 one mid-run; the seven others finish and still agree") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 8, kGossipBody);
  const std::vector<std::string> async = {"--set", "sync.async=true"};
  const double reference_acc = FaultFreeAccuracy(dir, config, async, "reference");
  REQUIRE(reference_acc > 0.75);

  std::vector<PeerRun> peers = StartPeers(dir, config, kAll, async);
  const double killed_at = KillP3(peers, 60);
  for (int i : kSurvivors) REQUIRE_MESSAGE(FinishPeer(peers[i], 240s) == 0, peers[i].id << ":\n" << peers[i].log());
  for (int i : kSurvivors) CheckSurvivor(peers[i], killed_at, reference_acc);
}
