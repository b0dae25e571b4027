// Top-k by magnitude: find the threshold (the k-th largest magnitude), then
// emit every entry above it and, in index order, as many entries equal to it
// as k still needs. The threshold comes from a sample and a pass over the few
// candidates when k is a small fraction of n (the usual case), else from radix
// selection on the magnitude bits (three histogram passes of 11, 11 and 9
// bits, each counting only the elements that share the prefix found so far).
// O(n), no sort, deterministic, and the indices come out ascending, as the
// wire wants them.
#include <algorithm>
#include <array>
#include <cstring>
#include <functional>
#include <string>
#include <vector>

#include "meshtrain/codec.h"
#include "wire/codec_bytes.h"
#include "wire/codec_kernels.h"

namespace meshtrain {
namespace {

using wire_internal::LoadF32;
using wire_internal::LoadLittle;
using wire_internal::MagnitudeKey;
using wire_internal::StoreF32;
using wire_internal::StoreLittle;

struct Threshold {
  uint32_t key = 0;     // magnitude bits of the k-th largest entry
  size_t equal_taken = 0;  // how many entries with exactly this key are kept (the first ones)
};

Threshold FindThreshold(const float* src, size_t n, size_t k) {
  struct Level {
    int shift;
    int bits;
  };
  constexpr std::array<Level, 3> kLevels = {{{20, 11}, {9, 11}, {0, 9}}};
  std::array<size_t, 2048> histogram;
  uint32_t prefix = 0;
  uint32_t prefix_mask = 0;
  size_t need = k;  // entries still to keep among those matching the prefix
  for (const Level& level : kLevels) {
    const uint32_t mask = (1u << level.bits) - 1;
    std::fill(histogram.begin(), histogram.begin() + (size_t{1} << level.bits), 0);
    for (size_t i = 0; i < n; ++i) {
      const uint32_t key = MagnitudeKey(src[i]);
      if ((key & prefix_mask) == prefix) ++histogram[(key >> level.shift) & mask];
    }
    size_t above = 0;
    uint32_t bin = mask;
    for (;; --bin) {
      if (above + histogram[bin] >= need || bin == 0) break;
      above += histogram[bin];
    }
    need -= above;
    prefix |= bin << level.shift;
    prefix_mask |= mask << level.shift;
  }
  return Threshold{prefix, need};
}

// Emits the entries whose key is above `t.key`, and the first `t.equal_taken`
// equal to it, from `indices` (ascending) or, if null, from all n.
template <typename Emit>
void EmitAbove(const float* src, size_t n, const uint32_t* indices, size_t count, Threshold t, Emit& emit) {
  size_t equal_left = t.equal_taken;
  const size_t end = indices != nullptr ? count : n;
  for (size_t j = 0; j < end; ++j) {
    const size_t i = indices != nullptr ? indices[j] : j;
    const uint32_t key = MagnitudeKey(src[i]);
    if (key > t.key || (key == t.key && equal_left > 0)) {
      if (key == t.key) --equal_left;
      emit(i, src[i]);
    }
  }
}

// The common case, k a small fraction of a long n, in about one pass: a
// strided sample bounds the threshold from below (its rank is set for about
// twice the expected number of kept entries), one pass gathers the entries at
// or above the bound, and the exact threshold is selected among those few.
// False (nothing emitted) in the unlikely case that the bound was too high.
template <typename Emit>
bool SampledTopK(const float* src, size_t n, size_t k, Emit& emit) {
  // A sample of at most 16 Ki entries: enough to place the bound, cheap to select in.
  const size_t stride = std::max<size_t>(8, n / 16384);
  const size_t m = n / stride;
  std::vector<uint32_t> keys(m);
  for (size_t j = 0; j < m; ++j) keys[j] = MagnitudeKey(src[j * stride]);
  const size_t rank = std::min(m, 2 * (k * m / n) + 16);  // 1-based
  std::nth_element(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(rank - 1), keys.end(),
                   std::greater<uint32_t>());
  const uint32_t bound = keys[rank - 1];
  std::vector<uint32_t> candidates;
  candidates.reserve(2 * k + 64);
  for (size_t i = 0; i < n; ++i) {
    if (MagnitudeKey(src[i]) >= bound) candidates.push_back(static_cast<uint32_t>(i));
  }
  if (candidates.size() < k) return false;
  keys.resize(candidates.size());
  for (size_t j = 0; j < candidates.size(); ++j) keys[j] = MagnitudeKey(src[candidates[j]]);
  std::nth_element(keys.begin(), keys.begin() + static_cast<std::ptrdiff_t>(k - 1), keys.end(),
                   std::greater<uint32_t>());
  Threshold t;
  t.key = keys[k - 1];
  // nth_element leaves the k-1 larger-or-equal keys in front: count the equal ones.
  size_t above = 0;
  for (size_t j = 0; j + 1 < k; ++j) above += keys[j] > t.key;
  t.equal_taken = k - above;
  EmitAbove(src, n, candidates.data(), candidates.size(), t, emit);
  return true;
}

// Calls emit(index, value) for the kept entries, in ascending index order.
template <typename Emit>
void ForEachTopK(const float* src, size_t n, size_t k, Emit emit) {
  if (k == 0) return;
  if (k >= n) {
    for (size_t i = 0; i < n; ++i) emit(i, src[i]);
    return;
  }
  if (n >= 4096 && k <= n / 16 && SampledTopK(src, n, k, emit)) return;
  EmitAbove(src, n, nullptr, 0, FindThreshold(src, n, k), emit);
}

}  // namespace

void SelectTopK(const float* src, size_t n, size_t k, std::vector<uint32_t>* indices) {
  indices->clear();
  indices->reserve(std::min(k, n));
  ForEachTopK(src, n, k, [&](size_t i, float) { indices->push_back(static_cast<uint32_t>(i)); });
}

void EncodeTopK(const float* src, size_t n, size_t k, void* dst) {
  k = std::min(k, n);
  auto* index_out = static_cast<unsigned char*>(dst);
  unsigned char* value_out = index_out + 4 * k;
  size_t j = 0;
  ForEachTopK(src, n, k, [&](size_t i, float v) {
    StoreLittle<uint32_t>(index_out + 4 * j, static_cast<uint32_t>(i));
    StoreF32(value_out + 4 * j, v);
    ++j;
  });
}

namespace {

// Checks every index (below n, strictly increasing) and calls put(index, value).
template <typename Put>
Status ForEachEntry(const void* src, size_t k, size_t n, Put put) {
  const auto* index_in = static_cast<const unsigned char*>(src);
  const unsigned char* value_in = index_in + 4 * k;
  uint64_t previous = 0;
  for (size_t j = 0; j < k; ++j) {
    const uint32_t index = LoadLittle<uint32_t>(index_in + 4 * j);
    if (index >= n || (j > 0 && index <= previous)) {
      return Status::Corruption("topk entry " + std::to_string(j) + " of " + std::to_string(k) + " has index " +
                                std::to_string(index) +
                                (index >= n ? " outside a tensor of " + std::to_string(n)
                                            : " not above the previous one, " + std::to_string(previous)));
    }
    put(index, LoadF32(value_in + 4 * j));
    previous = index;
  }
  return Status::OK();
}

}  // namespace

Status CheckTopK(const void* src, size_t k, size_t n) {
  return ForEachEntry(src, k, n, [](uint32_t, float) {});
}

Status DecodeTopK(const void* src, size_t k, float* dst, size_t n) {
  std::fill(dst, dst + n, 0.0f);
  return ForEachEntry(src, k, n, [dst](uint32_t i, float v) { dst[i] = v; });
}

namespace wire_internal {

Status AccumulateTopK(const void* src, size_t k, float* acc, size_t n) {
  return ForEachEntry(src, k, n, [acc](uint32_t i, float v) { acc[i] += v; });
}

}  // namespace wire_internal
}  // namespace meshtrain
