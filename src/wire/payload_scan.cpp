// Branch-free inner loops (the compiler vectorizes them) over blocks, with an
// early exit between blocks: a 64 MB f32 chunk is scanned at memory speed.
#include "payload_scan.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace meshtrain::wire_internal {
namespace {

constexpr size_t kBlock = 4096;

// Loads the i-th little-endian unsigned of width sizeof(U) from `p`
// (unaligned-safe; a plain load on little-endian hosts).
template <typename U>
U LoadLE(const unsigned char* p, size_t i) {
  U v;
  std::memcpy(&v, p + i * sizeof(U), sizeof(U));
  if constexpr (std::endian::native == std::endian::big) {
    U r = 0;
    for (size_t b = 0; b < sizeof(U); ++b) r = static_cast<U>(r | (U(p[i * sizeof(U) + b]) << (8 * b)));
    v = r;
  }
  return v;
}

// A float format is non-finite when its exponent bits are all ones.
template <typename U>
bool NoneHasExponent(const void* data, size_t n, U exponent_mask) {
  const auto* p = static_cast<const unsigned char*>(data);
  for (size_t begin = 0; begin < n; begin += kBlock) {
    const size_t end = std::min(n, begin + kBlock);
    unsigned bad = 0;
    for (size_t i = begin; i < end; ++i) bad |= (LoadLE<U>(p, i) & exponent_mask) == exponent_mask;
    if (bad) return false;
  }
  return true;
}

}  // namespace

bool AllFiniteF32(const void* data, size_t n) { return NoneHasExponent<uint32_t>(data, n, 0x7F800000u); }
bool AllFiniteF16(const void* data, size_t n) { return NoneHasExponent<uint16_t>(data, n, 0x7C00u); }
bool AllFiniteBF16(const void* data, size_t n) { return NoneHasExponent<uint16_t>(data, n, 0x7F80u); }

bool IndicesIncreasingBelow(const void* data, size_t n, uint64_t bound) {
  const auto* p = static_cast<const unsigned char*>(data);
  uint64_t previous = 0;
  for (size_t i = 0; i < n; ++i) {
    const uint64_t index = LoadLE<uint32_t>(p, i);
    if (index >= bound || (i > 0 && index <= previous)) return false;
    previous = index;
  }
  return true;
}

}  // namespace meshtrain::wire_internal
