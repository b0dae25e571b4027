// A training step must not touch the heap. Eigen allocates with std::malloc,
// not operator new, so on glibc this TU interposes the malloc family (forwarding
// to glibc's __libc_* entry points) and counts every call: operator new goes
// through malloc too. Elsewhere it falls back to replacing operator new.
#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

#include "meshtrain/model.h"

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

struct Shape {
  ModelConfig config;
  int64_t dim;
  int classes;
};

std::vector<Shape> Shapes() {
  ModelConfig linear;
  linear.type = "linear";
  ModelConfig softmax;
  softmax.type = "softmax";
  ModelConfig mlp;
  mlp.hidden = {128};
  ModelConfig deep;
  deep.hidden = {256, 128};
  deep.activation = "tanh";
  return {{linear, 784, 0}, {softmax, 784, 10}, {mlp, 784, 10}, {deep, 784, 10}};
}

TEST_CASE("ForwardBackward and Evaluate allocate nothing after construction") {
  const int64_t max_batch = 64;
  for (const Shape& shape : Shapes()) {
    CAPTURE(shape.config.type);
    auto created = CreateModel(shape.config, shape.dim, shape.classes, max_batch);
    REQUIRE(created.ok());
    Model& model = **created;
    model.InitParams(1);

    const int64_t rows = 3 * max_batch + 5;  // full, partial and chunked batches
    std::mt19937 rng(3);
    std::uniform_real_distribution<float> u(0.0f, 1.0f);
    std::vector<float> x(static_cast<size_t>(rows * shape.dim));
    for (float& v : x) v = u(rng);
    std::vector<int32_t> labels(static_cast<size_t>(rows));
    std::vector<float> targets(static_cast<size_t>(rows));
    for (int64_t i = 0; i < rows; ++i) {
      labels[static_cast<size_t>(i)] = shape.classes > 0 ? static_cast<int32_t>(i % shape.classes) : 0;
      targets[static_cast<size_t>(i)] = u(rng);
    }
    const Batch full{x.data(), max_batch, shape.dim, labels.data(), targets.data()};
    const Batch partial{x.data(), 7, shape.dim, labels.data(), targets.data()};
    const Batch chunked{x.data(), rows, shape.dim, labels.data(), targets.data()};
    const Batch single{x.data(), 1, shape.dim, labels.data(), targets.data()};
    model.ForwardBackward(full);  // first use (e.g. Eigen's one-time cache size query)

    EvalTotals totals;
    const long long before = g_allocations.load();
    for (int i = 0; i < 3; ++i) {
      model.ForwardBackward(full);
      model.ForwardBackward(partial);
      model.ForwardBackward(chunked);
      model.ForwardBackward(single);
      model.Evaluate(full, &totals);
      model.Evaluate(chunked, &totals);
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
  const long long counted = g_allocations.load() - before;
  CHECK(counted >= 2);
}

}  // namespace
}  // namespace meshtrain
