// Reconciliation after a view change and the state transfers it needs, both
// sides (docs/membership.md, "Reconciliation and state sync"): the trainer
// thread publishes its report, plans and fetches; the membership thread serves
// the requests of members that are behind and takes the pieces sent to us.
#include "membership/membership_impl.h"

#include <algorithm>
#include <map>
#include <optional>

namespace meshtrain {

using membership_internal::JoinIds;
using membership_internal::MakeSnapshot;
using membership_internal::StatePieceHeader;
using membership_internal::StateRequestHeader;

namespace {

constexpr std::chrono::milliseconds kStateSendTimeout{2000};
constexpr std::chrono::milliseconds kRequestSendTimeout{100};
constexpr std::chrono::milliseconds kFetchRetry{1000};

}  // namespace

namespace membership_internal {

std::shared_ptr<StateSnapshot> MakeSnapshot(uint64_t view_id, uint64_t step, std::span<const float> params,
                                            std::span<const float> optimizer_state, const std::string& meta) {
  auto snapshot = std::make_shared<StateSnapshot>();
  snapshot->view_id = view_id;
  snapshot->step = step;
  snapshot->values.reserve(params.size() + optimizer_state.size());
  snapshot->values.insert(snapshot->values.end(), params.begin(), params.end());
  snapshot->values.insert(snapshot->values.end(), optimizer_state.begin(), optimizer_state.end());
  snapshot->meta = meta;
  snapshot->checksum = StateChecksum(snapshot->values, meta);
  return snapshot;
}

}  // namespace membership_internal

Result<ReconcilePlan> Membership::Impl::Reconcile(uint64_t view_id, uint64_t step, std::span<const float> params,
                                                  std::span<const float> optimizer_state, const std::string& meta,
                                                  std::chrono::milliseconds timeout, StateSnapshot* fetched,
                                                  const std::atomic<bool>* cancel) {
  const std::shared_ptr<StateSnapshot> snapshot = MakeSnapshot(view_id, step, params, optimizer_state, meta);
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

Status Membership::Impl::ViewMovedOn(uint64_t view_id, const char* when) const {
  return Status::Aborted("view " + std::to_string(view_id) + " was replaced by " + installed_.ToString() + " " +
                         when);
}

// `abandon` (called under mu_) says why the transfer cannot complete any
// more (the view moved on, the holders left), or "" to go on; Aborted then.
Result<StateSnapshot> Membership::Impl::Fetch(uint64_t view_id, const ReconcilePlan& plan, uint64_t n_values,
                                              Clock::time_point deadline, std::chrono::milliseconds timeout,
                                              const std::atomic<bool>* cancel,
                                              const std::function<std::string()>& abandon) {
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

void Membership::Impl::SendStateRequests() {
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

void Membership::Impl::HandleStateRequest(const Header& h, const IncomingMessage& msg) {
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

void Membership::Impl::HandleStatePiece(const Header& h, const IncomingMessage& msg) {
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

}  // namespace meshtrain
