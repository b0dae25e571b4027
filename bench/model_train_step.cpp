// Throughput of one training step (ForwardBackward + SGD momentum Step) on one
// thread for the model shapes we ship, batch 64, random data; plus the heap
// allocations per step (should be 0).
// The CNN is the reference LeNet-style network of docs/models.md ("Layers"),
// on 1x28x28 images. Usage: bench_model_train_step [seconds_per_model=2] [batch=64] [only=LABEL]
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <new>
#include <random>
#include <ctime>
#include <string>
#include <vector>

#include "meshtrain/model.h"
#include "meshtrain/optim.h"
#include "optim/sgd.h"
#include "support/allocation_counter.h"

namespace {

using meshtrain::Batch;
using meshtrain::Model;
using meshtrain::ModelConfig;

struct Shape {
  std::string label;
  ModelConfig config;
  int num_classes;
};

struct Figures {
  std::string describe;
  int64_t params = 0;
  double samples_per_s = 0;      // wall clock
  double samples_per_cpu_s = 0;  // this thread's CPU time: fairer on a shared machine
  double us_per_step = 0;
  double allocations_per_step = 0;
};

double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + 1e-9 * static_cast<double>(t.tv_nsec);
}

Figures Measure(const Shape& shape, int64_t dim, int64_t batch, double seconds) {
  const auto input = shape.config.type == meshtrain::ModelType::kLayers ? meshtrain::SampleShape::Image(1, 28, 28)
                                                   : meshtrain::SampleShape::Flat(dim);
  auto model = meshtrain::CreateModel(shape.config, input, shape.num_classes, batch);
  if (!model.ok()) {
    std::fprintf(stderr, "%s: %s\n", shape.label.c_str(), model.status().ToString().c_str());
    std::exit(1);
  }
  (*model)->InitParams(1);
  meshtrain::SgdOptimizer optimizer((*model)->num_params(), 0.9f, /*nesterov=*/false, /*weight_decay=*/0.0f);

  std::mt19937 rng(7);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(dim * batch));
  for (float& v : x) v = pixel(rng);
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  std::vector<float> targets(static_cast<size_t>(batch));
  for (int64_t i = 0; i < batch; ++i) {
    labels[static_cast<size_t>(i)] = shape.num_classes > 0 ? static_cast<int32_t>(rng() % shape.num_classes) : 0;
    targets[static_cast<size_t>(i)] = pixel(rng);
  }
  Batch b{x.data(), batch, dim, labels.data(), targets.data()};

  Model& m = **model;
  meshtrain::Optimizer& opt = optimizer;
  int64_t step = 0;
  auto one_step = [&] {
    m.ForwardBackward(b);
    opt.Step(m.params(), m.grads(), 0.001, ++step);
  };
  for (int i = 0; i < 20; ++i) one_step();  // warm caches and Eigen's cache-size query

  using Clock = std::chrono::steady_clock;
  const long long allocations_before = meshtrain::testing::AllocationCount();
  const auto start = Clock::now();
  const double cpu_start = ThreadCpuSeconds();
  int64_t steps = 0;
  double elapsed = 0;
  do {
    for (int i = 0; i < 50; ++i) one_step();
    steps += 50;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds);
  const long long allocations = meshtrain::testing::AllocationCount() - allocations_before;
  const double cpu = ThreadCpuSeconds() - cpu_start;

  Figures f;
  f.describe = m.Describe();
  f.params = m.num_params();
  f.samples_per_s = static_cast<double>(steps * batch) / elapsed;
  f.samples_per_cpu_s = static_cast<double>(steps * batch) / cpu;
  f.us_per_step = 1e6 * cpu / static_cast<double>(steps);
  f.allocations_per_step = static_cast<double>(allocations) / static_cast<double>(steps);
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  const double seconds = argc > 1 ? std::atof(argv[1]) : 2.0;
  const int64_t batch = argc > 2 ? std::atoll(argv[2]) : 64;
  const int64_t dim = 784;

  ModelConfig linear;
  linear.type = meshtrain::ModelType::kLinear;
  ModelConfig softmax;
  softmax.type = meshtrain::ModelType::kSoftmax;
  ModelConfig mlp128;
  mlp128.hidden = {128};
  ModelConfig mlp256;
  mlp256.hidden = {256, 128};
  ModelConfig cnn;
  cnn.type = meshtrain::ModelType::kLayers;
  auto layer = [&cnn](const char* kind, int64_t filters = 0, int64_t kernel = 0, int64_t padding = 0) {
    meshtrain::LayerConfig l;
    l.kind = meshtrain::ParseEnum<meshtrain::LayerKind>(kind).value();
    l.filters = filters;
    l.kernel = kernel;
    l.padding = padding;
    l.units = std::string(kind) == "dense" ? filters : 0;
    cnn.layers.push_back(l);
  };
  layer("conv2d", 16, 5, 2), layer("relu"), layer("maxpool2d", 0, 2);
  layer("conv2d", 32, 5, 2), layer("relu"), layer("maxpool2d", 0, 2);
  layer("flatten"), layer("dense", 128), layer("relu"), layer("dense", 10);
  std::vector<Shape> shapes = {{"linear", linear, 0},
                               {"softmax", softmax, 10},
                               {"mlp", mlp128, 10},
                               {"mlp", mlp256, 10},
                               {"cnn", cnn, 10}};
  if (argc > 3) std::erase_if(shapes, [&](const Shape& s) { return s.label != argv[3]; });

  std::printf("train step = ForwardBackward + SGD(momentum 0.9) Step; batch %lld, one thread, %.1f s each\n",
              static_cast<long long>(batch), seconds);
  std::printf("%-26s %10s %12s %14s %12s %12s\n", "model", "params", "samples/s", "samples/cpu-s", "cpu-us/step",
              "allocs/step");
  for (const Shape& shape : shapes) {
    const Figures f = Measure(shape, dim, batch, seconds);
    std::printf("%-26s %10lld %12.0f %14.0f %12.1f %12.2f\n", f.describe.c_str(), static_cast<long long>(f.params),
                f.samples_per_s, f.samples_per_cpu_s, f.us_per_step, f.allocations_per_step);
  }
  return 0;
}
