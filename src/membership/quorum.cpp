// membership.quorum as a count (docs/membership.md, "Quorum"): how many live
// members a view needs before its peers may take steps.
#include <charconv>
#include <string>

#include "meshtrain/membership.h"

namespace meshtrain {

Result<size_t> QuorumSize(std::string_view setting, size_t cluster_peers) {
  if (setting == "off") return size_t{0};
  if (setting == "majority") return cluster_peers / 2 + 1;
  size_t n = 0;
  const char* end = setting.data() + setting.size();
  const auto [ptr, ec] = std::from_chars(setting.data(), end, n);
  if (setting.empty() || ec != std::errc() || ptr != end) {
    return Status::InvalidArgument("membership.quorum = \"" + std::string(setting) +
                                   "\": expected \"off\", \"majority\" or a number of peers (0 = off)");
  }
  return n;
}

}  // namespace meshtrain
