// membership.quorum as a count (docs/membership.md, "Quorum"): how many live
// members a view needs before its peers may take steps.
#include <algorithm>
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

Result<int64_t> MinorityMillis(std::string_view key, std::string_view setting, int64_t automatic) {
  if (setting == "auto") return automatic;
  int64_t ms = 0;
  const char* end = setting.data() + setting.size();
  const auto [ptr, ec] = std::from_chars(setting.data(), end, ms);
  if (setting.empty() || ec != std::errc() || ptr != end || ms < 0) {
    return Status::InvalidArgument(std::string(key) + " = \"" + std::string(setting) +
                                   "\": expected \"auto\" or a number of milliseconds (0 = none)");
  }
  return ms;
}

int64_t AutoMinorityGraceMs(int64_t dead_ms) { return std::max<int64_t>(10000, 5 * dead_ms); }

MinorityAction DecideMinority(bool primary, int64_t waited_ms, int64_t grace_ms, bool train_after_grace) {
  if (primary) return MinorityAction::kTrain;
  if (waited_ms < grace_ms) return MinorityAction::kWait;
  return train_after_grace ? MinorityAction::kTrainAlone : MinorityAction::kStop;
}

}  // namespace meshtrain
