#include "sync/compressed_peer_links.h"

#include <algorithm>
#include <bit>
#include <cmath>

#include "meshtrain/codec.h"
#include "sync/compressed_messages.h"
#include "sync/ring_messages.h"

namespace meshtrain {

namespace {
bool IsTensorDType(DType d) {
  return d == DType::kF32 || d == DType::kF16 || d == DType::kBF16 || d == DType::kI8 || d == DType::kTopK;
}
}  // namespace

CompressedPeerLinks::CompressedPeerLinks(RingNeighbours::Setup setup, uint32_t exact_tail)
    : net_(std::move(setup), "compressed ring all-reduce"), exact_tail_(exact_tail) {}

Status CompressedPeerLinks::SendRight(RingPhase phase, size_t piece, const OutgoingCompressedPiece& out) {
  const RingNeighbours::Setup& s = net_.setup();
  CompressedPieceExtra extra;
  extra.total_elems = s.layout->total_elems();
  extra.segment_elems = s.layout->segment_elems();
  extra.non_finite = out.non_finite;
  extra.exact_tail = exact_tail_;
  if (!out.non_finite) extra.tail.assign(out.tail.begin(), out.tail.end());
  Header header = PieceHeader(s.self, s.tag, phase, static_cast<uint32_t>(piece),
                              static_cast<uint32_t>(s.layout->n_pieces()), 0, PieceExtra{});
  header.dtype = out.non_finite ? DType::kF32 : out.dtype;
  header.n_elems = out.non_finite ? 0 : out.n_elems;
  header.extra = EncodeCompressedPieceExtra(extra);
  std::string encoded;
  EncodeHeaderTo(header, &encoded);
  if (out.non_finite) return net_.SendRight(phase, piece, encoded, nullptr, 0, nullptr);
  return net_.SendRight(phase, piece, encoded, out.payload, out.payload_bytes, out.keepalive);
}

Result<ReceivedCompressedPiece> CompressedPeerLinks::ReceiveLeft(RingPhase phase, size_t piece, size_t body_elems,
                                                                 size_t tail_elems) {
  Result<StashedPiece> got = net_.ReceiveLeft(phase, piece);
  if (!got.ok()) return got.status();
  ReceivedCompressedPiece out;
  MESHTRAIN_RETURN_IF_ERROR(CheckPiece(*got, phase, piece, body_elems, tail_elems, &out));
  out.payload = got->data;
  out.owner = std::move(got->owner);
  return out;
}

Status CompressedPeerLinks::CheckPiece(const StashedPiece& got, RingPhase phase, size_t piece, size_t body_elems,
                                       size_t tail_elems, ReceivedCompressedPiece* out) {
  const Header& h = got.header;
  if (IsUncompressedPieceExtra(h.extra)) {
    return net_.Mismatch(phase, piece,
                    "it reduces without compression (sync.compression = \"none\"), this peer with it; every peer "
                    "must use the same sync.compression");
  }
  std::optional<CompressedPieceExtra> extra = DecodeCompressedPieceExtra(h.extra);
  if (!extra) {
    return net_.Malformed(phase, piece, "with a malformed extra field (" + std::to_string(h.extra.size()) + " bytes)");
  }
  const RingLayout& layout = *net_.setup().layout;
  if (extra->total_elems != layout.total_elems() || extra->segment_elems != layout.segment_elems() ||
      h.n_chunks != layout.n_pieces() || extra->exact_tail != exact_tail_) {
    return net_.Mismatch(phase, piece,
                    "it reduces " + std::to_string(extra->total_elems) + " floats (" +
                        std::to_string(extra->exact_tail) + " exact) in pieces of up to " +
                        std::to_string(extra->segment_elems) + " (" + std::to_string(h.n_chunks) +
                        " pieces), this peer " + std::to_string(layout.total_elems()) + " floats (" +
                        std::to_string(exact_tail_) + " exact) in pieces of up to " +
                        std::to_string(layout.segment_elems()) + " (" + std::to_string(layout.n_pieces()) +
                        " pieces); every peer must pass a buffer of the same length and use the same "
                        "sync.chunk_bytes");
  }
  out->non_finite = extra->non_finite;
  if (extra->non_finite) {
    if (h.n_elems != 0 || !extra->tail.empty()) {
      return net_.Mismatch(phase, piece, "its non-finite marker carries " + std::to_string(h.n_elems) + " values");
    }
    return Status::OK();
  }
  const bool sparse = h.dtype == DType::kTopK;
  if (!IsTensorDType(h.dtype) || (sparse ? h.n_elems > body_elems : h.n_elems != body_elems) ||
      extra->tail.size() != tail_elems) {
    return net_.Mismatch(phase, piece,
                    "it sent " + std::to_string(h.n_elems) + " " + ToString(h.dtype) + " values and " +
                        std::to_string(extra->tail.size()) + " exact ones for a piece of " +
                        std::to_string(body_elems) + " + " + std::to_string(tail_elems));
  }
  for (float v : extra->tail) {
    if (!std::isfinite(v)) return net_.Mismatch(phase, piece, "a non-finite exact value without the non-finite flag");
  }
  if (sparse) {
    const Status indices = CheckTopK(got.data, static_cast<size_t>(h.n_elems), body_elems);
    if (!indices.ok()) return net_.Mismatch(phase, piece, indices.message());
  }
  out->dtype = h.dtype;
  out->n_elems = h.n_elems;
  out->payload_bytes = PayloadBytes(h.dtype, h.n_elems);
  out->tail = std::move(extra->tail);
  return Status::OK();
}

}  // namespace meshtrain
