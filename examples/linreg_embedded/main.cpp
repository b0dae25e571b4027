// Linear regression trained by three processes with meshtrain (docs/api.md):
// each process draws its own shard of y = w·x + b + noise, computes the
// gradient of the squared error by hand, and averages it with the others
// through Peer::AllReduce. Every process ends with the same w and b.
//
//   linreg_embedded CLUSTER.toml PEER_ID [STEPS]
//
// Prints "w0 w1 b" of the final model; exit 0 when it is within 1e-2 of the
// truth, 1 when not, 2 on a meshtrain error (its message on stderr).
#include <meshtrain/meshtrain.h>

#include <atomic>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace {

constexpr float kTrueW[2] = {1.5f, -2.0f};
constexpr float kTrueB = 0.5f;
constexpr int kRows = 512;   // this process's shard
constexpr int kBatch = 32;

std::atomic<bool> g_stop{false};

int Fail(const meshtrain::Status& status) {
  std::fprintf(stderr, "linreg_embedded: %s\n", status.ToString().c_str());
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: linreg_embedded CLUSTER.toml PEER_ID [STEPS]\n");
    return 2;
  }
  const std::string id = argv[2];
  const int64_t steps = argc > 3 ? std::stoll(argv[3]) : 400;
  std::signal(SIGINT, [](int) { g_stop = true; });
  std::signal(SIGTERM, [](int) { g_stop = true; });

  // This process's data: its own seed, so every peer holds other rows.
  std::mt19937 rng(std::hash<std::string>{}(id));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(2 * kRows), y(kRows);
  for (int i = 0; i < kRows; ++i) {
    x[2 * i] = normal(rng);
    x[2 * i + 1] = normal(rng);
    y[i] = kTrueW[0] * x[2 * i] + kTrueW[1] * x[2 * i + 1] + kTrueB + 0.01f * normal(rng);
  }

  auto opened = meshtrain::Peer::Open({argv[1], id, {}, steps});
  if (!opened.ok()) return Fail(opened.status());
  meshtrain::Peer& peer = **opened;
  // The model (w0, w1, b) and its momentum: what the peers keep equal.
  std::vector<float> params(3, 0.0f), velocity(3, 0.0f), grads(3);
  if (auto st = peer.Attach(params, velocity); !st.ok()) return Fail(st);
  if (auto st = peer.Start(&g_stop); !st.ok()) return Fail(st);

  while (!peer.done()) {
    auto go = peer.BeginStep(&g_stop);
    if (!go.ok()) return Fail(go.status());
    if (!*go) continue;  // the view changed (the buffers may hold the cluster's state now): ask again
    // The mean gradient of the squared error over this step's batch.
    std::fill(grads.begin(), grads.end(), 0.0f);
    for (int k = 0; k < kBatch; ++k) {
      const int i = static_cast<int>((peer.step() * kBatch + k) % kRows);
      const float err = params[0] * x[2 * i] + params[1] * x[2 * i + 1] + params[2] - y[i];
      grads[0] += 2 * err * x[2 * i] / kBatch;
      grads[1] += 2 * err * x[2 * i + 1] / kBatch;
      grads[2] += 2 * err / kBatch;
    }
    auto round = peer.AllReduce(grads, kBatch);
    if (!round.ok()) return Fail(round.status());
    if (*round == meshtrain::Round::kRedo) continue;  // a peer died or came back: compute the step again
    for (int i = 0; i < 3; ++i) {
      velocity[i] = 0.9f * velocity[i] + grads[i];
      params[i] -= 0.05f * velocity[i];
    }
    if (auto st = peer.EndStep(); !st.ok()) return Fail(st);
  }
  if (auto st = peer.Finish(&g_stop); !st.ok()) return Fail(st);

  std::printf("%.6f %.6f %.6f\n", params[0], params[1], params[2]);
  const bool close = std::abs(params[0] - kTrueW[0]) < 1e-2f && std::abs(params[1] - kTrueW[1]) < 1e-2f &&
                     std::abs(params[2] - kTrueB) < 1e-2f;
  return close ? 0 : 1;
}
