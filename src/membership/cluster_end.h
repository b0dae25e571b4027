// The end of a run as seen from the member table (docs/membership.md, "The
// end of a run"): which end peers that finished announced and this peer must
// take, and who was away when this peer finished. Pure: times are passed in.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "membership/member_table.h"
#include "meshtrain/membership.h"

namespace meshtrain::membership_internal {

// The end announced by finished peers that this peer, whose state has
// `lineage` at `step`, must take: not below its lineage, and beyond its step
// unless it supersedes a minority's state; the most authoritative of them
// (the latest primary lineage, one that never left the primary view, then the
// latest step). Its `serving` peers are those heard saying goodbye within `dead`.
std::optional<ClusterEnd> FindClusterEnd(const MemberTable& table, const Lineage& lineage, uint64_t step,
                                         std::chrono::milliseconds dead, Clock::time_point now);

// Peers that were away when this peer finished at `step`: every peer it knows
// that neither finished nor is live at `step` (about to finish with it).
std::vector<std::string> AwayAtEnd(const MemberTable& table, uint64_t step);

}  // namespace meshtrain::membership_internal
