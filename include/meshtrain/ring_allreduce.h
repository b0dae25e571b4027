// Ring all-reduce (sum) of one flat float buffer, as in Patarasuk & Yuan,
// "Bandwidth optimal all-reduce algorithms for clusters of workstations", and
// Gloo's AllreduceRingChunked: a reduce-scatter then an all-gather, each N-1
// steps around the ring, over N chunks cut into segments that are pipelined
// (a segment is forwarded as soon as it is reduced). Each peer sends
// 2(N-1)/N of the buffer. The algorithm knows nothing of sockets: it talks to
// its two ring neighbours through RingLinks, and what a piece carries is the
// RingCodec it is given (f32, or a compression codec; docs/ring.md).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "meshtrain/status.h"
#include "meshtrain/wire.h"

namespace meshtrain {

// How a buffer of `total_elems` floats is cut for a ring of `n_chunks` peers:
// N chunks of near-equal size (the first total % N chunks hold one extra
// element; chunks are empty when total < N), each cut into segments of at most
// `segment_elems`. One segment of one chunk is a "piece", the unit of one
// message; pieces are numbered chunk by chunk, 0 .. n_pieces()-1.
class RingLayout {
 public:
  struct Piece {
    size_t chunk = 0;
    size_t segment = 0;  // index within its chunk
    size_t offset = 0;   // first element in the whole buffer
    size_t size = 0;     // elements
  };

  RingLayout(size_t total_elems, size_t n_chunks, size_t segment_elems);

  size_t total_elems() const { return total_elems_; }
  size_t n_chunks() const { return n_chunks_; }
  size_t segment_elems() const { return segment_elems_; }
  size_t n_pieces() const { return first_piece_.back(); }

  size_t chunk_begin(size_t chunk) const;
  size_t chunk_size(size_t chunk) const;
  size_t segments_in_chunk(size_t chunk) const { return first_piece_[chunk + 1] - first_piece_[chunk]; }
  size_t piece_index(size_t chunk, size_t segment) const { return first_piece_[chunk] + segment; }
  Piece piece(size_t chunk, size_t segment) const;
  Piece piece(size_t index) const;  // index < n_pieces()

 private:
  size_t total_elems_;
  size_t n_chunks_;
  size_t segment_elems_;
  std::vector<size_t> first_piece_;  // n_chunks + 1 prefix sums of segments_in_chunk
};

enum class RingPhase : uint8_t { kReduceScatter, kAllGather };

// One piece as it travels between two ring neighbours: what its header says
// (dtype, n_elems), its payload, and the exact floats riding in its `extra`
// (a codec's exact tail; none for f32). A received payload is writable and
// float-aligned; sent or received, it lives while `owner` does (ZeroMQ sends
// from it, and the algorithm forwards what it received with the same owner:
// no copy). `non_finite` is the marker of a piece whose values hold a NaN/Inf
// somewhere: no payload, no tail (the wire refuses non-finite payloads).
struct RingPiece {
  DType dtype = DType::kF32;
  uint64_t n_elems = 0;  // floats, or topk's kept entries
  void* payload = nullptr;
  size_t payload_bytes = 0;
  std::shared_ptr<void> owner;
  std::vector<float> tail;
  bool non_finite = false;

  float* floats() const { return static_cast<float*>(payload); }
  static RingPiece Floats(float* data, size_t n, std::shared_ptr<void> owner);
  static RingPiece NonFinite();
};

// What a piece from the left must hold: `body` floats through the codec, then
// `tail` exact ones.
struct PieceShape {
  size_t body = 0;
  size_t tail = 0;
};

// How a codec's pieces look on the wire, for the links to check what arrives
// against (docs/ring.md, "On the wire").
struct RingWire {
  bool compressed = false;  // false: f32 pieces, read in place (F32RingCodec)
  uint32_t exact_tail = 0;  // floats at the end of the buffer that travel exactly
};

// The two links of one peer in the ring. Implementations tag every piece with
// the round, the phase and the piece index, so a piece can only be taken for
// the step it was sent for, and check that a received one has `shape`.
class RingLinks {
 public:
  virtual ~RingLinks() = default;
  virtual Status SendRight(RingPhase phase, size_t piece, RingPiece out) = 0;
  // Waits (bounded) for piece `piece` of `phase` from the left neighbour.
  virtual Result<RingPiece> ReceiveLeft(RingPhase phase, size_t piece, const PieceShape& shape) = 0;
};

// What a piece carries and how a hop combines it with its own values: the
// ring's parameter (Gloo's reduction function, widened to encodings). f32 is
// the identity (src/sync/ring_codec_f32.cpp); fp16, bf16, int8 and topk with
// error feedback encode (ring_codec_encoded.cpp, docs/compression.md). The
// driver handles the non-finite marker of a received piece itself; a codec
// returns a marker when its own values (or their sum) are not finite.
class RingCodec {
 public:
  virtual ~RingCodec() = default;
  virtual RingWire wire() const = 0;
  // Once per round, before step 0: the whole buffer and how it is cut.
  virtual void Begin(std::span<float> buf, const RingLayout& layout) = 0;
  virtual PieceShape ShapeOf(const RingLayout::Piece& p) const { return {p.size, 0}; }
  // Step 0: our own values of piece `index` (`mine`), as they go out.
  virtual RingPiece Own(size_t index, std::span<float> mine) = 0;
  // A reduce-scatter hop: `in` (finite) plus our values, as it goes on. As
  // the `owner` (the sum is complete here) it also leaves in `mine` what every
  // other peer will get. `hop` counts the encodes of this piece in the round.
  virtual Result<RingPiece> Reduce(size_t index, std::span<float> mine, RingPiece& in, bool owner, size_t hop) = 0;
  // An all-gather step: the full sum `in` (finite) into `mine`; the driver
  // forwards `in` unchanged.
  virtual Status Gather(size_t index, std::span<float> mine, const RingPiece& in) = 0;
};

// The ring algorithm. Stateless between rounds (a codec may keep state).
class RingAllreduce {
 public:
  // A chunk is cut into at most this many segments, however small
  // `segment_elems` is: that many pieces go out at once at step 0, and they
  // must fit in the ZeroMQ queues (sndhwm/rcvhwm, default 1000) of a ring in
  // which every peer is sending at the same time.
  static constexpr size_t kMaxSegmentsPerChunk = 256;

  // `segment_elems`: the pipelining unit (sync.chunk_bytes / 4), at least 1.
  explicit RingAllreduce(size_t segment_elems);

  // How Run cuts a buffer of `total_elems` for a ring of `ring_size`: the
  // configured segment, enlarged if needed to respect kMaxSegmentsPerChunk.
  // Every peer computes the same layout from the same inputs.
  RingLayout LayoutFor(size_t total_elems, size_t ring_size) const;

  // Replaces `buf` with the elementwise sum of every ring member's `buf`,
  // carried by `codec`. `rank` is this peer's position in the ring of
  // `ring_size` peers; its left neighbour is rank-1, its right rank+1 (mod
  // ring_size). Every member calls Run with the same buffer length, segment
  // size and codec. Each reduced chunk is computed (and encoded) once, by its
  // owner, and only copied (or forwarded) by everyone else, so every peer
  // ends with bit-identical floats. A piece with a NaN/Inf in any input (or a
  // sum that overflows) comes out as NaN on every peer. The first error of a
  // link (timeout, peer gone, mismatch) is returned; `buf` is then partly
  // reduced and must not be used.
  Status Run(std::span<float> buf, size_t rank, size_t ring_size, RingLinks& links, RingCodec& codec);

 private:
  size_t segment_elems_;
};

}  // namespace meshtrain
