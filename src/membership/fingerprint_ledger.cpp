#include "membership/fingerprint_ledger.h"

#include <algorithm>

namespace meshtrain::membership_internal {
namespace {

template <typename Map, typename Key>
std::optional<uint64_t> Find(const Map& map, const Key& key) {
  const auto it = map.find(key);
  if (it == map.end()) return std::nullopt;
  return it->second;
}

}  // namespace

void FingerprintLedger::Record(const std::string& peer, const ReplicaFingerprint& fp) {
  if (fp.view_id == 0) return;
  std::map<Key, uint64_t>& mine = by_peer_[peer];
  mine[{fp.view_id, fp.step}] = fp.value;
  while (mine.size() > keep_) mine.erase(mine.begin());
}

std::optional<FingerprintVerdict> FingerprintLedger::Judge(uint64_t view_id, const std::vector<std::string>& members) {
  if (members.empty()) return std::nullopt;
  // The steps of this view every member has, newest first.
  const auto first = by_peer_.find(members.front());
  if (first == by_peer_.end()) return std::nullopt;
  for (auto it = first->second.rbegin(); it != first->second.rend(); ++it) {
    const Key key = it->first;
    if (key.view_id != view_id || key <= judged_) continue;
    std::map<uint64_t, std::vector<std::string>> holders;  // fingerprint -> members, in members' order
    bool complete = true;
    for (const std::string& id : members) {
      const auto peer = by_peer_.find(id);
      const auto entry = peer == by_peer_.end() ? std::nullopt : Find(peer->second, key);
      if (!entry) {
        complete = false;
        break;
      }
      holders[*entry].push_back(id);
    }
    if (!complete) continue;
    judged_ = key;
    ++checks_;
    FingerprintVerdict v;
    v.view_id = key.view_id;
    v.step = key.step;
    v.agree = holders.size() == 1;
    if (v.agree) {
      v.majority = members;
      return v;
    }
    for (const auto& [value, ids] : holders) {
      if (2 * ids.size() > members.size()) v.majority = ids;
    }
    for (const std::string& id : members) {
      if (std::find(v.majority.begin(), v.majority.end(), id) == v.majority.end()) v.differing.push_back(id);
    }
    return v;
  }
  return std::nullopt;
}

}  // namespace meshtrain::membership_internal
