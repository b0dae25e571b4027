// Who gossips with whom (docs/gossip.md). Peers are numbered 0..size-1 in the
// sorted order of their ids, so every peer computes the same graph from the
// same config. A synchronous gossip round mixes each peer's parameters with
// its neighbours' by the Metropolis-Hastings weights
//   W_ij = 1 / (1 + max(deg i, deg j)) for each edge,  W_ii = 1 - sum_j W_ij,
// a symmetric, doubly stochastic matrix: the average over all peers is kept
// exactly, and the distance to it shrinks by |lambda_2(W)| per round.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "meshtrain/config.h"
#include "meshtrain/status.h"

namespace meshtrain {

// TopologyKind is config.h's sync.topology: ring | torus | exponential |
// random | explicit (ToString gives its name).

// One peer's row of the mixing matrix of a round.
struct MixingRow {
  double self = 1.0;               // weight of its own parameters
  std::vector<size_t> neighbors;   // peer indices, ascending
  std::vector<double> weights;     // weight of each neighbour's parameters
};

class Topology {
 public:
  // `edges` (kExplicit only): undirected pairs of peer indices < size; a pair
  // listed twice or in both directions is one edge. The graph must be connected.
  static Result<Topology> Create(TopologyKind kind, size_t size, uint64_t seed,
                                 const std::vector<std::pair<size_t, size_t>>& edges = {});
  // From the config: sync.topology, sync.gossip_seed and, for "explicit",
  // cluster.peers[].neighbors; `sorted_ids` are the cluster's ids in order
  // (neighbours not among them are dropped).
  static Result<Topology> FromConfig(const Config& cfg, const std::vector<std::string>& sorted_ids);
  // The graph over the members of a membership view (docs/gossip.md, "Faults"):
  // as FromConfig over `live_sorted_ids`, except that an explicit graph the
  // absent peers cut in pieces is healed, not refused: each piece's lowest
  // peer is linked to the next piece's, so every survivor computes the same
  // connected graph and the Metropolis-Hastings weights stay doubly stochastic.
  static Result<Topology> ForMembers(const Config& cfg, const std::vector<std::string>& live_sorted_ids);

  TopologyKind kind() const { return kind_; }
  size_t size() const { return size_; }
  bool time_varying() const { return kind_ == TopologyKind::kRandom; }

  // Peer i's neighbours in synchronous round `round`, ascending. Fixed graphs
  // ignore the round.
  std::vector<size_t> Neighbors(size_t i, uint64_t round) const;
  // Peer i's Metropolis-Hastings row in round `round`.
  MixingRow Row(size_t i, uint64_t round) const;
  // The whole mixing matrix of a round, row-major size x size.
  std::vector<double> Matrix(uint64_t round) const;

  // The factor by which the distance to the average shrinks per round, in the
  // long run: |lambda_2(W)| for a fixed graph (exact from the first rounds for
  // a generic start). For `random`, a bound: sqrt(lambda_2(E[W])), the
  // root-mean-square rate (W is a projection, so E[W^T W] = E[W]); fresh
  // pairings often do better (three lucky ones average 8 peers exactly).
  double ContractionPerRound() const { return contraction_; }
  double SpectralGap() const { return 1.0 - contraction_; }

  // Asynchronous gossip: the peer that peer i pushes to on its k-th push.
  // Fixed graphs cycle through the neighbours in the order i+1, i+2, ... (mod
  // N); `random` draws a seeded uniform other peer.
  size_t PushTarget(size_t i, uint64_t k) const;
  // The peers i may push to (all others for `random`), in push order.
  std::vector<size_t> PushTargets(size_t i) const;

  // "exponential over 8 peers (degree 5), contraction 0.333 per round".
  std::string Describe() const;

 private:
  Topology() = default;
  std::vector<size_t> RandomPartners(uint64_t round) const;  // partner of each peer, or itself
  void ComputeContraction();

  TopologyKind kind_ = TopologyKind::kRing;
  size_t size_ = 1;
  uint64_t seed_ = 0;
  std::vector<std::vector<size_t>> adjacency_;  // fixed graphs, each list ascending
  std::vector<std::vector<size_t>> push_order_;
  double contraction_ = 0;
};

}  // namespace meshtrain
