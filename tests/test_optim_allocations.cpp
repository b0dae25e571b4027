// Step, ClipByGlobalNorm and AllFinite run inside the step loop and must not
// touch the heap (counted by support/allocation_counter.h).
#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>
#include <vector>

#include "meshtrain/optim.h"
#include "support/allocation_counter.h"

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
  adam.type = OptimizerType::kAdam;
  adam.weight_decay = 1e-4;
  for (const OptimConfig& config : {sgd, nesterov, plain, adam}) {
    auto optimizer = CreateOptimizer(config, n);
    REQUIRE(optimizer.ok());
    const long long before = meshtrain::testing::AllocationCount();
    for (int64_t step = 1; step <= 5; ++step) {
      (*optimizer)->Step(params, grads, 0.01, step);
      ClipByGlobalNorm(grads, 0.1);
      AllFinite(grads);
      ScheduledLearningRate(config, step, 100);
    }
    CHECK(meshtrain::testing::AllocationCount() - before == 0);
  }
}

TEST_CASE("the counter sees operator new and malloc") {
  const long long before = meshtrain::testing::AllocationCount();
  auto* v = new std::vector<float>(10);
  delete v;
  void* p = std::malloc(64);
  std::free(p);
  CHECK(meshtrain::testing::AllocationCount() - before >= 2);
}

}  // namespace
}  // namespace meshtrain
