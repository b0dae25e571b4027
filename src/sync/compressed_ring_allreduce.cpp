// The compressed ring, step by step (peer r of N; same step rule as
// ring_allreduce.cpp, where peer r receives chunk (r - t - 1) mod N at step t):
//   before:  with a residual, add it to our values (then it is empty); topk
//            keeps the largest entries of each piece and moves the rest into
//            the residual;
//   step 0:  encode our own chunk r, send it;
//   t < N-1: decode the partial sum received, add our values in fp32; encode
//            it again and send it on. At t = N-2 it is the full sum of chunk
//            r+1: encode it once, keep the decoded values, send;
//   t >= N-1: decode the full sum received, keep it, forward the same bytes.
// Every lossy encode adds (what we had - what the payload says) to the residual.
#include "sync/compressed_ring_allreduce.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <limits>
#include <string>

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

void FillNaN(float* x, size_t n) { std::fill(x, x + n, std::numeric_limits<float>::quiet_NaN()); }

// Seeds stochastic rounding per (round, piece, hop): no two encodes of a round share one.
uint64_t HopSeed(uint64_t seed, size_t piece, size_t hop) {
  uint64_t x = seed ^ (static_cast<uint64_t>(piece) * 0x9E3779B97F4A7C15ull) ^ (static_cast<uint64_t>(hop) << 48);
  x ^= x >> 33;
  x *= 0xFF51AFD7ED558CCDull;
  x ^= x >> 33;
  return x;
}

class Round {
 public:
  Round(std::span<float> buf, const RingLayout& layout, const CompressedReduce& how, uint64_t seed, size_t rank,
        CompressedRingLinks& links)
      : buf_(buf),
        layout_(layout),
        how_(how),
        seed_(seed),
        rank_(rank),
        n_(layout.n_chunks()),
        links_(links),
        body_end_(buf.size() - how.exact_tail),
        feedback_(!how.residual.empty()),
        sparse_(how.codec.compression == Compression::kTopK) {}

  Status Run() {
    Prepare();
    for (size_t k = 0; k < layout_.segments_in_chunk(rank_); ++k) {
      const size_t index = layout_.piece_index(rank_, k);
      MESHTRAIN_RETURN_IF_ERROR(EncodeAndSend(RingPhase::kReduceScatter, index, /*hop=*/0, /*owner=*/false));
    }
    const size_t steps = 2 * (n_ - 1);
    for (size_t t = 0; t < steps; ++t) {
      const size_t chunk = (rank_ + n_ - (t + 1) % n_) % n_;
      for (size_t k = 0; k < layout_.segments_in_chunk(chunk); ++k) {
        const size_t index = layout_.piece_index(chunk, k);
        MESHTRAIN_RETURN_IF_ERROR(t < n_ - 1 ? ReduceStep(index, t) : GatherStep(index, t + 1 == steps));
      }
    }
    return Status::OK();
  }

 private:
  struct Span {
    size_t offset = 0;     // first float of the piece
    size_t body = 0;       // floats through the codec: [offset, offset + body)
    size_t tail = 0;       // exact floats right after them
  };

  Span PieceSpan(size_t index) const {
    const RingLayout::Piece p = layout_.piece(index);
    Span s;
    s.offset = p.offset;
    s.body = p.offset >= body_end_ ? 0 : std::min(p.size, body_end_ - p.offset);
    s.tail = p.size - s.body;
    return s;
  }

  // Residual in, topk sparsification out, piece by piece; a non-finite piece
  // travels as a marker, and keeps its residual (x + r is then NaN anyway, so
  // adding it to x first costs nothing).
  void Prepare() {
    finite_.assign(layout_.n_pieces(), true);
    for (size_t index = 0; index < layout_.n_pieces(); ++index) {
      const Span s = PieceSpan(index);
      float* x = buf_.data() + s.offset;
      float* r = feedback_ ? how_.residual.data() + s.offset : nullptr;
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

  // Keeps the largest entries of x; the rest move to r (which Prepare has
  // just emptied into x), or are dropped without feedback.
  void Sparsify(float* x, float* r, size_t n) {
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

  // Encodes the piece's current values and sends them (step 0 and the
  // reduce-scatter hops). As the owner, it also replaces its values with what
  // the payload decodes to, which is what everyone else will get.
  Status EncodeAndSend(RingPhase phase, size_t index, size_t hop, bool owner,
                       ReceivedCompressedPiece* reuse = nullptr) {
    const Span s = PieceSpan(index);
    float* x = buf_.data() + s.offset;
    OutgoingCompressedPiece out;
    if (!finite_[index]) {
      if (owner) FillNaN(x, s.body + s.tail);
      out.non_finite = true;
      out.dtype = DType::kF32;
      return links_.SendRight(phase, index, out);
    }
    const std::span<const float> body(x, s.body);
    const DType dense = WireDType(how_.codec.compression);
    if (!sparse_ && dense != DType::kF32 && reuse != nullptr && reuse->dtype == dense &&
        reuse->payload_bytes == PayloadBytes(dense, s.body) && s.body > 0) {
      // Same codec, same size as what came in: encode over the received bytes
      // (we have added them already) and send them on; no allocation.
      EncodeBody(body, HopSeed(seed_, index, hop), reuse->payload);
      out.dtype = dense;
      out.n_elems = s.body;
      out.payload = reuse->payload;
      out.payload_bytes = reuse->payload_bytes;
      out.keepalive = reuse->owner;
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
      out.keepalive = encoded;
    }
    if ((owner || feedback_) && !(sparse_ && !owner)) {
      // What the payload says, for the residual and (as the owner) for ourselves.
      decoded_.resize(s.body);
      const Status st = DecodeTensor(out.dtype, out.n_elems, out.payload, out.payload_bytes, decoded_);
      assert(st.ok());  // we just encoded it
      (void)st;
      if (feedback_ && !sparse_) {
        float* r = how_.residual.data() + s.offset;
        for (size_t i = 0; i < s.body; ++i) r[i] += x[i] - decoded_[i];
      }
      if (owner) std::copy(decoded_.begin(), decoded_.end(), x);
    }
    out.tail = std::span<const float>(x + s.body, s.tail);
    return links_.SendRight(phase, index, out);
  }

  void EncodeBody(std::span<const float> body, uint64_t seed, void* dst) const {
    switch (how_.codec.compression) {
      case Compression::kFP16: EncodeF16(body.data(), body.size(), dst); break;
      case Compression::kBF16: EncodeBF16(body.data(), body.size(), dst); break;
      case Compression::kInt8: EncodeI8(body.data(), body.size(), how_.codec.rounding, seed, dst); break;
      case Compression::kNone:
      case Compression::kTopK: assert(false); break;  // never encoded in place
    }
  }

  Status ReduceStep(size_t index, size_t t) {
    const Span s = PieceSpan(index);
    Result<ReceivedCompressedPiece> got = links_.ReceiveLeft(RingPhase::kReduceScatter, index, s.body, s.tail);
    if (!got.ok()) return got.status();
    ReceivedCompressedPiece& in = got.value();
    float* x = buf_.data() + s.offset;
    if (in.non_finite) {
      finite_[index] = false;
    } else if (finite_[index]) {
      MESHTRAIN_RETURN_IF_ERROR(
          AccumulateTensor(in.dtype, in.n_elems, in.payload, in.payload_bytes, std::span<float>(x, s.body)));
      for (size_t i = 0; i < s.tail; ++i) x[s.body + i] += in.tail[i];
      finite_[index] = AllFinite(x, s.body + s.tail);
    }
    const bool owner = t == n_ - 2;  // the full sum of this piece is here now
    return EncodeAndSend(owner ? RingPhase::kAllGather : RingPhase::kReduceScatter, index, t + 1, owner, &in);
  }

  Status GatherStep(size_t index, bool last) {
    const Span s = PieceSpan(index);
    Result<ReceivedCompressedPiece> got = links_.ReceiveLeft(RingPhase::kAllGather, index, s.body, s.tail);
    if (!got.ok()) return got.status();
    ReceivedCompressedPiece& in = got.value();
    float* x = buf_.data() + s.offset;
    OutgoingCompressedPiece out;
    if (in.non_finite) {
      FillNaN(x, s.body + s.tail);
      out.non_finite = true;
    } else {
      MESHTRAIN_RETURN_IF_ERROR(
          DecodeTensor(in.dtype, in.n_elems, in.payload, in.payload_bytes, std::span<float>(x, s.body)));
      std::copy(in.tail.begin(), in.tail.end(), x + s.body);
      out.dtype = in.dtype;
      out.n_elems = in.n_elems;
      out.payload = in.payload;
      out.payload_bytes = in.payload_bytes;
      out.keepalive = in.owner;
      out.tail = in.tail;
    }
    if (last) return Status::OK();
    return links_.SendRight(RingPhase::kAllGather, index, out);
  }

  std::span<float> buf_;
  const RingLayout& layout_;
  const CompressedReduce& how_;
  const uint64_t seed_;
  const size_t rank_;
  const size_t n_;
  CompressedRingLinks& links_;
  const size_t body_end_;
  const bool feedback_;
  const bool sparse_;
  std::vector<bool> finite_;       // per piece: no NaN/Inf in it so far
  std::vector<uint32_t> kept_;     // topk scratch: indices and values of the kept entries
  std::vector<float> kept_values_;
  std::vector<float> decoded_;     // what a payload we just encoded says
};

}  // namespace

Status CompressedRingAllreduce::Run(std::span<float> buf, const RingLayout& layout, const CompressedReduce& how,
                                    uint64_t seed, size_t rank, CompressedRingLinks& links) {
  if (layout.n_chunks() <= 1) return Status::OK();
  assert(rank < layout.n_chunks());
  assert(layout.total_elems() == buf.size());
  assert(how.exact_tail <= buf.size());
  assert(how.residual.empty() || how.residual.size() == buf.size() - how.exact_tail);
  return Round(buf, layout, how, seed, rank, links).Run();
}

}  // namespace meshtrain
