// The receive-side kernels of the codecs: add a payload's decoded values into
// an fp32 accumulator without materializing them. Private to the wire module;
// codec_tensor.cpp dispatches to them by dtype (after checking sizes).
#pragma once

#include <cstddef>

#include "meshtrain/status.h"

namespace meshtrain::wire_internal {

void AccumulateF32(const void* src, size_t n, float* acc);
void AccumulateF16(const void* src, size_t n, float* acc);
void AccumulateBF16(const void* src, size_t n, float* acc);
void AccumulateI8(const void* src, size_t n, float* acc);
// Corruption if an index is >= n or the indices do not strictly increase
// (entries before the bad one have been added).
Status AccumulateTopK(const void* src, size_t k, float* acc, size_t n);

}  // namespace meshtrain::wire_internal
