// Step, ClipByGlobalNorm and AllFinite run inside the step loop and must not
// touch the heap. As in test_model_allocations.cpp, the malloc family is
// interposed on glibc (operator new elsewhere) and every call counted.
#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>
#include <vector>

#include "meshtrain/optim.h"

namespace {
constinit std::atomic<long long> g_allocations{0};
void Count() { g_allocations.fetch_add(1, std::memory_order_relaxed); }
}  // namespace

#if defined(__GLIBC__)
extern "C" {
void* __libc_malloc(std::size_t size);
void* __libc_calloc(std::size_t count, std::size_t size);
void* __libc_realloc(void* p, std::size_t size);
void* __libc_memalign(std::size_t alignment, std::size_t size);

void* malloc(std::size_t size) noexcept {
  Count();
  return __libc_malloc(size);
}
void* calloc(std::size_t count, std::size_t size) noexcept {
  Count();
  return __libc_calloc(count, size);
}
void* realloc(void* p, std::size_t size) noexcept {
  Count();
  return __libc_realloc(p, size);
}
void* aligned_alloc(std::size_t alignment, std::size_t size) noexcept {
  Count();
  return __libc_memalign(alignment, size);
}
int posix_memalign(void** out, std::size_t alignment, std::size_t size) noexcept {
  Count();
  *out = __libc_memalign(alignment, size);
  return *out != nullptr || size == 0 ? 0 : ENOMEM;
}
}  // extern "C"
#else
void* operator new(std::size_t size) {
  Count();
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
#endif

namespace meshtrain {
namespace {

TEST_CASE("optimizer steps and gradient checks allocate nothing") {
  const int64_t n = 100000;
  std::vector<float> params(n, 0.5f), grads(n, 0.01f);
  OptimConfig sgd;
  OptimConfig nesterov;
  nesterov.nesterov = true;
  nesterov.weight_decay = 1e-4;
  OptimConfig plain;
  plain.momentum = 0;
  OptimConfig adam;
  adam.type = "adam";
  adam.weight_decay = 1e-4;
  for (const OptimConfig& config : {sgd, nesterov, plain, adam}) {
    auto optimizer = CreateOptimizer(config, n);
    REQUIRE(optimizer.ok());
    const long long before = g_allocations.load();
    for (int64_t step = 1; step <= 5; ++step) {
      (*optimizer)->Step(params, grads, 0.01, step);
      ClipByGlobalNorm(grads, 0.1);
      AllFinite(grads);
      ScheduledLearningRate(config, step, 100);
    }
    CHECK(g_allocations.load() - before == 0);
  }
}

TEST_CASE("the counter sees operator new and malloc") {
  const long long before = g_allocations.load();
  auto* v = new std::vector<float>(10);
  delete v;
  void* p = std::malloc(64);
  std::free(p);
  CHECK(g_allocations.load() - before >= 2);
}

}  // namespace
}  // namespace meshtrain
