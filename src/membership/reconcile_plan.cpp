// Reconciliation after a view change (DESIGN.md, "Partial completion"): a
// peer may die after some survivors finished a round and before others did,
// so the survivors can be one step apart. The most advanced state wins; ring
// replicas are identical, so copying it is exact.
#include <algorithm>
#include <cstring>

#include "meshtrain/membership.h"

namespace meshtrain {

ReconcilePlan PlanReconcile(const std::map<std::string, ReplicaReport>& reports, const std::string& self) {
  ReconcilePlan plan;
  if (reports.empty()) return plan;
  for (const auto& [id, report] : reports) plan.target_step = std::max(plan.target_step, report.step);
  // Among the most advanced, the state most of them hold is the reference
  // (ring replicas agree; a lone newcomer that happens to be at the same step
  // must not impose its own), ties going to the holder with the lowest id.
  std::map<uint64_t, size_t> holders;
  for (const auto& [id, report] : reports) {
    if (report.step == plan.target_step) ++holders[report.checksum];
  }
  size_t best = 0;
  for (const auto& [id, report] : reports) {  // id order: the first of the largest group wins
    if (report.step != plan.target_step) continue;
    if (holders[report.checksum] > best) {
      best = holders[report.checksum];
      plan.checksum = report.checksum;
    }
  }
  for (const auto& [id, report] : reports) {
    if (report.step == plan.target_step && report.checksum == plan.checksum) plan.sources.push_back(id);
  }
  plan.behind = std::find(plan.sources.begin(), plan.sources.end(), self) == plan.sources.end();
  return plan;
}

// FNV-1a over 64-bit words with a final mix: fast (memory speed for a few MB)
// and sensitive to every bit of every float.
uint64_t StateChecksum(std::span<const float> values, std::string_view meta) {
  uint64_t h = 0xcbf29ce484222325ULL;
  const auto mix = [&h](uint64_t word) {
    h ^= word;
    h *= 0x100000001b3ULL;
    h ^= h >> 29;
  };
  size_t i = 0;
  for (; i + 2 <= values.size(); i += 2) {
    uint64_t word;
    std::memcpy(&word, values.data() + i, sizeof(word));
    mix(word);
  }
  if (i < values.size()) {
    uint32_t last;
    std::memcpy(&last, values.data() + i, sizeof(last));
    mix(last);
  }
  mix(values.size());
  for (unsigned char c : meta) mix(c);
  mix(meta.size());
  return h;
}

}  // namespace meshtrain
