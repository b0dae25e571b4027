#include "sync/ring_messages.h"

#include <bit>

namespace meshtrain {
namespace {

void PutLittle(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetLittle(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

constexpr uint8_t kNonFiniteFlag = 1;
constexpr uint8_t kCompressedFlag = 2;

}  // namespace

std::string EncodePieceExtra(const PieceExtra& extra) {
  std::string out;
  out.reserve(extra.compressed ? kCompressedPieceExtraFixedBytes + 4 * extra.tail.size() : kPieceExtraBytes);
  PutLittle(&out, extra.total_elems, 8);
  PutLittle(&out, extra.segment_elems, 8);
  out.push_back(static_cast<char>((extra.non_finite ? kNonFiniteFlag : 0) | (extra.compressed ? kCompressedFlag : 0)));
  if (!extra.compressed) return out;
  PutLittle(&out, extra.exact_tail, 4);
  for (float v : extra.tail) PutLittle(&out, std::bit_cast<uint32_t>(v), 4);
  return out;
}

std::optional<PieceExtra> DecodePieceExtra(std::string_view bytes) {
  if (bytes.size() < kPieceExtraBytes) return std::nullopt;
  const auto flags = static_cast<uint8_t>(bytes[16]);
  if ((flags & ~(kNonFiniteFlag | kCompressedFlag)) != 0) return std::nullopt;
  PieceExtra extra;
  extra.total_elems = GetLittle(bytes, 0, 8);
  extra.segment_elems = GetLittle(bytes, 8, 8);
  extra.non_finite = (flags & kNonFiniteFlag) != 0;
  extra.compressed = (flags & kCompressedFlag) != 0;
  if (!extra.compressed) {
    if (bytes.size() != kPieceExtraBytes) return std::nullopt;
    return extra;
  }
  if (bytes.size() < kCompressedPieceExtraFixedBytes || (bytes.size() - kCompressedPieceExtraFixedBytes) % 4 != 0) {
    return std::nullopt;
  }
  extra.exact_tail = static_cast<uint32_t>(GetLittle(bytes, 17, 4));
  for (size_t at = kCompressedPieceExtraFixedBytes; at < bytes.size(); at += 4) {
    extra.tail.push_back(std::bit_cast<float>(static_cast<uint32_t>(GetLittle(bytes, at, 4))));
  }
  return extra;
}

MessageType ToMessageType(RingPhase phase) {
  return phase == RingPhase::kReduceScatter ? MessageType::kReduceScatter : MessageType::kAllGather;
}

const char* PhaseName(RingPhase phase) {
  return phase == RingPhase::kReduceScatter ? "reduce-scatter" : "all-gather";
}

Header PieceHeader(const std::string& self, RoundTag tag, RingPhase phase, uint32_t piece, uint32_t n_pieces,
                   uint64_t n_elems, const PieceExtra& extra) {
  Header h;
  h.type = ToMessageType(phase);
  h.sender = self;
  h.view_id = tag.view;
  h.round = tag.round;
  h.step = 0;  // the collective does not know the optimizer step
  h.chunk = piece;
  h.n_chunks = n_pieces;
  h.dtype = DType::kF32;
  h.n_elems = extra.non_finite ? 0 : n_elems;
  h.extra = EncodePieceExtra(extra);
  return h;
}

std::string EncodeHelloFlags(HelloFlags flags) {
  return std::string(1, static_cast<char>((flags.heard_you ? 1 : 0) | (flags.got_yours ? 2 : 0)));
}

HelloFlags DecodeHelloFlags(std::string_view extra) {
  HelloFlags flags;
  if (extra.size() != 1) return flags;
  const auto bits = static_cast<uint8_t>(extra[0]);
  flags.heard_you = (bits & 1) != 0;
  flags.got_yours = (bits & 2) != 0;
  return flags;
}

Header HelloHeader(const std::string& self, HelloFlags flags) {
  Header h;
  h.type = MessageType::kHello;
  h.sender = self;
  h.extra = EncodeHelloFlags(flags);
  return h;
}

Header ByeHeader(const std::string& self) {
  Header h;
  h.type = MessageType::kBye;
  h.sender = self;
  return h;
}

}  // namespace meshtrain
