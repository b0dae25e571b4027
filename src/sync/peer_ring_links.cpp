#include "sync/peer_ring_links.h"

#include "sync/ring_messages.h"

namespace meshtrain {

PeerRingLinks::PeerRingLinks(RingNeighbours::Setup setup, std::string context)
    : net_(std::move(setup), std::move(context)) {}

Status PeerRingLinks::SendRight(RingPhase phase, size_t piece, const float* data, size_t size,
                                std::shared_ptr<const void> keepalive) {
  return Send(phase, piece, data, size, std::move(keepalive), /*non_finite=*/false);
}

Status PeerRingLinks::SendNonFiniteRight(RingPhase phase, size_t piece) {
  return Send(phase, piece, nullptr, 0, nullptr, /*non_finite=*/true);
}

OutgoingMessage PeerRingLinks::PieceMessage(RingPhase phase, size_t piece, const float* data, size_t size,
                                            std::shared_ptr<const void> keepalive, bool non_finite) const {
  const RingNeighbours::Setup& s = net_.setup();
  PieceExtra extra;
  extra.total_elems = s.layout->total_elems();
  extra.segment_elems = s.layout->segment_elems();
  extra.non_finite = non_finite;
  const Header header = PieceHeader(s.self, s.tag, phase, static_cast<uint32_t>(piece),
                                    static_cast<uint32_t>(s.layout->n_pieces()), size, extra);
  OutgoingMessage msg;
  EncodeHeaderTo(header, &msg.header);
  if (!non_finite && size > 0) {  // the marker is a header alone
    msg.payload = data;
    msg.payload_bytes = size * sizeof(float);
    msg.keepalive = std::move(keepalive);
  }
  return msg;
}

Status PeerRingLinks::Send(RingPhase phase, size_t piece, const float* data, size_t size,
                           std::shared_ptr<const void> keepalive, bool non_finite) {
  OutgoingMessage msg = PieceMessage(phase, piece, data, size, std::move(keepalive), non_finite);
  return net_.SendRight(phase, piece, msg.header, msg.payload, msg.payload_bytes, std::move(msg.keepalive));
}

Result<ReceivedPiece> PeerRingLinks::ReceiveLeft(RingPhase phase, size_t piece, size_t size) {
  Result<StashedPiece> got = net_.ReceiveLeft(phase, piece);
  if (!got.ok()) return got.status();
  bool non_finite = false;
  MESHTRAIN_RETURN_IF_ERROR(CheckPiece(*got, phase, piece, size, &non_finite));
  ReceivedPiece out;
  out.size = size;
  out.non_finite = non_finite;
  out.data = got->data;
  out.owner = std::move(got->owner);
  return out;
}

Status PeerRingLinks::CheckPiece(const StashedPiece& got, RingPhase phase, size_t piece, size_t size,
                                 bool* non_finite) {
  const Header& h = got.header;
  const std::optional<PieceExtra> extra = DecodePieceExtra(h.extra);
  if (!extra) {
    return net_.Malformed(phase, piece,
                          "with a malformed extra field (" + std::to_string(h.extra.size()) + " bytes, expected " +
                              std::to_string(kPieceExtraBytes) + ")");
  }
  const RingLayout& layout = *net_.setup().layout;
  const bool same_cut = extra->total_elems == layout.total_elems() && extra->segment_elems == layout.segment_elems() &&
                        h.n_chunks == layout.n_pieces();
  const uint64_t expected_elems = extra->non_finite ? 0 : size;
  if (!same_cut || h.n_elems != expected_elems) {
    return net_.Mismatch(phase, piece,
                         "it cuts the buffer differently: it reduces " + std::to_string(extra->total_elems) +
                             " floats in pieces of up to " + std::to_string(extra->segment_elems) + " (" +
                             std::to_string(h.n_chunks) + " pieces; this one has " + std::to_string(h.n_elems) +
                             "), this peer " + std::to_string(layout.total_elems()) + " floats in pieces of up to " +
                             std::to_string(layout.segment_elems()) + " (" + std::to_string(layout.n_pieces()) +
                             " pieces; this one has " + std::to_string(expected_elems) +
                             "); every peer must pass a buffer of the same length and use the same "
                             "sync.chunk_bytes and sync.direct_max_bytes");
  }
  *non_finite = extra->non_finite;
  return Status::OK();
}

}  // namespace meshtrain
