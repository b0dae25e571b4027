// Data-parallel replicas: how a peer's flat gradient or parameter buffer is
// combined with the other peers' (ring all-reduce, gossip), or not at all (local).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "meshtrain/aligned_buffer.h"
#include "meshtrain/codec.h"
#include "meshtrain/config.h"
#include "meshtrain/membership.h"
#include "meshtrain/status.h"
#include "meshtrain/transport.h"

namespace meshtrain {

class Gossip;
class PeerGroup;

struct ReplicaStats {
  uint64_t bytes_sent = 0;
  uint64_t bytes_recv = 0;
  std::map<std::string, LinkBytes> bytes_by_peer;  // the same by neighbour (TransportStats::bytes_by_peer)
  double comm_seconds = 0;
  std::vector<std::pair<std::string, double>> wait_seconds_by_peer;
  uint64_t rejected = 0;
  // Dropped messages by kind, zeros included (CommStats::dropped_by_kind;
  // the metrics' "rejected" object, docs/training.md). Empty without a network.
  std::map<std::string, uint64_t> dropped_by_kind;
  // Gossip (docs/gossip.md): the last consensus distance (-1: none), the push-sum
  // weight, and messages that came late or out of order (handled, not lost).
  double consensus = -1;
  double gossip_weight = 1;
  uint64_t gossip_late = 0;
  uint64_t gossip_out_of_order = 0;
  uint64_t gossip_view_changes = 0;       // graphs rebuilt for a new membership view
  uint64_t gossip_compressed_rounds = 0;  // rounds that sent a compressed change (sync.compression)
  uint64_t gossip_clipped = 0;            // neighbour differences clipped (sync.robust = "clip")
};

class DataParallel {
 public:
  ~DataParallel();
  // local mode needs no network; ring and gossip bind this peer's endpoint and connect to the cluster.
  // Gossip needs the model's parameter count (`num_params`) to check what it receives.
  static Result<std::unique_ptr<DataParallel>> Create(const Config& cfg, size_t num_params = 0);

  // Called every few seconds while Start waits, with whom it still waits for.
  using WaitReport = std::function<void(const std::string&)>;
  // Waits until every peer of the cluster is reachable (ring); immediate for
  // local. Returns Aborted as soon as *stop is set (a signal during start-up).
  Status Start(const std::atomic<bool>* stop = nullptr, const WaitReport& report = {});
  // True when gradients are all-reduced every step (ring, every = 1).
  bool averages_gradients() const { return mode_ == SyncMode::kRing && every_ == 1; }
  // True when parameters are averaged after `step` (ring, every = k > 1).
  bool averages_parameters_after(int64_t step) const { return mode_ == SyncMode::kRing && every_ > 1 && step % every_ == 0; }

  // Replaces `grads` (the mean over `rows` local samples) with the mean over all
  // samples of the cluster, weighting each peer by its rows; `loss` likewise.
  Status AverageGradients(std::span<float> grads, int64_t rows, double* loss, uint64_t round);
  // Replaces `params` with the mean of every peer's parameters.
  Status AverageParameters(std::span<float> params, uint64_t round);
  // Gossip: true when parameters are mixed with neighbours after `step` (every sync.every steps).
  bool mixes_after(int64_t step) const { return gossip_ != nullptr && step % every_ == 0; }
  // Gossip: one synchronous round or one push-sum mix (gossip.h).
  Status Mix(std::span<float> params, int64_t step);
  // Gossip: true when the run ends with sync.final_rounds of agreement.
  bool agrees_at_end() const;
  // Gossip: the end-of-run agreement after the last step; a no-op otherwise.
  Status Agree(std::span<float> params, int64_t step);
  void Shutdown();

  // Ring mode runs with membership (docs/membership.md): the view follows who
  // is alive, Start waits for a view with this peer (all static peers on a
  // fresh start; any running cluster on a restart or a bootstrap join), a
  // round interrupted by a view change returns Aborted (redo the step), and
  // after every view change the trainer calls Reconcile before its next step.
  bool elastic() const;
  View current_view() const;  // membership's installed view; the static cluster as view 0 when not elastic
  // The view the rounds run in: the last one reconciled. A round never runs in
  // a view this peer has not reconciled (it would meet peers that are still
  // reconciling); once membership installs another, rounds return Aborted.
  View active_view() const;
  // Publishes (step, checksum of params + optimizer state + meta), waits for
  // every member's, and if this peer is behind fetches the most advanced
  // state into *fetched (values = params then optimizer state). On success
  // the view becomes the active one. Aborted if the view changes meanwhile
  // (call again with the new one), or once *stop is set.
  Result<ReconcilePlan> Reconcile(const View& view, int64_t step, std::span<const float> params,
                                  std::span<const float> optimizer_state, const std::string& meta,
                                  StateSnapshot* fetched, const std::atomic<bool>* stop);
  std::vector<MembershipEvent> DrainEvents();
  // Replica fingerprints (docs/agreement.md, "Replica fingerprints"): true
  // after `step` when this peer's replica must be bit-identical to every other
  // member's (ring, gradients all-reduced every step) and sync.verify_every
  // says to compare them now.
  bool verifies_replicas_after(int64_t step) const {
    return averages_gradients() && verify_every_ > 0 && step % verify_every_ == 0 && membership() != nullptr;
  }
  // Membership::PublishFingerprint / ReplicaDisagreement.
  void PublishFingerprint(uint64_t view_id, int64_t step, uint64_t fingerprint);
  std::string ReplicaDisagreement() const;
  // membership.quorum (docs/membership.md, "Quorum"): live members the active
  // view needs before this peer may take a step (0: any view will do).
  size_t quorum() const { return quorum_; }
  bool has_quorum() const;
  // Waits (at most `timeout`) until membership installs a view other than `view_id`.
  bool WaitForViewChange(uint64_t view_id, std::chrono::milliseconds timeout) const;
  void SetProgress(int64_t step);
  // The last step is done: waits (bounded) until the other members are done
  // too, so our leaving cannot abort a last round they are still finishing.
  // Cut short when *stop is set: a signal is honoured at the end too.
  void Finish(int64_t step, const std::atomic<bool>* stop = nullptr);
  // After Finish: says "finished at `step`" to every peer, and with `linger`
  // stays up to membership.farewell_ms serving the final state to peers that
  // were away (docs/membership.md, "The end of a run"). Nothing when not elastic.
  FarewellOutcome Farewell(int64_t step, std::span<const float> params, std::span<const float> optimizer_state,
                           const std::string& meta, bool linger, const std::atomic<bool>* stop);
  // Peers that completed the run ahead of this one (Membership::ClusterFinished).
  std::optional<ClusterEnd> ClusterFinished() const;
  // Their final state (values = params then optimizer state), within sync.timeout_ms.
  Result<StateSnapshot> FetchFinalState(const ClusterEnd& end, size_t n_values, const std::atomic<bool>* stop);

  ReplicaStats stats() const;
  std::vector<std::string> view() const;

 private:
  DataParallel() = default;
  Status AllreduceCompressed(uint64_t round);  // buffer_ through the codec (ring, sync.compression)
  Status WaitForStartView(const std::atomic<bool>* stop, const WaitReport& report);
  std::string DescribeStartWait(const View& view) const;  // whom WaitForStartView still waits for
  // After a failed round: Aborted if membership replaces the view (the round
  // is redone in the new one), else the failure itself.
  Status AfterFailedRound(const Status& failed, uint64_t view_id);
  Membership* membership() const;
  SyncMode mode_ = SyncMode::kLocal;
  int64_t every_ = 1;
  int64_t verify_every_ = 0;
  int64_t start_timeout_ms_ = 0;
  int64_t sync_timeout_ms_ = 0;
  int64_t dead_ms_ = 0;
  int64_t farewell_ms_ = 0;
  size_t quorum_ = 0;  // membership.quorum as a count; 0 = off
  std::string self_id_;
  std::vector<PeerEntry> static_peers_;
  std::vector<std::string> bootstrap_;
  std::vector<std::string> view_;
  View active_view_;  // elastic: the last view reconciled
  std::unique_ptr<PeerGroup> group_;
  std::unique_ptr<Gossip> gossip_;  // gossip mode only; runs over group_'s links
  AlignedFloats buffer_;  // gradient/parameters plus the sample count and loss, reduced as one
  // Compressed gradients (docs/compression.md): the codec (kNone = plain f32),
  // and with error feedback the residual of earlier rounds plus the one this
  // round is building, which replaces it only if the round succeeds.
  CodecSpec codec_;
  bool error_feedback_ = false;
  AlignedFloats residual_;
  AlignedFloats residual_next_;
};

}  // namespace meshtrain
