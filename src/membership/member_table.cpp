#include "membership/member_table.h"

#include <algorithm>

namespace meshtrain::membership_internal {

MemberRecord& MemberTable::Add(const std::string& id, const std::string& endpoint, bool is_static) {
  MemberRecord& rec = members_[id];
  if (rec.endpoint.empty() || is_static) rec.endpoint = endpoint;
  rec.is_static = rec.is_static || is_static;
  return rec;
}

MemberRecord* MemberTable::Find(const std::string& id) {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second;
}

const MemberRecord* MemberTable::Find(const std::string& id) const {
  auto it = members_.find(id);
  return it == members_.end() ? nullptr : &it->second;
}

std::vector<MemberChange> MemberTable::OnHeartbeat(const std::string& from, const Heartbeat& hb,
                                                   Clock::time_point now, uint64_t self_incarnation, bool* evicted,
                                                   size_t self_view_size) {
  std::vector<MemberChange> changes;
  *evicted = false;
  if (from == self_id_) return changes;
  // A sender we buried, in a smaller view than ours: the cut-off side. Its
  // verdict on us would make the larger side come back as new incarnations
  // too (each a view change and a reconnect for everyone); it comes back instead.
  const MemberRecord* known = Find(from);
  const bool buried = known != nullptr && hb.incarnation <= known->dead_incarnation;
  const bool minority = buried && hb.installed.members.size() < self_view_size;
  for (const TableEntry& e : hb.table) {
    if (e.id == self_id_) {
      if ((e.state == MemberState::kDead || e.state == MemberState::kLeft) && e.incarnation >= self_incarnation &&
          !minority) {
        *evicted = true;
      }
      continue;
    }
    if (e.endpoint.empty() || members_.count(e.id) != 0) continue;
    Add(e.id, e.endpoint, false);
    changes.push_back({MemberChange::Kind::kDiscovered, e.id, 0});
  }

  MemberRecord* rec = Find(from);
  if (rec == nullptr) {
    rec = &Add(from, hb.endpoint, false);
    changes.push_back({MemberChange::Kind::kDiscovered, from, 0});
  } else if (!rec->is_static && !hb.endpoint.empty() && rec->endpoint != hb.endpoint) {
    rec->endpoint = hb.endpoint;  // a newcomer that came back on another port
    changes.push_back({MemberChange::Kind::kDiscovered, from, 0});
  }
  if (hb.finished && hb.incarnation >= rec->incarnation) {
    rec->finished = true;
    rec->finished_report = hb.report;
    rec->last_farewell = now;
  }
  if (hb.incarnation < rec->incarnation || hb.incarnation <= rec->dead_incarnation) return changes;  // an old self

  const bool was_live = rec->live() && rec->incarnation == hb.incarnation;
  const bool returning = rec->heard && !was_live;
  rec->incarnation = hb.incarnation;
  rec->heard = true;
  rec->last_heard = now;
  rec->step = hb.step;
  rec->started = hb.started;
  rec->installed = hb.installed;
  rec->proposal = hb.proposal;
  rec->report = hb.report;
  if (hb.leaving) {
    if (std::optional<MemberChange> left = OnLeave(from)) {
      if (hb.finished) {
        left->kind = MemberChange::Kind::kFinished;
        left->step = hb.step;
      }
      changes.push_back(*left);
    }
    return changes;
  }
  rec->state = MemberState::kAlive;
  if (!was_live) changes.push_back({MemberChange::Kind::kJoined, from, 0, returning});
  return changes;
}

void MemberTable::OnTraffic(const std::string& from, Clock::time_point now) {
  MemberRecord* rec = Find(from);
  if (rec == nullptr || !rec->live()) return;
  rec->last_heard = now;
  rec->state = MemberState::kAlive;
}

std::vector<std::string> MemberTable::WithdrawVerdicts() {
  std::vector<std::string> out;
  for (auto& [id, rec] : members_) {
    if (rec.state != MemberState::kDead || rec.dead_incarnation != rec.incarnation || rec.incarnation == 0) continue;
    rec.state = MemberState::kSuspect;
    rec.dead_incarnation = 0;
    rec.heard = false;  // not live until it is heard again
    out.push_back(id);
  }
  return out;
}

std::optional<MemberChange> MemberTable::OnLeave(const std::string& id) {
  MemberRecord* rec = Find(id);
  if (rec == nullptr || !rec->live()) return std::nullopt;
  rec->state = MemberState::kLeft;
  rec->dead_incarnation = rec->incarnation;
  return MemberChange{MemberChange::Kind::kLeft, id, 0};
}

std::vector<MemberChange> MemberTable::Tick(Clock::time_point now, std::chrono::milliseconds suspect,
                                            std::chrono::milliseconds dead, const std::vector<std::string>& spared) {
  std::vector<MemberChange> changes;
  for (auto& [id, rec] : members_) {
    if (!rec.live()) continue;
    if (std::find(spared.begin(), spared.end(), id) != spared.end()) continue;
    const auto silence = now - rec.last_heard;
    const double silence_s = std::chrono::duration<double>(silence).count();
    if (silence >= dead) {
      rec.state = MemberState::kDead;
      rec.dead_incarnation = rec.incarnation;
      changes.push_back({MemberChange::Kind::kDead, id, silence_s});
    } else if (silence >= suspect && rec.state == MemberState::kAlive) {
      rec.state = MemberState::kSuspect;
      changes.push_back({MemberChange::Kind::kSuspect, id, silence_s});
    }
  }
  return changes;
}

void MemberTable::Grace(Clock::time_point now) {
  for (auto& [id, rec] : members_) {
    if (rec.live()) {
      rec.last_heard = now;
      rec.state = MemberState::kAlive;
    }
  }
}

std::map<std::string, PeerViews> MemberTable::LiveViews() const {
  std::map<std::string, PeerViews> out;
  for (const auto& [id, rec] : members_) {
    if (rec.live()) out[id] = PeerViews{rec.incarnation, rec.installed, rec.proposal};
  }
  return out;
}

std::vector<TableEntry> MemberTable::Entries(const TableEntry& self) const {
  std::vector<TableEntry> out;
  out.reserve(members_.size() + 1);
  out.push_back(self);
  for (const auto& [id, rec] : members_) {
    if (rec.incarnation == 0 && !rec.heard) continue;  // nothing to tell about a peer never heard
    out.push_back({id, rec.endpoint, rec.incarnation, rec.state, rec.step});
  }
  return out;
}

}  // namespace meshtrain::membership_internal
