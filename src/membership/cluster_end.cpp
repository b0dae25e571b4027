#include "membership/cluster_end.h"

#include <tuple>

namespace meshtrain::membership_internal {

std::optional<ClusterEnd> FindClusterEnd(const MemberTable& table, const Lineage& lineage, uint64_t step,
                                         std::chrono::milliseconds dead, Clock::time_point now) {
  // The most authoritative end: the latest primary lineage, one that never
  // left the primary view, then the latest step.
  const auto rank = [](const ReplicaReport& r) {
    return std::make_tuple(r.lineage.primary, !r.lineage.off_primary, r.step);
  };
  // A state that went through a minority view since its last primary one
  // (a peer cut off, or the last one standing) yields to an end that did
  // not, even at the same step: the minority's own "final" model is not the run's.
  const auto supersedes = [&lineage](const ReplicaReport& r) {
    return lineage.off_primary && std::make_tuple(r.lineage.primary, !r.lineage.off_primary) >
                                      std::make_tuple(lineage.primary, !lineage.off_primary);
  };
  const ReplicaReport* best = nullptr;
  for (const auto& [id, rec] : table.all()) {
    if (!rec.finished) continue;
    const ReplicaReport& r = rec.finished_report;
    // An end whose lineage ranks below ours (fewer primary views, or a
    // minority's at the same count) is not the run's end.
    if (std::make_tuple(r.lineage.primary, !r.lineage.off_primary) <
        std::make_tuple(lineage.primary, !lineage.off_primary)) {
      continue;
    }
    if (r.step <= step && !supersedes(r)) continue;
    if (best == nullptr || rank(r) > rank(*best)) best = &r;
  }
  if (best == nullptr) return std::nullopt;
  ClusterEnd end;
  end.supersedes = supersedes(*best);
  end.step = best->step;
  end.view_id = best->view_id;
  end.checksum = best->checksum;
  for (const auto& [id, rec] : table.all()) {
    const ReplicaReport& r = rec.finished_report;
    if (!rec.finished || r.step != end.step || r.view_id != end.view_id || r.checksum != end.checksum) continue;
    end.finished.push_back(id);
    if (now - rec.last_farewell < dead) end.serving.push_back(id);
  }
  return end;
}

std::vector<std::string> AwayAtEnd(const MemberTable& table, uint64_t step) {
  std::vector<std::string> away;
  for (const auto& [id, rec] : table.all()) {
    if (!rec.is_static && !rec.heard) continue;
    if (rec.finished || (rec.live() && rec.step >= step)) continue;
    away.push_back(id);
  }
  return away;
}

}  // namespace meshtrain::membership_internal
