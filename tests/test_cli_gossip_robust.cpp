// Robust aggregation for gossip (docs/gossip.md, "Robust aggregation"): eight
// synchronous gossip peers, one of them (p3) faulty on purpose
// (debug.byzantine = "huge": it sends +-1e6 instead of its parameters, finite,
// so the wire checks let it through). With plain averaging the honest peers'
// models are wrecked; with the coordinate-wise trimmed mean or self-centred
// clipping they end near the accuracy of a clean run. Asserted from the
// metrics files.
#include <doctest/doctest.h>

#include "test_cli_faults_support.h"
#include "test_cli_gossip_support.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

const std::vector<int> kHonest = {0, 1, 2, 4, 5, 6, 7};

struct RobustRun {
  std::vector<double> honest_acc;  // -1 for a peer that did not finish
  double clipped = 0;              // summed over the honest peers
};

// All eight peers with sync.robust = `rule`; p3 sends garbage when `byzantine`.
RobustRun RunWith(const TempDir& dir, const std::string& config, const std::string& rule, bool byzantine) {
  const std::string tag = rule + (byzantine ? "-faulty" : "-clean");
  std::vector<PeerRun> peers;
  for (int i = 0; i < 8; ++i) {
    std::vector<std::string> args = {"--set", "sync.robust=" + rule, "--set", "sync.timeout_ms=5000"};
    if (byzantine && i == 3) args.insert(args.end(), {"--set", "debug.byzantine=huge"});
    peers.push_back(StartPeer(dir, config, "p" + std::to_string(i), args, tag + "-p" + std::to_string(i)));
  }
  RobustRun out;
  std::vector<int> codes;
  for (auto& p : peers) codes.push_back(FinishPeer(p, 240s));
  for (int i : kHonest) {
    const std::vector<EventLine> done = Events(peers[i].metrics(), "done");
    out.honest_acc.push_back(done.empty() ? -1 : JsonNumber(done[0].line, "test_acc"));
    if (!done.empty()) out.clipped += JsonNumber(done[0].line, "clipped", 0);
    // A rule that holds must also let every honest peer finish normally.
    if (rule != "none") CHECK_MESSAGE(codes[static_cast<size_t>(i)] == 0, tag << " " << peers[i].id << ":\n" << peers[i].log());
  }
  return out;
}

}  // namespace

TEST_CASE("one of 8 gossip peers sends +-1e6: plain averaging collapses, trimmed mean and clipping hold") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 8, kGossipBody);
  const RobustRun clean = RunWith(dir, config, "none", false);
  const double clean_acc = clean.honest_acc[0];
  REQUIRE(clean_acc > 0.75);

  // Plain averaging: every honest peer mixes 1e6 values in (1/6 of each of p3's
  // neighbours' rows, and on from there): its model is gone (or its run fails).
  const RobustRun plain = RunWith(dir, config, "none", true);
  for (double acc : plain.honest_acc) {
    MESSAGE("robust = none, p3 faulty: honest peer test_acc " << acc);
    CHECK(acc < 0.5);
  }

  for (const std::string rule : {"trimmed_mean", "clip"}) {
    CAPTURE(rule);
    const RobustRun robust = RunWith(dir, config, rule, true);
    for (double acc : robust.honest_acc) {
      MESSAGE("robust = " << rule << ", p3 faulty: honest peer test_acc " << acc << " (clean run " << clean_acc << ")");
      CHECK(acc >= clean_acc - 0.03);
    }
    if (rule == "clip") CHECK(robust.clipped > 0);
  }
}
