#include "sync/replica_strategy.h"

namespace meshtrain {
namespace {

// How long a waiting peer sleeps on the view before it looks at signals again.
constexpr std::chrono::milliseconds kViewPoll(200);

}  // namespace

ReplicaStrategy::ReplicaStrategy(StrategySetup setup)
    : replicas_(std::move(setup.replicas)),
      replica_(*setup.replica),
      events_(*setup.events),
      cluster_ids_(std::move(setup.cluster_ids)),
      compat_(std::move(setup.compat)),
      checkpoint_dir_(std::move(setup.checkpoint_dir)),
      planner_(std::move(setup.schedule), events_),
      minority_(setup.minority, events_),
      quorum_(setup.quorum_timeout_ms, events_),
      follower_(*replicas_, planner_, minority_, replica_, events_, std::move(setup.follower)),
      run_end_(*replicas_, follower_, planner_, replica_, events_, setup.farewell_ms) {}

Status ReplicaStrategy::Start(const std::atomic<bool>* stop, const DataParallel::WaitReport& report) {
  return replicas_->Start(stop, report);
}

void ReplicaStrategy::BeginPlan(int64_t step, int64_t steps_per_epoch) {
  planner_.Begin(cluster_ids_, step, steps_per_epoch, static_cast<int64_t>(cluster_ids_.size()), compat_);
}

StepGate ReplicaStrategy::BeforeStep(const std::atomic<bool>* stop) {
  if (replicas_->elastic()) {  // docs/membership.md: follow the view, reconcile after a change
    if (std::optional<ClusterEnd> end = run_end_.EndedAhead()) return TakeClusterEnd(*end, stop);
    Status st = FollowMembership(stop);
    if (st.code() == Status::Code::kAborted) return {Gate::kComeBack, Status::OK()};  // the view moved on again
    if (!st.ok()) return {minority_.stopped() ? Gate::kQuit : Gate::kFail, st};
    // Took over the state of peers that had finished.
    if (replica_.step() >= planner_.total_steps()) return {Gate::kComeBack, Status::OK()};
  }
  if (replica_.step() >= planner_.plan().end_step()) {
    Status st = planner_.StartNextEpoch([this](const EpochPlan& plan) { return replica_.LoadShard(plan); });
    if (!st.ok()) return {Gate::kFail, st};
  }
  return {Gate::kStep, Status::OK()};
}

// The last step, reached in a minority view (or after one, without a primary
// view since): the others may still be training, cut off from this peer. It
// waits up to membership.minority_end_wait_ms for them; back in a primary
// view, it takes the majority's state and trains on with it; a majority that
// finished meanwhile hands it its final state; nobody: it ends alone.
StepGate ReplicaStrategy::AtLastStep(const std::atomic<bool>* stop) {
  if (!replicas_->elastic() || !minority_.in_minority()) return {Gate::kFinish, Status::OK()};
  const auto deadline = Clock::now() + std::chrono::milliseconds(minority_.end_wait_ms());
  minority_.AnnounceEndWait(replicas_->active_view(), replica_.step());
  for (;;) {
    if (stop && stop->load()) return {Gate::kSignal, Status::OK()};
    if (std::optional<ClusterEnd> end = run_end_.EndedAhead()) return TakeClusterEnd(*end, stop);
    replicas_->SetProgress(replica_.step());
    follower_.WriteMembershipEvents();
    const View view = replicas_->current_view();
    if (view.id != follower_.reconciled_view()) {
      Status st = follower_.Reconcile(view, stop);
      if (st.code() == Status::Code::kAborted) continue;
      if (!st.ok()) return {Gate::kFail, st};
      if (!minority_.in_minority()) {
        static_cast<void>(CheckMinority());  // logs minority_rejoined; no wait in a primary view
        return {Gate::kComeBack, Status::OK()};  // back with the majority: on to the end with it
      }
      // Others came back, still a minority together, and behind: train on
      // with them (and wait again at the end).
      if (replica_.step() < planner_.total_steps()) return {Gate::kComeBack, Status::OK()};
    }
    if (Clock::now() >= deadline) {
      minority_.EndAlone();  // nobody came back: end with this minority's model, and say so
      return {Gate::kFinish, Status::OK()};
    }
    replicas_->WaitForViewChange(view.id, kViewPoll);
  }
}

StepGate ReplicaStrategy::TakeClusterEnd(const ClusterEnd& end, const std::atomic<bool>* stop) {
  StepGate gate = run_end_.TakeClusterEnd(end, stop);
  cluster_end_taken_ = gate.gate == Gate::kClusterEnded;
  return gate;
}

// Between steps: tells membership our step, writes its events, and after a
// view change reconciles with the members of the new view. Aborted if the
// view moved on meanwhile, or while a quorum or the majority is awaited.
Status ReplicaStrategy::FollowMembership(const std::atomic<bool>* stop) {
  replicas_->SetProgress(replica_.step());
  follower_.WriteMembershipEvents();
  if (std::string why = replicas_->ReplicaDisagreement(); !why.empty()) {
    // The replicas differ and no majority holds one state: no checkpoint of
    // this one is written. One written since the last check that agreed may
    // already hold the difference, which only a person can judge.
    replicas_->Shutdown();
    return Status::Corruption(why + "; stopping at step " + std::to_string(replica_.step()) +
                              " without a checkpoint of this state (resume from one in " + checkpoint_dir_ +
                              " taken at or before the last fingerprint check that agreed)");
  }
  const View view = replicas_->current_view();
  if (view.id != follower_.reconciled_view()) MESHTRAIN_RETURN_IF_ERROR(follower_.Reconcile(view, stop));
  MESHTRAIN_RETURN_IF_ERROR(CheckQuorum());
  return CheckMinority();
}

Status ReplicaStrategy::CheckQuorum() {
  const View view = replicas_->active_view();
  Status timeout;
  switch (quorum_.Check(replicas_->has_quorum(), replicas_->quorum(), view, Clock::now(), &timeout)) {
    case QuorumVerdict::kGo: return Status::OK();
    case QuorumVerdict::kTimeout: return timeout;
    case QuorumVerdict::kWait: break;
  }
  replicas_->WaitForViewChange(view.id, kViewPoll);
  return Status::Aborted("waiting for a quorum");
}

Status ReplicaStrategy::CheckMinority() {
  const View view = replicas_->active_view();
  std::string stop_detail;
  switch (minority_.Check(view, replica_.step(), Clock::now(), &stop_detail)) {
    case MinorityVerdict::kGo: return Status::OK();
    case MinorityVerdict::kWait:
      replicas_->WaitForViewChange(view.id, kViewPoll);
      return Status::Aborted("waiting for the majority");
    case MinorityVerdict::kStop: break;
  }
  MESHTRAIN_RETURN_IF_ERROR(replica_.SaveUnsaved());
  replicas_->Shutdown();
  return Status::Unavailable(stop_detail);
}

Status ReplicaStrategy::Timed(const std::function<Status()>& call) {
  const auto t0 = Clock::now();
  Status st = call();
  sync_seconds_ += std::chrono::duration<double>(Clock::now() - t0).count();
  return st;
}

Result<RoundResult> ReplicaStrategy::Round(const std::function<Status()>& call, bool marks_view_ready) {
  Status st = Timed(call);
  if (st.code() == Status::Code::kAborted && replicas_->elastic()) {
    follower_.RoundAborted(st);
    return RoundResult::kRedoStep;
  }
  if (!st.ok()) return st;
  if (marks_view_ready) follower_.RoundDone();
  return RoundResult::kDone;
}

Result<RoundResult> ReplicaStrategy::AfterBackward(std::span<float>, int64_t, double*, int64_t) {
  return RoundResult::kDone;  // gradients stay local
}

Status ReplicaStrategy::AfterUpdate(int64_t) {
  // A dead peer's shard is not silently lost: every step it sits out is counted.
  if (replicas_->elastic()) planner_.CountMissingShards(replicas_->active_view());
  return Status::OK();
}

// Taken in the reconciled view, after the step's update: every ring replica
// of that view holds exactly the same bits here (docs/agreement.md).
void ReplicaStrategy::VerifyReplica(int64_t step) {
  if (!replicas_->verifies_replicas_after(step)) return;
  const auto t0 = Clock::now();
  const uint64_t fingerprint = StateFingerprint(replica_.params(), replica_.optimizer_state());
  fingerprint_s_ += std::chrono::duration<double>(Clock::now() - t0).count();
  ++fingerprints_;
  replicas_->PublishFingerprint(follower_.reconciled_view(), step, fingerprint);
}

void ReplicaStrategy::AgreeAtEnd(int64_t) {}

void ReplicaStrategy::Leave(const std::atomic<bool>* stop) {
  elastic_at_end_ = cluster_end_taken_ || replicas_->elastic();
  final_view_ = replicas_->view();
  if (cluster_end_taken_) {
    run_end_.SayFarewell(stop, /*linger=*/false);
  } else if (minority_.ends_alone()) {
    minority_.WriteFinish(replicas_->active_view(), replica_.step());
    run_end_.SayFarewell(stop, /*linger=*/false);  // its goodbye ranks below the majority's: nobody takes it as the end
  } else {
    replicas_->Finish(replica_.step(), stop);  // leave only once the others are done too
    run_end_.SayFarewell(stop, /*linger=*/true);
  }
}

SyncSummary ReplicaStrategy::summary() const {
  SyncSummary out;
  out.final_view = final_view_;
  out.minority = minority_.ends_alone();
  out.minority_detail = minority_.finish_detail();
  if (elastic_at_end_) {
    out.membership = {{"view", final_view_},
                      {"view_changes", follower_.view_changes()},
                      {"rounds_aborted", follower_.rounds_aborted()},
                      {"state_syncs", follower_.state_syncs()},
                      {"missing_shard_steps", planner_.missing_shard_steps()}};
    if (minority_.ends_alone()) {
      out.membership.push_back({"minority", true});
      out.membership.push_back({"last_shared_step", minority_.last_shared_step()});
    }
    if (fingerprints_ > 0) {
      out.membership.push_back({"fingerprints", fingerprints_});
      out.membership.push_back({"fingerprint_s", fingerprint_s_});
    }
  }
  AddSummaryFields(&out.strategy);
  return out;
}

}  // namespace meshtrain
