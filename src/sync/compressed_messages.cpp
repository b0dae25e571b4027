#include "sync/compressed_messages.h"

#include <bit>

#include "sync/ring_messages.h"

namespace meshtrain {
namespace {

constexpr uint8_t kNonFiniteFlag = 1;
constexpr uint8_t kCompressedFlag = 2;

void PutLittle(std::string* out, uint64_t v, int bytes) {
  for (int i = 0; i < bytes; ++i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

uint64_t GetLittle(std::string_view in, size_t at, int bytes) {
  uint64_t v = 0;
  for (int i = 0; i < bytes; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(in[at + i])) << (8 * i);
  return v;
}

}  // namespace

std::string EncodeCompressedPieceExtra(const CompressedPieceExtra& extra) {
  std::string out;
  out.reserve(kCompressedPieceExtraFixedBytes + 4 * extra.tail.size());
  PutLittle(&out, extra.total_elems, 8);
  PutLittle(&out, extra.segment_elems, 8);
  out.push_back(static_cast<char>(kCompressedFlag | (extra.non_finite ? kNonFiniteFlag : 0)));
  PutLittle(&out, extra.exact_tail, 4);
  for (float v : extra.tail) PutLittle(&out, std::bit_cast<uint32_t>(v), 4);
  return out;
}

std::optional<CompressedPieceExtra> DecodeCompressedPieceExtra(std::string_view bytes) {
  if (bytes.size() < kCompressedPieceExtraFixedBytes || (bytes.size() - kCompressedPieceExtraFixedBytes) % 4 != 0) {
    return std::nullopt;
  }
  const auto flags = static_cast<uint8_t>(bytes[16]);
  if ((flags & ~(kNonFiniteFlag | kCompressedFlag)) != 0 || (flags & kCompressedFlag) == 0) return std::nullopt;
  CompressedPieceExtra extra;
  extra.total_elems = GetLittle(bytes, 0, 8);
  extra.segment_elems = GetLittle(bytes, 8, 8);
  extra.non_finite = (flags & kNonFiniteFlag) != 0;
  extra.exact_tail = static_cast<uint32_t>(GetLittle(bytes, 17, 4));
  for (size_t at = kCompressedPieceExtraFixedBytes; at < bytes.size(); at += 4) {
    extra.tail.push_back(std::bit_cast<float>(static_cast<uint32_t>(GetLittle(bytes, at, 4))));
  }
  return extra;
}

bool IsUncompressedPieceExtra(std::string_view bytes) { return DecodePieceExtra(bytes).has_value(); }

}  // namespace meshtrain
