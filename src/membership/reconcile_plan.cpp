// Reconciliation after a view change (docs/faults.md, "The rule: abort, agree, reconcile, redo"): a
// peer may die after some survivors finished a round and before others did,
// so the survivors can be one step apart. The most advanced state wins; ring
// replicas are identical, so copying it is exact.
//
// Partitions (docs/membership.md, "Partitions"): each side of a split forms
// its own view and may train on. "The highest step wins" alone would hand the
// merged cluster to whichever side ran fastest, typically a peer cut off
// alone (no network cost). So states are ranked by lineage first: the latest
// primary view (one holding a strict majority of the previous primary's
// members) they went through, and whether they left it for a minority view
// since. Ranking by the size of the last view instead would let a paused
// peer's stale state (last seen in the full view) beat the survivors that
// went on without it.
#include <algorithm>
#include <cstring>
#include <tuple>

#include "meshtrain/membership.h"

namespace meshtrain {
namespace {

// Larger is better: a state not known to be wrong, the latest primary
// lineage, then one that stayed in it, then the step.
std::tuple<bool, uint64_t, bool, uint64_t> Rank(const ReplicaReport& r) {
  return {!r.suspect, r.lineage.primary, !r.lineage.off_primary, r.step};
}

// True if `view` holds a strict majority of `last_primary`'s members (or
// there was none yet: the first view a state is reconciled in counts).
bool HoldsMajorityOf(const std::map<std::string, ReplicaReport>& view, const std::vector<std::string>& last_primary) {
  if (last_primary.empty()) return true;
  size_t present = 0;
  for (const std::string& id : last_primary) present += view.count(id);
  return 2 * present > last_primary.size();
}

}  // namespace

ReconcilePlan PlanReconcile(const std::map<std::string, ReplicaReport>& reports, const std::string& self) {
  ReconcilePlan plan;
  if (reports.empty()) return plan;
  auto best = Rank(reports.begin()->second);
  for (const auto& [id, report] : reports) best = std::max(best, Rank(report));
  // Among the best ranked, the state most of them hold is the reference
  // (ring replicas agree; a lone newcomer that happens to be at the same step
  // must not impose its own), ties going to the holder with the lowest id.
  std::map<uint64_t, size_t> holders;
  for (const auto& [id, report] : reports) {
    if (Rank(report) == best) ++holders[report.checksum];
  }
  size_t most = 0;
  const ReplicaReport* reference = nullptr;
  for (const auto& [id, report] : reports) {  // id order: the first of the largest group wins
    if (Rank(report) != best) continue;
    if (holders[report.checksum] > most) {
      most = holders[report.checksum];
      reference = &report;
    }
  }
  plan.target_step = reference->step;
  plan.checksum = reference->checksum;
  for (const auto& [id, report] : reports) {
    if (report.step == plan.target_step && report.checksum == plan.checksum) plan.sources.push_back(id);
  }
  plan.behind = std::find(plan.sources.begin(), plan.sources.end(), self) == plan.sources.end();
  // What the state's lineage becomes once this view is reconciled: every
  // member computes the same from the same reports.
  plan.primary = HoldsMajorityOf(reports, reference->lineage.members);
  if (plan.primary) {
    plan.lineage.primary = reference->lineage.primary + 1;
    for (const auto& [id, report] : reports) plan.lineage.members.push_back(id);
  } else {
    plan.lineage = reference->lineage;
    plan.lineage.off_primary = true;
  }
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
