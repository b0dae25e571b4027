#include "sync/quorum_guard.h"

#include <string>

#include "meshtrain/metric_names.h"
#include "sync/view_text.h"

namespace meshtrain {

QuorumVerdict QuorumGuard::Check(bool has_quorum, size_t quorum, const View& active, Clock::time_point now,
                                 Status* timeout) {
  const double seconds_lost = std::chrono::duration<double>(now - lost_at_).count();
  if (has_quorum) {
    if (lost_) {
      lost_ = false;
      events_.Announce(events::kQuorumRegained, "view " + ViewText(active) + " has the quorum of " +
                                                    std::to_string(quorum) + " after " + std::to_string(seconds_lost) +
                                                    " s without it");
    }
    return QuorumVerdict::kGo;
  }
  if (!lost_) {
    lost_ = true;
    lost_at_ = now;
    events_.Announce(events::kQuorumLost,
                     "view " + ViewText(active) + " has " + std::to_string(active.members.size()) + " of the " +
                         std::to_string(quorum) +
                         " live members membership.quorum needs; no steps until it has them again");
  }
  if (timeout_ms_ > 0 &&
      std::chrono::duration<double>(now - lost_at_).count() * 1000 >= static_cast<double>(timeout_ms_)) {
    *timeout = Status::Timeout("no quorum (" + std::to_string(quorum) + " live members) within " +
                               "membership.quorum_timeout_ms = " + std::to_string(timeout_ms_) + " ms; last view " +
                               ViewText(active));
    return QuorumVerdict::kTimeout;
  }
  return QuorumVerdict::kWait;
}

}  // namespace meshtrain
