// Replica fingerprints (docs/agreement.md, "Replica fingerprints"): ours goes
// out with a heartbeat; once every member of the reconciled view has published
// one for the same step, FingerprintLedger judges them, and a peer outside the
// majority rejoins to copy the majority's state.
#include "membership/membership_impl.h"

#include <algorithm>
#include <optional>

namespace meshtrain {

using membership_internal::ClockIncarnation;
using membership_internal::JoinIds;
using membership_internal::UnixNow;

void Membership::Impl::PublishFingerprint(uint64_t view_id, uint64_t step, uint64_t value) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    fingerprint_ = {view_id, step, value};
    fingerprints_.Record(opt_.self_id, fingerprint_);
    if (JudgeFingerprintsLocked()) RecomputeLocked();
  }
  SendHeartbeats(/*periodic=*/false);  // it goes out now: the next one may come after our next fingerprint
}

std::string Membership::Impl::ReplicaDisagreement() const {
  std::lock_guard<std::mutex> lock(mu_);
  return disagreement_;
}

// Compares the reconciled view's fingerprints once every member's is in
// (FingerprintLedger). True if this peer found itself outside the majority
// and rejoined as a new incarnation (the view must be recomputed).
bool Membership::Impl::JudgeFingerprintsLocked() {
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

}  // namespace meshtrain
