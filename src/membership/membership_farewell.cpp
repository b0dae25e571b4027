// The end of a run (docs/membership.md, "The end of a run"): waiting for the
// others at the last step, the goodbye that says "finished at step S", the
// farewell window for peers that were away, and, on a late peer, taking the
// end the others reached.
#include "membership/membership_impl.h"

#include <algorithm>
#include <thread>

#include "membership/cluster_end.h"

namespace meshtrain {

using membership_internal::AwayAtEnd;
using membership_internal::EncodeHeartbeat;
using membership_internal::FindClusterEnd;
using membership_internal::HeartbeatHeader;
using membership_internal::JoinIds;
using membership_internal::MakeSnapshot;

namespace {

constexpr int kLateGoodbyeRepeats = 3;  // goodbyes after the first, from a peer that took the end late

}  // namespace

bool Membership::Impl::Finish(uint64_t step, std::chrono::milliseconds timeout, const std::atomic<bool>* stop) {
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

void Membership::Impl::Leave() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (leaving_) return;
    leaving_ = true;
  }
  SendGoodbyes(std::chrono::milliseconds(20));  // best effort, like Bye
}

FarewellOutcome Membership::Impl::Farewell(uint64_t step, std::span<const float> params,
                                           std::span<const float> optimizer_state, const std::string& meta,
                                           std::chrono::milliseconds window, const std::atomic<bool>* cancel) {
  // The view is set below, under the lock: the one our report names.
  const std::shared_ptr<StateSnapshot> snapshot = MakeSnapshot(0, step, params, optimizer_state, meta);
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
    out.awaited = AwayAtEnd(table_, step);
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

std::optional<ClusterEnd> Membership::Impl::ClusterFinished() const {
  std::lock_guard<std::mutex> lock(mu_);
  if (finished_) return std::nullopt;
  return FindClusterEnd(table_, lineage_, step_, std::chrono::milliseconds(opt_.timing.dead_ms), Clock::now());
}

Result<StateSnapshot> Membership::Impl::FetchFinalState(const ClusterEnd& end, uint64_t n_values,
                                                        std::chrono::milliseconds timeout,
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

// A heartbeat saying we leave (and, after Farewell, that we finished) to
// every peer we know, live or not: a paused peer reads it when it wakes.
void Membership::Impl::SendGoodbyes(std::chrono::milliseconds timeout) {
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

}  // namespace meshtrain
