// One synchronous gossip round (D-PSGD, Lian et al. 2017) on (z, w) pairs:
// send (z_i, w_i) to every neighbour of the round, wait for each of theirs,
// then with the Metropolis-Hastings row W_i of the round
//   c_i = W_ii w_i,  c_j = W_ij w_j,  w_i' = sum c,  z_i' = sum_j (c_j / w_i') z_j.
// With w = 1 everywhere (synchronous training) this is z' = W z. After
// push-sum (the final rounds of async gossip) it moves x = w z and w by the
// same doubly stochastic W, so every z converges to sum x / sum w, the average
// push-sum preserves. The combination runs in neighbour order, so it gives the
// same floats whatever order the messages arrive in.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "meshtrain/status.h"
#include "meshtrain/topology.h"
#include "sync/gossip_links.h"

namespace meshtrain {

class GossipRound {
 public:
  struct Setup {
    GossipLinks* links = nullptr;
    const Topology* topology = nullptr;
    const std::vector<std::string>* ids = nullptr;  // sorted; ids[i] is topology peer i
    size_t self = 0;
    std::chrono::milliseconds timeout{10000};  // for any single send or wait
  };

  explicit GossipRound(Setup setup) : s_(setup) {}

  // Runs round `round` (every peer of the cluster runs the same rounds).
  // Timeout names the neighbour that never answered; Aborted one that left.
  Status Run(uint64_t round, uint64_t step, std::span<float> params, double* weight);

  // Of the last round: the root-mean-square distance from this peer's z to
  // its neighbours' z, over |z| (-1 before any round with a neighbour).
  double consensus() const { return consensus_; }
  const std::map<std::string, double>& wait_seconds_by_peer() const { return waits_; }

 private:
  Setup s_;
  double consensus_ = -1;
  std::map<std::string, double> waits_;
};

}  // namespace meshtrain
