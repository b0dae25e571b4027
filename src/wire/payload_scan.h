// Scans of raw little-endian tensor payloads: are all values finite, are the
// top-k indices in order. Private to the wire module.
#pragma once

#include <cstddef>
#include <cstdint>

namespace meshtrain::wire_internal {

// True if none of the `n` values at `data` is NaN or +-Inf.
bool AllFiniteF32(const void* data, size_t n);
bool AllFiniteF16(const void* data, size_t n);
bool AllFiniteBF16(const void* data, size_t n);
// True if the `n` u32 indices at `data` strictly increase and are all < `bound`.
bool IndicesIncreasingBelow(const void* data, size_t n, uint64_t bound);

}  // namespace meshtrain::wire_internal
