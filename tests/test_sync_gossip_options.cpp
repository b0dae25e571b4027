// Gossip options with no training, 8 peers over real sockets on 127.0.0.1 (one
// thread per peer): compressed rounds (CHOCO-SGD) keep the exact average and
// reach it; robust aggregation keeps honest peers bounded next to a peer that
// sends +-1e6, where plain averaging does not; the graph over a view heals an
// explicit graph cut by an absent peer. (docs/gossip.md)
#include <doctest/doctest.h>

#include <cmath>
#include <mutex>
#include <random>

#include "meshtrain/gossip.h"
#include "sync/gossip_links.h"
#include "test_sync_cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

constexpr size_t kPeers = 8;
constexpr size_t kLen = 512;

std::vector<float> StartVector(size_t peer) {
  std::mt19937 rng(static_cast<unsigned>(2000 + peer));
  std::uniform_real_distribution<float> dist(-1.0f, 1.0f);
  std::vector<float> v(kLen);
  for (float& x : v) x = dist(rng);
  return v;
}

// `rounds` synchronous rounds on the exponential graph with `tweak` applied to
// each peer's config; returns every peer's final vector and stats.
std::vector<std::vector<float>> RunRounds(int rounds, const std::function<void(size_t, Config*)>& tweak,
                                          std::vector<GossipStats>* stats) {
  LocalCluster c = StartCluster(kPeers, kPeers);
  std::vector<std::vector<float>> out(kPeers);
  stats->assign(kPeers, GossipStats{});
  auto statuses = OnEachPeer(AllRanks(kPeers), [&](size_t rank) -> Status {
    Config cfg = TestPeerConfig(c.ports, rank, /*timeout_ms=*/20000);
    cfg.sync.mode = SyncMode::kGossip;
    cfg.sync.topology = TopologyKind::kExponential;
    tweak(rank, &cfg);
    auto gossip = Gossip::Create(cfg, c.groups[rank]->gossip_links(), kLen);
    if (!gossip.ok()) return gossip.status();
    MESHTRAIN_RETURN_IF_ERROR(c.groups[rank]->WaitForPeers(20s));
    std::vector<float> x = StartVector(rank);
    for (int r = 1; r <= rounds; ++r) MESHTRAIN_RETURN_IF_ERROR((*gossip)->Mix(x, static_cast<uint64_t>(r)));
    (*stats)[rank] = (*gossip)->stats();
    out[rank] = std::move(x);
    c.groups[rank]->Shutdown();
    return Status::OK();
  });
  for (const Status& st : statuses) REQUIRE_MESSAGE(st.ok(), st.ToString());
  return out;
}

double MeanError(const std::vector<std::vector<float>>& xs) {  // largest |mean now - mean at start| over coordinates
  double worst = 0;
  for (size_t k = 0; k < kLen; ++k) {
    double now = 0, start = 0;
    for (size_t p = 0; p < kPeers; ++p) {
      now += xs[p][k];
      start += StartVector(p)[k];
    }
    worst = std::max(worst, std::abs(now - start) / kPeers);
  }
  return worst;
}

double Spread(const std::vector<std::vector<float>>& xs, const std::vector<size_t>& peers) {  // largest |x_p - x_q|
  double worst = 0;
  for (size_t p : peers) {
    for (size_t k = 0; k < kLen; ++k) worst = std::max(worst, static_cast<double>(std::abs(xs[p][k] - xs[peers[0]][k])));
  }
  return worst;
}

}  // namespace

TEST_CASE("compressed gossip rounds keep the exact average and reach it") {
  for (const std::string codec : {"int8", "fp16", "topk"}) {
    CAPTURE(codec);
    std::vector<GossipStats> stats;
    const auto xs = RunRounds(80, [&](size_t, Config* cfg) {
      cfg->sync.compression = *ParseEnum<Compression>(codec);
      cfg->sync.topk_ratio = 0.25;
      cfg->sync.consensus_step = codec == "topk" ? 0.2 : 0.0;  // pure averaging wants a smaller step than training
    }, &stats);
    const double mean_error = MeanError(xs);
    const double spread = Spread(xs, {0, 1, 2, 3, 4, 5, 6, 7});
    MESSAGE(codec << ": mean kept to " << mean_error << ", peers within " << spread << " after 80 rounds");
    CHECK(mean_error < 1e-5);  // W symmetric: sum_i sum_j W_ij (x^_j - x^_i) = 0 whatever the codec drops
    CHECK(spread < 1e-3);
    for (const GossipStats& s : stats) CHECK(s.compressed_rounds == 79);  // all but the first (f32) round
  }
}

TEST_CASE("one peer sending +-1e6: trimmed mean and clipping keep the honest peers bounded, plain averaging does not") {
  const std::vector<size_t> honest = {0, 1, 2, 4, 5, 6, 7};
  for (const std::string rule : {"none", "trimmed_mean", "clip"}) {
    CAPTURE(rule);
    std::vector<GossipStats> stats;
    const auto xs = RunRounds(30, [&](size_t rank, Config* cfg) {
      cfg->sync.robust = *ParseEnum<RobustKind>(rule);
      if (rank == 3) cfg->debug.byzantine = ByzantineKind::kHuge;
    }, &stats);
    double largest = 0;
    for (size_t p : honest) {
      for (float v : xs[p]) largest = std::max(largest, static_cast<double>(std::abs(v)));
    }
    MESSAGE(rule << ": largest honest value after 30 rounds " << largest << ", honest spread " << Spread(xs, honest));
    if (rule == "none") {
      CHECK(largest > 1e3);
    } else {
      CHECK(largest <= 1.0);  // never outside the honest start values' range [-1, 1]
      CHECK(Spread(xs, honest) < 0.1);
    }
    if (rule == "clip") CHECK(stats[0].clipped + stats[1].clipped + stats[2].clipped > 0);
  }
}

TEST_CASE("the graph over a view: an explicit path cut by an absent peer is healed; the others are rebuilt") {
  Config cfg;
  cfg.sync.topology = TopologyKind::kExplicit;
  // p0 - p1 - p2 - p3; without p1 the path falls into {p0} and {p2, p3}.
  cfg.cluster.peers = {{"p0", "tcp://a:1", {"p1"}}, {"p1", "tcp://a:2", {"p2"}}, {"p2", "tcp://a:3", {"p3"}},
                       {"p3", "tcp://a:4", {}}};
  CHECK_FALSE(Topology::FromConfig(cfg, {"p0", "p2", "p3"}).ok());
  auto healed = Topology::ForMembers(cfg, {"p0", "p2", "p3"});
  REQUIRE_MESSAGE(healed.ok(), healed.status().ToString());
  CHECK(healed->Neighbors(0, 0) == std::vector<size_t>{1});     // p0 - p2, the bridge
  CHECK(healed->Neighbors(1, 0) == std::vector<size_t>{0, 2});  // p2: p0 and p3
  // Rows of the rebuilt graph stay doubly stochastic.
  const std::vector<double> w = healed->Matrix(0);
  for (size_t j = 0; j < 3; ++j) CHECK(w[0 * 3 + j] + w[1 * 3 + j] + w[2 * 3 + j] == doctest::Approx(1.0));

  cfg.sync.topology = TopologyKind::kExponential;
  auto seven = Topology::ForMembers(cfg, {"p0", "p1", "p2", "p4", "p5", "p6", "p7"});
  REQUIRE(seven.ok());
  CHECK(seven->size() == 7);
  CHECK(seven->ContractionPerRound() < 1e-9);  // exponential over 7 links every pair: one round averages exactly
}
