// The public API (meshtrain/meshtrain.h, docs/api.md) in one process: three
// Peers on loopback train a linear regression with a hand-written gradient
// through Peer::AllReduce and end bit-identical, at the true weights; the
// calls out of order and bad options are clear errors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <thread>

#include "meshtrain/meshtrain.h"
#include "support/cluster.h"

using namespace meshtrain;
using namespace meshtrain::testing;

namespace {

constexpr int kPeers = 3;
constexpr float kTrueW[2] = {1.5f, -2.0f};
constexpr float kTrueB = 0.5f;

// A peer's own shard: y = w·x + b + noise, drawn from its own seed.
struct Shard {
  std::vector<float> x;  // rows x 2
  std::vector<float> y;
};

Shard MakeShard(int peer, int rows) {
  std::mt19937 rng(static_cast<unsigned>(100 + peer));
  std::normal_distribution<float> normal(0.0f, 1.0f);
  Shard s;
  for (int i = 0; i < rows; ++i) {
    const float a = normal(rng), b = normal(rng);
    s.x.push_back(a);
    s.x.push_back(b);
    s.y.push_back(kTrueW[0] * a + kTrueW[1] * b + kTrueB + 0.01f * normal(rng));
  }
  return s;
}

// The mean gradient of the squared error over rows [first, first + n) of the shard.
void Gradient(const Shard& s, int first, int n, const std::vector<float>& p, std::vector<float>* g) {
  std::fill(g->begin(), g->end(), 0.0f);
  const int rows = static_cast<int>(s.y.size());
  for (int k = 0; k < n; ++k) {
    const int i = (first + k) % rows;
    const float err = p[0] * s.x[2 * i] + p[1] * s.x[2 * i + 1] + p[2] - s.y[i];
    (*g)[0] += 2 * err * s.x[2 * i] / n;
    (*g)[1] += 2 * err * s.x[2 * i + 1] / n;
    (*g)[2] += 2 * err / n;
  }
}

struct Outcome {
  Status status;
  std::vector<float> params;
  int64_t steps = 0;
};

Outcome TrainPeer(const std::string& config, int peer, int64_t steps) {
  Outcome out;
  auto opened = Peer::Open({config, "p" + std::to_string(peer), {}, steps});
  if (!opened.ok()) return {opened.status(), {}, 0};
  Peer& mt = *opened.value();
  std::vector<float> params(3, 0.0f), velocity(3, 0.0f), grads(3);
  out.status = mt.Attach(params, velocity);
  if (out.status.ok()) out.status = mt.Start();
  const Shard shard = MakeShard(peer, 256);
  while (out.status.ok() && !mt.done()) {
    auto go = mt.BeginStep();
    if (!go.ok()) {
      out.status = go.status();
      break;
    }
    if (!*go) continue;
    Gradient(shard, static_cast<int>(mt.step() * 16), 16, params, &grads);
    auto round = mt.AllReduce(grads, 16);
    if (!round.ok()) {
      out.status = round.status();
      break;
    }
    if (*round == Round::kRedo) continue;
    for (int i = 0; i < 3; ++i) {  // SGD with momentum, the state attached with the parameters
      velocity[i] = 0.9f * velocity[i] + grads[i];
      params[i] -= 0.05f * velocity[i];
    }
    out.status = mt.EndStep();
  }
  if (out.status.ok()) out.status = mt.Finish();
  out.params = params;
  out.steps = mt.step();
  return out;
}

const char kSyncBody[] = R"(
[sync]
mode = "ring"
start_timeout_ms = 20000
)";

}  // namespace

TEST_CASE("three Peers all-reduce a hand-written gradient and end bit-identical at the true weights") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, kPeers, kSyncBody);
  std::vector<Outcome> outcomes(kPeers);
  std::vector<std::thread> threads;
  for (int i = 0; i < kPeers; ++i) threads.emplace_back([&, i] { outcomes[i] = TrainPeer(config, i, 300); });
  for (auto& t : threads) t.join();
  for (int i = 0; i < kPeers; ++i) {
    INFO("p" << i);
    REQUIRE_MESSAGE(outcomes[i].status.ok(), outcomes[i].status.ToString());
    CHECK(outcomes[i].steps == 300);
    CHECK(std::memcmp(outcomes[i].params.data(), outcomes[0].params.data(), 3 * sizeof(float)) == 0);
  }
  MESSAGE("w = (" << outcomes[0].params[0] << ", " << outcomes[0].params[1] << "), b = " << outcomes[0].params[2]);
  CHECK(std::abs(outcomes[0].params[0] - kTrueW[0]) < 1e-2);
  CHECK(std::abs(outcomes[0].params[1] - kTrueW[1]) < 1e-2);
  CHECK(std::abs(outcomes[0].params[2] - kTrueB) < 1e-2);
}

TEST_CASE("bad options and calls out of order are errors that say what is wrong") {
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 1, kSyncBody);
  auto no_file = Peer::Open({dir.File("missing.toml"), "p0", {}, 10});
  REQUIRE_FALSE(no_file.ok());
  CHECK(no_file.status().message().find("missing.toml") != std::string::npos);
  auto no_steps = Peer::Open({config, "p0", {}, 0});
  REQUIRE_FALSE(no_steps.ok());
  CHECK(no_steps.status().message().find("PeerOptions::steps = 0") != std::string::npos);
  auto bad_key = Peer::Open({config, "p0", {"sync.mode=sideways"}, 10});
  REQUIRE_FALSE(bad_key.ok());
  CHECK(bad_key.status().message().find("sync.mode") != std::string::npos);

  auto opened = Peer::Open({config, "p0", {}, 10});
  REQUIRE_MESSAGE(opened.ok(), opened.status().ToString());
  Peer& mt = *opened.value();
  CHECK(mt.Start().message().find("before Attach") != std::string::npos);
  std::vector<float> params(4, 0.0f);
  REQUIRE(mt.Attach(params).ok());
  CHECK(mt.Attach(params).message().find("attached already") != std::string::npos);
  CHECK(mt.BeginStep().status().message().find("before Start") != std::string::npos);
  REQUIRE(mt.Start().ok());
  std::vector<float> wrong(3, 0.0f);
  CHECK(mt.AllReduce(wrong).status().message().find("3 gradient values for 4 attached parameters") !=
        std::string::npos);
  CHECK(mt.Finish().message().find("Finish at step 0 of 10") != std::string::npos);
}
