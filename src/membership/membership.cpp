// The membership thread: heartbeats out every membership.heartbeat_ms, every
// incoming message read here first (heartbeats and state transfers handled,
// the rest passed up through the inbox), the failure detector and the view
// agreement run on each heartbeat and tick. The trainer thread talks to it
// through the public methods (views, reconciliation, events), under one mutex.
// Transport::Send is thread-safe, so either thread may send.
#include "meshtrain/membership.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <functional>
#include <mutex>
#include <set>
#include <thread>
#include <tuple>

#include "membership/inbox.h"
#include "membership/member_table.h"
#include "membership/membership_messages.h"
#include "membership/state_fetch.h"
#include "membership/view_agreement.h"
#include "meshtrain/wire.h"

namespace meshtrain {

using membership_internal::Agree;
using membership_internal::AgreementInput;
using membership_internal::Clock;
using membership_internal::EncodeHeartbeat;
using membership_internal::HeartbeatHeader;
using membership_internal::StatePieceHeader;
using membership_internal::StateRequestHeader;
using membership_internal::Heartbeat;
using membership_internal::Inbox;
using membership_internal::MemberChange;
using membership_internal::MemberRecord;
using membership_internal::MemberTable;
using membership_internal::StateFetch;
using membership_internal::StatePieceInfo;
using membership_internal::StateRequest;

namespace {

// Heartbeats and requests are small and best effort: the next one retries.
constexpr std::chrono::milliseconds kHeartbeatSendTimeout{10};
constexpr int kLateGoodbyeRepeats = 3;  // goodbyes after the first, from a peer that took the end late
// Peers that are not live (dead, gone, never heard) still get a heartbeat now
// and then: a paused peer learns from it that it was declared dead.
constexpr std::chrono::milliseconds kQuietPeerInterval{500};
constexpr std::chrono::milliseconds kStateSendTimeout{2000};
constexpr std::chrono::milliseconds kRequestSendTimeout{100};
constexpr std::chrono::milliseconds kFetchRetry{1000};
constexpr size_t kMaxEvents = 10000;
constexpr size_t kDrainBatch = 256;
const char kBootstrapPrefix[] = "bootstrap:";

double UnixNow() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
}

// Milliseconds since the epoch: a restarted process gets a higher incarnation
// than any before it without writing anything to disk.
uint64_t ClockIncarnation() {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

std::string JoinIds(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ", ") + id;
  return out;
}

std::string DescribeChange(const View& before, const View& after) {
  std::string out;
  for (const ViewMember& m : after.members) {
    const bool had = std::find(before.members.begin(), before.members.end(), m) != before.members.end();
    if (!had) out += (out.empty() ? "+" : ", +") + m.id;
  }
  for (const ViewMember& m : before.members) {
    const bool has = std::find(after.members.begin(), after.members.end(), m) != after.members.end();
    if (!has) out += (out.empty() ? "-" : ", -") + m.id;
  }
  return out;
}

}  // namespace

class Membership::Impl {
 public:
  Impl(Transport* transport, MembershipOptions options)
      : transport_(transport), opt_(std::move(options)), inbox_(opt_.inbox_capacity), table_(opt_.self_id) {}

  ~Impl() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
  }

  Status Init() {
    incarnation_ = opt_.incarnation != 0 ? opt_.incarnation : ClockIncarnation();
    std::vector<std::string> static_endpoints;
    for (const PeerEntry& p : opt_.peers) {
      static_endpoints.push_back(p.endpoint);
      if (p.id == opt_.self_id) continue;
      table_.Add(p.id, p.endpoint, /*is_static=*/true);
      MESHTRAIN_RETURN_IF_ERROR(transport_->Connect(p.id, p.endpoint).WithContext("membership"));
    }
    for (const std::string& endpoint : opt_.bootstrap) {
      if (endpoint == opt_.self_endpoint ||
          std::find(static_endpoints.begin(), static_endpoints.end(), endpoint) != static_endpoints.end()) {
        continue;  // already a peer we talk to by name
      }
      const std::string pseudo = kBootstrapPrefix + endpoint;
      MESHTRAIN_RETURN_IF_ERROR(transport_->Connect(pseudo, endpoint).WithContext("cluster.bootstrap"));
      bootstrap_ids_.push_back(pseudo);
    }
    thread_ = std::thread([this] { Run(); });
    return Status::OK();
  }

  // ---- the layer above's side ----

  Result<IncomingMessage> Receive(std::chrono::milliseconds timeout) { return inbox_.Pop(timeout); }
  void Interrupt() { inbox_.Interrupt(); }

  View view() const {
    std::lock_guard<std::mutex> lock(mu_);
    return installed_;
  }
  uint64_t view_id() const { return view_id_.load(std::memory_order_acquire); }

  bool WaitForViewChange(uint64_t id, std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [&] { return installed_.id != id; });
  }

  bool ClusterRunning() const {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& [id, rec] : table_.all()) {
      if (rec.live() && rec.started) return true;
    }
    return false;
  }

  std::vector<std::string> NeverHeard() const {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<std::string> out;
    for (const auto& [id, rec] : table_.all()) {
      if (rec.is_static && !rec.heard) out.push_back(id);
    }
    return out;
  }

  std::string EndpointOf(const std::string& id) const {
    std::lock_guard<std::mutex> lock(mu_);
    if (id == opt_.self_id) return opt_.self_endpoint;
    const MemberRecord* rec = table_.Find(id);
    return rec ? rec->endpoint : std::string("?");
  }

  uint64_t incarnation() const {
    std::lock_guard<std::mutex> lock(mu_);
    return incarnation_;
  }

  void SetProgress(uint64_t step, bool started) {
    std::lock_guard<std::mutex> lock(mu_);
    step_ = step;
    started_ = started_ || started;
  }

  bool Finish(uint64_t step, std::chrono::milliseconds timeout, const std::atomic<bool>* stop) {
    SetProgress(step, true);
    SendHeartbeats(/*periodic=*/false);
    const Clock::time_point deadline = Clock::now() + timeout;
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      // Only the peers we ran the last rounds with: a peer that comes back
      // now (a new incarnation, far behind) learns of the end from our
      // goodbye instead (Farewell), it is not waited for here.
      bool all = true;
      const View& ran_with = reconciled_.id != 0 ? reconciled_ : installed_;  // nothing reconciled yet: the view
      for (const ViewMember& m : ran_with.members) {
        const MemberRecord* rec = m.id == opt_.self_id ? nullptr : table_.Find(m.id);
        if (rec != nullptr && rec->live() && rec->incarnation == m.incarnation && rec->step < step) all = false;
      }
      if (all) return true;
      if (Clock::now() >= deadline || (stop && stop->load())) return false;
      cv_.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::milliseconds(100)));
    }
  }

  // ---- replica fingerprints (docs/agreement.md, "Replica fingerprints") ----

  void PublishFingerprint(uint64_t view_id, uint64_t step, uint64_t value) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      fingerprint_ = {view_id, step, value};
      fingerprints_.Record(opt_.self_id, fingerprint_);
      if (JudgeFingerprintsLocked()) RecomputeLocked();
    }
    SendHeartbeats(/*periodic=*/false);  // it goes out now: the next one may come after our next fingerprint
  }

  std::string ReplicaDisagreement() const {
    std::lock_guard<std::mutex> lock(mu_);
    return disagreement_;
  }

  std::vector<MembershipEvent> DrainEvents() {
    std::lock_guard<std::mutex> lock(mu_);
    std::vector<MembershipEvent> out;
    out.swap(events_);
    return out;
  }

  MembershipStats stats() const {
    std::lock_guard<std::mutex> lock(mu_);
    return stats_;
  }

  void Leave() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (leaving_) return;
      leaving_ = true;
    }
    SendGoodbyes(std::chrono::milliseconds(20));  // best effort, like Bye
  }

  // ---- the end of a run (docs/membership.md, "The end of a run") ----

  FarewellOutcome Farewell(uint64_t step, std::span<const float> params, std::span<const float> optimizer_state,
                           const std::string& meta, std::chrono::milliseconds window,
                           const std::atomic<bool>* cancel) {
    auto snapshot = std::make_shared<StateSnapshot>();
    snapshot->step = step;
    snapshot->values.reserve(params.size() + optimizer_state.size());
    snapshot->values.insert(snapshot->values.end(), params.begin(), params.end());
    snapshot->values.insert(snapshot->values.end(), optimizer_state.begin(), optimizer_state.end());
    snapshot->meta = meta;
    snapshot->checksum = StateChecksum(snapshot->values, meta);
    FarewellOutcome out;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (leaving_) return out;
      // Every member of the last reconciled view ends with the same state in
      // the same view: a late peer can stripe the transfer over all of them.
      snapshot->view_id = report_.view_id;
      offer_ = snapshot;
      report_ = ReplicaReport{snapshot->view_id, step, snapshot->checksum, lineage_};
      step_ = step;
      started_ = true;
      finished_ = true;
      leaving_ = true;
      out.awaited = AwayAtEndLocked(step);
      farewell_ = !out.awaited.empty() && window.count() > 0;
      farewell_heard_.clear();
      out.lingered = farewell_;
    }
    SendGoodbyes(kHeartbeatSendTimeout);
    const auto heartbeat = std::chrono::milliseconds(std::max<int64_t>(opt_.timing.heartbeat_ms, 1));
    if (window.count() == 0) {
      // We came back after the end and took it (no window of our own): the
      // finishers linger until they hear this goodbye, and one message can be
      // lost while our connections are re-made after the absence. A few more,
      // a heartbeat apart.
      for (int i = 0; i < kLateGoodbyeRepeats && !(cancel != nullptr && cancel->load()); ++i) {
        std::this_thread::sleep_for(heartbeat);
        SendGoodbyes(kHeartbeatSendTimeout);
      }
    }
    if (!out.lingered) return out;
    const Clock::time_point deadline = Clock::now() + window;
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        const auto all_told = [&] {
          return std::all_of(out.awaited.begin(), out.awaited.end(),
                             [&](const std::string& id) { return farewell_heard_.count(id) != 0; });
        };
        cv_.wait_until(lock, std::min(deadline, Clock::now() + heartbeat), all_told);
        if (all_told() || Clock::now() >= deadline || (cancel != nullptr && cancel->load())) {
          farewell_ = false;
          for (const std::string& id : out.awaited) {
            if (farewell_heard_.count(id) != 0) out.told.push_back(id);
          }
          return out;
        }
      }
      SendGoodbyes(kHeartbeatSendTimeout);  // the way a returning peer hears that the run is over
    }
  }

  std::optional<ClusterEnd> ClusterFinished() const {
    std::lock_guard<std::mutex> lock(mu_);
    if (finished_) return std::nullopt;
    // The most authoritative end: the latest primary lineage, one that never
    // left the primary view, then the latest step.
    const auto rank = [](const ReplicaReport& r) {
      return std::make_tuple(r.lineage.primary, !r.lineage.off_primary, r.step);
    };
    // A state that went through a minority view since its last primary one
    // (a peer cut off, or the last one standing) yields to an end that did
    // not, even at the same step: the minority's own "final" model is not the run's.
    const auto supersedes = [this](const ReplicaReport& r) {
      return lineage_.off_primary && std::make_tuple(r.lineage.primary, !r.lineage.off_primary) >
                                         std::make_tuple(lineage_.primary, !lineage_.off_primary);
    };
    const ReplicaReport* best = nullptr;
    for (const auto& [id, rec] : table_.all()) {
      if (!rec.finished) continue;
      const ReplicaReport& r = rec.finished_report;
      // An end whose lineage ranks below ours (fewer primary views, or a
      // minority's at the same count) is not the run's end.
      if (std::make_tuple(r.lineage.primary, !r.lineage.off_primary) <
          std::make_tuple(lineage_.primary, !lineage_.off_primary)) {
        continue;
      }
      if (r.step <= step_ && !supersedes(r)) continue;
      if (best == nullptr || rank(r) > rank(*best)) best = &r;
    }
    if (best == nullptr) return std::nullopt;
    ClusterEnd end;
    end.supersedes = supersedes(*best);
    end.step = best->step;
    end.view_id = best->view_id;
    end.checksum = best->checksum;
    const Clock::time_point now = Clock::now();
    for (const auto& [id, rec] : table_.all()) {
      const ReplicaReport& r = rec.finished_report;
      if (!rec.finished || r.step != end.step || r.view_id != end.view_id || r.checksum != end.checksum) continue;
      end.finished.push_back(id);
      if (now - rec.last_farewell < std::chrono::milliseconds(opt_.timing.dead_ms)) end.serving.push_back(id);
    }
    return end;
  }

  Result<StateSnapshot> FetchFinalState(const ClusterEnd& end, uint64_t n_values, std::chrono::milliseconds timeout,
                                        const std::atomic<bool>* cancel) {
    const std::string who = JoinIds(end.finished);
    if (end.serving.empty()) {
      return Status::Unavailable("none of the peers that finished (" + who + ") answers any more");
    }
    ReconcilePlan plan;
    plan.target_step = end.step;
    plan.checksum = end.checksum;
    plan.sources = end.serving;
    plan.behind = true;
    const auto dead = std::chrono::milliseconds(opt_.timing.dead_ms);
    // Gone when none of the sources has been heard saying goodbye for dead_ms:
    // their farewell is over, nobody will send the pieces still missing.
    const auto gone = [&]() -> std::string {
      const Clock::time_point now = Clock::now();
      for (const std::string& id : plan.sources) {
        const MemberRecord* rec = table_.Find(id);
        if (rec != nullptr && now - rec->last_farewell < dead) return {};
      }
      return "the peers that finished (" + JoinIds(plan.sources) + ") stopped answering (their farewell is over)";
    };
    return Fetch(end.view_id, plan, n_values, Clock::now() + timeout, timeout, cancel, gone);
  }

  Result<ReconcilePlan> Reconcile(uint64_t view_id, uint64_t step, std::span<const float> params,
                                  std::span<const float> optimizer_state, const std::string& meta,
                                  std::chrono::milliseconds timeout, StateSnapshot* fetched,
                                  const std::atomic<bool>* cancel) {
    auto snapshot = std::make_shared<StateSnapshot>();
    snapshot->view_id = view_id;
    snapshot->step = step;
    snapshot->values.reserve(params.size() + optimizer_state.size());
    snapshot->values.insert(snapshot->values.end(), params.begin(), params.end());
    snapshot->values.insert(snapshot->values.end(), optimizer_state.begin(), optimizer_state.end());
    snapshot->meta = meta;
    snapshot->checksum = StateChecksum(snapshot->values, meta);
    const uint64_t n_values = snapshot->values.size();
    View reconciling;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (installed_.id != view_id) return ViewMovedOn(view_id, "before reconciliation");
      reconciling = installed_;
      offer_ = snapshot;
      report_ = ReplicaReport{view_id, step, snapshot->checksum, lineage_, repair_pending_};
    }
    SendHeartbeats(/*periodic=*/false);  // our report goes out now, not at the next tick

    const Clock::time_point deadline = Clock::now() + timeout;
    std::map<std::string, ReplicaReport> reports;
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        if (installed_.id != view_id) return ViewMovedOn(view_id, "during reconciliation");
        if (cancel != nullptr && cancel->load()) return Status::Aborted("reconciliation cancelled");
        reports.clear();
        std::vector<std::string> missing;
        for (const ViewMember& m : installed_.members) {
          if (m.id == opt_.self_id) {
            reports[m.id] = report_;
            continue;
          }
          const MemberRecord* rec = table_.Find(m.id);
          if (rec != nullptr && rec->report.view_id == view_id) {
            reports[m.id] = rec->report;
          } else {
            missing.push_back(m.id);
          }
        }
        if (missing.empty()) break;
        if (Clock::now() >= deadline) {
          return Status::Timeout("reconciliation of " + installed_.ToString() + ": no (step, checksum) within " +
                                 std::to_string(timeout.count()) + " ms from " + JoinIds(missing));
        }
        cv_.wait_until(lock, std::min(deadline, Clock::now() + std::chrono::milliseconds(100)));
      }
    }
    ReconcilePlan plan = PlanReconcile(reports, opt_.self_id);
    if (plan.behind) {
      const auto moved_on = [&]() -> std::string {
        return installed_.id != view_id ? ViewMovedOn(view_id, "during state sync").message() : std::string();
      };
      Result<StateSnapshot> got = Fetch(view_id, plan, n_values, deadline, timeout, cancel, moved_on);
      if (!got.ok()) return got.status();
      *fetched = std::move(got).value();
    }
    std::lock_guard<std::mutex> lock(mu_);
    lineage_ = plan.lineage;  // what our state is from now on (the same on every member)
    reconciled_ = reconciling;
    repair_pending_ = false;  // a suspect state is never a source: we now hold the reference
    // Every member holds the reference state: nobody is behind, nobody will
    // ask for ours, so the copy is dropped now instead of living until the next
    // view (a model-sized buffer: docs/edge.md, "Peak memory"). Each member
    // plans from the same reports, so each comes to the same conclusion.
    if (plan.sources.size() == reports.size() && offer_ == snapshot) offer_.reset();
    return plan;
  }

 private:
  Status ViewMovedOn(uint64_t view_id, const char* when) const {
    return Status::Aborted("view " + std::to_string(view_id) + " was replaced by " + installed_.ToString() + " " +
                           when);
  }

  // `abandon` (called under mu_) says why the transfer cannot complete any
  // more (the view moved on, the holders left), or "" to go on; Aborted then.
  Result<StateSnapshot> Fetch(uint64_t view_id, const ReconcilePlan& plan, uint64_t n_values,
                              Clock::time_point deadline, std::chrono::milliseconds timeout,
                              const std::atomic<bool>* cancel, const std::function<std::string()>& abandon) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      fetch_ = std::make_unique<StateFetch>(view_id, plan, n_values, opt_.state_piece_floats);
      fetch_error_.clear();
      last_piece_ = Clock::now();
    }
    SendStateRequests();
    std::unique_lock<std::mutex> lock(mu_);
    Clock::time_point next_retry = Clock::now() + kFetchRetry;
    for (;;) {
      if (fetch_->complete()) break;
      if (std::string why = abandon(); !why.empty()) {
        fetch_.reset();
        return Status::Aborted(why);
      }
      if (cancel != nullptr && cancel->load()) {
        fetch_.reset();
        return Status::Aborted("state sync cancelled");
      }
      if (!fetch_error_.empty()) {
        fetch_.reset();
        return Status::InvalidArgument("state sync in view " + std::to_string(view_id) + ": " + fetch_error_);
      }
      const Clock::time_point now = Clock::now();
      if (now >= deadline) {
        const std::string owing = JoinIds(fetch_->Owing());
        fetch_.reset();
        return Status::Timeout("state sync of step " + std::to_string(plan.target_step) + " in view " +
                               std::to_string(view_id) + ": pieces missing from " + owing + " after " +
                               std::to_string(timeout.count()) + " ms");
      }
      if (now >= next_retry) {  // a request or a piece may have been lost: ask again
        lock.unlock();
        SendStateRequests();
        lock.lock();
        next_retry = Clock::now() + kFetchRetry;
        continue;
      }
      cv_.wait_until(lock, std::min({deadline, next_retry, now + std::chrono::milliseconds(100)}));
    }
    Result<StateSnapshot> out = fetch_->Finish();
    fetch_.reset();
    return out;
  }

  void SendStateRequests() {
    std::vector<std::pair<std::string, std::string>> requests;  // (peer, encoded header)
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (!fetch_) return;
      const StateRequest req = fetch_->RequestFor();
      for (size_t i = 0; i < fetch_->sources().size() && i < fetch_->n_pieces(); ++i) {
        requests.emplace_back(fetch_->sources()[i],
                              EncodeHeader(StateRequestHeader(opt_.self_id, fetch_->view_id(), fetch_->step(),
                                                              fetch_->FirstPieceOf(i), fetch_->n_pieces(), req)));
      }
    }
    for (auto& [peer, header] : requests) {
      OutgoingMessage msg;
      msg.lane = Lane::kControl;  // small; must not wait behind the pieces it asks for
      msg.header = std::move(header);
      transport_->Send(peer, std::move(msg), kRequestSendTimeout);
    }
  }

  // ---- the membership thread ----

  void Run() {
    const auto heartbeat = std::chrono::milliseconds(std::max<int64_t>(opt_.timing.heartbeat_ms, 1));
    // A gap this long between two turns of our own loop means we were not
    // running (SIGSTOP, starved CPU), not that everyone else went quiet.
    const auto stall = std::max(std::chrono::milliseconds(opt_.timing.dead_ms / 2), 3 * heartbeat);
    Clock::time_point next_tick = Clock::now();
    Clock::time_point last_turn = Clock::now();
    while (!stop_.load()) {
      Clock::time_point now = Clock::now();
      if (now - last_turn > stall) {
        std::lock_guard<std::mutex> lock(mu_);
        table_.Grace(now);
      }
      last_turn = now;
      if (now >= next_tick) {
        Tick(now);
        next_tick = now + heartbeat;
      }
      now = Clock::now();
      const auto wait = std::clamp(std::chrono::ceil<std::chrono::milliseconds>(next_tick - now),
                                   std::chrono::milliseconds(1), heartbeat);
      Result<IncomingMessage> got = transport_->Receive(wait);
      if (!got.ok()) continue;
      Dispatch(std::move(got).value());
      for (size_t i = 0; i < kDrainBatch && !stop_.load(); ++i) {
        Result<IncomingMessage> more = transport_->Receive(std::chrono::milliseconds(0));
        if (!more.ok()) break;
        Dispatch(std::move(more).value());
      }
    }
  }

  void Tick(Clock::time_point now) {
    std::vector<std::pair<std::string, std::string>> connects;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (leaving_) return;
      // Nobody is buried while a state transfer to us is moving: it fills our
      // download link, and on a slow link one of the TCP streams sharing it
      // (a holder's, or a heartbeat's) can go more than a second without a
      // complete message. A peer that died meanwhile is judged dead_ms after
      // the transfer ends or stops moving (it is bounded by sync.timeout_ms).
      const auto dead = std::chrono::milliseconds(opt_.timing.dead_ms);
      std::vector<std::string> spared;
      if (fetch_ && now - last_piece_ < dead) {
        for (const auto& [id, rec] : table_.all()) spared.push_back(id);
      }
      const auto changes = table_.Tick(now, std::chrono::milliseconds(opt_.timing.suspect_ms), dead, spared);
      ApplyChangesLocked(changes, &connects);
      RecomputeLocked();
    }
    Connect(connects);
    SendHeartbeats(/*periodic=*/true);
  }

  void Dispatch(IncomingMessage msg) {
    Result<Header> header = DecodeHeader(msg.header.data(), msg.header.size());
    if (!header.ok() || header->sender != msg.from) {
      Forward(std::move(msg));  // the layer above rejects, counts and logs it
      return;
    }
    if (header->type != MessageType::kHeartbeat && header->type != MessageType::kBye) {
      // Whatever a live peer sends proves it alive: on a slow link its heartbeat
      // may be queued behind the very pieces that arrive here first.
      std::lock_guard<std::mutex> lock(mu_);
      table_.OnTraffic(msg.from, Clock::now());
    }
    switch (header->type) {
      case MessageType::kHeartbeat:
        if (msg.lane == Lane::kData && IsPeriodicHeartbeat(header.value(), msg)) {
          // The data lane's copy of a member's periodic heartbeat (SendHeartbeats)
          // may arrive after newer ones on the control lane: it proves the sender
          // alive, and its contents are left to the control lane's, in order.
          std::lock_guard<std::mutex> lock(mu_);
          if (table_.Find(msg.from) != nullptr) {
            table_.OnTraffic(msg.from, Clock::now());
            return;
          }
        }
        HandleHeartbeat(header.value(), msg);
        return;
      case MessageType::kStateRequest:
        HandleStateRequest(header.value(), msg);
        return;
      case MessageType::kState:
        HandleStatePiece(header.value(), msg);
        return;
      case MessageType::kBye:
        HandleBye(header->sender);
        Forward(std::move(msg));  // the collectives end at once on a Bye
        return;
      default:
        Forward(std::move(msg));
        return;
    }
  }

  void Forward(IncomingMessage msg) {
    bool member = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.forwarded;  // counted first: the reader may look at the stats as soon as it has the message
      member = table_.Find(msg.from) != nullptr;
    }
    // A stranger (whatever it says, the layer above will reject it) may fill
    // only half the inbox, so that a flood from outside cannot crowd out the
    // pieces members send while the trainer computes (docs/protocol.md).
    const size_t limit = member ? inbox_.capacity() : inbox_.capacity() / 2;
    if (inbox_.Push(std::move(msg), limit)) return;
    std::lock_guard<std::mutex> lock(mu_);
    --stats_.forwarded;
    ++stats_.inbox_dropped;
  }

  void Reject(const std::string& from, const std::string& why) {
    const Clock::time_point now = Clock::now();
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.rejected;
    auto [it, fresh] = last_logged_.emplace(from, now);
    if (!fresh && now - it->second < std::chrono::minutes(1)) return;
    it->second = now;
    std::fprintf(stderr, "meshtrain[%s]: membership: dropped a message from %s: %s\n", opt_.self_id.c_str(),
                 from.c_str(), why.c_str());
  }

  // A well-formed heartbeat that is not a goodbye (a goodbye says the sender
  // leaves: SendGoodbyes). Anything else goes to HandleHeartbeat, which reads
  // a goodbye and rejects (and counts) a malformed one.
  static bool IsPeriodicHeartbeat(const Header& h, const IncomingMessage& msg) {
    if (msg.has_payload && msg.payload.size() > 0) return false;
    std::optional<Heartbeat> hb = membership_internal::DecodeHeartbeat(h.extra);
    return hb && !hb->leaving;
  }

  void HandleHeartbeat(const Header& h, const IncomingMessage& msg) {
    if (msg.has_payload && msg.payload.size() > 0) return Reject(msg.from, "heartbeat with a payload");
    std::optional<Heartbeat> hb = membership_internal::DecodeHeartbeat(h.extra);
    if (!hb) {
      const uint8_t format = h.extra.empty() ? 0 : static_cast<uint8_t>(h.extra[0]);
      if (format != membership_internal::kHeartbeatFormat) {
        return Reject(msg.from, "heartbeat format " + std::to_string(format) + ", this build speaks format " +
                                    std::to_string(membership_internal::kHeartbeatFormat) +
                                    " (a peer of another meshtrain version: run the same version everywhere)");
      }
      return Reject(msg.from, "malformed heartbeat (" + std::to_string(h.extra.size()) + " bytes of extra)");
    }
    std::vector<std::pair<std::string, std::string>> connects;
    std::vector<std::string> disconnects;
    bool changed = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.heartbeats_recv;
      bool evicted = false;
      const auto changes =
          table_.OnHeartbeat(h.sender, *hb, Clock::now(), incarnation_, &evicted, installed_.members.size());
      if (evicted && !leaving_) Rejoin(*hb);
      if (farewell_ && hb->leaving) farewell_heard_.insert(h.sender);  // it knows the run is over
      ApplyChangesLocked(changes, &connects);
      fingerprints_.Record(h.sender, hb->fingerprint);
      const bool renewed = JudgeFingerprintsLocked();
      if (!bootstrap_ids_.empty()) {
        // Someone answered: from now on we talk to peers by name. Keeping the
        // bootstrap connection would make the peer's ROUTER hand our id back
        // and forth between two connections.
        disconnects.swap(bootstrap_ids_);
      }
      changed = RecomputeLocked() || evicted || renewed;
      cv_.notify_all();  // a report may have come with it
    }
    for (const std::string& id : disconnects) transport_->Disconnect(id);
    Connect(connects);
    if (changed) SendHeartbeats(/*periodic=*/false);
  }

  // The others declared this incarnation dead (we were paused, or cut off).
  // Come back as a new incarnation: the view change that admits it also makes
  // our trainer abort its round and fetch the state it missed.
  void Rejoin(const Heartbeat& hb) {
    uint64_t highest = incarnation_;
    for (const auto& e : hb.table) {
      if (e.id == opt_.self_id) highest = std::max(highest, e.incarnation);
    }
    const uint64_t old = incarnation_;
    incarnation_ = std::max(highest + 1, ClockIncarnation());
    // The peers we buried while we were away were the other side of the same
    // cut: take it back, so that they are not evicted in turn by our table.
    const std::vector<std::string> withdrawn = table_.WithdrawVerdicts();
    for (const std::string& id : withdrawn) {
      if (const MemberRecord* rec = table_.Find(id)) reconnects_.emplace_back(id, rec->endpoint);
    }
    MembershipEvent e;
    e.name = "evicted";
    e.peer = opt_.self_id;
    e.unix_t = UnixNow();
    e.detail = "the others declared incarnation " + std::to_string(old) + " of this peer dead (paused or cut off); "
               "rejoining as incarnation " + std::to_string(incarnation_) +
               (withdrawn.empty() ? "" : "; withdrew its own verdicts on " + JoinIds(withdrawn));
    EventLocked(std::move(e));
  }

  // Compares the reconciled view's fingerprints once every member's is in
  // (FingerprintLedger). True if this peer found itself outside the majority
  // and rejoined as a new incarnation (the view must be recomputed).
  bool JudgeFingerprintsLocked() {
    if (reconciled_.id == 0 || leaving_) return false;
    std::optional<membership_internal::FingerprintVerdict> v =
        fingerprints_.Judge(reconciled_.id, reconciled_.ids());
    if (!v) return false;
    stats_.fingerprint_checks = fingerprints_.checks();
    if (v->agree) return false;
    ++stats_.fingerprint_mismatches;
    const std::string where = " at step " + std::to_string(v->step) + " of view " + std::to_string(v->view_id);
    MembershipEvent e;
    e.name = "replica_diverged";
    e.unix_t = UnixNow();
    e.peer = JoinIds(v->differing);
    if (v->majority.empty()) {
      e.detail = "the replicas of " + JoinIds(v->differing) + " differ" + where +
                 " and no strict majority holds one state: no replica can be trusted";
      disagreement_ = e.detail;
      EventLocked(std::move(e));
      return false;
    }
    const bool self = std::find(v->differing.begin(), v->differing.end(), opt_.self_id) != v->differing.end();
    e.detail = "the replica of " + JoinIds(v->differing) + " differs from the one " + JoinIds(v->majority) +
               " hold" + where + (self ? "; this peer copies their state" : "; it copies the majority's state");
    if (!self || repair_pending_) {
      EventLocked(std::move(e));
      return false;
    }
    // A new incarnation of ourselves is a view change: every member reconciles,
    // and our report, marked suspect, can never be the reference.
    repair_pending_ = true;
    report_.suspect = true;
    const uint64_t old = incarnation_;
    incarnation_ = std::max(incarnation_ + 1, ClockIncarnation());
    e.detail += " (rejoining as incarnation " + std::to_string(incarnation_) + ", was " + std::to_string(old) + ")";
    EventLocked(std::move(e));
    return true;
  }

  void HandleBye(const std::string& from) {
    std::lock_guard<std::mutex> lock(mu_);
    if (farewell_) {
      farewell_heard_.insert(from);
      cv_.notify_all();
    }
    std::vector<std::pair<std::string, std::string>> none;
    if (std::optional<MemberChange> left = table_.OnLeave(from)) ApplyChangesLocked({*left}, &none);
    RecomputeLocked();
  }

  void HandleStateRequest(const Header& h, const IncomingMessage& msg) {
    if (msg.has_payload && msg.payload.size() > 0) return Reject(msg.from, "state request with a payload");
    std::optional<StateRequest> req = membership_internal::DecodeStateRequest(h.extra);
    if (!req) return Reject(msg.from, "malformed state request");
    std::shared_ptr<const StateSnapshot> snapshot;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (table_.Find(h.sender) == nullptr) return;  // not a peer we know: nothing to give it
      snapshot = offer_;
    }
    // Only the exact state asked for: a request for another view or step is
    // from a reconciliation that has been overtaken, and its asker will retry.
    if (!snapshot || snapshot->view_id != h.view_id || snapshot->step != h.step ||
        snapshot->checksum != req->checksum || snapshot->values.size() != req->n_values) {
      return;
    }
    const uint64_t n = snapshot->values.size();
    const uint64_t n_pieces = membership_internal::StatePieceCount(n, req->piece_floats);
    if (h.n_chunks != n_pieces || req->piece_floats * sizeof(float) > static_cast<uint64_t>(opt_.max_msg_bytes)) {
      return Reject(msg.from, "state request for pieces that do not fit (" + std::to_string(h.n_chunks) + " of " +
                                  std::to_string(req->piece_floats) + " floats)");
    }
    StatePieceInfo info;
    info.n_values = n;
    info.piece_floats = req->piece_floats;
    info.checksum = snapshot->checksum;
    info.meta = snapshot->meta;
    for (uint64_t p = h.chunk; p < n_pieces; p += req->stride) {
      const uint64_t begin = p * req->piece_floats;
      const uint64_t count = std::min<uint64_t>(req->piece_floats, n - begin);
      OutgoingMessage out;
      out.header = EncodeHeader(StatePieceHeader(opt_.self_id, h.view_id, h.step, static_cast<uint32_t>(p),
                                                 static_cast<uint32_t>(n_pieces), count, info));
      if (count > 0) {
        out.payload = snapshot->values.data() + begin;
        out.payload_bytes = count * sizeof(float);
        out.keepalive = std::shared_ptr<const void>(snapshot, snapshot->values.data());  // zero copy
      }
      if (!transport_->Send(h.sender, std::move(out), kStateSendTimeout).ok()) return;
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.state_pieces_sent;
    }
  }

  void HandleStatePiece(const Header& h, const IncomingMessage& msg) {
    ValidationRules rules;
    rules.known_senders = {msg.from};
    rules.allow_unknown_hello = false;
    rules.max_elems = opt_.max_msg_bytes > 0 ? static_cast<uint64_t>(opt_.max_msg_bytes) / sizeof(float) : ~0ULL;
    const void* payload = msg.has_payload && msg.payload.size() > 0 ? msg.payload.data() : nullptr;
    const size_t bytes = payload != nullptr ? msg.payload.size() : 0;
    const RejectReason why = Validate(h, msg.from, payload, bytes, rules);
    if (why != RejectReason::kNone) return Reject(msg.from, std::string("state piece: ") + ToString(why));
    std::optional<StatePieceInfo> info = membership_internal::DecodeStatePieceInfo(h.extra);
    if (!info) return Reject(msg.from, "state piece with a malformed extra field");
    std::lock_guard<std::mutex> lock(mu_);
    if (!fetch_) return;  // a late piece of a transfer already finished or abandoned
    std::string problem;
    switch (fetch_->Add(msg.from, h, static_cast<const float*>(payload), *info, &problem)) {
      case StateFetch::Accept::kTaken:
        ++stats_.state_pieces_recv;
        last_piece_ = Clock::now();
        if (fetch_->complete()) cv_.notify_all();
        break;
      case StateFetch::Accept::kBad:
        fetch_error_ = problem;
        cv_.notify_all();
        break;
      case StateFetch::Accept::kNotOurs:
      case StateFetch::Accept::kDuplicate:
        break;
    }
  }

  void Connect(const std::vector<std::pair<std::string, std::string>>& connects) {
    std::vector<std::pair<std::string, std::string>> reconnects;
    {
      std::lock_guard<std::mutex> lock(mu_);
      reconnects.swap(reconnects_);
    }
    for (const auto& [id, endpoint] : reconnects) {
      transport_->Disconnect(id);
      const Status st = transport_->Connect(id, endpoint);
      if (!st.ok()) Reject(id, "cannot reconnect to its endpoint: " + st.message());
    }
    for (const auto& [id, endpoint] : connects) {
      const Status st = transport_->Connect(id, endpoint);
      if (!st.ok()) Reject(id, "cannot connect to its endpoint: " + st.message());
    }
  }

  // A heartbeat saying we leave (and, after Farewell, that we finished) to
  // every peer we know, live or not: a paused peer reads it when it wakes.
  void SendGoodbyes(std::chrono::milliseconds timeout) {
    std::vector<std::string> targets;
    std::string header;
    {
      std::lock_guard<std::mutex> lock(mu_);
      header = EncodeHeader(HeartbeatHeader(opt_.self_id, installed_.id, step_, EncodeHeartbeat(BuildHeartbeatLocked())));
      for (const auto& [id, rec] : table_.all()) {
        if (rec.is_static || rec.heard) targets.push_back(id);
      }
    }
    for (const std::string& id : targets) {
      OutgoingMessage msg;
      msg.header = header;
      transport_->Send(id, std::move(msg), timeout);
    }
  }

  // Peers that were away when we finished at `step`: every peer we know that
  // neither finished nor is live at `step` (about to finish with us).
  std::vector<std::string> AwayAtEndLocked(uint64_t step) const {
    std::vector<std::string> away;
    for (const auto& [id, rec] : table_.all()) {
      if (!rec.is_static && !rec.heard) continue;
      if (rec.finished || (rec.live() && rec.step >= step)) continue;
      away.push_back(id);
    }
    return away;
  }

  // Heartbeats to every live peer; with `periodic`, also (now and then) to
  // peers that are not live, so that they can find us or learn their fate.
  void SendHeartbeats(bool periodic) {
    std::vector<std::string> targets;
    std::string header;
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (leaving_) return;
      header = EncodeHeader(HeartbeatHeader(opt_.self_id, installed_.id, step_, EncodeHeartbeat(BuildHeartbeatLocked())));
      const Clock::time_point now = Clock::now();
      for (const auto& [id, rec] : table_.all()) {
        MemberRecord* r = table_.Find(id);
        if (rec.live() || (periodic && now - rec.last_sent >= kQuietPeerInterval)) {
          targets.push_back(id);
          r->last_sent = now;
        }
      }
      if (periodic) targets.insert(targets.end(), bootstrap_ids_.begin(), bootstrap_ids_.end());
    }
    // On the control lane (docs/transport.md, "Two lanes"): a heartbeat must
    // not wait behind megabytes of gradients on a slow link. Goodbyes stay on
    // the data lane, behind the last pieces they follow. A copy goes on the
    // data lane too, if it takes it at once: on a lossy link, a small segment
    // behind the last one of a piece lets TCP see that one lost and resend it
    // at once, instead of after its retransmission timeout (200 ms or more).
    std::vector<Transport::Addressed> msgs;
    for (const std::string& id : targets) {
      for (Lane lane : {Lane::kControl, Lane::kData}) {
        OutgoingMessage msg;
        msg.lane = lane;
        msg.header = header;
        msgs.push_back({id, std::move(msg)});
      }
    }
    const std::vector<Status> results = transport_->SendAll(std::move(msgs), kHeartbeatSendTimeout);
    uint64_t sent = 0;
    for (size_t i = 0; i < results.size(); i += 2) sent += results[i].ok() ? 1 : 0;
    std::lock_guard<std::mutex> lock(mu_);
    stats_.heartbeats_sent += sent;
  }

  Heartbeat BuildHeartbeatLocked() const {
    Heartbeat hb;
    hb.incarnation = incarnation_;
    hb.endpoint = opt_.self_endpoint;
    hb.started = started_;
    hb.leaving = leaving_;
    hb.finished = finished_;
    hb.step = step_;
    hb.installed = installed_;
    hb.proposal = proposal_;
    hb.report = report_;
    hb.fingerprint = fingerprint_;
    hb.table = table_.Entries({opt_.self_id, opt_.self_endpoint, incarnation_, MemberState::kAlive, step_});
    return hb;
  }

  void ApplyChangesLocked(const std::vector<MemberChange>& changes,
                          std::vector<std::pair<std::string, std::string>>* connects) {
    for (const MemberChange& c : changes) {
      MembershipEvent e;
      e.peer = c.id;
      e.unix_t = UnixNow();
      e.silence_s = c.silence_s;
      const MemberRecord* rec = table_.Find(c.id);
      switch (c.kind) {
        case MemberChange::Kind::kDiscovered:
          if (rec != nullptr) connects->emplace_back(c.id, rec->endpoint);
          continue;
        case MemberChange::Kind::kJoined:
          // Our connection to a restarted peer may be deep in its reconnect
          // back-off (up to transport.reconnect_ivl_max_ms): connect afresh.
          if (c.returning && rec != nullptr) reconnects_.emplace_back(c.id, rec->endpoint);
          if (!started_) continue;  // everyone "joins" at start; only later arrivals are news
          e.name = "peer_joined";
          e.detail = "incarnation " + std::to_string(rec ? rec->incarnation : 0) + " at " +
                     (rec ? rec->endpoint : std::string("?")) +
                     (rec && rec->report.suspect ? " (its replica differed: it comes back to copy the majority's)"
                                                 : "");
          break;
        case MemberChange::Kind::kSuspect:
          e.name = "peer_suspect";
          e.detail = "silent for " + std::to_string(static_cast<int64_t>(c.silence_s * 1000)) + " ms";
          break;
        case MemberChange::Kind::kDead:
          e.name = "peer_dead";
          e.detail = "silent for " + std::to_string(static_cast<int64_t>(c.silence_s * 1000)) +
                     " ms (membership.dead_ms = " + std::to_string(opt_.timing.dead_ms) + ")";
          break;
        case MemberChange::Kind::kLeft:
          e.name = "peer_left";
          e.detail = "said it is leaving";
          break;
        case MemberChange::Kind::kFinished:
          e.name = "peer_finished";
          e.detail = "said it completed the run at step " + std::to_string(c.step) + " (a goodbye, not a death)";
          break;
      }
      EventLocked(std::move(e));
    }
  }

  // Runs the agreement; true if our proposal or installed view changed.
  bool RecomputeLocked() {
    if (leaving_) return false;
    AgreementInput in;
    in.self = opt_.self_id;
    in.self_incarnation = incarnation_;
    in.installed = installed_;
    in.previous_proposal = proposal_;
    in.live = table_.LiveViews();
    membership_internal::AgreementResult r = Agree(in);
    bool changed = !(r.proposal == proposal_);
    proposal_ = std::move(r.proposal);
    // Before training starts, a peer alone is only a peer that has not heard
    // the others yet: no view of one.
    if (r.install && (started_ || r.install->members.size() > 1)) {
      InstallLocked(*r.install);
      changed = true;
    }
    return changed;
  }

  void InstallLocked(const View& v) {
    MembershipEvent e;
    e.name = "view_change";
    e.unix_t = UnixNow();
    e.view = v;
    e.detail = v.ToString() + (installed_.id == 0 ? "" : " after " + installed_.ToString() + ": " +
                                                              DescribeChange(installed_, v));
    installed_ = v;
    view_id_.store(v.id, std::memory_order_release);
    EventLocked(std::move(e));
    cv_.notify_all();
    inbox_.Interrupt();  // a collective waiting in Receive looks at the view now
  }

  void EventLocked(MembershipEvent e) {
    if (events_.size() < kMaxEvents) events_.push_back(std::move(e));
  }

  Transport* transport_;
  MembershipOptions opt_;
  Inbox inbox_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  std::atomic<uint64_t> view_id_{0};

  mutable std::mutex mu_;
  mutable std::condition_variable cv_;  // view installed, report arrived, fetch progressed
  MemberTable table_;
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
  std::vector<std::pair<std::string, std::string>> reconnects_;  // returning peers, reconnected by Connect()
  std::map<std::string, Clock::time_point> last_logged_;
  MembershipStats stats_;
};

Result<std::unique_ptr<Membership>> Membership::Start(Transport* transport, MembershipOptions options) {
  if (transport == nullptr) return Status::InvalidArgument("membership needs a transport");
  if (options.self_id.empty()) return Status::InvalidArgument("membership: empty peer id");
  const MembershipConfig& t = options.timing;
  if (t.heartbeat_ms <= 0 || t.suspect_ms <= t.heartbeat_ms || t.dead_ms <= t.suspect_ms) {
    return Status::InvalidArgument("membership: need 0 < heartbeat_ms < suspect_ms < dead_ms (got " +
                                   std::to_string(t.heartbeat_ms) + ", " + std::to_string(t.suspect_ms) + ", " +
                                   std::to_string(t.dead_ms) + ")");
  }
  options.state_piece_floats = std::max<size_t>(options.state_piece_floats, 1);
  if (options.max_msg_bytes > 0) {
    options.state_piece_floats =
        std::min<size_t>(options.state_piece_floats, static_cast<size_t>(options.max_msg_bytes) / sizeof(float));
  }
  auto impl = std::make_unique<Impl>(transport, std::move(options));
  MESHTRAIN_RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<Membership>(new Membership(std::move(impl)));
}

Membership::Membership(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Membership::~Membership() = default;

Result<IncomingMessage> Membership::Receive(std::chrono::milliseconds timeout) { return impl_->Receive(timeout); }
void Membership::Interrupt() { impl_->Interrupt(); }
View Membership::view() const { return impl_->view(); }
uint64_t Membership::view_id() const { return impl_->view_id(); }
bool Membership::WaitForViewChange(uint64_t view_id, std::chrono::milliseconds timeout) const {
  return impl_->WaitForViewChange(view_id, timeout);
}
bool Membership::ClusterRunning() const { return impl_->ClusterRunning(); }
std::vector<std::string> Membership::NeverHeard() const { return impl_->NeverHeard(); }
std::string Membership::EndpointOf(const std::string& id) const { return impl_->EndpointOf(id); }
uint64_t Membership::incarnation() const { return impl_->incarnation(); }
void Membership::SetProgress(uint64_t step, bool started) { impl_->SetProgress(step, started); }
bool Membership::Finish(uint64_t step, std::chrono::milliseconds timeout, const std::atomic<bool>* stop) {
  return impl_->Finish(step, timeout, stop);
}
Result<ReconcilePlan> Membership::Reconcile(uint64_t view_id, uint64_t step, std::span<const float> params,
                                            std::span<const float> optimizer_state, const std::string& meta,
                                            std::chrono::milliseconds timeout, StateSnapshot* fetched,
                                            const std::atomic<bool>* cancel) {
  return impl_->Reconcile(view_id, step, params, optimizer_state, meta, timeout, fetched, cancel);
}
void Membership::PublishFingerprint(uint64_t view_id, uint64_t step, uint64_t fingerprint) {
  impl_->PublishFingerprint(view_id, step, fingerprint);
}
std::string Membership::ReplicaDisagreement() const { return impl_->ReplicaDisagreement(); }
std::vector<MembershipEvent> Membership::DrainEvents() { return impl_->DrainEvents(); }
void Membership::Leave() { impl_->Leave(); }
FarewellOutcome Membership::Farewell(uint64_t step, std::span<const float> params,
                                     std::span<const float> optimizer_state, const std::string& meta,
                                     std::chrono::milliseconds window, const std::atomic<bool>* cancel) {
  return impl_->Farewell(step, params, optimizer_state, meta, window, cancel);
}
std::optional<ClusterEnd> Membership::ClusterFinished() const { return impl_->ClusterFinished(); }
Result<StateSnapshot> Membership::FetchFinalState(const ClusterEnd& end, uint64_t n_values,
                                                  std::chrono::milliseconds timeout,
                                                  const std::atomic<bool>* cancel) {
  return impl_->FetchFinalState(end, n_values, timeout, cancel);
}
MembershipStats Membership::stats() const { return impl_->stats(); }

}  // namespace meshtrain
