// What this peer knows about every other member of the cluster: where it
// listens and where the start barrier / leave handshake stands with it.
#pragma once

#include <map>
#include <string>
#include <vector>

namespace meshtrain {

struct PeerState {
  std::string endpoint;
  bool heard = false;       // it said Hello to us
  bool acked = false;       // it told us it has heard from us
  bool departed = false;    // it said Bye (an orderly leave, not a crash)
  bool owe_answer = false;  // it does not know yet that we heard it, and no Hello saying so has gone out
};

class PeerTable {
 public:
  void Add(const std::string& id, const std::string& endpoint) { peers_[id].endpoint = endpoint; }
  PeerState* Find(const std::string& id) {
    auto it = peers_.find(id);
    return it == peers_.end() ? nullptr : &it->second;
  }
  const PeerState* Find(const std::string& id) const {
    auto it = peers_.find(id);
    return it == peers_.end() ? nullptr : &it->second;
  }
  std::string EndpointOf(const std::string& id) const {
    const PeerState* p = Find(id);
    return p ? p->endpoint : std::string("?");
  }
  bool Departed(const std::string& id) const {
    const PeerState* p = Find(id);
    return p != nullptr && p->departed;
  }
  // Peers that have not yet both said Hello and answered ours, in id order.
  std::vector<std::string> NotReady() const {
    std::vector<std::string> ids;
    for (const auto& [id, state] : peers_) {
      if (!state.heard || !state.acked) ids.push_back(id);
    }
    return ids;
  }
  bool OwesAnswers() const {
    for (const auto& [id, state] : peers_) {
      if (state.owe_answer) return true;
    }
    return false;
  }
  std::map<std::string, PeerState>& all() { return peers_; }
  const std::map<std::string, PeerState>& all() const { return peers_; }

 private:
  std::map<std::string, PeerState> peers_;  // every member but self
};

}  // namespace meshtrain
