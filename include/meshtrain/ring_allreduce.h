// Ring all-reduce (sum) of one flat float buffer, as in Patarasuk & Yuan,
// "Bandwidth optimal all-reduce algorithms for clusters of workstations", and
// Gloo's AllreduceRingChunked: a reduce-scatter then an all-gather, each N-1
// steps around the ring, over N chunks cut into segments that are pipelined
// (a segment is forwarded as soon as it is reduced). Each peer sends
// 2(N-1)/N of the buffer. The algorithm knows nothing of sockets: it talks to
// its two ring neighbours through RingLinks (docs/ring.md).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "meshtrain/status.h"

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

// A piece received from the left neighbour. `data` is writable, float-aligned
// and valid while `owner` lives: the algorithm reduces into it in place and
// forwards it with `owner` as the keepalive (no copy). `non_finite` marks a
// piece whose partial sum already holds a NaN/Inf somewhere (then data is
// null): the wire carries a marker instead of the values, which Validate would
// refuse.
struct ReceivedPiece {
  float* data = nullptr;
  size_t size = 0;
  bool non_finite = false;
  std::shared_ptr<void> owner;
};

// The two links of one peer in the ring. Implementations tag every piece with
// the round, the phase and the piece index, so a piece can only be taken for
// the step it was sent for.
class RingLinks {
 public:
  virtual ~RingLinks() = default;
  // Sends piece `piece` of `phase` to the right neighbour. `data` holds `size`
  // floats and stays valid while `keepalive` lives (ZeroMQ sends from it).
  virtual Status SendRight(RingPhase phase, size_t piece, const float* data, size_t size,
                           std::shared_ptr<const void> keepalive) = 0;
  // Sends the "this piece is not finite" marker instead of values.
  virtual Status SendNonFiniteRight(RingPhase phase, size_t piece) = 0;
  // Waits (bounded) for piece `piece` of `phase`, `size` floats, from the left neighbour.
  virtual Result<ReceivedPiece> ReceiveLeft(RingPhase phase, size_t piece, size_t size) = 0;
};

// One collective algorithm, reusable across rounds (it keeps the staging
// buffer of its first sends). Not thread-safe; one Run at a time.
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

  // Replaces `buf` with the elementwise sum of every ring member's `buf`.
  // `rank` is this peer's position in the ring of `ring_size` peers; its left
  // neighbour is rank-1, its right rank+1 (mod ring_size). Every member calls
  // Run with the same buffer length and segment size. Each reduced chunk is
  // computed once, by its owner, and copied to everyone else, so every peer
  // ends with bit-identical floats. A piece with a NaN/Inf in any input (or a
  // sum that overflows) comes out as NaN on every peer. The first error of a
  // link (timeout, peer gone, mismatch) is returned; `buf` is then partly
  // reduced and must not be used.
  Status Run(std::span<float> buf, size_t rank, size_t ring_size, RingLinks& links);

 private:
  // Our own chunk is copied once per round before it is sent: ZeroMQ may still
  // be sending it after Run returns with an error, so it must not point into
  // the caller's buffer. The copy is reused when ZeroMQ has released every
  // piece of the previous round's (the lease's deleter clears `in_use`).
  struct Staging {
    std::vector<float> data;
    std::atomic<bool> in_use{false};
  };
  // Sizes the staging buffer for `elems` floats and returns the keepalive
  // that every step-0 piece shares.
  std::shared_ptr<const void> LeaseStaging(size_t elems);

  size_t segment_elems_;
  std::shared_ptr<Staging> staging_;
};

}  // namespace meshtrain
