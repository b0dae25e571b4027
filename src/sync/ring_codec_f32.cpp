// The identity codec: a hop adds its values into the received message itself
// (received += own) and forwards that message; the owner and the all-gather
// copy the sum out of it. The finiteness check rides in the add/copy loops.
#include <cassert>

#include "sync/float_kernels.h"
#include "sync/ring_codecs.h"

namespace meshtrain {

using sync_internal::AddInPlace;
using sync_internal::Copy;
using sync_internal::CopyChecked;

void F32RingCodec::Begin(std::span<float> buf, const RingLayout& layout) {
  buf_begin_ = buf.data();
  largest_chunk_ = layout.chunk_size(0);  // the first chunks hold the extra elements
  lease_.reset();  // last round's: ZeroMQ may now release the staging buffer
}

RingPiece F32RingCodec::Own(size_t index, std::span<float> mine) {
  (void)index;
  if (!lease_) {  // the first piece of our chunk: room for all of it, never resized while ZeroMQ reads
    // Acquire pairs with the lease deleter's release in ZeroMQ's thread: when
    // we see it free, ZeroMQ is done reading it.
    if (!staging_ || staging_->in_use.load(std::memory_order_acquire)) staging_ = std::make_shared<Staging>();
    staging_->data.resize(largest_chunk_);
    own_begin_ = static_cast<size_t>(mine.data() - buf_begin_);
    staging_->in_use.store(true, std::memory_order_relaxed);
    lease_ = std::shared_ptr<void>(staging_.get(), [holder = staging_](void*) {
      holder->in_use.store(false, std::memory_order_release);
    });
  }
  const size_t at = static_cast<size_t>(mine.data() - buf_begin_) - own_begin_;
  assert(at + mine.size() <= staging_->data.size());
  float* staged = staging_->data.data() + at;
  if (!CopyChecked(staged, mine.data(), mine.size())) return RingPiece::NonFinite();
  return RingPiece::Floats(staged, mine.size(), lease_);
}

Result<RingPiece> F32RingCodec::Reduce(size_t index, std::span<float> mine, RingPiece& in, bool owner, size_t hop) {
  (void)index;
  (void)hop;
  if (!AddInPlace(in.floats(), mine.data(), mine.size())) return RingPiece::NonFinite();
  if (owner) Copy(mine.data(), in.floats(), mine.size());
  return std::move(in);
}

Status F32RingCodec::Gather(size_t index, std::span<float> mine, const RingPiece& in) {
  (void)index;
  Copy(mine.data(), in.floats(), mine.size());
  return Status::OK();
}

}  // namespace meshtrain
