// Replica fingerprints over real peers (docs/agreement.md, "Replica
// fingerprints"): a bit flipped in one ring replica's memory is found within
// sync.verify_every steps, every peer says whose replica differs, the odd one
// copies the majority's state, and all end bit-identical; with no majority the
// run stops on every peer with an error instead of training on.
#include <doctest/doctest.h>

#include "test_cli_faults_support.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

const std::vector<std::string> kChecked = {"--set", "train.max_steps=80", "--set", "sync.verify_every=10"};

std::vector<std::string> With(std::vector<std::string> args, const std::vector<std::string>& more) {
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

}  // namespace

TEST_CASE("a bit flipped in one of three replicas is found, repaired from the majority, and all end equal") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 3, kFaultBody);
  std::vector<PeerRun> peers = StartPeers(dir, config, {0, 2}, kChecked);
  peers.insert(peers.begin() + 1, StartPeer(dir, config, "p1", With(kChecked, {"--set", "debug.flip_bit_at_step=25"})));
  for (auto& p : peers) REQUIRE_MESSAGE(FinishPeer(p, 180s) == 0, p.id << ":\n" << p.log());

  const std::string flipped = peers[1].metrics();
  INFO("p1 metrics:\n" << flipped);
  const std::vector<EventLine> flips = Events(flipped, "bit_flipped");
  REQUIRE(flips.size() == 1);
  CHECK(flips[0].step == 25);
  for (auto& p : peers) {
    INFO(p.id << " metrics:\n" << p.metrics());
    const std::vector<EventLine> found = Events(p.metrics(), "replica_diverged");
    REQUIRE(found.size() == 1);
    CHECK(found[0].about == "p1");
    // Within verify_every steps of the flip: the check at step 30 saw it.
    CHECK(JsonString(found[0].line, "detail").find("at step 30 ") != std::string::npos);
    CHECK(JsonNumber(Events(p.metrics(), "done").at(0).line, "fingerprints") >= 7);
  }
  // p1 copied the majority's state after the check that found it.
  bool repaired = false;
  for (const EventLine& e : Events(flipped, "state_sync")) repaired = repaired || e.step >= 30;
  CHECK(repaired);
  CHECK(JsonString(Events(flipped, "replica_diverged")[0].line, "detail").find("this peer copies") !=
        std::string::npos);
  CheckAllEqual({&peers[0], &peers[1], &peers[2]});
}

TEST_CASE("two replicas that differ with no majority stop the run on both peers, saying so") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 2, kFaultBody);
  std::vector<PeerRun> peers = StartPeers(dir, config, {0}, kChecked);
  peers.push_back(StartPeer(dir, config, "p1", With(kChecked, {"--set", "debug.flip_bit_at_step=15"})));
  for (auto& p : peers) {
    INFO(p.id << " log:\n" << p.log() << "\nmetrics:\n" << p.metrics());
    CHECK(FinishPeer(p, 120s) == 1);
    CHECK(p.log().find("no strict majority holds one state") != std::string::npos);
    CHECK(HasEvent(p.metrics(), "replica_diverged", "p0, p1"));
    CHECK_FALSE(HasEvent(p.metrics(), "done"));
    CHECK(StepOf(p) < 80);
  }
}
