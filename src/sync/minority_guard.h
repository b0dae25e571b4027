// A cut-off minority (docs/faults.md, "A cut-off minority waits"): after
// every reconciliation, is the view this peer trains in a primary one (a
// strict majority of the last primary view), or a minority's? A minority
// takes no step for membership.minority_grace_ms, then trains on alone or
// stops (membership.minority); at the last step it waits for the others
// before it ends with a minority's model (exit 3).
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "meshtrain/membership.h"
#include "meshtrain/sync_events.h"

namespace meshtrain {

struct MinorityRules {
  int64_t grace_ms = 0;  // membership.minority_grace_ms, resolved
  int64_t end_wait_ms = 0;  // membership.minority_end_wait_ms, resolved
  bool train_after_grace = true;  // membership.minority = "train"
};

enum class MinorityVerdict {
  kGo,  // a primary view, or the grace is over and it trains alone
  kWait,  // within the grace: no step; wait for a view change and ask again
  kStop,  // the grace is over and membership.minority = "stop"
};

class MinorityGuard {
 public:
  using Clock = std::chrono::steady_clock;
  MinorityGuard(MinorityRules rules, EventSink& events) : rules_(rules), events_(events) {}

  // After every reconciliation: the lineage of the view reconciled.
  void Note(const ReconcilePlan& plan, Clock::time_point now);
  bool in_minority() const { return in_minority_; }

  // Before a step in `active`, at `step`. kStop sets *stop_detail to the reason
  // (the caller checkpoints, shuts down and ends with it).
  MinorityVerdict Check(const View& active, int64_t step, Clock::time_point now, std::string* stop_detail);
  bool stopped() const { return stopped_; }

  // The last step, reached with a minority's state: the wait for the others begins.
  void AnnounceEndWait(const View& active, int64_t step);
  int64_t end_wait_ms() const { return rules_.end_wait_ms; }
  // Nobody came back: the run ends with this minority's model.
  void EndAlone() { ends_alone_ = true; }
  bool ends_alone() const { return ends_alone_; }
  // Event minority_finish: the final checkpoint is written, but it is a minority's model.
  void WriteFinish(const View& active, int64_t step);
  const std::string& finish_detail() const { return finish_detail_; }
  int64_t last_shared_step() const { return last_shared_step_; }

 private:
  std::string MinorityText(const View& view) const;

  MinorityRules rules_;
  EventSink& events_;
  bool in_minority_ = false;  // the last reconciled view holds no majority of the last primary view
  std::vector<std::string> last_primary_members_;  // that last primary view (the lineage's members)
  Clock::time_point since_{};  // when this peer left the primary view
  int64_t last_shared_step_ = 0;  // the step of the state it left the primary view with
  bool waiting_ = false;  // within the grace: no steps
  bool alone_ = false;  // the grace is over: training alone
  bool stopped_ = false;  // the grace is over: stopped
  bool ends_alone_ = false;  // the run ends in a minority view (exit 3)
  std::string finish_detail_;
};

}  // namespace meshtrain
