// The compression codecs in the ring (docs/compression.md, "The compressed
// ring"), peer r of N:
//   Begin:   with a residual, add it to our values (then it is empty); topk
//            keeps the largest entries of each piece and moves the rest into
//            the residual;
//   Own:     encode our own piece;
//   Reduce:  decode the partial sum received, add our values in fp32, encode
//            it again. As the owner (the full sum is here) encode it once and
//            keep what that payload decodes to, which is what everyone gets;
//   Gather:  decode the full sum received (the driver forwards the same bytes).
// Every lossy encode adds (what we had - what the payload says) to the residual.
// topk's hops carry partial sums of sparse vectors losslessly (nonzero entries
// as topk, or f32 when that is smaller).
#include <algorithm>
#include <bit>
#include <cassert>

#include "meshtrain/codec.h"
#include "sync/ring_codecs.h"

namespace meshtrain {
namespace {

bool AllFinite(const float* x, size_t n) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) bad |= (std::bit_cast<uint32_t>(x[i]) & 0x7F800000u) == 0x7F800000u;
  return bad == 0;
}

// x[i] += r[i]; true if every sum is finite.
bool AddChecked(float* x, const float* r, size_t n) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const float v = x[i] + r[i];
    x[i] = v;
    bad |= (std::bit_cast<uint32_t>(v) & 0x7F800000u) == 0x7F800000u;
  }
  return bad == 0;
}

// Seeds stochastic rounding per (round, piece, hop): no two encodes of a round share one.
uint64_t HopSeed(uint64_t seed, size_t piece, size_t hop) {
  uint64_t x = seed ^ (static_cast<uint64_t>(piece) * 0x9E3779B97F4A7C15ull) ^ (static_cast<uint64_t>(hop) << 48);
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  return x;
}

}  // namespace

EncodedRingCodec::EncodedRingCodec(const CompressedReduce& how, uint64_t seed)
    : how_(how),
      seed_(seed),
      feedback_(!how.residual.empty()),
      sparse_(how.codec.compression == Compression::kTopK) {}

PieceShape EncodedRingCodec::ShapeOf(const RingLayout::Piece& p) const {
  PieceShape s;
  s.body = p.offset >= body_end_ ? 0 : std::min(p.size, body_end_ - p.offset);
  s.tail = p.size - s.body;
  return s;
}

// Residual in, topk sparsification out, piece by piece; a non-finite piece
// travels as a marker, and keeps its residual (x + r is then NaN anyway, so
// adding it to x first costs nothing).
void EncodedRingCodec::Begin(std::span<float> buf, const RingLayout& layout) {
  assert(how_.exact_tail <= buf.size());
  assert(!feedback_ || how_.residual.size() == buf.size() - how_.exact_tail);
  layout_ = &layout;
  body_end_ = buf.size() - how_.exact_tail;
  finite_.assign(layout.n_pieces(), true);
  for (size_t index = 0; index < layout.n_pieces(); ++index) {
    const RingLayout::Piece p = layout.piece(index);
    const PieceShape s = ShapeOf(p);
    float* x = buf.data() + p.offset;
    float* r = ResidualOf(p.offset);
    bool finite = AllFinite(x + s.body, s.tail);
    finite = (r != nullptr ? AddChecked(x, r, s.body) : AllFinite(x, s.body)) && finite;
    finite_[index] = finite;
    if (!finite) continue;
    if (sparse_) {
      Sparsify(x, r, s.body);
    } else if (r != nullptr) {
      std::fill(r, r + s.body, 0.0f);  // all of it is in x now
    }
  }
}

// Keeps the largest entries of x; the rest move to r (which Begin has just
// emptied into x), or are dropped without feedback.
void EncodedRingCodec::Sparsify(float* x, float* r, size_t n) {
  if (n == 0) return;
  SelectTopK(x, n, TopKCount(n, how_.codec.topk_ratio), &kept_);
  kept_values_.resize(kept_.size());
  for (size_t j = 0; j < kept_.size(); ++j) kept_values_[j] = x[kept_[j]];
  if (r != nullptr) std::copy(x, x + n, r);
  std::fill(x, x + n, 0.0f);
  for (size_t j = 0; j < kept_.size(); ++j) {
    x[kept_[j]] = kept_values_[j];
    if (r != nullptr) r[kept_[j]] = 0.0f;
  }
}

RingPiece EncodedRingCodec::Own(size_t index, std::span<float> mine) {
  return Encode(index, mine, /*hop=*/0, /*owner=*/false, nullptr);
}

Result<RingPiece> EncodedRingCodec::Reduce(size_t index, std::span<float> mine, RingPiece& in, bool owner,
                                           size_t hop) {
  const PieceShape s = ShapeOf(layout_->piece(index));
  float* x = mine.data();
  if (finite_[index]) {
    MESHTRAIN_RETURN_IF_ERROR(
        AccumulateTensor(in.dtype, in.n_elems, in.payload, in.payload_bytes, std::span<float>(x, s.body)));
    for (size_t i = 0; i < s.tail; ++i) x[s.body + i] += in.tail[i];
    finite_[index] = AllFinite(x, s.body + s.tail);
  }
  return Encode(index, mine, hop, owner, &in);
}

Status EncodedRingCodec::Gather(size_t index, std::span<float> mine, const RingPiece& in) {
  const PieceShape s = ShapeOf(layout_->piece(index));
  MESHTRAIN_RETURN_IF_ERROR(
      DecodeTensor(in.dtype, in.n_elems, in.payload, in.payload_bytes, mine.subspan(0, s.body)));
  std::copy(in.tail.begin(), in.tail.end(), mine.begin() + static_cast<std::ptrdiff_t>(s.body));
  return Status::OK();
}

// Encodes the piece's current values. As the owner, it also replaces them
// with what the payload decodes to, which is what everyone else will get.
RingPiece EncodedRingCodec::Encode(size_t index, std::span<float> mine, size_t hop, bool owner, RingPiece* reuse) {
  if (!finite_[index]) return RingPiece::NonFinite();
  const RingLayout::Piece p = layout_->piece(index);
  const PieceShape s = ShapeOf(p);
  float* x = mine.data();
  const std::span<const float> body(x, s.body);
  const DType dense = WireDType(how_.codec.compression);
  RingPiece out;
  if (!sparse_ && dense != DType::kF32 && reuse != nullptr && reuse->dtype == dense &&
      reuse->payload_bytes == PayloadBytes(dense, s.body) && s.body > 0) {
    // Same codec, same size as what came in: encode over the received bytes
    // (we have added them already) and send them on; no allocation.
    EncodeInPlace(body, HopSeed(seed_, index, hop), reuse->payload);
    out.dtype = dense;
    out.n_elems = s.body;
    out.payload = reuse->payload;
    out.payload_bytes = reuse->payload_bytes;
    out.owner = reuse->owner;
  } else {
    auto encoded = std::make_shared<EncodedTensor>();
    if (sparse_) {
      EncodeNonZeros(body, encoded.get());
    } else {
      EncodeTensor(how_.codec, body, HopSeed(seed_, index, hop), encoded.get());
    }
    out.dtype = encoded->dtype;
    out.n_elems = encoded->n_elems;
    out.payload = encoded->bytes.empty() ? nullptr : encoded->bytes.data();
    out.payload_bytes = encoded->bytes.size();
    out.owner = encoded;
  }
  if ((owner || feedback_) && !(sparse_ && !owner)) {
    // What the payload says, for the residual and (as the owner) for ourselves.
    decoded_.resize(s.body);
    const Status st = DecodeTensor(out.dtype, out.n_elems, out.payload, out.payload_bytes, decoded_);
    assert(st.ok());  // we just encoded it
    (void)st;
    if (feedback_ && !sparse_) {
      float* r = ResidualOf(p.offset);
      for (size_t i = 0; i < s.body; ++i) r[i] += x[i] - decoded_[i];
    }
    if (owner) std::copy(decoded_.begin(), decoded_.end(), x);
  }
  out.tail.assign(x + s.body, x + s.body + s.tail);
  return out;
}

void EncodedRingCodec::EncodeInPlace(std::span<const float> body, uint64_t seed, void* dst) const {
  switch (how_.codec.compression) {
    case Compression::kFP16: EncodeF16(body.data(), body.size(), dst); break;
    case Compression::kBF16: EncodeBF16(body.data(), body.size(), dst); break;
    case Compression::kInt8: EncodeI8(body.data(), body.size(), how_.codec.rounding, seed, dst); break;
    case Compression::kNone:
    case Compression::kTopK: assert(false); break;  // never encoded in place
  }
}

}  // namespace meshtrain
