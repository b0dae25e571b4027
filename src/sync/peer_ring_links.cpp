#include "sync/peer_ring_links.h"

#include <cmath>

#include "meshtrain/codec.h"
#include "sync/ring_messages.h"

namespace meshtrain {
namespace {

bool IsTensorDType(DType d) {
  return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16 || d == DType::kI8 || d == DType::kTopK;
}

RingNeighbours::Setup ReadingAs(RingNeighbours::Setup setup, RingWire wire) {
  // The f32 ring reads a piece as n_elems floats in place: an f16 piece of the
  // same n_elems would be read past its end. Codecs decode by the dtype.
  setup.f32_only = !wire.compressed;
  return setup;
}

std::string CompressionName(bool compressed) {
  return compressed ? "with compression" : "without compression (sync.compression = \"none\")";
}

}  // namespace

PeerRingLinks::PeerRingLinks(RingNeighbours::Setup setup, std::string context, RingWire wire)
    : net_(ReadingAs(std::move(setup), wire), std::move(context)), wire_(wire) {}

OutgoingMessage PeerRingLinks::PieceMessage(RingPhase phase, size_t piece, const RingPiece& out) const {
  const RingNeighbours::Setup& s = net_.setup();
  PieceExtra extra;
  extra.total_elems = s.layout->total_elems();
  extra.segment_elems = s.layout->segment_elems();
  extra.non_finite = out.non_finite;
  extra.compressed = wire_.compressed;
  extra.exact_tail = wire_.exact_tail;
  if (!out.non_finite) extra.tail = out.tail;
  Header header = PieceHeader(s.self, s.tag, phase, static_cast<uint32_t>(piece),
                              static_cast<uint32_t>(s.layout->n_pieces()), out.n_elems, extra);
  if (!out.non_finite) header.dtype = out.dtype;
  OutgoingMessage msg;
  EncodeHeaderTo(header, &msg.header);
  if (!out.non_finite && out.payload_bytes > 0) {  // the marker is a header alone
    msg.payload = out.payload;
    msg.payload_bytes = out.payload_bytes;
    msg.keepalive = out.owner;
  }
  return msg;
}

Status PeerRingLinks::SendRight(RingPhase phase, size_t piece, RingPiece out) {
  OutgoingMessage msg = PieceMessage(phase, piece, out);
  return net_.SendRight(phase, piece, msg.header, msg.payload, msg.payload_bytes, std::move(msg.keepalive));
}

Result<RingPiece> PeerRingLinks::ReceiveLeft(RingPhase phase, size_t piece, const PieceShape& shape) {
  Result<StashedPiece> got = net_.ReceiveLeft(phase, piece);
  if (!got.ok()) return got.status();
  RingPiece out;
  MESHTRAIN_RETURN_IF_ERROR(CheckPiece(*got, phase, piece, shape, &out));
  out.payload = got->data;
  out.owner = std::move(got->owner);
  return out;
}

std::string PeerRingLinks::DescribeCut(uint64_t total, uint32_t exact, uint64_t segment, uint64_t pieces,
                                       uint64_t here) const {
  return std::to_string(total) + " floats" + (wire_.compressed ? " (" + std::to_string(exact) + " exact)" : "") +
         " in pieces of up to " + std::to_string(segment) + " (" + std::to_string(pieces) + " pieces; this one has " +
         std::to_string(here) + ")";
}

Status PeerRingLinks::CheckPiece(const StashedPiece& got, RingPhase phase, size_t piece, const PieceShape& shape,
                                 RingPiece* out) {
  const Header& h = got.header;
  std::optional<PieceExtra> extra = DecodePieceExtra(h.extra);
  if (!extra) {
    return net_.Malformed(phase, piece,
                          "with a malformed extra field (" + std::to_string(h.extra.size()) + " bytes, expected " +
                              (wire_.compressed ? "at least " + std::to_string(kCompressedPieceExtraFixedBytes)
                                                : std::to_string(kPieceExtraBytes)) +
                              ")");
  }
  if (extra->compressed != wire_.compressed) {
    return net_.Mismatch(phase, piece,
                         "it reduces " + CompressionName(extra->compressed) + ", this peer " +
                             CompressionName(wire_.compressed) + "; every peer must use the same sync.compression");
  }
  const RingLayout& layout = *net_.setup().layout;
  const uint64_t expected_elems = extra->non_finite ? 0 : shape.body;
  const bool dense = h.dtype != DType::kTopK;
  if (extra->total_elems != layout.total_elems() || extra->segment_elems != layout.segment_elems() ||
      h.n_chunks != layout.n_pieces() || extra->exact_tail != wire_.exact_tail ||
      (!wire_.compressed && h.n_elems != expected_elems)) {
    return net_.Mismatch(phase, piece,
                         "it cuts the buffer differently: it reduces " +
                             DescribeCut(extra->total_elems, extra->exact_tail, extra->segment_elems, h.n_chunks,
                                         h.n_elems) +
                             ", this peer " +
                             DescribeCut(layout.total_elems(), wire_.exact_tail, layout.segment_elems(),
                                         layout.n_pieces(), dense ? expected_elems : h.n_elems) +
                             "; every peer must pass a buffer of the same length and use the same "
                             "sync.chunk_bytes and sync.direct_max_bytes");
  }
  out->non_finite = extra->non_finite;
  if (extra->non_finite) {
    if (h.n_elems != 0 || !extra->tail.empty()) {
      return net_.Mismatch(phase, piece, "its non-finite marker carries " + std::to_string(h.n_elems) + " values");
    }
    return Status::OK();
  }
  MESHTRAIN_RETURN_IF_ERROR(CheckPayload(h, got, phase, piece, shape, *extra));
  out->dtype = h.dtype;
  out->n_elems = h.n_elems;
  out->payload_bytes = PayloadBytes(h.dtype, h.n_elems);
  out->tail = std::move(extra->tail);
  return Status::OK();
}

// A codec's payload: a tensor dtype of the piece's length (topk: at most that
// many entries, at valid indices), and the piece's exact floats, all finite.
Status PeerRingLinks::CheckPayload(const Header& h, const StashedPiece& got, RingPhase phase, size_t piece,
                                   const PieceShape& shape, const PieceExtra& extra) {
  const bool sparse = h.dtype == DType::kTopK;
  if (!IsTensorDType(h.dtype) || (sparse ? h.n_elems > shape.body : h.n_elems != shape.body) ||
      extra.tail.size() != shape.tail) {
    return net_.Mismatch(phase, piece,
                         "it sent " + std::to_string(h.n_elems) + " " + ToString(h.dtype) + " values and " +
                             std::to_string(extra.tail.size()) + " exact ones for a piece of " +
                             std::to_string(shape.body) + " + " + std::to_string(shape.tail));
  }
  for (float v : extra.tail) {
    if (!std::isfinite(v)) return net_.Mismatch(phase, piece, "a non-finite exact value without the non-finite flag");
  }
  if (sparse) {
    const Status indices = CheckTopK(got.data, static_cast<size_t>(h.n_elems), shape.body);
    if (!indices.ok()) return net_.Mismatch(phase, piece, indices.message());
  }
  return Status::OK();
}

}  // namespace meshtrain
