// fp16 and bf16: two bytes per value, round to nearest even. Written as
// branch-free bit arithmetic (selects, no table) so the loops vectorize and
// give the same bytes on every CPU; finite values never become Inf (they
// saturate), so a large gradient does not turn into a skipped step.
#include <bit>
#include <cstdint>

#include "meshtrain/codec.h"
#include "wire/codec_bytes.h"
#include "wire/codec_kernels.h"

namespace meshtrain {
namespace {

using wire_internal::LoadLittle;
using wire_internal::StoreLittle;

constexpr uint32_t kF32Inf = 0x7F800000u;
constexpr uint32_t kF16MaxAsF32 = 0x477FE000u;   // 65504.0f, the largest finite half
constexpr uint32_t kF16MinNormalAsF32 = 0x38800000u;  // 2^-14

// F. Giesen's float_to_half_fast3_rtne, with saturation instead of overflow to Inf.
inline uint16_t FloatToHalf(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint32_t sign = (bits >> 16) & 0x8000u;
  const uint32_t x = bits & 0x7FFFFFFFu;
  const uint32_t clamped = x < kF16MaxAsF32 ? x : kF16MaxAsF32;
  // Below 2^-14 the half is subnormal: adding 0.5f lines the float's mantissa
  // up with the half's 2^-24 spacing, and the FPU rounds it to nearest even.
  const uint32_t subnormal = std::bit_cast<uint32_t>(std::bit_cast<float>(clamped) + 0.5f) - 0x3F000000u;
  // Normal: rebias the exponent, round to nearest even on the 13 dropped bits.
  const uint32_t normal = (clamped + 0xC8000FFFu + ((clamped >> 13) & 1u)) >> 13;
  uint32_t h = clamped < kF16MinNormalAsF32 ? subnormal : normal;
  h = x == kF32Inf ? 0x7C00u : h;
  h = x > kF32Inf ? 0x7E00u : h;
  return static_cast<uint16_t>(h | sign);
}

// Exact: every half is a float.
inline float HalfToFloat(uint16_t h) {
  const uint32_t magnitude = static_cast<uint32_t>(h & 0x7FFFu) << 13;
  const uint32_t exponent = magnitude & 0x0F800000u;
  const uint32_t normal = magnitude + 0x38000000u;                   // rebias 15 -> 127
  const uint32_t special = magnitude + 0x70000000u;                  // Inf/NaN: exponent all ones
  const float sub = std::bit_cast<float>(magnitude + 0x38800000u) - std::bit_cast<float>(kF16MinNormalAsF32);
  uint32_t out = exponent == 0x0F800000u ? special : normal;
  out = exponent == 0 ? std::bit_cast<uint32_t>(sub) : out;
  return std::bit_cast<float>(out | (static_cast<uint32_t>(h & 0x8000u) << 16));
}

inline uint16_t FloatToBFloat(float f) {
  const uint32_t bits = std::bit_cast<uint32_t>(f);
  const uint32_t x = bits & 0x7FFFFFFFu;
  const uint32_t rounded = (bits + 0x7FFFu + ((bits >> 16) & 1u)) >> 16;
  const uint32_t saturated = ((bits >> 16) & 0x8000u) | 0x7F7Fu;
  uint32_t h = (x < kF32Inf && (rounded & 0x7F80u) == 0x7F80u) ? saturated : rounded;
  h = x > kF32Inf ? ((bits >> 16) | 0x0040u) : h;  // NaN stays (quiet) NaN
  return static_cast<uint16_t>(h);
}

inline float BFloatToFloat(uint16_t h) { return std::bit_cast<float>(static_cast<uint32_t>(h) << 16); }

inline const unsigned char* Bytes(const void* p) { return static_cast<const unsigned char*>(p); }
inline unsigned char* Bytes(void* p) { return static_cast<unsigned char*>(p); }

}  // namespace

void EncodeF16(const float* src, size_t n, void* dst) {
  unsigned char* out = Bytes(dst);
  for (size_t i = 0; i < n; ++i) StoreLittle<uint16_t>(out + 2 * i, FloatToHalf(src[i]));
}

void DecodeF16(const void* src, size_t n, float* dst) {
  const unsigned char* in = Bytes(src);
  for (size_t i = 0; i < n; ++i) dst[i] = HalfToFloat(LoadLittle<uint16_t>(in + 2 * i));
}

void EncodeBF16(const float* src, size_t n, void* dst) {
  unsigned char* out = Bytes(dst);
  for (size_t i = 0; i < n; ++i) StoreLittle<uint16_t>(out + 2 * i, FloatToBFloat(src[i]));
}

void DecodeBF16(const void* src, size_t n, float* dst) {
  const unsigned char* in = Bytes(src);
  for (size_t i = 0; i < n; ++i) dst[i] = BFloatToFloat(LoadLittle<uint16_t>(in + 2 * i));
}

namespace wire_internal {

void AccumulateF16(const void* src, size_t n, float* acc) {
  const unsigned char* in = Bytes(src);
  for (size_t i = 0; i < n; ++i) acc[i] += HalfToFloat(LoadLittle<uint16_t>(in + 2 * i));
}

void AccumulateBF16(const void* src, size_t n, float* acc) {
  const unsigned char* in = Bytes(src);
  for (size_t i = 0; i < n; ++i) acc[i] += BFloatToFloat(LoadLittle<uint16_t>(in + 2 * i));
}

}  // namespace wire_internal
}  // namespace meshtrain
