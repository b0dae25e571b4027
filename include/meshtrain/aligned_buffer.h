// Float buffers aligned to 64 bytes (a cache line, an AVX-512 register).
// Eigen peels unaligned heads off vectorised loops and reductions, so the
// rounding of a sum can depend on where malloc happened to put a buffer; with
// every model-sized buffer on the same alignment, a step computes the same bits
// in every process, which exact resume and bit-identical replicas rely on.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace meshtrain {

template <typename T>
struct CacheLineAllocator {
  using value_type = T;
  static constexpr std::align_val_t kAlignment{64};

  CacheLineAllocator() = default;
  template <typename U>
  CacheLineAllocator(const CacheLineAllocator<U>&) noexcept {}  // NOLINT(google-explicit-constructor)

  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), kAlignment)); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, kAlignment); }

  template <typename U>
  bool operator==(const CacheLineAllocator<U>&) const noexcept { return true; }
};

using AlignedFloats = std::vector<float, CacheLineAllocator<float>>;

}  // namespace meshtrain
