// membership.quorum (docs/membership.md, "Quorum"): in a view with too few
// live members this peer takes no step, so a minority cut off from the rest
// neither runs ahead nor finishes the run alone; training resumes in the
// first view big enough.
#pragma once

#include <chrono>
#include <cstdint>

#include "meshtrain/membership.h"
#include "meshtrain/status.h"
#include "meshtrain/sync_events.h"

namespace meshtrain {

enum class QuorumVerdict {
  kGo,  // the view has the quorum (or none is set)
  kWait,  // no step: wait for a view change and ask again
  kTimeout,  // no quorum within membership.quorum_timeout_ms
};

class QuorumGuard {
 public:
  using Clock = std::chrono::steady_clock;
  QuorumGuard(int64_t timeout_ms, EventSink& events) : timeout_ms_(timeout_ms), events_(events) {}

  // `active`: the view training runs in; `quorum`: the live members it needs.
  // kTimeout sets *timeout to the failure to report.
  QuorumVerdict Check(bool has_quorum, size_t quorum, const View& active, Clock::time_point now, Status* timeout);

 private:
  int64_t timeout_ms_;  // membership.quorum_timeout_ms; 0: wait as long as it takes
  EventSink& events_;
  bool lost_ = false;
  Clock::time_point lost_at_{};
};

}  // namespace meshtrain
