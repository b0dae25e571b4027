// Asynchronous gossip by push-sum (Kempe et al. 2003), as Stochastic Gradient
// Push runs it (Assran et al. 2019): each peer holds its parameters as the
// de-biased z = x / w and a weight w (1 at the start). A mix
//   1. sums in every share (z_j, s_j) received since the last mix, in any
//      order: z <- (w z + sum s_j z_j) / (w + sum s_j), w <- w + sum s_j;
//   2. gives half of w, with z, to one neighbour (the topology's next push
//      target that has not left and is in the membership view) and keeps the
//      other half.
// It never waits for anyone: a share the transport does not take at once is
// kept (w unchanged), so no mass is ever lost and sum_i w_i z_i stays the sum of
// the starting parameters plus every gradient step. docs/gossip.md says why
// push-sum and not AD-PSGD's pairwise averaging.
#pragma once

#include <chrono>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "meshtrain/status.h"
#include "meshtrain/topology.h"
#include "sync/gossip_links.h"
#include "sync/gossip_peers.h"

namespace meshtrain {

class PushSum {
 public:
  // timeout: silence after which a peer that has not finished is given up on.
  struct Setup : GossipPeers {
    std::chrono::milliseconds push_timeout{20};  // longest a push may wait for the transport
    // Tell every peer "still training" this often, so that peers which have
    // finished can tell a slow peer from a dead one (0 = never).
    std::chrono::milliseconds alive_interval{0};
  };

  explicit PushSum(Setup setup);

  // One asynchronous mix (absorb, then push half); never blocks on a neighbour.
  void Mix(uint64_t step, std::span<float> params, double* weight);
  // Sums in the shares received so far, without pushing.
  void Absorb(std::span<float> params, double* weight);
  // After the last step: tells every peer "done" (no more pushes from us),
  // then keeps absorbing until every peer has said done or left, so that every
  // share in flight has arrived. Timeout names a peer that has not finished
  // and was silent for `timeout`.
  Status FinishAndDrain(uint64_t step, std::span<float> params, double* weight);

  // The membership view changed the graph: this peer is now topology peer `self`.
  void set_self(size_t self) { s_.self = self; }

  uint64_t pushes_sent() const { return sent_; }
  uint64_t pushes_kept() const { return kept_; }  // pushes the transport did not take (weight kept)
  // RMS distance of z from the shares absorbed in the last mix that had any,
  // weighted by share, over |z| (-1 before any).
  double consensus() const { return consensus_; }

 private:
  void SayAlive(uint64_t step);

  Setup s_;
  uint64_t pushes_ = 0;  // numbers our pushes 1, 2, ...
  uint64_t sent_ = 0, kept_ = 0;
  double consensus_ = -1;
  std::chrono::steady_clock::time_point last_alive_{};
};

}  // namespace meshtrain
