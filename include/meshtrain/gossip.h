// Gossip averaging (sync.mode = "gossip", docs/gossip.md): decentralized
// data-parallel training where each peer mixes its parameters with a few
// neighbours of a topology (topology.h) instead of all-reducing with everyone.
//   - synchronous (D-PSGD): every sync.every steps, one round of
//     Metropolis-Hastings mixing with every neighbour, waiting for each;
//   - asynchronous (sync.async = true): push-sum, as Stochastic Gradient Push
//     runs it; a peer never waits for a slow neighbour.
// At the end, sync.final_rounds synchronous rounds bring every peer to (nearly)
// the same model. Every mix measures the consensus distance: how far this
// peer's parameters are from its neighbours', relative to their size.
//
// Runs on the PeerGroup's thread, like the collectives (not thread-safe);
// stats() may be called between calls.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "meshtrain/config.h"
#include "meshtrain/membership.h"
#include "meshtrain/status.h"
#include "meshtrain/topology.h"

namespace meshtrain {

class GossipLinks;  // the network side, owned by the PeerGroup (PeerGroup::gossip_links())
class GossipRound;
class PushSum;

struct GossipStats {
  uint64_t rounds = 0;           // synchronous rounds completed (training and final)
  uint64_t pushes_sent = 0;      // push-sum shares handed to the transport
  uint64_t pushes_kept = 0;      // shares the transport did not take at once: kept, no mass lost
  uint64_t pushes_absorbed = 0;  // shares received and summed in
  uint64_t out_of_order = 0;     // shares numbered below one already absorbed from that sender (summed anyway)
  uint64_t late = 0;             // round messages of a round already over (counted, not mixed in)
  uint64_t rejected = 0;         // gossip messages that failed the checks (wrong length, bad extra)
  double weight = 1.0;           // push-sum weight w (1 in synchronous gossip)
  double consensus = -1;         // last consensus distance measured (-1: none yet)
  double comm_seconds = 0;       // wall time inside Mix and Finish
  std::map<std::string, double> wait_seconds_by_peer;
  uint64_t view_changes = 0;     // membership views the graph was rebuilt for
  uint64_t compressed_rounds = 0;  // rounds that sent a compressed change (sync.compression)
  uint64_t clipped = 0;          // neighbour differences shortened by sync.robust = "clip"
};

class Gossip {
 public:
  // Gossip for cfg.self_id among the cluster's peers (the first cluster.size),
  // over `links` (which must outlive it), for a model of `num_params` floats.
  // The topology comes from sync.topology, sync.gossip_seed and
  // cluster.peers[].neighbors; errors (a disconnected explicit graph, a model
  // too large for one message) are InvalidArgument naming the key.
  static Result<std::unique_ptr<Gossip>> Create(const Config& cfg, GossipLinks* links, size_t num_params);
  ~Gossip();
  Gossip(const Gossip&) = delete;
  Gossip& operator=(const Gossip&) = delete;

  // Faults (docs/gossip.md, "Faults"): with membership, a peer outside the
  // installed view is gone (no push goes to it, nobody waits for it), and a
  // synchronous round of a replaced view ends Aborted within 100 ms.
  void set_membership(const Membership* membership);
  // The view rounds run in (the last one reconciled): the graph is rebuilt over
  // its sorted ids, the same on every member, and rounds are tagged with its id.
  // InvalidArgument if this peer is not in it.
  Status SetView(const View& view);
  uint64_t view_id() const { return view_id_; }

  // Called after step `step` when step % sync.every == 0. Synchronous: round
  // step / every, with every neighbour (Timeout/Aborted name the neighbour at
  // fault). Asynchronous: one push-sum mix; never waits, never fails.
  Status Mix(std::span<float> params, uint64_t step);
  // Called once after the last step `step`. Asynchronous with final rounds:
  // tells every peer it is done and absorbs shares until all are. Then
  // sync.final_rounds synchronous rounds (numbered from step / every + 1).
  Status Finish(std::span<float> params, uint64_t step);
  bool agrees_at_end() const { return final_rounds_ > 0; }

  GossipStats stats() const;
  const Topology& topology() const { return topology_; }

 private:
  explicit Gossip(Topology topology);

  Config cfg_;  // the topology's keys, to rebuild the graph for a new view
  uint64_t view_id_ = 0;
  uint64_t view_changes_ = 0;
  Topology topology_;
  std::vector<std::string> ids_;  // sorted; ids_[i] is topology peer i
  size_t self_ = 0;
  int64_t every_ = 1;
  bool async_ = false;
  int64_t final_rounds_ = 0;
  GossipLinks* links_ = nullptr;
  std::unique_ptr<GossipRound> round_;
  std::unique_ptr<PushSum> push_sum_;
  double weight_ = 1.0;
  uint64_t rounds_ = 0;
  double consensus_ = -1;
  double comm_seconds_ = 0;
};

}  // namespace meshtrain
