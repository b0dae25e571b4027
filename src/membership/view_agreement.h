// Agreeing on the next view without a coordinator. Every peer proposes the
// live set it sees (itself included) under a view id, and installs the
// proposal once every member of it proposes exactly the same (id, members).
// The id of a new set is one more than any view its members have installed,
// raised to the highest id any member proposes for the same set, so the
// proposals of peers that see the same live set converge to one id. Views
// only move forward. Pure logic: the membership thread feeds it what the
// latest heartbeats said.
#pragma once

#include <map>
#include <optional>
#include <string>

#include "meshtrain/membership.h"

namespace meshtrain::membership_internal {

// What one live peer said about views in its latest heartbeat.
struct PeerViews {
  uint64_t incarnation = 0;
  View installed;
  View proposal;
};

struct AgreementInput {
  std::string self;
  uint64_t self_incarnation = 0;
  View installed;                          // our own
  View previous_proposal;                  // what we proposed last time
  std::map<std::string, PeerViews> live;   // every peer we consider alive (not us)
};

struct AgreementResult {
  View proposal;                // what to propose now
  std::optional<View> install;  // set when every member proposes it (and it is new)
};

AgreementResult Agree(const AgreementInput& in);

}  // namespace meshtrain::membership_internal
