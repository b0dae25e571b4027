// What this peer knows about every other peer: where it listens, which
// incarnation of it we have heard, whether it is alive, suspected, dead or
// gone, and what its latest heartbeat said. The failure detector is here too:
// a peer is suspected after suspect_ms in which nothing arrived from it and
// dead after dead_ms. Liveness comes only from what the peer itself sends us
// (heartbeats, and any other message: on a slow link a heartbeat waits behind
// the pieces queued ahead of it, and each piece that arrives proves the sender
// alive); the member tables that peers gossip serve discovery (a newcomer's
// endpoint) and tell a peer that the others declared it dead. Times are passed
// in, so tests drive the clock.
// Not thread-safe: the membership thread guards it.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "membership/membership_messages.h"
#include "membership/view_agreement.h"
#include "meshtrain/membership.h"

namespace meshtrain::membership_internal {

using Clock = std::chrono::steady_clock;

struct MemberRecord {
  std::string endpoint;
  bool is_static = false;         // listed in our config
  uint64_t incarnation = 0;       // the latest incarnation heard of
  uint64_t dead_incarnation = 0;  // declared dead/left at this incarnation: only a higher one comes back
  MemberState state = MemberState::kDead;
  bool heard = false;             // a heartbeat of `incarnation` reached us directly
  Clock::time_point last_heard{};
  Clock::time_point last_sent{};
  uint64_t step = 0;
  bool started = false;
  View installed;
  View proposal;
  ReplicaReport report;
  // It said it completed the run (docs/membership.md, "The end of a run"):
  // with which final state, and when we last heard its farewell.
  bool finished = false;
  ReplicaReport finished_report;
  Clock::time_point last_farewell{};

  bool live() const {
    return heard && incarnation > dead_incarnation && (state == MemberState::kAlive || state == MemberState::kSuspect);
  }
};

// Something the membership thread reports as an event or acts on.
struct MemberChange {
  enum class Kind { kDiscovered, kJoined, kSuspect, kDead, kLeft, kFinished } kind;
  std::string id;
  double silence_s = 0;
  bool returning = false;  // kJoined: a peer we had heard before (a restart, or back from a pause)
  uint64_t step = 0;       // kFinished: its last step
};

class MemberTable {
 public:
  explicit MemberTable(std::string self_id) : self_id_(std::move(self_id)) {}

  MemberRecord& Add(const std::string& id, const std::string& endpoint, bool is_static);
  MemberRecord* Find(const std::string& id);
  const MemberRecord* Find(const std::string& id) const;
  const std::map<std::string, MemberRecord>& all() const { return members_; }

  // A heartbeat from `from`. Discovers the sender and every peer in its table
  // (kDiscovered: connect to it), revives a new incarnation (kJoined), and
  // records its views, report and progress. A heartbeat from an incarnation we
  // declared dead is ignored: it must come back as a new one. Sets *evicted
  // when the sender's table says we are dead at our incarnation or later
  // (we were paused, or cut off): the caller must bump its incarnation. Not
  // when the sender is an incarnation we declared dead whose installed view is
  // smaller than ours (`self_view_size` members): a peer cut off from us says
  // so of all of us, and it is the one that comes back (docs/membership.md,
  // "Who comes back after a cut"). A `finished` heartbeat (a goodbye, then its
  // farewell) is recorded even from an incarnation that already left: the
  // news of the end outlives the peer.
  std::vector<MemberChange> OnHeartbeat(const std::string& from, const Heartbeat& hb, Clock::time_point now,
                                        uint64_t self_incarnation, bool* evicted, size_t self_view_size = 0);
  // Any other message from `from` (a ring piece, a state piece, Hello): proof
  // that it is alive, as good as a heartbeat, if it is live at all.
  void OnTraffic(const std::string& from, Clock::time_point now);
  // We were declared dead and come back as a new incarnation: the peers we
  // declared dead meanwhile were most likely the other side of the same cut,
  // not dead. Withdraw those verdicts (they are published as suspect, no longer
  // dead, and their current incarnation is admitted again on its next
  // heartbeat), so that they need not come back as new incarnations too.
  // Returns the ids withdrawn.
  std::vector<std::string> WithdrawVerdicts();
  // An orderly leave (Bye, or a heartbeat saying so).
  std::optional<MemberChange> OnLeave(const std::string& id);
  // The failure detector: suspects and buries peers that fell silent, except
  // those in `spared` (while a state transfer to us is moving).
  std::vector<MemberChange> Tick(Clock::time_point now, std::chrono::milliseconds suspect,
                                 std::chrono::milliseconds dead, const std::vector<std::string>& spared = {});
  // Our own thread stood still (SIGSTOP, starved CPU): what we did not hear
  // meanwhile says nothing about the others, so restart their clocks.
  void Grace(Clock::time_point now);

  // Views of every live peer, for the agreement.
  std::map<std::string, PeerViews> LiveViews() const;
  // The table we gossip (with our own entry first).
  std::vector<TableEntry> Entries(const TableEntry& self) const;

 private:
  std::string self_id_;
  std::map<std::string, MemberRecord> members_;  // every peer but us
};

}  // namespace meshtrain::membership_internal
