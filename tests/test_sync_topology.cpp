// Gossip topologies: the neighbour graphs, the Metropolis-Hastings mixing
// matrices (symmetric, doubly stochastic) and the contraction per round their
// spectra predict, against closed forms.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <numbers>
#include <set>

#include "meshtrain/topology.h"

using namespace meshtrain;

namespace {

Topology Make(TopologyKind kind, size_t n, uint64_t seed = 1, const std::vector<std::pair<size_t, size_t>>& edges = {}) {
  auto t = Topology::Create(kind, n, seed, edges);
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  return std::move(t).value();
}

void CheckDoublyStochastic(const Topology& t, uint64_t round) {
  const size_t n = t.size();
  const std::vector<double> m = t.Matrix(round);
  for (size_t i = 0; i < n; ++i) {
    double row = 0, col = 0;
    for (size_t j = 0; j < n; ++j) {
      row += m[i * n + j];
      col += m[j * n + i];
      CHECK(m[i * n + j] >= 0.0);
      CHECK(m[i * n + j] == doctest::Approx(m[j * n + i]).epsilon(1e-15));  // symmetric
    }
    CHECK(row == doctest::Approx(1.0).epsilon(1e-12));
    CHECK(col == doctest::Approx(1.0).epsilon(1e-12));
  }
}

}  // namespace

TEST_CASE("ring: two neighbours, weights 1/3, contraction (1 + 2 cos(2 pi / N)) / 3") {
  const Topology t = Make(TopologyKind::kRing, 8);
  CHECK(t.Neighbors(0, 0) == std::vector<size_t>{1, 7});
  CHECK(t.Neighbors(5, 9) == std::vector<size_t>{4, 6});
  const MixingRow row = t.Row(3, 0);
  CHECK(row.self == doctest::Approx(1.0 / 3));
  CHECK(row.weights == std::vector<double>{1.0 / 3, 1.0 / 3});
  CheckDoublyStochastic(t, 0);
  CHECK(t.ContractionPerRound() == doctest::Approx((1 + 2 * std::cos(2 * std::numbers::pi / 8)) / 3).epsilon(1e-9));
  // Two peers: one neighbour each, weight 1/2: one round averages exactly.
  const Topology two = Make(TopologyKind::kRing, 2);
  CHECK(two.Neighbors(0, 0) == std::vector<size_t>{1});
  CHECK(two.Row(0, 0).weights == std::vector<double>{0.5});
  CHECK(two.ContractionPerRound() == doctest::Approx(0.0));
}

TEST_CASE("exponential: i +- 2^k, contraction 1/3 for 8 peers") {
  const Topology t = Make(TopologyKind::kExponential, 8);
  CHECK(t.Neighbors(0, 0) == std::vector<size_t>{1, 2, 4, 6, 7});
  CHECK(t.Neighbors(3, 0) == std::vector<size_t>{1, 2, 4, 5, 7});
  CHECK(t.Row(0, 0).self == doctest::Approx(1.0 / 6));
  CheckDoublyStochastic(t, 0);
  CHECK(t.ContractionPerRound() == doctest::Approx(1.0 / 3).epsilon(1e-9));
  // Pushes cycle through the neighbours in the order i+1, i+2, i+4, ... (mod N).
  CHECK(t.PushTargets(6) == std::vector<size_t>{7, 0, 2, 4, 5});
  CHECK(t.PushTarget(6, 0) == 7);
  CHECK(t.PushTarget(6, 6) == 0);
}

TEST_CASE("torus: a 2 x 4 grid for 8 peers, 3 x 3 for 9; a prime count is a ring") {
  const Topology t8 = Make(TopologyKind::kTorus, 8);
  CHECK(t8.Neighbors(0, 0) == std::vector<size_t>{1, 3, 4});
  CHECK(t8.Neighbors(6, 0) == std::vector<size_t>{2, 5, 7});
  CheckDoublyStochastic(t8, 0);
  CHECK(t8.ContractionPerRound() == doctest::Approx(0.5).epsilon(1e-9));
  const Topology t9 = Make(TopologyKind::kTorus, 9);
  CHECK(t9.Neighbors(4, 0) == std::vector<size_t>{1, 3, 5, 7});
  CheckDoublyStochastic(t9, 0);
  // 3x3 torus = C3 x C3: eigenvalues of W = (1 + a + b) / 5, a, b in {2, -1}: |lambda_2| = 2/5.
  CHECK(t9.ContractionPerRound() == doctest::Approx(0.4).epsilon(1e-9));
  const Topology t7 = Make(TopologyKind::kTorus, 7);
  const Topology r7 = Make(TopologyKind::kRing, 7);
  for (size_t i = 0; i < 7; ++i) CHECK(t7.Neighbors(i, 0) == r7.Neighbors(i, 0));
}

TEST_CASE("random: a fresh seeded pairing each round, the same on every peer") {
  const Topology t = Make(TopologyKind::kRandom, 8, /*seed=*/7);
  CHECK(t.time_varying());
  std::set<std::vector<size_t>> pairings;
  for (uint64_t round = 0; round < 20; ++round) {
    CheckDoublyStochastic(t, round);
    std::vector<size_t> partner(8);
    for (size_t i = 0; i < 8; ++i) {
      const auto nb = t.Neighbors(i, round);
      REQUIRE(nb.size() == 1);  // even N: a perfect matching
      partner[i] = nb[0];
      CHECK(t.Row(i, round).weights == std::vector<double>{0.5});
    }
    for (size_t i = 0; i < 8; ++i) CHECK(partner[partner[i]] == i);
    pairings.insert(partner);
  }
  CHECK(pairings.size() >= 15);  // fresh each round (105 perfect matchings of 8)
  // The same seed gives the same pairings (what every peer relies on); another seed others.
  const Topology same = Make(TopologyKind::kRandom, 8, 7);
  const Topology other = Make(TopologyKind::kRandom, 8, 8);
  int differ = 0;
  for (uint64_t round = 0; round < 10; ++round) {
    CHECK(same.Neighbors(3, round) == t.Neighbors(3, round));
    differ += other.Neighbors(3, round) != t.Neighbors(3, round) ? 1 : 0;
  }
  CHECK(differ >= 5);
  // Odd N: exactly one peer sits each round out.
  const Topology odd = Make(TopologyKind::kRandom, 7, 3);
  for (uint64_t round = 0; round < 10; ++round) {
    int alone = 0;
    for (size_t i = 0; i < 7; ++i) alone += odd.Neighbors(i, round).empty() ? 1 : 0;
    CHECK(alone == 1);
    CheckDoublyStochastic(odd, round);
  }
  // Mean-square rate: E[W] = I/2 + (J - I) / (2 (N - 1)), lambda_2 = 1/2 - 1/14.
  CHECK(t.ContractionPerRound() == doctest::Approx(std::sqrt(0.5 - 1.0 / 14)).epsilon(1e-9));
  // Pushes go to a seeded uniform other peer.
  std::set<size_t> targets;
  for (uint64_t k = 0; k < 200; ++k) {
    const size_t to = t.PushTarget(2, k);
    CHECK(to != 2);
    CHECK(to < 8);
    targets.insert(to);
  }
  CHECK(targets.size() == 7);
}

TEST_CASE("explicit: edges from either side, irregular degrees still doubly stochastic") {
  // A star around 0 plus the edge 1 -- 2 (given in both directions, and once twice).
  const Topology t = Make(TopologyKind::kExplicit, 5, 1, {{0, 1}, {2, 0}, {0, 3}, {4, 0}, {1, 2}, {2, 1}, {1, 2}});
  CHECK(t.Neighbors(0, 0) == std::vector<size_t>{1, 2, 3, 4});
  CHECK(t.Neighbors(2, 0) == std::vector<size_t>{0, 1});
  CHECK(t.Neighbors(3, 0) == std::vector<size_t>{0});
  const MixingRow leaf = t.Row(3, 0);  // 1 / (1 + max(1, 4))
  CHECK(leaf.weights == std::vector<double>{0.2});
  CHECK(leaf.self == doctest::Approx(0.8));
  const MixingRow mid = t.Row(1, 0);  // neighbours 0 (degree 4) and 2 (degree 2)
  CHECK(mid.weights[0] == doctest::Approx(0.2));
  CHECK(mid.weights[1] == doctest::Approx(1.0 / 3));
  CheckDoublyStochastic(t, 0);
  CHECK(t.ContractionPerRound() > 0.0);
  CHECK(t.ContractionPerRound() < 1.0);

  auto split = Topology::Create(TopologyKind::kExplicit, 4, 1, {{0, 1}, {2, 3}});
  REQUIRE_FALSE(split.ok());
  CHECK(split.status().code() == Status::Code::kInvalidArgument);
  CHECK(split.status().message().find("not connected") != std::string::npos);
  CHECK_FALSE(Topology::Create(TopologyKind::kExplicit, 3, 1, {{0, 5}}).ok());
}

TEST_CASE("FromConfig reads the kind, the seed and the neighbours of the kept peers") {
  Config cfg;
  for (const char* id : {"b", "a", "d", "c"}) cfg.cluster.peers.push_back({id, "tcp://127.0.0.1:1"});
  cfg.cluster.peers[0].neighbors = {"a", "c"};  // b -- a, b -- c
  cfg.cluster.peers[2].neighbors = {"c"};       // d -- c
  cfg.sync.topology = TopologyKind::kExplicit;
  auto t = Topology::FromConfig(cfg, {"a", "b", "c", "d"});
  REQUIRE_MESSAGE(t.ok(), t.status().ToString());
  CHECK(t->Neighbors(1, 0) == std::vector<size_t>{0, 2});  // b: a, c
  CHECK(t->Neighbors(3, 0) == std::vector<size_t>{2});     // d: c
  // A neighbour not among the kept ids is dropped; here that leaves d cut off.
  auto three = Topology::FromConfig(cfg, {"a", "b", "d"});
  REQUIRE_FALSE(three.ok());
  CHECK(three.status().message().find("explicit") != std::string::npos);

  cfg.sync.topology = TopologyKind::kExponential;
  auto e = Topology::FromConfig(cfg, {"a", "b", "c", "d"});
  REQUIRE(e.ok());
  CHECK(e->kind() == TopologyKind::kExponential);
  CHECK(e->Describe().find("exponential over 4 peers") != std::string::npos);
}

TEST_CASE("one peer: no neighbours, nothing to mix") {
  for (TopologyKind kind : {TopologyKind::kRing, TopologyKind::kTorus, TopologyKind::kExponential,
                            TopologyKind::kRandom}) {
    const Topology t = Make(kind, 1);
    CHECK(t.Neighbors(0, 3).empty());
    CHECK(t.Row(0, 3).self == 1.0);
    CHECK(t.ContractionPerRound() == 0.0);
  }
}
