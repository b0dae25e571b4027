// A compressed ring (sync.compression = int8) under a kill: its rounds follow
// the membership view like the plain ring's, so the survivors abort the round
// the moment the view changes (not after sync.timeout_ms), re-form without the
// dead peer and finish together with equal parameters. (docs/faults.md)
#include <doctest/doctest.h>

#include "test_cli_faults_support.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

TEST_CASE("4 int8-compressed ring peers: kill -9 one; the others re-form at once and finish equal") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 4, kFaultBody);
  const std::vector<std::string> int8 = {"--set", "sync.compression=int8", "--set", "train.epochs=4"};
  std::vector<PeerRun> peers = StartPeers(dir, config, {0, 1, 2, 3}, int8);
  AwaitOrFail(120s, "p1 to reach step 60", [&] { return StepOf(peers[1]) >= 60; });
  peers[1].process->Signal(SIGKILL);
  const double killed_at = UnixNow();
  CHECK(peers[1].process->Wait(10s).value_or(-1) == 128 + SIGKILL);

  std::vector<const PeerRun*> survivors;
  for (int i : {0, 2, 3}) {
    REQUIRE_MESSAGE(FinishPeer(peers[i], 240s) == 0, peers[i].id << ":\n" << peers[i].log());
    survivors.push_back(&peers[i]);
  }
  std::vector<double> reform_s;
  for (const PeerRun* p : survivors) {
    const std::string metrics = p->metrics();
    INFO(p->id << " metrics:\n" << metrics);
    CHECK(HasEvent(metrics, "peer_dead", "p1"));
    CHECK_FALSE(HasEvent(metrics, "sync_failed"));
    // The view change ended the round, not the 20 s timeout of sync.timeout_ms.
    for (const EventLine& e : Events(metrics, "round_aborted")) CHECK(e.line.find("within 20000 ms") == std::string::npos);
    const std::vector<EventLine> readies = Events(metrics, "view_ready");
    const EventLine* ready = FirstAfter(readies, killed_at);
    REQUIRE(ready != nullptr);
    CHECK(ready->view == std::vector<std::string>({"p0", "p2", "p3"}));
    CHECK(ready->t - killed_at < 10);  // loose: a missed view change would take the 20 s timeout
    reform_s.push_back(ready->t - killed_at);
  }
  for (size_t i = 0; i < reform_s.size(); ++i) {
    MESSAGE(survivors[i]->id << ": next successful compressed round " << reform_s[i] << " s after the kill");
  }
  CheckAllEqual(survivors);
  MESSAGE("int8 accuracy after one kill: " << FinalAccuracy(peers[0]));
  CHECK(FinalAccuracy(peers[0]) > 0.75);
}
