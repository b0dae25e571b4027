// Logging of dropped messages, at most one line per peer per minute so that a
// misbehaving peer cannot flood the log (docs/protocol.md,
// "Rejection"). The lines say how many drops were suppressed since the last one.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

#include "meshtrain/wire.h"

namespace meshtrain {

class DropLog {
 public:
  using Sink = std::function<void(std::string_view line)>;
  static constexpr std::chrono::seconds kInterval{60};

  explicit DropLog(std::string self_id);
  void set_sink(Sink sink) { sink_ = std::move(sink); }
  // Records that a message from `peer` was dropped because of `why`.
  void Dropped(const std::string& peer, const std::string& why);

 private:
  struct PerPeer {
    std::chrono::steady_clock::time_point last;
    uint64_t suppressed = 0;
    bool logged = false;
  };
  std::string self_id_;
  Sink sink_;
  std::map<std::string, PerPeer> peers_;
};

// Why a message was dropped: one counter per kind goes to the metrics
// (docs/training.md, "rejected"; docs/protocol.md, "Rejection"). The first
// kinds mirror RejectReason; the rest are decided by the mailbox after
// Validate (stale, duplicate, stash full, ...).
enum class DropKind : uint8_t {
  kBadHeader,         // frame 0 is not a well-formed header (DecodeHeader)
  kBadVersion,        // another wire version
  kUnknownType,
  kSenderMismatch,    // header sender != routing id: someone speaks for someone else
  kUnknownSender,     // not a member (an outsider)
  kStaleView,         // view-scoped message of an older view (expected after a view change)
  kStaleRound,        // piece of a round that already ran or was abandoned (expected after an abort)
  kBadExtra,          // extra field too long
  kBadDType,
  kChunkOutOfRange,
  kBadSize,           // n_elems or payload bytes that disagree with the header or the model
  kBadIndex,          // top-k index out of range or order
  kNonFinite,         // NaN/Inf in a payload (the non-finite marker of a member is not this)
  kDuplicate,         // a second copy of a piece already held
  kStashFull,         // no room left for pieces of later rounds
  kUnexpectedPiece,   // a piece of a round that completed without it: nobody asked for it
  kBadPiece,          // valid on the wire, but does not fit the collective that took it
  kCount
};
inline constexpr size_t kDropKinds = static_cast<size_t>(DropKind::kCount);

// "bad_header", "stale_round", ...: the metrics keys.
const char* ToString(DropKind kind);
// The kind a Validate (or DecodeHeader) reason is counted under; kNone has none.
DropKind DropKindOf(RejectReason reason);
// Stale kinds are expected after an abort or a view change: counted apart from the rejected total.
bool IsStale(DropKind kind);

// Counters per DropKind; Add from one thread, read from any.
class DropCounters {
 public:
  void Add(DropKind kind) { counts_[static_cast<size_t>(kind)].fetch_add(1, std::memory_order_relaxed); }
  uint64_t Get(DropKind kind) const { return counts_[static_cast<size_t>(kind)].load(std::memory_order_relaxed); }
  // Every kind by name, zeros included (a fixed set of keys for the metrics).
  std::map<std::string, uint64_t> ByName() const;

 private:
  std::array<std::atomic<uint64_t>, kDropKinds> counts_{};
};

// `id` made printable: a routing id is arbitrary bytes from the network.
std::string PrintableId(std::string_view id);

}  // namespace meshtrain
