// How views and peer lists read in events and messages: "3 [p0, p1, p3]".
#pragma once

#include <string>
#include <vector>

#include "meshtrain/membership.h"

namespace meshtrain {

inline std::string JoinIds(const std::vector<std::string>& ids) {
  std::string out;
  for (const auto& id : ids) out += (out.empty() ? "" : ", ") + id;
  return out;
}

inline std::string ViewText(const View& view) { return std::to_string(view.id) + " [" + JoinIds(view.ids()) + "]"; }

}  // namespace meshtrain
