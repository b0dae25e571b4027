// The `extra` field of a compressed ring piece (docs/compression.md, "On the
// wire"). It starts like the f32 ring's PieceExtra (u64 total floats, u64
// segment size, u8 flags) with flag bit 1 set ("compressed"), then a u32: how
// many floats at the end of the buffer travel exactly (the exact tail), then
// the f32 values of the tail floats that fall inside this piece (little-endian).
// A peer that reduces without compression sends a 17-byte extra without bit 1,
// so a mismatch in sync.compression is named instead of misread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshtrain {

struct CompressedPieceExtra {
  uint64_t total_elems = 0;    // length of the whole buffer being reduced (body + exact tail)
  uint64_t segment_elems = 0;  // the sender's segment size
  bool non_finite = false;     // the piece holds NaN/Inf: no payload, no tail values
  uint32_t exact_tail = 0;     // floats at the end of the buffer that never go through the codec
  std::vector<float> tail;     // this piece's share of them
};
inline constexpr size_t kCompressedPieceExtraFixedBytes = 21;

std::string EncodeCompressedPieceExtra(const CompressedPieceExtra& extra);
// nullopt if malformed (wrong length, unknown flags, no "compressed" flag).
std::optional<CompressedPieceExtra> DecodeCompressedPieceExtra(std::string_view bytes);
// True if `bytes` is the extra of an uncompressed ring piece (PieceExtra).
bool IsUncompressedPieceExtra(std::string_view bytes);

}  // namespace meshtrain
