#include <algorithm>

#include "meshtrain/membership.h"

namespace meshtrain {

const char* ToString(MemberState state) {
  switch (state) {
    case MemberState::kAlive: return "alive";
    case MemberState::kSuspect: return "suspect";
    case MemberState::kDead: return "dead";
    case MemberState::kLeft: return "left";
  }
  return "?";
}

std::vector<std::string> View::ids() const {
  std::vector<std::string> out;
  out.reserve(members.size());
  for (const ViewMember& m : members) out.push_back(m.id);
  return out;
}

bool View::Contains(const std::string& peer) const {
  return std::any_of(members.begin(), members.end(), [&](const ViewMember& m) { return m.id == peer; });
}

std::string View::ToString() const {
  std::string s = "view " + std::to_string(id) + " [";
  for (size_t i = 0; i < members.size(); ++i) s += (i ? ", " : "") + members[i].id;
  return s + "]";
}

}  // namespace meshtrain
