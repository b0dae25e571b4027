#include "sync/compressed_peer_links.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "meshtrain/codec.h"
#include "sync/compressed_messages.h"
#include "sync/ring_messages.h"

namespace meshtrain {

using Clock = std::chrono::steady_clock;

namespace {
// How long one attempt to hand a piece to the transport may block before we
// look at incoming messages (a Bye) again (as in PeerRingLinks).
constexpr std::chrono::milliseconds kSendSlice{100};

bool IsTensorDType(DType d) {
  return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16 || d == DType::kI8 || d == DType::kTopK;
}
}  // namespace

CompressedPeerLinks::CompressedPeerLinks(Setup setup) : s_(std::move(setup)) {}

Status CompressedPeerLinks::SendRight(RingPhase phase, size_t piece, const OutgoingCompressedPiece& out) {
  CompressedPieceExtra extra;
  extra.total_elems = s_.layout->total_elems();
  extra.segment_elems = s_.layout->segment_elems();
  extra.non_finite = out.non_finite;
  extra.exact_tail = s_.exact_tail;
  if (!out.non_finite) extra.tail.assign(out.tail.begin(), out.tail.end());
  Header header = PieceHeader(s_.self, s_.tag, phase, static_cast<uint32_t>(piece),
                              static_cast<uint32_t>(s_.layout->n_pieces()), 0, PieceExtra{});
  header.dtype = out.non_finite ? DType::kF32 : out.dtype;
  header.n_elems = out.non_finite ? 0 : out.n_elems;
  header.extra = EncodeCompressedPieceExtra(extra);
  std::string encoded;
  EncodeHeaderTo(header, &encoded);

  // Sent in short slices, answering what arrives in between, so that a Bye
  // from the right neighbour ends the wait at once (see PeerRingLinks::Send).
  const Clock::time_point start = Clock::now();
  const Clock::time_point deadline = start + s_.timeout;
  Status st;
  for (;;) {
    if (s_.peers->Departed(s_.right)) {
      return Status::Aborted(Context() + ": cannot send " + PieceName(phase, piece) + ": right neighbour " +
                             Named(s_.right) + " left the group (Bye)");
    }
    OutgoingMessage msg;
    msg.header = encoded;
    if (!out.non_finite && out.payload_bytes > 0) {
      msg.payload = out.payload;
      msg.payload_bytes = out.payload_bytes;
      msg.keepalive = out.keepalive;
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
    return Status::Timeout(what + " within " + std::to_string(s_.timeout.count()) +
                           " ms: no live connection to it, or its queue stayed full");
  }
  if (st.code() == Status::Code::kInvalidArgument) return Status::InvalidArgument(what + ": " + st.message());
  return Status::Aborted(what + ": " + st.message());
}

Result<ReceivedCompressedPiece> CompressedPeerLinks::ReceiveLeft(RingPhase phase, size_t piece, size_t body_elems,
                                                                 size_t tail_elems) {
  const MessageType type = ToMessageType(phase);
  const Clock::time_point deadline = Clock::now() + s_.timeout;
  for (;;) {
    if (std::optional<StashedPiece> got = s_.mailbox->Take(s_.tag, type, static_cast<uint32_t>(piece), s_.left)) {
      ReceivedCompressedPiece out;
      MESHTRAIN_RETURN_IF_ERROR(CheckPiece(*got, phase, piece, body_elems, tail_elems, &out));
      out.payload = got->data;
      out.owner = std::move(got->owner);
      return out;
    }
    // Everything it sent before its Bye has been filed already: what we wait for will never come.
    if (s_.peers->Departed(s_.left)) {
      return Status::Aborted(Context() + ": left neighbour " + Named(s_.left) + " left the group (Bye) before sending " +
                             PieceName(phase, piece));
    }
    const Clock::time_point now = Clock::now();
    if (now >= deadline) {
      return Status::Timeout(Context() + ": no " + PieceName(phase, piece) + " from " + Named(s_.left) + " within " +
                             std::to_string(s_.timeout.count()) + " ms");
    }
    const auto left_ms = std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
    s_.mailbox->Pump(std::max(left_ms, std::chrono::milliseconds(1)));
    left_wait_seconds_ += std::chrono::duration<double>(Clock::now() - now).count();
  }
}

Status CompressedPeerLinks::CheckPiece(const StashedPiece& got, RingPhase phase, size_t piece, size_t body_elems,
                                       size_t tail_elems, ReceivedCompressedPiece* out) {
  const Header& h = got.header;
  if (IsUncompressedPieceExtra(h.extra)) {
    return Mismatch(phase, piece,
                    "it reduces without compression (sync.compression = \"none\"), this peer with it; every peer "
                    "must use the same sync.compression");
  }
  std::optional<CompressedPieceExtra> extra = DecodeCompressedPieceExtra(h.extra);
  if (!extra) {
    const std::string why = PieceName(phase, piece) + " with a malformed extra field (" +
                            std::to_string(h.extra.size()) + " bytes)";
    s_.mailbox->Reject(s_.left, why);
    return Status::Corruption(Context() + ": " + Named(s_.left) + " sent a " + why);
  }
  const RingLayout& layout = *s_.layout;
  if (extra->total_elems != layout.total_elems() || extra->segment_elems != layout.segment_elems() ||
      h.n_chunks != layout.n_pieces() || extra->exact_tail != s_.exact_tail) {
    return Mismatch(phase, piece,
                    "it reduces " + std::to_string(extra->total_elems) + " floats (" +
                        std::to_string(extra->exact_tail) + " exact) in pieces of up to " +
                        std::to_string(extra->segment_elems) + " (" + std::to_string(h.n_chunks) +
                        " pieces), this peer " + std::to_string(layout.total_elems()) + " floats (" +
                        std::to_string(s_.exact_tail) + " exact) in pieces of up to " +
                        std::to_string(layout.segment_elems()) + " (" + std::to_string(layout.n_pieces()) +
                        " pieces); every peer must pass a buffer of the same length and use the same "
                        "sync.chunk_bytes");
  }
  out->non_finite = extra->non_finite;
  if (extra->non_finite) {
    if (h.n_elems != 0 || !extra->tail.empty()) {
      return Mismatch(phase, piece, "its non-finite marker carries " + std::to_string(h.n_elems) + " values");
    }
    return Status::OK();
  }
  const bool sparse = h.dtype == DType::kTopK;
  if (!IsTensorDType(h.dtype) || (sparse ? h.n_elems > body_elems : h.n_elems != body_elems) ||
      extra->tail.size() != tail_elems) {
    return Mismatch(phase, piece,
                    "it sent " + std::to_string(h.n_elems) + " " + ToString(h.dtype) + " values and " +
                        std::to_string(extra->tail.size()) + " exact ones for a piece of " +
                        std::to_string(body_elems) + " + " + std::to_string(tail_elems));
  }
  for (float v : extra->tail) {
    if (!std::isfinite(v)) return Mismatch(phase, piece, "a non-finite exact value without the non-finite flag");
  }
  if (sparse) {
    const Status indices = CheckTopK(got.data, static_cast<size_t>(h.n_elems), body_elems);
    if (!indices.ok()) return Mismatch(phase, piece, indices.message());
  }
  out->dtype = h.dtype;
  out->n_elems = h.n_elems;
  out->payload_bytes = PayloadBytes(h.dtype, h.n_elems);
  out->tail = std::move(extra->tail);
  return Status::OK();
}

Status CompressedPeerLinks::Mismatch(RingPhase phase, size_t piece, const std::string& why) {
  s_.mailbox->Reject(s_.left, PieceName(phase, piece) + " does not fit: " + why);
  return Status::InvalidArgument(Context() + ": " + PieceName(phase, piece) + " from " + Named(s_.left) +
                                 " does not fit: " + why);
}

std::string CompressedPeerLinks::Context() const { return "compressed ring all-reduce (" + s_.tag.ToString() + ")"; }

std::string CompressedPeerLinks::PieceName(RingPhase phase, size_t piece) const {
  return std::string(PhaseName(phase)) + " piece " + std::to_string(piece) + " of " +
         std::to_string(s_.layout->n_pieces());
}

std::string CompressedPeerLinks::Named(const std::string& peer) const {
  return "peer " + peer + " (" + s_.peers->EndpointOf(peer) + ")";
}

}  // namespace meshtrain
