// Membership::Impl, the state the membership thread and the trainer thread
// share under one mutex (docs/membership.md, "One thread owns the receive
// side"). Its methods live in one file per job:
//   membership.cpp               start-up, the public API's accessors, events
//   membership_heartbeats.cpp    the thread's loop: heartbeats out, the failure detector
//   membership_dispatch.cpp      every incoming message: heartbeats, Bye, the rest passed up
//   membership_views.cpp         the view agreement and installing a view
//   membership_reconcile.cpp     reconciliation and state transfers, both sides
//   membership_farewell.cpp      the end of a run: Finish, Farewell, Leave, the late peer's end
//   membership_fingerprints.cpp  replica fingerprints (docs/agreement.md)
// The rules that need no lock are pure functions of their own (cluster_end.h,
// view_agreement.h, member_table.h, ...).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "membership/fingerprint_ledger.h"
#include "membership/inbox.h"
#include "membership/member_table.h"
#include "membership/membership_messages.h"
#include "membership/state_fetch.h"
#include "meshtrain/membership.h"
#include "meshtrain/wire.h"

namespace meshtrain {

namespace membership_internal {

double UnixNow();
// Milliseconds since the epoch: a restarted process gets a higher incarnation
// than any before it without writing anything to disk.
uint64_t ClockIncarnation();
std::string JoinIds(const std::vector<std::string>& ids);  // "p0, p2"
// The state this peer hands out (Reconcile, Farewell): parameters then
// optimizer state, checksummed with the trainer's metadata.
std::shared_ptr<StateSnapshot> MakeSnapshot(uint64_t view_id, uint64_t step, std::span<const float> params,
                                            std::span<const float> optimizer_state, const std::string& meta);

}  // namespace membership_internal

class Membership::Impl {
 public:
  using Clock = membership_internal::Clock;
  using Heartbeat = membership_internal::Heartbeat;
  using MemberChange = membership_internal::MemberChange;
  using MemberRecord = membership_internal::MemberRecord;
  using StateFetch = membership_internal::StateFetch;
  using StatePieceInfo = membership_internal::StatePieceInfo;
  using StateRequest = membership_internal::StateRequest;
  using Connects = std::vector<std::pair<std::string, std::string>>;  // (peer id, endpoint)

  Impl(Transport* transport, MembershipOptions options);
  ~Impl();
  Status Init();

  // ---- the layer above's side (membership.cpp) ----
  Result<IncomingMessage> Receive(std::chrono::milliseconds timeout) { return inbox_.Pop(timeout); }
  void Interrupt() { inbox_.Interrupt(); }
  View view() const;
  uint64_t view_id() const { return view_id_.load(std::memory_order_acquire); }
  bool WaitForViewChange(uint64_t id, std::chrono::milliseconds timeout) const;
  bool ClusterRunning() const;
  std::vector<std::string> NeverHeard() const;
  std::string EndpointOf(const std::string& id) const;
  uint64_t incarnation() const;
  void SetProgress(uint64_t step, bool started);
  std::vector<MembershipEvent> DrainEvents();
  MembershipStats stats() const;

  // ---- replica fingerprints (membership_fingerprints.cpp) ----
  void PublishFingerprint(uint64_t view_id, uint64_t step, uint64_t value);
  std::string ReplicaDisagreement() const;

  // ---- the end of a run (membership_farewell.cpp) ----
  bool Finish(uint64_t step, std::chrono::milliseconds timeout, const std::atomic<bool>* stop);
  void Leave();
  FarewellOutcome Farewell(uint64_t step, std::span<const float> params, std::span<const float> optimizer_state,
                           const std::string& meta, std::chrono::milliseconds window,
                           const std::atomic<bool>* cancel);
  std::optional<ClusterEnd> ClusterFinished() const;
  Result<StateSnapshot> FetchFinalState(const ClusterEnd& end, uint64_t n_values, std::chrono::milliseconds timeout,
                                        const std::atomic<bool>* cancel);

  // ---- reconciliation (membership_reconcile.cpp) ----
  Result<ReconcilePlan> Reconcile(uint64_t view_id, uint64_t step, std::span<const float> params,
                                  std::span<const float> optimizer_state, const std::string& meta,
                                  std::chrono::milliseconds timeout, StateSnapshot* fetched,
                                  const std::atomic<bool>* cancel);

 private:
  // Heartbeats and requests are small and best effort: the next one retries.
  static constexpr std::chrono::milliseconds kHeartbeatSendTimeout{10};

  // membership_reconcile.cpp
  Status ViewMovedOn(uint64_t view_id, const char* when) const;
  Result<StateSnapshot> Fetch(uint64_t view_id, const ReconcilePlan& plan, uint64_t n_values,
                              Clock::time_point deadline, std::chrono::milliseconds timeout,
                              const std::atomic<bool>* cancel, const std::function<std::string()>& abandon);
  void SendStateRequests();
  void HandleStateRequest(const Header& h, const IncomingMessage& msg);
  void HandleStatePiece(const Header& h, const IncomingMessage& msg);

  // membership_heartbeats.cpp
  void Run();
  void Tick(Clock::time_point now);
  void Connect(const Connects& connects);
  void SendHeartbeats(bool periodic);
  Heartbeat BuildHeartbeatLocked() const;
  void ApplyChangesLocked(const std::vector<MemberChange>& changes, Connects* connects);

  // membership_dispatch.cpp
  void Dispatch(IncomingMessage msg);
  void Forward(IncomingMessage msg);
  void Reject(const std::string& from, const std::string& why);
  static bool IsPeriodicHeartbeat(const Header& h, const IncomingMessage& msg);
  void HandleHeartbeat(const Header& h, const IncomingMessage& msg);
  void Rejoin(const Heartbeat& hb);
  void HandleBye(const std::string& from);

  // membership_fingerprints.cpp
  bool JudgeFingerprintsLocked();

  // membership_farewell.cpp
  void SendGoodbyes(std::chrono::milliseconds timeout);

  // membership_views.cpp
  bool RecomputeLocked();
  void InstallLocked(const View& v);

  // membership.cpp
  void EventLocked(MembershipEvent e);

  Transport* transport_;
  MembershipOptions opt_;
  membership_internal::Inbox inbox_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> view_id_{0};

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;  // view installed, report arrived, fetch progressed
  membership_internal::MemberTable table_;
  uint64_t incarnation_ = 0;
  View installed_;
  View reconciled_;  // the view of the last successful reconciliation: the peers our rounds run with
  View proposal_;
  uint64_t step_ = 0;
  bool started_ = false;
  bool leaving_ = false;
  bool finished_ = false;                  // Farewell: we completed the run (our goodbyes say so)
  bool farewell_ = false;                  // Farewell is waiting for peers that were away
  std::set<std::string> farewell_heard_;   // peers that said goodbye during the farewell
  ReplicaReport report_;
  membership_internal::ReplicaFingerprint fingerprint_;  // our newest, sent with every heartbeat
  membership_internal::FingerprintLedger fingerprints_;
  bool repair_pending_ = false;  // our replica differed from the majority's: copy theirs at the next reconciliation
  std::string disagreement_;     // replicas differed with no majority (ReplicaDisagreement)
  Lineage lineage_;  // of our state, as of the last view reconciled (empty: a fresh start or a restart)
  std::shared_ptr<const StateSnapshot> offer_;
  std::unique_ptr<StateFetch> fetch_;
  Clock::time_point last_piece_{};  // of the transfer in fetch_ (its start, before the first piece)
  std::string fetch_error_;
  std::vector<MembershipEvent> events_;
  std::vector<std::string> bootstrap_ids_;  // pseudo peers for cluster.bootstrap, until someone answers
  Connects reconnects_;                     // returning peers, reconnected by Connect()
  std::map<std::string, Clock::time_point> last_logged_;
  MembershipStats stats_;
};

}  // namespace meshtrain
