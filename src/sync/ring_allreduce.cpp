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
#include <algorithm>
#include <cassert>

#include "meshtrain/ring_allreduce.h"
#include "sync/float_kernels.h"

namespace meshtrain {

using sync_internal::AddInPlace;
using sync_internal::Copy;
using sync_internal::CopyChecked;
using sync_internal::FillNaN;

RingAllreduce::RingAllreduce(size_t segment_elems) : segment_elems_(segment_elems == 0 ? 1 : segment_elems) {}

RingLayout RingAllreduce::LayoutFor(size_t total_elems, size_t ring_size) const {
  const size_t n = ring_size == 0 ? 1 : ring_size;
  const size_t largest_chunk = (total_elems + n - 1) / n;
  const size_t floor = (largest_chunk + kMaxSegmentsPerChunk - 1) / kMaxSegmentsPerChunk;
  return RingLayout(total_elems, n, std::max(segment_elems_, floor));
}

std::shared_ptr<const void> RingAllreduce::LeaseStaging(size_t elems) {
  // Acquire pairs with the lease deleter's release in ZeroMQ's thread: when we
  // see it free, ZeroMQ is done reading it.
  if (!staging_ || staging_->in_use.load(std::memory_order_acquire)) staging_ = std::make_shared<Staging>();
  staging_->data.resize(elems);
  staging_->in_use.store(true, std::memory_order_relaxed);
  return std::shared_ptr<const void>(staging_->data.data(), [holder = staging_](const void*) {
    holder->in_use.store(false, std::memory_order_release);
  });
}

Status RingAllreduce::Run(std::span<float> buf, size_t rank, size_t ring_size, RingLinks& links) {
  if (ring_size <= 1) return Status::OK();
  assert(rank < ring_size);
  const size_t n = ring_size;
  const RingLayout layout = LayoutFor(buf.size(), n);
  const size_t steps = 2 * (n - 1);
  const auto phase_of = [n](size_t t) { return t < n - 1 ? RingPhase::kReduceScatter : RingPhase::kAllGather; };
  const auto chunk_received_at = [n, rank](size_t t) { return (rank + n - (t + 1) % n) % n; };

  // Step 0: our own chunk, from a staged copy.
  {
    const size_t own = rank;
    const std::shared_ptr<const void> lease = LeaseStaging(layout.chunk_size(own));
    float* const staging = staging_->data.data();
    for (size_t k = 0; k < layout.segments_in_chunk(own); ++k) {
      const RingLayout::Piece p = layout.piece(own, k);
      float* staged = staging + (p.offset - layout.chunk_begin(own));
      const bool finite = CopyChecked(staged, buf.data() + p.offset, p.size);
      const size_t index = layout.piece_index(own, k);
      MESHTRAIN_RETURN_IF_ERROR(finite ? links.SendRight(RingPhase::kReduceScatter, index, staged, p.size, lease)
                                       : links.SendNonFiniteRight(RingPhase::kReduceScatter, index));
    }
  }

  for (size_t t = 0; t < steps; ++t) {
    const RingPhase phase = phase_of(t);
    const size_t chunk = chunk_received_at(t);
    const bool owns_sum = t == n - 2;  // last reduce-scatter step: this chunk's sum is complete here
    const bool last = t + 1 == steps;
    for (size_t k = 0; k < layout.segments_in_chunk(chunk); ++k) {
      const RingLayout::Piece p = layout.piece(chunk, k);
      const size_t index = layout.piece_index(chunk, k);
      Result<ReceivedPiece> got = links.ReceiveLeft(phase, index, p.size);
      if (!got.ok()) return got.status();
      ReceivedPiece& in = got.value();
      float* mine = buf.data() + p.offset;

      bool finite = !in.non_finite;
      if (phase == RingPhase::kReduceScatter && finite) finite = AddInPlace(in.data, mine, p.size);
      if (phase == RingPhase::kAllGather || owns_sum) {
        if (finite) {
          Copy(mine, in.data, p.size);
        } else {
          FillNaN(mine, p.size);
        }
      }
      if (last) continue;
      MESHTRAIN_RETURN_IF_ERROR(finite ? links.SendRight(phase_of(t + 1), index, in.data, p.size, in.owner)
                                       : links.SendNonFiniteRight(phase_of(t + 1), index));
    }
  }
  return Status::OK();
}

}  // namespace meshtrain
