#include "sync/ring_neighbours.h"

#include <algorithm>

#include "sync/ring_messages.h"

namespace meshtrain {

using Clock = std::chrono::steady_clock;

namespace {
// How long one attempt to hand a piece to the transport may block before we
// look at incoming messages (a Bye) again.
constexpr std::chrono::milliseconds kSendSlice{100};
// The longest a wait goes without checking whether membership moved the view on.
constexpr std::chrono::milliseconds kViewPollSlice{100};
}  // namespace

RingNeighbours::RingNeighbours(Setup setup, std::string context) : s_(std::move(setup)), context_(std::move(context)) {}

Status RingNeighbours::SendRight(RingPhase phase, size_t piece, const std::string& header, const void* payload,
                                 size_t payload_bytes, std::shared_ptr<const void> keepalive) {
  // The send is tried in short slices, answering what arrives in between, so
  // that a Bye from the right neighbour ends the wait at once instead of after
  // the full timeout. A slice that fails never reaches the wire (Transport
  // guarantees it), so trying again cannot duplicate the piece.
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + s_.timeout;
  Status st;
  for (;;) {
    if (Status gone = Superseded(); !gone.ok()) return gone;
    if (s_.peers->Departed(s_.right)) {
      return Status::Aborted(Context() + ": cannot send " + PieceName(phase, piece) + ": right neighbour " +
                             Named(s_.right) + " left the group (Bye)");
    }
    OutgoingMessage msg;
    msg.header = header;
    if (payload != nullptr && payload_bytes > 0) {
      msg.payload = payload;
      msg.payload_bytes = payload_bytes;
      msg.keepalive = keepalive;
    }
    const auto left_ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    const auto slice = std::clamp(left_ms, std::chrono::milliseconds(1), kSendSlice);
    st = s_.transport->Send(s_.right, std::move(msg), slice);
    if (st.ok() || st.code() != Status::Code::kUnavailable || Clock::now() >= deadline) break;
    s_.mailbox->PumpQueued();
  }
  right_wait_seconds_ += std::chrono::duration<double>(Clock::now() - start).count();
  if (st.ok()) return st;
  const std::string what = Context() + ": could not send " + PieceName(phase, piece) + " to " + Named(s_.right);
  if (st.code() == Status::Code::kUnavailable) {
    // The transport's message speaks of the last slice only; say what it means.
    return Status::Timeout(what + " within " + std::to_string(s_.timeout.count()) +
                           " ms: no live connection to it, or its queue stayed full");
  }
  if (st.code() == Status::Code::kInvalidArgument) return Status::InvalidArgument(what + ": " + st.message());
  return Status::Aborted(what + ": " + st.message());
}

Result<StashedPiece> RingNeighbours::ReceiveLeft(RingPhase phase, size_t piece) {
  const MessageType type = ToMessageType(phase);
  const Clock::time_point deadline = Clock::now() + s_.timeout;
  bool drained = false;  // after the view moved on: pieces already received are taken before giving up
  for (;;) {
    if (std::optional<StashedPiece> got = s_.mailbox->Take(s_.tag, type, static_cast<uint32_t>(piece), s_.left)) {
      if (!s_.f32_only || got->header.dtype == DType::kF32) return std::move(*got);
      s_.mailbox->Reject(s_.left, DropKind::kBadDType,
                         std::string("a ") + ToString(got->header.dtype) + " piece where f32 belongs (" +
                             DescribeHeader(got->header) + ")");
      continue;
    }
    // Everything it sent before its Bye has been filed already: messages from
    // one peer arrive in order. So what we wait for will never come.
    if (s_.peers->Departed(s_.left)) {
      return Status::Aborted(Context() + ": left neighbour " + Named(s_.left) + " left the group (Bye) before sending " +
                             PieceName(phase, piece));
    }
    if (Status gone = Superseded(); !gone.ok()) {
      // A peer that finished the round sent everything first: what it sent may
      // still be queued behind the news that it left. Take that before giving up.
      if (drained) return gone;
      s_.mailbox->PumpQueued();
      drained = true;
      continue;
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      return Status::Timeout(Context() + ": no " + PieceName(phase, piece) + " from " + Named(s_.left) + " within " +
                             std::to_string(s_.timeout.count()) + " ms");
    }
    // Round up, so the last wait ends at the deadline, not a hair before it.
    auto left_ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    // With membership, look at the view now and then (a view change also wakes the wait).
    if (s_.superseded) left_ms = std::min(left_ms, kViewPollSlice);
    s_.mailbox->Pump(std::max(left_ms, std::chrono::milliseconds(1)));
    left_wait_seconds_ += std::chrono::duration<double>(Clock::now() - now).count();
  }
}

Status RingNeighbours::Mismatch(RingPhase phase, size_t piece, const std::string& why) {
  s_.mailbox->Reject(s_.left, PieceName(phase, piece) + " does not fit: " + why);
  return Status::InvalidArgument(Context() + ": " + PieceName(phase, piece) + " from " + Named(s_.left) +
                                 " does not fit: " + why);
}

Status RingNeighbours::Malformed(RingPhase phase, size_t piece, const std::string& why) {
  const std::string what = PieceName(phase, piece) + " " + why;
  s_.mailbox->Reject(s_.left, what);
  return Status::Corruption(Context() + ": " + Named(s_.left) + " sent a " + what);
}

Status RingNeighbours::Superseded() const {
  if (!s_.superseded) return Status::OK();
  const std::string why = s_.superseded();
  return why.empty() ? Status::OK() : Status::Aborted(Context() + ": " + why);
}

std::string RingNeighbours::Context() const { return context_ + " (" + s_.tag.ToString() + ")"; }

std::string RingNeighbours::PieceName(RingPhase phase, size_t piece) const {
  return std::string(PhaseName(phase)) + " piece " + std::to_string(piece) + " of " +
         std::to_string(s_.layout->n_pieces());
}

std::string RingNeighbours::Named(const std::string& peer) const {
  return "peer " + peer + " (" + s_.peers->EndpointOf(peer) + ")";
}

}  // namespace meshtrain
