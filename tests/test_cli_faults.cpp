// Killing ring peers (SIGKILL) mid-run, as users do: the others detect it,
// abort the round, agree on a new view, reconcile and go on; the victim comes
// back with the same id and rejoins with state sync; everyone ends with the
// same parameters, and the accuracy matches a run without faults.
// (docs/membership.md, docs/faults.md)
#include <doctest/doctest.h>

#include <random>

#include "test_cli_faults_support.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

TEST_CASE("4 ring peers: kill -9 one at a random step; the rest carry on, and it rejoins when restarted") {
  TempDir dir;
  // The fault-free run to compare the accuracy with.
  const std::string reference_config = WriteClusterConfig(dir, 4, kFaultBody, "reference.toml");
  std::vector<PeerRun> reference = StartPeers(dir, reference_config, {0, 1, 2, 3}, {}, "reference");
  for (auto& p : reference) REQUIRE_MESSAGE(FinishPeer(p, 240s) == 0, p.id << ":\n" << p.log());
  const double reference_acc = FinalAccuracy(reference[0]);
  REQUIRE(reference_acc > 0.8);

  const std::string config = WriteClusterConfig(dir, 4, kFaultBody, "faulty.toml");
  std::vector<PeerRun> peers = StartPeers(dir, config, {0, 1, 2, 3});
  std::mt19937 rng(20240611);  // a "random" step, the same on every run of the test
  const int64_t kill_step = std::uniform_int_distribution<int64_t>(40, 200)(rng);
  AwaitOrFail(120s, "p3 to reach step " + std::to_string(kill_step), [&] { return StepOf(peers[3]) >= kill_step; });
  peers[3].process->Signal(SIGKILL);
  const double killed_at = UnixNow();
  CHECK(peers[3].process->Wait(10s).value_or(-1) == 128 + SIGKILL);

  // The survivors agree on a view without p3; then p3 comes back with the same id.
  AwaitOrFail(60s, "the survivors to re-form without p3", [&] {
    for (int i = 0; i < 3; ++i) {
      bool reformed = false;
      for (const EventLine& e : Events(peers[i].metrics(), "view_change")) {
        reformed = reformed || (e.t >= killed_at && e.view == std::vector<std::string>{"p0", "p1", "p2"});
      }
      if (!reformed) return false;
    }
    return true;
  });
  const double restarted_at = UnixNow();
  PeerRun restarted = StartPeer(dir, config, "p3", {}, "p3-restarted");

  for (int i = 0; i < 3; ++i) REQUIRE_MESSAGE(FinishPeer(peers[i], 240s) == 0, peers[i].id << ":\n" << peers[i].log());
  REQUIRE_MESSAGE(FinishPeer(restarted, 240s) == 0, restarted.log());

  for (int i = 0; i < 3; ++i) {
    const std::string metrics = peers[i].metrics();
    INFO(peers[i].id << " metrics:\n" << metrics);
    CHECK(HasEvent(metrics, "peer_dead", "p3"));
    CHECK_FALSE(HasEvent(metrics, "sync_failed"));
    // Detected by membership, not by a round timing out (sync.timeout_ms = 20 s).
    for (const EventLine& e : Events(metrics, "round_aborted")) CHECK(e.line.find("within 20000 ms") == std::string::npos);
    const std::vector<EventLine> readies = Events(metrics, "view_ready");
    const EventLine* ready = FirstAfter(readies, killed_at);
    REQUIRE(ready != nullptr);
    CHECK(ready->view == std::vector<std::string>({"p0", "p1", "p2"}));
    const double reform_s = ready->t - killed_at;
    MESSAGE(peers[i].id << ": next successful round " << reform_s << " s after the kill");
    CHECK(reform_s < 10);  // a loose bound: a missed detection would take sync.timeout_ms (20 s)
    WARN_MESSAGE(reform_s <= 2.0, "slower than the 2 s target on this machine: " << reform_s << " s");
    CHECK(HasEvent(metrics, "peer_joined", "p3"));
  }

  const std::string rejoined = restarted.metrics();
  INFO("restarted p3 metrics:\n" << rejoined);
  const std::vector<EventLine> syncs = Events(rejoined, "state_sync");
  REQUIRE(!syncs.empty());
  CHECK(JsonNumber(syncs[0].line, "from_step") == 0);
  CHECK(syncs[0].step > kill_step);
  const std::vector<EventLine> rejoined_readies = Events(rejoined, "view_ready");
  const EventLine* back = FirstAfter(rejoined_readies, restarted_at);
  REQUIRE(back != nullptr);
  CHECK(back->view == std::vector<std::string>{"p0", "p1", "p2", "p3"});
  const double rejoin_s = back->t - restarted_at;
  MESSAGE("restarted p3 took part in a round " << rejoin_s << " s after its restart");
  WARN_MESSAGE(rejoin_s <= 3.0, "slower than the 3 s target on this machine: " << rejoin_s << " s");

  CheckAllEqual({&peers[0], &peers[1], &peers[2], &restarted});
  for (int i = 0; i < 3; ++i) {
    const double acc = FinalAccuracy(peers[i]);
    MESSAGE(peers[i].id << " test_acc " << acc << " (fault-free run: " << reference_acc << ")");
    CHECK(std::abs(acc - reference_acc) <= 0.01);
  }
  CHECK(FinalAccuracy(restarted) == doctest::Approx(FinalAccuracy(peers[0])));
}

TEST_CASE("8 ring peers: two killed at once; the six others finish together") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 8, kFaultBody);
  std::vector<PeerRun> peers = StartPeers(dir, config, {0, 1, 2, 3, 4, 5, 6, 7}, {"--set", "train.epochs=6"});
  AwaitOrFail(120s, "p2 to reach step 60", [&] { return StepOf(peers[2]) >= 60; });
  peers[2].process->Signal(SIGKILL);
  peers[5].process->Signal(SIGKILL);
  const double killed_at = UnixNow();
  CHECK(peers[2].process->Wait(10s).value_or(-1) == 128 + SIGKILL);
  CHECK(peers[5].process->Wait(10s).value_or(-1) == 128 + SIGKILL);

  std::vector<const PeerRun*> survivors;
  for (int i : {0, 1, 3, 4, 6, 7}) {
    REQUIRE_MESSAGE(FinishPeer(peers[i], 240s) == 0, peers[i].id << ":\n" << peers[i].log());
    survivors.push_back(&peers[i]);
  }
  const std::vector<std::string> six = {"p0", "p1", "p3", "p4", "p6", "p7"};
  for (const PeerRun* p : survivors) {
    const std::string metrics = p->metrics();
    INFO(p->id << " metrics:\n" << metrics);
    CHECK(HasEvent(metrics, "peer_dead", "p2"));
    CHECK(HasEvent(metrics, "peer_dead", "p5"));
    CHECK_FALSE(HasEvent(metrics, "sync_failed"));
    const std::vector<EventLine> readies = Events(metrics, "view_ready");
    const EventLine* ready = FirstAfter(readies, killed_at);
    REQUIRE(ready != nullptr);
    MESSAGE(p->id << ": next successful round " << ready->t - killed_at << " s after the kills");
    const std::vector<EventLine> done = Events(metrics, "done");
    REQUIRE(done.size() == 1);
    CHECK(JsonStrings(done[0].line, "view") == six);
    // The dead peers' shards are re-cut over the six at the next epoch.
    bool recut = false;
    for (const EventLine& e : Events(metrics, "reshard")) recut = recut || JsonStrings(e.line, "owners") == six;
    CHECK(recut);
  }
  CheckAllEqual(survivors);
  MESSAGE("accuracy after two kills: " << FinalAccuracy(peers[0]));
  CHECK(FinalAccuracy(peers[0]) > 0.8);
}

// The last peer standing (docs/faults.md, "A cut-off minority waits"): 1 of
// 2 is no majority, and a peer cannot tell its partner's crash from its own
// cut cable. It waits membership.minority_grace_ms, then, with minority =
// "train" (the default), trains on alone and ends with exit 3 and
// minority_finish; with "stop" it stops after the grace with exit 1.
TEST_CASE("the last peer standing of two waits the grace, then trains alone to exit 3, or stops with exit 1") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 2, kFaultBody);
  for (const std::string policy : {"train", "stop"}) {
    INFO("membership.minority = " << policy);
    std::vector<PeerRun> peers =
        StartPeers(dir, config, {0, 1},
                   {"--set", "train.max_steps=60", "--set", "membership.minority_grace_ms=700", "--set",
                    "membership.minority_end_wait_ms=300", "--set", "membership.minority=" + policy},
                   policy);
    AwaitOrFail(120s, "p0 to reach step 10", [&] { return StepOf(peers[0]) >= 10; });
    peers[1].process->Signal(SIGKILL);
    CHECK(peers[1].process->Wait(10s).value_or(-1) == 128 + SIGKILL);
    const int code = FinishPeer(peers[0], 60s);
    const std::string metrics = peers[0].metrics();
    INFO("p0 metrics:\n" << metrics << "\np0 log:\n" << peers[0].log());
    const std::vector<EventLine> waits = Events(metrics, "minority_wait");
    REQUIRE(waits.size() == 1);
    CHECK(HasEvent(metrics, "peer_dead", "p1"));
    if (policy == "train") {
      CHECK(code == 3);
      const std::vector<EventLine> alone = Events(metrics, "minority_training");
      REQUIRE(alone.size() == 1);
      CHECK(alone.front().t >= waits.front().t + 0.6);  // no step during the grace
      CHECK(alone.front().step == waits.front().step);
      const std::vector<EventLine> finish = Events(metrics, "minority_finish");
      REQUIRE(finish.size() == 1);
      CHECK(finish.front().step == 60);
      CHECK(JsonNumber(finish.front().line, "last_shared_step") == waits.front().step);
      CHECK(FinalState(peers[0]).header.step == 60);
      CHECK(peers[0].log().find("in a minority") != std::string::npos);
    } else {
      CHECK(code == 1);
      CHECK_FALSE(HasEvent(metrics, "minority_training"));
      const std::vector<EventLine> stopped = Events(metrics, "minority_stopped");
      REQUIRE(stopped.size() == 1);
      CHECK(stopped.front().step == waits.front().step);
      CHECK(Events(metrics, "done").empty());
      CHECK_FALSE(HasEvent(metrics, "sync_failed"));
      CHECK(peers[0].log().find("membership.minority = \"stop\"") != std::string::npos);
    }
  }
}
