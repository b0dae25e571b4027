// What the replica fingerprint check costs (docs/agreement.md, "Replica
// fingerprints"): the time to fingerprint parameters and optimizer state, next
// to the time of one local training step (ForwardBackward + SGD momentum, one
// thread, batch 64) of the same model, for configs/fashion_mlp.toml's MLP and a
// 16 MB one. The cost per step is fingerprint / verify_every, as a share of the
// step; a ring step also waits for the network, so its real share is lower.
// StateChecksum (what a reconciliation hashes) is shown for comparison.
// Usage: bench_membership_replica_fingerprint [repeats=30] [verify_every=100]
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <vector>

#include "meshtrain/membership.h"
#include "meshtrain/model.h"
#include "optim/sgd.h"

namespace {

using Clock = std::chrono::steady_clock;

template <typename F>
double MedianMs(int repeats, F&& f) {
  std::vector<double> ms;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = Clock::now();
    f();
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::nth_element(ms.begin(), ms.begin() + static_cast<long>(ms.size() / 2), ms.end());
  return ms[ms.size() / 2];
}

volatile uint64_t sink = 0;  // keeps the hashes from being optimised away

void Measure(const char* label, std::vector<int64_t> hidden, int repeats, int64_t verify_every) {
  const int64_t batch = 64, dim = 784;
  meshtrain::ModelConfig config;
  config.hidden = std::move(hidden);
  auto model = meshtrain::CreateModel(config, meshtrain::SampleShape::Flat(dim), 10, batch);
  if (!model.ok()) {
    std::fprintf(stderr, "%s: %s\n", label, model.status().ToString().c_str());
    std::exit(1);
  }
  meshtrain::Model& m = **model;
  m.InitParams(1);
  meshtrain::SgdOptimizer optimizer(m.num_params(), 0.9f, /*nesterov=*/false, /*weight_decay=*/0.0f);
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> pixel(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(dim * batch));
  for (float& v : x) v = pixel(rng);
  std::vector<int32_t> labels(static_cast<size_t>(batch));
  for (auto& l : labels) l = static_cast<int32_t>(rng() % 10);
  meshtrain::Batch b{x.data(), batch, dim, labels.data(), nullptr};
  int64_t step = 0;
  auto train_step = [&] {
    m.ForwardBackward(b);
    optimizer.Step(m.params(), m.grads(), 0.001, ++step);
  };
  for (int i = 0; i < 5; ++i) train_step();

  const double step_ms = MedianMs(repeats, train_step);
  const double fp_ms = MedianMs(repeats, [&] { sink = sink + meshtrain::StateFingerprint(m.params(), optimizer.state()); });
  std::vector<float> both(m.params().begin(), m.params().end());
  both.insert(both.end(), optimizer.state().begin(), optimizer.state().end());
  const double checksum_ms = MedianMs(repeats, [&] { sink = sink + meshtrain::StateChecksum(both, ""); });
  const double mb = static_cast<double>(m.num_params()) * 4 / (1 << 20);
  const double hashed_mb = static_cast<double>(both.size()) * 4 / (1 << 20);
  std::printf("%-9s %9lld params (%5.1f MB; %5.1f MB hashed with momentum)  step %8.3f ms  fingerprint %7.3f ms "
              "(%5.2f GB/s; StateChecksum %7.3f ms)  per step at verify_every=%lld: %.4f%% of a step\n",
              label, static_cast<long long>(m.num_params()), mb, hashed_mb, step_ms, fp_ms,
              hashed_mb / 1024 / (fp_ms / 1000), checksum_ms, static_cast<long long>(verify_every),
              100.0 * fp_ms / static_cast<double>(verify_every) / step_ms);
}

}  // namespace

int main(int argc, char** argv) {
  const int repeats = argc > 1 ? std::atoi(argv[1]) : 30;
  const int64_t verify_every = argc > 2 ? std::atoll(argv[2]) : 100;
  Measure("mlp", {256, 128}, repeats, verify_every);  // configs/fashion_mlp.toml
  Measure("mlp-16MB", {5100}, repeats, verify_every);  // 784-5100-10: 4.05 M params, 16 MB
  return 0;
}
