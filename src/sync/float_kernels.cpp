#include "sync/float_kernels.h"

#include <bit>
#include <cstring>
#include <limits>

namespace meshtrain::sync_internal {
namespace {

constexpr uint32_t kExponentMask = 0x7F800000u;  // all ones: Inf or NaN

inline uint32_t NonFiniteBit(float v) { return (std::bit_cast<uint32_t>(v) & kExponentMask) == kExponentMask; }

}  // namespace

bool AddInPlace(float* acc, const float* x, size_t n) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const float s = acc[i] + x[i];
    acc[i] = s;
    bad |= NonFiniteBit(s);
  }
  return bad == 0;
}

bool CopyChecked(float* dst, const float* src, size_t n) {
  uint32_t bad = 0;
  for (size_t i = 0; i < n; ++i) {
    const float v = src[i];
    dst[i] = v;
    bad |= NonFiniteBit(v);
  }
  return bad == 0;
}

void Copy(float* dst, const float* src, size_t n) {
  if (n != 0) std::memcpy(dst, src, n * sizeof(float));
}

void FillNaN(float* dst, size_t n) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  for (size_t i = 0; i < n; ++i) dst[i] = nan;
}

}  // namespace meshtrain::sync_internal
