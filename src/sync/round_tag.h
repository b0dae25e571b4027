// The tag of one collective: (view_id, round), compared in that order. A
// message of an older tag than the collective running now is stale; one of a
// newer tag is early and waits in the stash.
#pragma once

#include <compare>
#include <cstdint>
#include <string>

namespace meshtrain {

struct RoundTag {
  uint64_t view = 0;
  uint64_t round = 0;
  auto operator<=>(const RoundTag&) const = default;
  std::string ToString() const { return "view " + std::to_string(view) + ", round " + std::to_string(round); }
};

}  // namespace meshtrain
