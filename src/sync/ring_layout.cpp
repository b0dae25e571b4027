#include <algorithm>
#include <cassert>

#include "meshtrain/ring_allreduce.h"

namespace meshtrain {

RingLayout::RingLayout(size_t total_elems, size_t n_chunks, size_t segment_elems)
    : total_elems_(total_elems), n_chunks_(n_chunks), segment_elems_(segment_elems) {
  assert(n_chunks_ >= 1 && segment_elems_ >= 1);
  first_piece_.resize(n_chunks_ + 1, 0);
  for (size_t c = 0; c < n_chunks_; ++c) {
    const size_t segments = (chunk_size(c) + segment_elems_ - 1) / segment_elems_;
    first_piece_[c + 1] = first_piece_[c] + segments;
  }
}

size_t RingLayout::chunk_begin(size_t chunk) const {
  assert(chunk <= n_chunks_);
  const size_t base = total_elems_ / n_chunks_;
  const size_t extra = total_elems_ % n_chunks_;
  return chunk * base + std::min(chunk, extra);
}

size_t RingLayout::chunk_size(size_t chunk) const { return chunk_begin(chunk + 1) - chunk_begin(chunk); }

RingLayout::Piece RingLayout::piece(size_t chunk, size_t segment) const {
  assert(chunk < n_chunks_ && segment < segments_in_chunk(chunk));
  Piece p;
  p.chunk = chunk;
  p.segment = segment;
  p.offset = chunk_begin(chunk) + segment * segment_elems_;
  p.size = std::min(segment_elems_, chunk_size(chunk) - segment * segment_elems_);
  return p;
}

RingLayout::Piece RingLayout::piece(size_t index) const {
  assert(index < n_pieces());
  // The chunk whose pieces start at or before `index`; empty chunks repeat a
  // prefix value, and upper_bound steps past them.
  const auto it = std::upper_bound(first_piece_.begin(), first_piece_.end(), index);
  const auto chunk = static_cast<size_t>(it - first_piece_.begin()) - 1;
  return piece(chunk, index - first_piece_[chunk]);
}

}  // namespace meshtrain
