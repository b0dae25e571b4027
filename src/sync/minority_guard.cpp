#include "sync/minority_guard.h"

#include "meshtrain/metric_names.h"
#include "sync/view_text.h"

namespace meshtrain {

void MinorityGuard::Note(const ReconcilePlan& plan, Clock::time_point now) {
  last_primary_members_ = plan.lineage.members;
  if (plan.primary) {
    in_minority_ = false;
    return;
  }
  if (!in_minority_) {
    in_minority_ = true;
    since_ = now;
    last_shared_step_ = static_cast<int64_t>(plan.target_step);  // the state it left the majority with
  }
}

std::string MinorityGuard::MinorityText(const View& view) const {
  return "view " + ViewText(view) + " holds no majority of the last primary view [" + JoinIds(last_primary_members_) +
         "]";
}

MinorityVerdict MinorityGuard::Check(const View& active, int64_t step, Clock::time_point now,
                                     std::string* stop_detail) {
  if (!in_minority_) {
    if (waiting_ || alone_) {
      events_.Announce(events::kMinorityRejoined,
                       "view " + ViewText(active) + " holds a majority of [" + JoinIds(last_primary_members_) +
                           "] again after " + std::to_string(std::chrono::duration<double>(now - since_).count()) +
                           " s in minority views (" + (alone_ ? "trained alone" : "took no step") + ")");
    }
    waiting_ = alone_ = false;
    return MinorityVerdict::kGo;
  }
  if (alone_) return MinorityVerdict::kGo;
  const int64_t waited_ms = static_cast<int64_t>(std::chrono::duration<double>(now - since_).count() * 1000);
  const std::string grace = std::to_string(rules_.grace_ms);
  switch (DecideMinority(false, waited_ms, rules_.grace_ms, rules_.train_after_grace)) {
    case MinorityAction::kTrain: return MinorityVerdict::kGo;
    case MinorityAction::kWait:
      if (!waiting_) {
        waiting_ = true;
        events_.Announce(events::kMinorityWait, MinorityText(active) + " (at step " + std::to_string(step) +
                                                    "): no steps for up to membership.minority_grace_ms = " + grace +
                                                    " ms while the others may come back");
      }
      return MinorityVerdict::kWait;
    case MinorityAction::kTrainAlone:
      waiting_ = false;
      alone_ = true;
      events_.Announce(events::kMinorityTraining,
                       MinorityText(active) + "; nobody came back within membership.minority_grace_ms = " + grace +
                           " ms, so it trains on in this view from step " + std::to_string(step) +
                           " (membership.minority = \"train\"); if the others come back, their "
                           "state wins and these steps are dropped");
      return MinorityVerdict::kGo;
    case MinorityAction::kStop:
      stopped_ = true;
      *stop_detail = MinorityText(active) + " and nobody came back within membership.minority_grace_ms = " + grace +
                     " ms; membership.minority = \"stop\": stopping at step " + std::to_string(step) +
                     " rather than train on alone (its checkpoint is the state it shared with the others at step " +
                     std::to_string(last_shared_step_) + ", not the run's model)";
      events_.Announce(events::kMinorityStopped, *stop_detail);
      return MinorityVerdict::kStop;
  }
  return MinorityVerdict::kGo;
}

void MinorityGuard::AnnounceEndWait(const View& active, int64_t step) {
  events_.Announce(events::kMinorityEndWait,
                   MinorityText(active) + ": reached the last step " + std::to_string(step) +
                       " without it (last step shared with it: " + std::to_string(last_shared_step_) +
                       "); waiting up to " + "membership.minority_end_wait_ms = " + std::to_string(rules_.end_wait_ms) +
                       " ms for the others before ending with a minority's model");
}

void MinorityGuard::WriteFinish(const View& active, int64_t step) {
  finish_detail_ = "finished the run (step " + std::to_string(step) + ") in a minority: " + MinorityText(active) +
                   ", and the others did not come back within " +
                   "membership.minority_end_wait_ms = " + std::to_string(rules_.end_wait_ms) +
                   " ms; the last step it shared with them is " + std::to_string(last_shared_step_) +
                   ", so its final checkpoint is a minority's model, not necessarily the run's";
  events_.Record({events::kMinorityFinish,
                  {{"last_shared_step", last_shared_step_}, {"last_primary_view", last_primary_members_}},
                  finish_detail_,
                  std::nullopt});
  events_.Say("minority_finish: " + finish_detail_);
}

}  // namespace meshtrain
