#include "sync/run_end.h"

#include <algorithm>
#include <chrono>

#include "sync/view_text.h"

namespace meshtrain {

void RunEnd::SayFarewell(const std::atomic<bool>* stop, bool linger) {
  if (!replicas_.elastic()) return;
  const int64_t step = replica_.step();
  const FarewellOutcome out =
      replicas_.Farewell(step, replica_.params(), replica_.optimizer_state(), planner_.Encoded(), linger, stop);
  if (!out.lingered) return;
  const std::string told = JoinIds(out.told);
  std::string missed;
  for (const auto& id : out.awaited) {
    if (std::find(out.told.begin(), out.told.end(), id) == out.told.end()) missed += (missed.empty() ? "" : ", ") + id;
  }
  events_.Announce("farewell",
                   "finished at step " + std::to_string(step) + " with " + JoinIds(out.awaited) + " away" +
                       (told.empty() ? "" : "; " + told + " came back and took the end") +
                       (missed.empty() ? ""
                                       : "; " + missed + " did not come back within membership.farewell_ms = " +
                                             std::to_string(farewell_ms_) + " ms"));
}

std::optional<ClusterEnd> RunEnd::EndedAhead() const {
  std::optional<ClusterEnd> end = replicas_.ClusterFinished();
  if (!end || (static_cast<int64_t>(end->step) <= replica_.step() && !end->supersedes)) return std::nullopt;
  return end;
}

StepGate RunEnd::TakeClusterEnd(const ClusterEnd& end, const std::atomic<bool>* stop) {
  follower_.WriteMembershipEvents();
  const int64_t before = replica_.step();
  const std::string finishers = JoinIds(end.finished);
  const std::string what = "the cluster (" + finishers + ") finished its run at step " + std::to_string(end.step) +
                           " while this peer was away at step " + std::to_string(before);
  events_.Say(what + "; taking its final state");
  const size_t n_values = replica_.params().size() + replica_.optimizer_state().size();
  const auto t0 = std::chrono::steady_clock::now();
  Result<StateSnapshot> fetched = replicas_.FetchFinalState(end, n_values, stop);
  Status adopted = fetched.status();
  if (fetched.ok()) {
    ReconcilePlan from;
    from.target_step = end.step;
    from.sources = end.serving;
    adopted = follower_.Adopt(fetched.value(), from);
  }
  SyncEvent event{"cluster_finished",
                  {{"finished_step", static_cast<int64_t>(end.step)},
                   {"from_step", before},
                   {"sources", end.finished},
                   {"adopted", adopted.ok()}},
                  "",
                  std::nullopt};
  if (stop != nullptr && stop->load() && !adopted.ok()) {
    event.detail = what + "; stopped by a signal before its final state arrived";
    events_.Record(event);
    replicas_.Shutdown();
    return {Gate::kQuit,
            Status::Aborted("stopped by signal at step " + std::to_string(replica_.step()) + " (" + what + ")")};
  }
  if (!adopted.ok()) {
    event.detail = what + "; its final state could not be fetched (" + adopted.message() +
                   "), so this peer stops here rather than train on alone: its checkpoints are not the run's model, "
                   "the final checkpoints of " +
                   finishers + " are";
    events_.Record(event);
    replicas_.Shutdown();
    return {Gate::kQuit, Status::Unavailable(event.detail)};  // printed once, by main, as the reason for exit 1
  }
  follower_.CountStateSync();
  const auto ms =
      static_cast<int64_t>(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() * 1000);
  event.detail = what + "; adopted its final state (" + std::to_string(n_values) + " floats from " +
                 JoinIds(end.serving) + ", checksum verified, " + std::to_string(ms) +
                 " ms) instead of training on alone";
  events_.Record(event);
  events_.Say("cluster_finished: " + event.detail);
  return {Gate::kClusterEnded, Status::OK()};
}

}  // namespace meshtrain
