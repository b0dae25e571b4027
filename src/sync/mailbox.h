// The receiving side of a PeerGroup: pulls messages off the Transport,
// decodes and validates every one (wire.h) before anything else looks at it,
// answers control messages through a handler, and files collective pieces by
// tag. Pieces of the running collective or of a later one wait in the stash
// until their step comes (a fast neighbour can be a round ahead); pieces of an
// older tag are stale and dropped. Single-threaded, like the PeerGroup; the
// counters may be read from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "meshtrain/transport.h"
#include "meshtrain/wire.h"
#include "sync/drop_log.h"
#include "sync/round_tag.h"

namespace meshtrain {

// A validated piece, kept until its step comes.
struct StashedPiece {
  Header header;
  std::shared_ptr<void> owner;  // keeps `data` alive: the received message, or an aligned copy of its payload
  float* data = nullptr;        // the payload as floats (writable), nullptr when there is none
  size_t cost_bytes = 0;        // what it counts against the stash budget
};

class Mailbox {
 public:
  using ControlHandler = std::function<void(const Header&)>;
  // Gossip messages are not lockstep (push-sum has no rounds), so they bypass
  // the stash and its round floor: each validated one goes to this handler.
  using GossipHandler = std::function<void(Header, IncomingMessage)>;
  // Per stashed piece on top of its payload, so that payload-less messages
  // cannot fill memory for free.
  static constexpr size_t kPieceOverheadBytes = 256;

  // The stash budget is per sender, so one peer cannot crowd out another's
  // pieces. `min_stash_bytes` is its floor; it also grows to twice the largest
  // buffer reduced so far, and for a piece to twice the round that piece
  // declares (n_chunks pieces of its size): a neighbour may start a round,
  // even the first, before we do, and a legitimate one never sends us more
  // than that for the running round and the next (docs/ring.md, "The mailbox
  // and the stash").
  Mailbox(Transport* transport, ValidationRules rules, size_t min_stash_bytes, DropLog* log);

  void set_control_handler(ControlHandler handler) { on_control_ = std::move(handler); }
  void set_gossip_handler(GossipHandler handler) { on_gossip_ = std::move(handler); }
  void set_transport(Transport* transport) { transport_ = transport; }
  // Where messages come from instead of transport->Receive: with membership
  // on, its thread owns the transport's receive side and passes the rest up
  // (membership.h). The transport must still be set (null stops pumping).
  using Source = std::function<Result<IncomingMessage>(std::chrono::milliseconds)>;
  void set_source(Source source) { source_ = std::move(source); }
  // A peer that joined after the start (membership admitted it to the view).
  void AddKnownSender(const std::string& id);

  // Receives at most one message, waiting at most `timeout`, and files it.
  // False if nothing arrived.
  bool Pump(std::chrono::milliseconds timeout);
  // Files every message already received, without waiting (at most `limit`).
  void PumpQueued(size_t limit = 100000);

  // A collective with `tag` starts: older pieces are dropped as stale.
  void BeginRound(RoundTag tag, size_t buffer_bytes);
  // It ended: from now on nothing at or below its tag is accepted; pieces of
  // it still in the stash are dropped (stale if it failed; rejected if it
  // completed, since then nobody should have sent them).
  void EndRound(bool completed);

  std::optional<StashedPiece> Take(RoundTag tag, MessageType type, uint32_t piece, const std::string& sender);
  // Counts and logs a message found bad after Take (it does not fit the round):
  // counted as DropKind::kBadPiece.
  void Reject(const std::string& peer, const std::string& why);
  // The same, counted under `kind`.
  void Reject(const std::string& peer, DropKind kind, const std::string& why);

  uint64_t rejected() const { return rejected_.load(std::memory_order_relaxed); }
  uint64_t stale() const { return stale_.load(std::memory_order_relaxed); }
  uint64_t unhandled() const { return unhandled_.load(std::memory_order_relaxed); }
  size_t stashed_pieces() const { return stash_.size(); }
  // Every drop by kind (rejected and stale ones), for the metrics.
  std::map<std::string, uint64_t> dropped_by_kind() const { return drops_.ByName(); }
  uint64_t dropped(DropKind kind) const { return drops_.Get(kind); }

 private:
  struct Key {
    RoundTag tag;
    MessageType type;
    uint32_t piece;
    std::string sender;
    auto operator<=>(const Key&) const = default;
  };

  void File(Header header, IncomingMessage msg);
  // Drops every stashed piece whose tag is below `bound` (or equal, if `inclusive`).
  void DropUpTo(RoundTag bound, bool inclusive, bool as_stale);
  // Counts an expected drop (not logged).
  void CountStale(DropKind kind);
  // What `header.sender` may hold in the stash once a piece like this one
  // (costing `piece_cost`) is in it.
  size_t SenderBudget(const Header& header, size_t piece_cost) const;
  StashedPiece Unstash(std::map<Key, StashedPiece>::iterator it);

  Transport* transport_;
  ValidationRules rules_;
  size_t stash_budget_;                          // per sender, before what a piece declares
  std::map<std::string, size_t> stashed_bytes_;  // by sender
  DropLog* log_;
  ControlHandler on_control_;
  GossipHandler on_gossip_;
  Source source_;
  std::map<Key, StashedPiece> stash_;
  std::optional<RoundTag> current_;  // the collective running now
  std::optional<RoundTag> floor_;    // the last one that ran: nothing at or below it is accepted
  std::atomic<uint64_t> rejected_{0}, stale_{0}, unhandled_{0};
  DropCounters drops_;
};

// "reduce_scatter view 0 round 3, piece 2 of 4, 100 f32" for log lines.
std::string DescribeHeader(const Header& h);

}  // namespace meshtrain
