// Counts every heap allocation of the process, for tests and benchmarks that
// prove a step allocates nothing. Eigen allocates with std::malloc, not operator
// new, so on glibc the malloc family is interposed (forwarding to glibc's
// __libc_* entry points); operator new goes through malloc too. Elsewhere it
// falls back to replacing operator new. Include it in exactly one file of an
// executable: it defines the allocation functions.
#pragma once

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>

namespace meshtrain::testing {
inline constinit std::atomic<long long> g_allocations{0};
inline void Count() { g_allocations.fetch_add(1, std::memory_order_relaxed); }
// Heap allocations made by this process so far.
inline long long AllocationCount() { return g_allocations.load(std::memory_order_relaxed); }
}  // namespace meshtrain::testing

#if defined(__GLIBC__)
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);

void* malloc(std::size_t size) noexcept {
  meshtrain::testing::Count();
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
  meshtrain::testing::Count();
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) noexcept {
  meshtrain::testing::Count();
  return __libc_realloc(p, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  meshtrain::testing::Count();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  meshtrain::testing::Count();
  *out = __libc_memalign(alignment, size);
  return *out != nullptr || size == 0 ? 0 : ENOMEM;
}
}  // extern "C"
#else
void* operator new(std::size_t size) {
  meshtrain::testing::Count();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#endif
