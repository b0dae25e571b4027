// Little-endian loads and stores at any alignment, for the codecs. On a
// little-endian host they compile to plain (unaligned) loads and stores, so
// the codec loops still vectorize; a big-endian host swaps.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace meshtrain::wire_internal {

// std::byteswap is C++23; this is the same for the widths we use.
template <typename U>
constexpr U SwapBytes(U v) {
  U r = 0;
  for (size_t i = 0; i < sizeof(U); ++i) r = static_cast<U>((r << 8) | ((v >> (8 * i)) & 0xFF));
  return r;
}

template <typename U>
inline U LoadLittle(const unsigned char* p) {
  U v;
  std::memcpy(&v, p, sizeof(U));
  if constexpr (std::endian::native == std::endian::big) v = SwapBytes(v);
  return v;
}

template <typename U>
inline void StoreLittle(unsigned char* p, U v) {
  if constexpr (std::endian::native == std::endian::big) v = SwapBytes(v);
  std::memcpy(p, &v, sizeof(U));
}

inline float LoadF32(const unsigned char* p) { return std::bit_cast<float>(LoadLittle<uint32_t>(p)); }
inline void StoreF32(unsigned char* p, float v) { StoreLittle<uint32_t>(p, std::bit_cast<uint32_t>(v)); }

// |x| as ordered bits: for non-NaN floats, a larger magnitude is a larger key.
inline uint32_t MagnitudeKey(float x) { return std::bit_cast<uint32_t>(x) & 0x7FFFFFFFu; }

}  // namespace meshtrain::wire_internal
