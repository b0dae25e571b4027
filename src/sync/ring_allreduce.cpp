// The ring all-reduce of Patarasuk & Yuan, pipelined as Gloo's
// AllreduceRingChunked. With N peers and the buffer cut into N chunks, peer r
// at step t (0 <= t < 2(N-1)) receives chunk (r - t - 1) mod N from its left:
//   reduce-scatter, t < N-1:  adds it to its own copy of that chunk; after the
//                             last of these steps it holds the full sum of
//                             chunk (r + 1) mod N, which nobody else computes;
//   all-gather, t >= N-1:     copies the fully reduced chunk it receives.
// What a peer sends at step t+1 is exactly what it received at step t (plus
// its own contribution during the reduce-scatter), and at step 0 its own chunk
// r. Chunks travel in segments, and each segment is forwarded as soon as it is
// reduced, so segment k+1 is on the wire while segment k is being added.
// The codec decides what travels and how a hop adds (RingCodec); the steps,
// the owner and the non-finite markers are the same for every codec.
#include <algorithm>
#include <cassert>

#include "meshtrain/ring_allreduce.h"
#include "sync/float_kernels.h"

namespace meshtrain {

using sync_internal::FillNaN;

RingPiece RingPiece::Floats(float* data, size_t n, std::shared_ptr<void> owner) {
  RingPiece p;
  p.dtype = DType::kF32;
  p.n_elems = n;
  p.payload = data;
  p.payload_bytes = n * sizeof(float);
  p.owner = std::move(owner);
  return p;
}

RingPiece RingPiece::NonFinite() {
  RingPiece p;
  p.non_finite = true;
  return p;
}

RingAllreduce::RingAllreduce(size_t segment_elems) : segment_elems_(segment_elems == 0 ? 1 : segment_elems) {}

RingLayout RingAllreduce::LayoutFor(size_t total_elems, size_t ring_size) const {
  const size_t n = ring_size == 0 ? 1 : ring_size;
  const size_t largest_chunk = (total_elems + n - 1) / n;
  const size_t floor = (largest_chunk + kMaxSegmentsPerChunk - 1) / kMaxSegmentsPerChunk;
  return RingLayout(total_elems, n, std::max(segment_elems_, floor));
}

Status RingAllreduce::Run(std::span<float> buf, size_t rank, size_t ring_size, RingLinks& links, RingCodec& codec) {
  if (ring_size <= 1) return Status::OK();
  assert(rank < ring_size);
  const size_t n = ring_size;
  const RingLayout layout = LayoutFor(buf.size(), n);
  const size_t steps = 2 * (n - 1);
  const auto phase_of = [n](size_t t) { return t < n - 1 ? RingPhase::kReduceScatter : RingPhase::kAllGather; };
  const auto chunk_received_at = [n, rank](size_t t) { return (rank + n - (t + 1) % n) % n; };
  const auto mine = [&](const RingLayout::Piece& p) { return buf.subspan(p.offset, p.size); };
  codec.Begin(buf, layout);

  // Step 0: our own chunk.
  for (size_t k = 0; k < layout.segments_in_chunk(rank); ++k) {
    const size_t index = layout.piece_index(rank, k);
    MESHTRAIN_RETURN_IF_ERROR(
        links.SendRight(RingPhase::kReduceScatter, index, codec.Own(index, mine(layout.piece(rank, k)))));
  }

  for (size_t t = 0; t < steps; ++t) {
    const RingPhase phase = phase_of(t);
    const size_t chunk = chunk_received_at(t);
    const bool owns_sum = t == n - 2;  // last reduce-scatter step: this chunk's sum is complete here
    const bool last = t + 1 == steps;
    for (size_t k = 0; k < layout.segments_in_chunk(chunk); ++k) {
      const RingLayout::Piece p = layout.piece(chunk, k);
      const size_t index = layout.piece_index(chunk, k);
      Result<RingPiece> got = links.ReceiveLeft(phase, index, codec.ShapeOf(p));
      if (!got.ok()) return got.status();
      RingPiece& in = got.value();
      const std::span<float> own = mine(p);

      if (phase == RingPhase::kAllGather) {
        if (in.non_finite) {
          FillNaN(own.data(), own.size());
        } else {
          MESHTRAIN_RETURN_IF_ERROR(codec.Gather(index, own, in));
        }
        if (!last) MESHTRAIN_RETURN_IF_ERROR(links.SendRight(phase, index, std::move(in)));
        continue;
      }
      RingPiece out;
      if (in.non_finite) {
        out = RingPiece::NonFinite();
      } else {
        Result<RingPiece> reduced = codec.Reduce(index, own, in, owns_sum, t + 1);
        if (!reduced.ok()) return reduced.status();
        out = std::move(reduced).value();
      }
      if (out.non_finite && owns_sum) FillNaN(own.data(), own.size());
      MESHTRAIN_RETURN_IF_ERROR(links.SendRight(phase_of(t + 1), index, std::move(out)));
    }
  }
  return Status::OK();
}

}  // namespace meshtrain
