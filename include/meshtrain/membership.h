// Membership: who is alive, which view the cluster trains in, who joins, and
// how a peer that is behind gets the state it lacks (docs/membership.md).
//
// One thread per peer owns heartbeating: it is the only reader of the
// Transport, handles heartbeats and state transfers itself, and forwards
// every other message to the layer above through Receive(). So heartbeats
// flow while the trainer computes, and a peer is declared dead within
// membership.dead_ms of its last word on every survivor.
//
// Views: the view is the sorted set of live members (id, incarnation) with an
// id that grows with every change. Every peer proposes the live set it sees;
// a view is installed when every member of it proposes exactly it (all peers
// see the proposals in each other's heartbeats), so once detection settles
// every peer installs the same view.
//
// Reconciliation: after a view change the members exchange (step, checksum of
// their state), agree on the most advanced, and those behind copy the state
// from the members that hold it (the ZeroMQ guide's "clone" pattern, striped
// over every holder). Thread-safe: the public methods may be called from any
// thread; they are meant for the one trainer thread.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <compare>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "meshtrain/config.h"
#include "meshtrain/status.h"
#include "meshtrain/transport.h"

namespace meshtrain {

enum class MemberState : uint8_t { kAlive = 0, kSuspect = 1, kDead = 2, kLeft = 3 };
const char* ToString(MemberState state);

// One process of a peer: a restarted peer comes back with a higher incarnation.
struct ViewMember {
  std::string id;
  uint64_t incarnation = 0;
  auto operator<=>(const ViewMember&) const = default;
};

struct View {
  uint64_t id = 0;                  // 0: none installed yet; grows with every change
  std::vector<ViewMember> members;  // sorted by id
  bool operator==(const View&) const = default;
  std::vector<std::string> ids() const;
  bool Contains(const std::string& peer) const;
  std::string ToString() const;  // "view 3 [p0, p1, p3]"
};

// Where a state comes from, so that a partition cannot let a cut-off minority
// overwrite the majority (docs/membership.md, "Partitions"). A reconciled view
// is *primary* when it holds a strict majority of the members of the last
// primary view its states went through (the classic "primary component" of
// dynamic voting); every primary view counts one more than the last.
struct Lineage {
  uint64_t primary = 0;              // primary views this state went through; 0: none (fresh start, restart, newcomer)
  std::vector<std::string> members;  // the ids of the last of them, sorted
  bool off_primary = false;          // since then reconciled in a minority view: its own progress is a minority's
  bool operator==(const Lineage&) const = default;
};

// What a member brings to a view's reconciliation.
struct ReplicaReport {
  uint64_t view_id = 0;  // 0: nothing reported yet
  uint64_t step = 0;
  uint64_t checksum = 0;  // StateChecksum of its state
  Lineage lineage;        // of that state, as of the last view this peer reconciled
  // Its own fingerprint check found it differs from the majority's replica
  // (docs/agreement.md, "Replica fingerprints"): never the reference state.
  bool suspect = false;
  bool operator==(const ReplicaReport&) const = default;
};

// Who is ahead after a view change, and who holds that state.
struct ReconcilePlan {
  uint64_t target_step = 0;
  uint64_t checksum = 0;             // of the reference state
  std::vector<std::string> sources;  // members holding exactly that state, sorted
  bool behind = false;               // this peer must copy it
  bool primary = false;              // this view is a primary view (holds a majority of the last one)
  Lineage lineage;                   // the reference state's lineage once this view is reconciled
};

// A report marked suspect (its owner's fingerprint check found its replica
// differs from the majority's) ranks below every other. Then the state with
// the latest primary lineage wins; at the same lineage, one
// that never went through a minority view beats one that did; then the most
// advanced step; among the members at that step, the state most of them hold
// is the reference (ties: the one the lowest id holds), and every member whose
// (step, checksum) differs copies it. So a peer that trained alone while cut
// off never imposes its progress on the majority, a paused peer's stale state
// never wins over the peers that went on without it, and with no partition
// this is "the most advanced step wins" (ring replicas are identical, so
// normally all holders agree). `reports` must hold every member of the view,
// including `self`.
ReconcilePlan PlanReconcile(const std::map<std::string, ReplicaReport>& reports, const std::string& self);

// membership.quorum (docs/membership.md, "Quorum") as the number of live view
// members training needs: 0 for "off" or "0", floor(n/2) + 1 of the
// `cluster_peers` listed for "majority", else the number written.
// InvalidArgument naming the key for anything else.
Result<size_t> QuorumSize(std::string_view setting, size_t cluster_peers);

// membership.minority_grace_ms / minority_end_wait_ms (docs/faults.md, "A
// cut-off minority waits") in milliseconds: "auto" is `automatic`, a number
// is itself. InvalidArgument naming `key` for anything else.
Result<int64_t> MinorityMillis(std::string_view key, std::string_view setting, int64_t automatic);
// "auto" for membership.minority_grace_ms: long enough to ride out a link
// glitch, measured in failure-detector periods: max(10 s, 5 x dead_ms).
int64_t AutoMinorityGraceMs(int64_t dead_ms);

// What a peer does before its next step, given the view it reconciled last
// (docs/faults.md, "A cut-off minority waits").
enum class MinorityAction {
  kTrain,       // a primary view: train as usual
  kWait,        // a minority view, within the grace: no step; heartbeat, wait for the others
  kTrainAlone,  // a minority view, the grace is over, membership.minority = "train"
  kStop,        // a minority view, the grace is over, membership.minority = "stop"
};
// `primary`: the reconciled view holds a strict majority of the last primary
// view (ReconcilePlan::primary); `waited_ms`: how long this peer has been in
// minority views since it left the last primary one.
MinorityAction DecideMinority(bool primary, int64_t waited_ms, int64_t grace_ms, bool train_after_grace);

// 64-bit hash of the state a peer would hand out: its float values (bit
// patterns) and its metadata bytes.
uint64_t StateChecksum(std::span<const float> values, std::string_view meta);

// 64-bit fingerprint of a replica (parameters and optimizer state, bit
// patterns), compared across ring replicas every sync.verify_every steps
// (docs/agreement.md, "Replica fingerprints"); several times faster than
// StateChecksum, and the same on every architecture we build for.
uint64_t StateFingerprint(std::span<const float> params, std::span<const float> optimizer_state);

// A peer's state as offered to others (and as received by a fetch).
struct StateSnapshot {
  uint64_t view_id = 0;
  uint64_t step = 0;
  uint64_t checksum = 0;
  std::vector<float> values;  // parameters then optimizer state
  std::string meta;           // the trainer's own fields (epoch plan, ...), opaque here
};

// The end of the run, as peers that completed it said in their goodbye
// (docs/membership.md, "The end of a run").
struct ClusterEnd {
  uint64_t step = 0;                  // the run's last step
  uint64_t view_id = 0;               // the view the final state was last reconciled in (names the transfer)
  uint64_t checksum = 0;              // StateChecksum of the final state
  // This peer's state went through a minority view and the finishers' did
  // not: their end wins even at a step not beyond ours (docs/faults.md, "A
  // cut-off minority waits").
  bool supersedes = false;
  std::vector<std::string> finished;  // peers that said they finished with exactly that state, sorted
  std::vector<std::string> serving;   // of those, the ones still heard from (saying goodbye), sorted
};

// What a finished peer's farewell came to.
struct FarewellOutcome {
  std::vector<std::string> awaited;  // peers that were away at the end (not finished with us)
  std::vector<std::string> told;     // of those, the ones that came back and said goodbye in the window
  bool lingered = false;             // false: nobody was away, or no window
};

struct MembershipEvent {
  std::string name;  // peer_suspect, peer_dead, peer_left, peer_finished, peer_joined, view_change, evicted,
                     // replica_diverged
  std::string peer;  // the peer concerned ("" for view_change)
  double unix_t = 0;
  double silence_s = 0;  // peer_dead / peer_suspect: how long it had been silent
  View view;             // view_change: the new view
  std::string detail;
};

struct MembershipOptions {
  std::string self_id;
  std::string self_endpoint;            // where we listen (told to newcomers)
  std::vector<PeerEntry> peers;         // the static cluster list (self may be in it)
  std::vector<std::string> bootstrap;   // endpoints of live peers a newcomer asks
  MembershipConfig timing;
  uint64_t incarnation = 0;             // 0: taken from the clock (higher on every restart)
  int64_t max_msg_bytes = 256LL << 20;  // largest state piece and payload accepted
  size_t state_piece_floats = 1 << 18;  // state transfer unit (1 MB)
  size_t inbox_capacity = 4096;         // forwarded messages held for the layer above
};

struct MembershipStats {
  uint64_t heartbeats_sent = 0;
  uint64_t heartbeats_recv = 0;
  uint64_t rejected = 0;        // membership messages dropped as invalid
  uint64_t forwarded = 0;       // messages passed up through Receive
  uint64_t inbox_dropped = 0;   // forwarded messages dropped because the inbox was full
  uint64_t state_pieces_sent = 0;
  uint64_t state_pieces_recv = 0;
  uint64_t fingerprint_checks = 0;    // steps at which every member's fingerprint was compared
  uint64_t fingerprint_mismatches = 0;  // of those, the ones where some replica differed
};

class Membership {
 public:
  // Starts the membership thread on `transport` (which must outlive it):
  // connects to every static peer and bootstrap endpoint and starts
  // heartbeating. From now on, call Receive() instead of transport->Receive().
  static Result<std::unique_ptr<Membership>> Start(Transport* transport, MembershipOptions options);
  ~Membership();  // stops the thread (without a goodbye; see Leave)
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // The next message that is not membership's own (ring pieces, Hello, Bye,
  // gossip), waiting at most `timeout`. Returns Timeout early when Interrupt()
  // is called or a new view is installed, so a waiting collective can look up.
  Result<IncomingMessage> Receive(std::chrono::milliseconds timeout);
  void Interrupt();

  View view() const;
  uint64_t view_id() const;  // lock-free: cheap enough for every wait of a collective
  // Waits until the installed view id differs from `view_id`; false on timeout.
  bool WaitForViewChange(uint64_t view_id, std::chrono::milliseconds timeout) const;
  // Waits until `pred(view())` holds; false on timeout.
  template <typename Pred>
  bool WaitForView(std::chrono::milliseconds timeout, Pred pred) const {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      const View v = view();
      if (pred(v)) return true;
      const auto now = std::chrono::steady_clock::now();
      if (now >= deadline) return false;
      WaitForViewChange(v.id, std::min<std::chrono::milliseconds>(
                                  std::chrono::ceil<std::chrono::milliseconds>(deadline - now),
                                  std::chrono::milliseconds(50)));
    }
  }

  // True once any live peer said its trainer has started (a running cluster:
  // this peer joins it rather than waiting for everyone).
  bool ClusterRunning() const;
  // Static peers not heard from yet, in id order.
  std::vector<std::string> NeverHeard() const;
  std::string EndpointOf(const std::string& id) const;  // "?" if unknown
  uint64_t incarnation() const;

  // The trainer's progress, sent with every heartbeat.
  void SetProgress(uint64_t step, bool started);
  // The end of training at `step`: says so at once, then waits (at most
  // `timeout`) until every live member of the view has reached `step` too, so
  // that leaving cannot cut short a round a slower peer is still finishing.
  // False on timeout, or at once when *stop is set (a signal).
  bool Finish(uint64_t step, std::chrono::milliseconds timeout, const std::atomic<bool>* stop = nullptr);

  // Reconciliation after a view change, from the trainer thread: offers our
  // state (a copy is kept, served to members that are behind), publishes
  // (step, checksum) for the installed view, waits for every member's report
  // and, if we are behind, fetches the reference state, striped over its
  // holders and verified by checksum. Returns the plan, and in *fetched the
  // state we must adopt (empty values if we were not behind). Aborted if the
  // view changes meanwhile (start again with the new one), or as soon as
  // *cancel (if given) becomes true; Timeout after `timeout` naming the
  // members that did not report or send.
  Result<ReconcilePlan> Reconcile(uint64_t view_id, uint64_t step, std::span<const float> params,
                                  std::span<const float> optimizer_state, const std::string& meta,
                                  std::chrono::milliseconds timeout, StateSnapshot* fetched,
                                  const std::atomic<bool>* cancel = nullptr);

  // The end of training for this peer at `step`, with its final state
  // (docs/membership.md, "The end of a run"): a goodbye saying "finished at
  // `step`" goes to every peer it knows, the absent ones too (a paused peer
  // finds it when it wakes). If some peer was away at the end (not in the view
  // at `step`), it then stays up to `window`, repeating its goodbye and serving
  // the final state, until each of them has come back and said goodbye in turn,
  // or *cancel. Heartbeating stops; Leave() is then a no-op.
  FarewellOutcome Farewell(uint64_t step, std::span<const float> params, std::span<const float> optimizer_state,
                           const std::string& meta, std::chrono::milliseconds window,
                           const std::atomic<bool>* cancel = nullptr);
  // Whether peers that completed the run said they finished it ahead of this
  // peer (at a later step than ours, and with a lineage not below ours: a
  // minority that finished alone does not end the majority's run).
  std::optional<ClusterEnd> ClusterFinished() const;
  // Copies the final state of `end` from the finished peers still serving it,
  // striped and checksum-verified like a reconciliation's transfer; gives up
  // once none of them has been heard for membership.dead_ms, or after `timeout`.
  Result<StateSnapshot> FetchFinalState(const ClusterEnd& end, uint64_t n_values, std::chrono::milliseconds timeout,
                                        const std::atomic<bool>* cancel = nullptr);

  // Replica fingerprints (docs/agreement.md, "Replica fingerprints"): this
  // peer's fingerprint of its state after `step`, taken in the reconciled view
  // `view_id`, goes out at once with a heartbeat. Once every member of that
  // view has published one for the same step they are compared: a member
  // outside a strict majority raises replica_diverged, and if it is this peer,
  // it rejoins as a new incarnation with its report marked suspect, so the view
  // change that follows has it copy the majority's state.
  void PublishFingerprint(uint64_t view_id, uint64_t step, uint64_t fingerprint);
  // Non-empty once a comparison found replicas differing with no strict
  // majority: nobody's state can be trusted, the run must stop (says why).
  std::string ReplicaDisagreement() const;

  // Events since the last call (for the metrics file), oldest first.
  std::vector<MembershipEvent> DrainEvents();

  // An orderly leave: heartbeats saying so go to every member at once, so they
  // re-form without waiting for dead_ms; heartbeating stops. Idempotent.
  void Leave();

  MembershipStats stats() const;

 private:
  class Impl;
  explicit Membership(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshtrain
