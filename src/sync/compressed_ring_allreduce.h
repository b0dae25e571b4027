// Ring all-reduce with compressed pieces (docs/compression.md): the same ring,
// layout and step rule as RingAllreduce (Patarasuk & Yuan, pipelined as
// Gloo's AllreduceRingChunked), but what travels is a codec's payload:
//   - reduce-scatter hops decode the partial sum they receive, add their own
//     values in fp32, and encode the result again for the right neighbour;
//   - the owner of a chunk encodes the full sum once, keeps the decoded values
//     itself, and the all-gather forwards those very bytes unchanged, so every
//     peer decodes the same payload and replicas stay bit-identical.
// topk sparsifies each peer's own contribution once, before the ring (with
// error feedback), and the hops then carry partial sums of sparse vectors
// losslessly (nonzero entries as topk, or f32 when that is smaller).
// With a residual, every lossy encode leaves what it failed to carry in this
// peer's residual, which the next round adds back: nothing is lost, only late.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "meshtrain/codec.h"
#include "meshtrain/peer_group.h"
#include "meshtrain/ring_allreduce.h"
#include "meshtrain/status.h"
#include "meshtrain/wire.h"

namespace meshtrain {

// One piece on its way to the right neighbour. `payload` stays valid while
// `keepalive` lives (ZeroMQ sends from it).
struct OutgoingCompressedPiece {
  DType dtype = DType::kF32;
  uint64_t n_elems = 0;  // header n_elems: the body's length, or topk's kept entries
  const void* payload = nullptr;
  size_t payload_bytes = 0;
  std::shared_ptr<const void> keepalive;
  std::span<const float> tail;  // the piece's exact-tail floats (copied into the message)
  bool non_finite = false;      // marker: no payload, no tail
};

// One piece from the left neighbour, checked to fit the round (sizes, cut).
// `payload` is writable and valid while `owner` lives.
struct ReceivedCompressedPiece {
  DType dtype = DType::kF32;
  uint64_t n_elems = 0;
  void* payload = nullptr;
  size_t payload_bytes = 0;
  std::shared_ptr<void> owner;
  std::vector<float> tail;
  bool non_finite = false;
};

class CompressedRingLinks {
 public:
  virtual ~CompressedRingLinks() = default;
  virtual Status SendRight(RingPhase phase, size_t piece, const OutgoingCompressedPiece& out) = 0;
  // Waits (bounded) for piece `piece` of `phase` from the left neighbour; its
  // body holds `body_elems` floats (through the codec), its tail `tail_elems`.
  virtual Result<ReceivedCompressedPiece> ReceiveLeft(RingPhase phase, size_t piece, size_t body_elems,
                                                      size_t tail_elems) = 0;
};

class CompressedRingAllreduce {
 public:
  // Replaces `buf` with the elementwise sum of every ring member's `buf`, cut
  // as `layout` says (RingAllreduce::LayoutFor), compressed as `how` says.
  // `seed` varies stochastic rounding from round to round (same on every peer
  // or not: it only has to differ between rounds). A piece with a NaN/Inf in
  // any input comes out as NaN on every peer, and leaves the residual alone.
  // The first link error is returned; `buf` and the residual are then partly
  // updated and the round must be redone (the residual stays usable: it only
  // ever holds finite leftovers).
  static Status Run(std::span<float> buf, const RingLayout& layout, const CompressedReduce& how, uint64_t seed,
                    size_t rank, CompressedRingLinks& links);
};

}  // namespace meshtrain
