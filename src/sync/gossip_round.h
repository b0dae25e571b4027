// One synchronous gossip round (D-PSGD, Lian et al. 2017) on (z, w) pairs:
// send (z_i, w_i) to every neighbour of the round, wait for each of theirs,
// then with the Metropolis-Hastings row W_i of the round
//   c_i = W_ii w_i,  c_j = W_ij w_j,  w_i' = sum c,  z_i' = sum_j (c_j / w_i') z_j.
// With w = 1 everywhere (synchronous training) this is z' = W z. After
// push-sum (the final rounds of async gossip) it moves x = w z and w by the
// same doubly stochastic W, so every z converges to sum x / sum w, the average
// push-sum preserves. The combination runs in neighbour order, so it gives the
// same floats whatever order the messages arrive in.
//
// Two options change what travels and how it is combined (w = 1 only, i.e.
// synchronous training; docs/gossip.md):
//   - compression (CHOCO-SGD, Koloskova et al. 2019): every peer keeps a
//     public copy x^_j of each neighbour and of itself, identical on both
//     sides; a round sends Q(x_i - x^_i) and both sides add what it decodes to
//     into x^_i; then x_i += sum_j W_ij (x^_j - x^_i), which keeps the mean
//     exactly (W symmetric) whatever Q drops, and what Q drops stays in
//     x_i - x^_i for the next round (error feedback by construction). The
//     first round of every view travels in f32 and (re)sets the copies.
//     Strong compression needs a consensus step gamma < 1:
//     x_i += gamma sum_j W_ij (x^_j - x^_i).
//   - robust aggregation against a faulty neighbour: self-centred clipping
//     (each neighbour's difference v_j - x_i clipped to a norm tau; He,
//     Karimireddy, Jaggi 2022) or the coordinate-wise trimmed mean of self and
//     neighbours (Yin et al. 2018).
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "meshtrain/codec.h"
#include "meshtrain/status.h"
#include "meshtrain/topology.h"
#include "sync/gossip_links.h"
#include "sync/gossip_peers.h"

namespace meshtrain {

// sync.robust: how neighbours' parameters are combined (RobustKind is config.h's).
struct RobustRule {
  RobustKind kind = RobustKind::kNone;
  double clip = 0;  // kClip: tau; 0 = this round's lower-median neighbour distance
  size_t trim = 1;  // kTrimmedMean: values dropped at each end of every coordinate
};

class GossipRound {
 public:
  // timeout: for any single send or wait.
  struct Setup : GossipPeers {
    CodecSpec codec;                           // kNone: every round in f32
    double consensus_step = 1.0;               // CHOCO's gamma for compressed rounds, in (0, 1]
    RobustRule robust;
    ByzantineKind byzantine = ByzantineKind::kNone;
  };

  explicit GossipRound(Setup setup) : s_(setup) {}

  // Runs round `round` of view `view_id` (every peer of the view runs the
  // same rounds). Timeout names the neighbour that never answered; Aborted one
  // that left, or a view replaced meanwhile (params are then unchanged).
  // `exact`: f32 whatever the codec (the final agreement).
  Status Run(uint64_t view_id, uint64_t round, uint64_t step, std::span<float> params, double* weight,
             bool exact = false);
  Status Run(uint64_t round, uint64_t step, std::span<float> params, double* weight) {
    return Run(0, round, step, params, weight);
  }
  // The membership view changed the graph: this peer is now topology peer `self`.
  void set_self(size_t self) { s_.self = self; }

  // Of the last round: the root-mean-square distance from this peer's z to
  // its neighbours' z, over |z| (-1 before any round with a neighbour).
  double consensus() const { return consensus_; }
  const std::map<std::string, double>& wait_seconds_by_peer() const { return waits_; }
  uint64_t compressed_rounds() const { return compressed_rounds_; }
  uint64_t clipped() const { return clipped_; }  // neighbour differences shortened by clipping

 private:
  // `values` as a deliberately faulty peer shows them (debug.byzantine).
  std::shared_ptr<const std::vector<float>> Corrupt(std::shared_ptr<const std::vector<float>> values,
                                                    uint64_t round) const;
  // x += gamma * sum_k row.weights[k] * op(v_k - u), op = identity or clipping.
  void MixDifferences(const MixingRow& row, const std::vector<const float*>& v, const float* u, std::span<float> x,
                      double gamma);
  // x += gamma * (coordinate-wise trimmed mean of u and every v_k - u).
  void MixTrimmedMean(const std::vector<const float*>& v, const float* u, std::span<float> x, double gamma) const;

  Setup s_;
  double consensus_ = -1;
  std::map<std::string, double> waits_;
  // Compression: the public copies, valid for the view they were set in.
  uint64_t copies_view_ = 0;
  bool copies_set_ = false;
  std::vector<float> public_self_;
  std::map<std::string, std::vector<float>> public_;
  EncodedTensor encoded_;
  uint64_t compressed_rounds_ = 0;
  uint64_t clipped_ = 0;
};

}  // namespace meshtrain
