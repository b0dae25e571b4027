// The elementwise loops of the ring all-reduce. Branch-free inner loops so the
// compiler vectorizes them; each also says whether its output is all finite,
// which costs nothing extra while the values are in registers.
#pragma once

#include <cstddef>
#include <cstdint>

namespace meshtrain::sync_internal {

// acc[i] += x[i]; true if every acc[i] is finite afterwards.
bool AddInPlace(float* acc, const float* x, size_t n);
// dst[i] = src[i]; true if every value is finite.
bool CopyChecked(float* dst, const float* src, size_t n);
// dst[i] = src[i].
void Copy(float* dst, const float* src, size_t n);
// dst[i] = quiet NaN (the same bits on every peer).
void FillNaN(float* dst, size_t n);
// True if `p` may be read as float* (alignof(float)).
inline bool IsFloatAligned(const void* p) { return reinterpret_cast<uintptr_t>(p) % alignof(float) == 0; }

}  // namespace meshtrain::sync_internal
