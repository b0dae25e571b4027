// The codecs the ring runs with (RingCodec, include/meshtrain/ring_allreduce.h):
//   F32RingCodec      the identity: pieces are the floats themselves, reduced
//                     in place in the received message and forwarded with it
//                     (no copy but our own chunk at step 0; docs/ring.md,
//                     "Zero copy");
//   EncodedRingCodec  fp16, bf16, int8 and topk, with error feedback and an
//                     exact tail (docs/compression.md, "The compressed ring").
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "meshtrain/peer_group.h"
#include "meshtrain/ring_allreduce.h"

namespace meshtrain {

class F32RingCodec final : public RingCodec {
 public:
  RingWire wire() const override { return {}; }
  void Begin(std::span<float> buf, const RingLayout& layout) override;
  RingPiece Own(size_t index, std::span<float> mine) override;
  Result<RingPiece> Reduce(size_t index, std::span<float> mine, RingPiece& in, bool owner, size_t hop) override;
  Status Gather(size_t index, std::span<float> mine, const RingPiece& in) override;

 private:
  // Our own chunk is copied once per round before it is sent: ZeroMQ may still
  // be sending it after Run returns with an error, so it must not point into
  // the caller's buffer. The copy is reused when ZeroMQ has released every
  // piece of the previous round's (the lease's deleter clears `in_use`).
  struct Staging {
    std::vector<float> data;
    std::atomic<bool> in_use{false};
  };

  std::shared_ptr<Staging> staging_;
  std::shared_ptr<void> lease_;  // this round's, shared by every step-0 piece
  const float* buf_begin_ = nullptr;
  size_t largest_chunk_ = 0;
  size_t own_begin_ = 0;  // the first float of our chunk: staging_->data[0]
};

class EncodedRingCodec final : public RingCodec {
 public:
  // `seed` varies stochastic rounding from round to round. `how.residual`
  // (if any) is updated in place: on a failed round it is partly updated but
  // still only holds finite leftovers.
  EncodedRingCodec(const CompressedReduce& how, uint64_t seed);

  RingWire wire() const override { return {true, static_cast<uint32_t>(how_.exact_tail)}; }
  void Begin(std::span<float> buf, const RingLayout& layout) override;
  PieceShape ShapeOf(const RingLayout::Piece& p) const override;
  RingPiece Own(size_t index, std::span<float> mine) override;
  Result<RingPiece> Reduce(size_t index, std::span<float> mine, RingPiece& in, bool owner, size_t hop) override;
  Status Gather(size_t index, std::span<float> mine, const RingPiece& in) override;

 private:
  void Sparsify(float* x, float* r, size_t n);
  RingPiece Encode(size_t index, std::span<float> mine, size_t hop, bool owner, RingPiece* reuse);
  void EncodeInPlace(std::span<const float> body, uint64_t seed, void* dst) const;
  float* ResidualOf(size_t offset) { return feedback_ ? how_.residual.data() + offset : nullptr; }

  const CompressedReduce& how_;
  const uint64_t seed_;
  const bool feedback_;
  const bool sparse_;
  const RingLayout* layout_ = nullptr;
  size_t body_end_ = 0;              // floats before the exact tail
  std::vector<bool> finite_;         // per piece: no NaN/Inf in our values
  std::vector<uint32_t> kept_;       // topk scratch: indices and values of the kept entries
  std::vector<float> kept_values_;
  std::vector<float> decoded_;       // what a payload we just encoded says
};

}  // namespace meshtrain
