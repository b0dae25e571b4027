// A training step must not touch the heap: every allocation of the process is
// counted (support/allocation_counter.h) around a step.
#include <doctest/doctest.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <new>
#include <random>
#include <vector>

#include "meshtrain/model.h"
#include "support/allocation_counter.h"

namespace meshtrain {
namespace {

struct Shape {
  ModelConfig config;
  int64_t dim;
  int classes;
};

std::vector<Shape> Shapes() {
  ModelConfig linear;
  linear.type = ModelType::kLinear;
  ModelConfig softmax;
  softmax.type = ModelType::kSoftmax;
  ModelConfig mlp;
  mlp.hidden = {128};
  ModelConfig deep;
  deep.hidden = {256, 128};
  deep.activation = HiddenActivation::kTanh;
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
    const long long before = meshtrain::testing::AllocationCount();
    for (int i = 0; i < 3; ++i) {
      model.ForwardBackward(full);
      model.ForwardBackward(partial);
      model.ForwardBackward(chunked);
      model.ForwardBackward(single);
      model.Evaluate(full, &totals);
      model.Evaluate(chunked, &totals);
    }
    CHECK(meshtrain::testing::AllocationCount() - before == 0);
  }
}

LayerConfig Layer(const char* kind, int64_t size = 0, int64_t kernel = 0, int64_t padding = 0) {
  LayerConfig l;
  l.kind = ParseEnum<LayerKind>(kind).value();
  l.filters = size;
  l.units = size;
  l.kernel = kernel;
  l.padding = padding;
  l.rate = 0.25;
  return l;
}

TEST_CASE("a CNN step allocates nothing after construction, every layer kind included") {
  ModelConfig config;
  config.type = ModelType::kLayers;
  // The reference network of configs/fashion_cnn.toml, then one of each other kind.
  config.layers = {Layer("conv2d", 16, 5, 2), Layer("relu"),         Layer("maxpool2d", 0, 2),
                   Layer("conv2d", 32, 5, 2), Layer("relu"),         Layer("maxpool2d", 0, 2),
                   Layer("layernorm"),        Layer("avgpool2d", 0, 2), Layer("flatten"),
                   Layer("dense", 128),       Layer("gelu"),         Layer("dropout"),
                   Layer("tanh"),             Layer("dense", 10)};
  const int64_t max_batch = 64;
  auto created = CreateModel(config, SampleShape::Image(1, 28, 28), 10, max_batch);
  REQUIRE_MESSAGE(created.ok(), created.status().ToString());
  Model& model = **created;
  model.InitParams(1);
  const int64_t dim = 784, rows = 2 * max_batch + 5;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * dim));
  for (float& v : x) v = u(rng);
  std::vector<int32_t> labels(static_cast<size_t>(rows));
  for (int64_t i = 0; i < rows; ++i) labels[static_cast<size_t>(i)] = static_cast<int32_t>(i % 10);
  const Batch full{x.data(), max_batch, dim, labels.data(), nullptr};
  const Batch partial{x.data(), 7, dim, labels.data(), nullptr};
  const Batch chunked{x.data(), rows, dim, labels.data(), nullptr};
  model.ForwardBackward(full);

  EvalTotals totals;
  const long long before = meshtrain::testing::AllocationCount();
  for (int step = 0; step < 2; ++step) {
    model.SetNoiseKey(NoiseKey(1, 0, step));
    model.ForwardBackward(full);
    model.ForwardBackward(partial);
    model.ForwardBackward(chunked);
    model.Evaluate(full, &totals);
    model.Evaluate(chunked, &totals);
  }
  CHECK(meshtrain::testing::AllocationCount() - before == 0);
}

TEST_CASE("the counter sees operator new and malloc") {
  const long long before = meshtrain::testing::AllocationCount();
  auto* v = new std::vector<float>(10);
  delete v;
  void* p = std::malloc(64);
  std::free(p);
  const long long counted = meshtrain::testing::AllocationCount() - before;
  CHECK(counted >= 2);
}

}  // namespace
}  // namespace meshtrain
