#include "membership/view_agreement.h"

#include <algorithm>

namespace meshtrain::membership_internal {

AgreementResult Agree(const AgreementInput& in) {
  std::vector<ViewMember> alive;
  alive.push_back({in.self, in.self_incarnation});
  for (const auto& [id, peer] : in.live) alive.push_back({id, peer.incarnation});
  std::sort(alive.begin(), alive.end());

  // A set we have installed keeps its id; a new one needs a higher id than any
  // view its members installed with other members, and the highest id any of
  // them already proposes (or installed) for exactly this set.
  uint64_t id = in.installed.members == alive ? in.installed.id : in.installed.id + 1;
  for (const auto& [peer_id, peer] : in.live) {
    id = std::max(id, peer.installed.members == alive ? peer.installed.id : peer.installed.id + 1);
    if (peer.proposal.members == alive) id = std::max(id, peer.proposal.id);
  }
  if (in.previous_proposal.members == alive) id = std::max(id, in.previous_proposal.id);

  AgreementResult out;
  out.proposal.id = id;
  out.proposal.members = std::move(alive);
  if (out.proposal == in.installed) return out;
  for (const auto& [peer_id, peer] : in.live) {
    if (!(peer.proposal == out.proposal)) return out;
  }
  out.install = out.proposal;
  return out;
}

}  // namespace meshtrain::membership_internal
