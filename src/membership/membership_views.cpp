// Proposing and installing views (docs/membership.md, "Views"): the rule is
// Agree (view_agreement.cpp); here it runs on this peer's table and an agreed
// view is installed, with its view_change event.
#include "membership/membership_impl.h"

#include <algorithm>

namespace meshtrain {

using membership_internal::Agree;
using membership_internal::AgreementInput;
using membership_internal::UnixNow;

namespace {

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

// Runs the agreement; true if our proposal or installed view changed.
bool Membership::Impl::RecomputeLocked() {
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

void Membership::Impl::InstallLocked(const View& v) {
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

}  // namespace meshtrain
