// int8 with one scale per payload: s = max|x| / 127, q = round(x / s) in
// [-127, 127] (-128 is never produced, so the code is symmetric), d = s * q.
// Stochastic rounding draws its uniform from a counter-based hash of (seed,
// index): no state, the same bytes on every machine, and each element's draw
// is independent of how the buffer is cut.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>

#include "meshtrain/codec.h"
#include "wire/codec_bytes.h"
#include "wire/codec_kernels.h"

namespace meshtrain {
namespace {

using wire_internal::LoadF32;
using wire_internal::MagnitudeKey;
using wire_internal::StoreF32;

constexpr float kLevels = 127.0f;

uint32_t SeedBits(uint64_t seed) {  // SplitMix64's finalizer, folded to 32 bits
  seed += 0x9E3779B97F4A7C15ull;
  seed = (seed ^ (seed >> 30)) * 0xBF58476D1CE4E5B9ull;
  seed = (seed ^ (seed >> 27)) * 0x94D049BB133111EBull;
  seed ^= seed >> 31;
  return static_cast<uint32_t>(seed ^ (seed >> 32));
}

// C. Wellons' lowbias32: a 32-bit integer hash with good avalanche, and only
// 32-bit multiplies, so the loop vectorizes.
inline uint32_t Hash32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7FEB352Du;
  x ^= x >> 15;
  x *= 0x846CA68Bu;
  x ^= x >> 16;
  return x;
}

// Uniform in [0, 1) with 24 bits.
inline float Uniform(uint32_t seed, size_t i) {
  return static_cast<float>(Hash32(static_cast<uint32_t>(i) * 0x9E3779B9u ^ seed) >> 8) * 0x1.0p-24f;
}

float MaxMagnitude(const float* src, size_t n) {
  uint32_t largest = 0;  // integer max over magnitude bits: vectorizes, exact for finite values
  for (size_t i = 0; i < n; ++i) largest = std::max(largest, MagnitudeKey(src[i]));
  return std::bit_cast<float>(largest);
}

inline int8_t Clamp127(float q) { return static_cast<int8_t>(std::clamp(q, -kLevels, kLevels)); }

// floor() for |v| < 2^31, as integer arithmetic: GCC does not vectorize
// std::floor (it might raise "inexact"), but it does vectorize this.
inline int32_t FloorToInt(float v) {
  const auto t = static_cast<int32_t>(v);
  return t - (static_cast<float>(t) > v ? 1 : 0);
}

}  // namespace

void EncodeI8(const float* src, size_t n, Rounding rounding, uint64_t seed, void* dst) {
  auto* out = static_cast<unsigned char*>(dst);
  const float largest = MaxMagnitude(src, n);
  const float scale = largest / kLevels;
  StoreF32(out, scale);
  int8_t* q = reinterpret_cast<int8_t*>(out + 4);
  const float inv = largest > 0 ? kLevels / largest : 0.0f;
  if (!std::isfinite(inv)) {
    // max|x| below ~1e-37: 127 / max overflows. Rare enough for plain doubles.
    for (size_t i = 0; i < n; ++i) {
      const double y = static_cast<double>(src[i]) / static_cast<double>(scale);
      const double r = rounding == Rounding::kNearest ? std::nearbyint(y) : std::floor(y + Uniform(SeedBits(seed), i));
      q[i] = static_cast<int8_t>(std::clamp(r, -127.0, 127.0));
    }
    return;
  }
  if (rounding == Rounding::kNearest) {
    for (size_t i = 0; i < n; ++i) q[i] = Clamp127(std::nearbyint(src[i] * inv));
  } else {
    const uint32_t s = SeedBits(seed);
    // |src * inv| <= 127 (plus rounding), so the sum fits an int32 easily.
    for (size_t i = 0; i < n; ++i) {
      q[i] = static_cast<int8_t>(std::clamp(FloorToInt(src[i] * inv + Uniform(s, i)), -127, 127));
    }
  }
}

void DecodeI8(const void* src, size_t n, float* dst) {
  const auto* in = static_cast<const unsigned char*>(src);
  const float scale = LoadF32(in);
  const int8_t* q = reinterpret_cast<const int8_t*>(in + 4);
  for (size_t i = 0; i < n; ++i) dst[i] = scale * static_cast<float>(q[i]);
}

namespace wire_internal {

void AccumulateI8(const void* src, size_t n, float* acc) {
  const auto* in = static_cast<const unsigned char*>(src);
  const float scale = LoadF32(in);
  const int8_t* q = reinterpret_cast<const int8_t*>(in + 4);
  for (size_t i = 0; i < n; ++i) acc[i] += scale * static_cast<float>(q[i]);
}

}  // namespace wire_internal
}  // namespace meshtrain
