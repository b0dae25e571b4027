// SGD and Adam against steps computed by hand, state round trips and CreateOptimizer's checks.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "meshtrain/optim.h"

namespace meshtrain {
namespace {

std::unique_ptr<Optimizer> Make(const OptimConfig& config, int64_t n) {
  auto optimizer = CreateOptimizer(config, n);
  REQUIRE(optimizer.ok());
  return std::move(optimizer.value());
}

OptimConfig Sgd(double momentum, bool nesterov = false, double weight_decay = 0) {
  OptimConfig c;
  c.type = OptimizerType::kSgd;
  c.momentum = momentum;
  c.nesterov = nesterov;
  c.weight_decay = weight_decay;
  return c;
}

void CheckParams(const std::vector<float>& p, const std::vector<double>& expected) {
  REQUIRE(p.size() == expected.size());
  for (size_t i = 0; i < p.size(); ++i) CHECK(p[i] == doctest::Approx(expected[i]).epsilon(1e-6));
}

TEST_CASE("plain SGD: p -= lr * g, and no state") {
  auto opt = Make(Sgd(0), 2);
  CHECK(opt->state().empty());
  std::vector<float> p = {1.0f, -2.0f};
  const std::vector<float> g = {0.5f, 0.25f};
  opt->Step(p, g, 0.1, 1);
  CheckParams(p, {0.95, -2.025});
}

TEST_CASE("SGD weight decay adds wd * p to the gradient") {
  auto opt = Make(Sgd(0, false, 0.1), 2);
  std::vector<float> p = {1.0f, -2.0f};
  opt->Step(p, std::vector<float>{0.5f, 0.25f}, 0.1, 1);
  // g' = (0.5 + 0.1, 0.25 - 0.2) = (0.6, 0.05)
  CheckParams(p, {0.94, -2.005});
}

TEST_CASE("SGD momentum: v = mu v + g, p -= lr v") {
  auto opt = Make(Sgd(0.9), 2);
  REQUIRE(opt->state().size() == 2);
  std::vector<float> p = {1.0f, -2.0f};
  const std::vector<float> g = {0.5f, 0.25f};
  opt->Step(p, g, 0.1, 1);  // v = (0.5, 0.25)
  CheckParams(p, {0.95, -2.025});
  CheckParams({opt->state().begin(), opt->state().end()}, {0.5, 0.25});
  opt->Step(p, g, 0.1, 2);  // v = (0.95, 0.475)
  CheckParams(p, {0.855, -2.0725});
  CheckParams({opt->state().begin(), opt->state().end()}, {0.95, 0.475});
}

TEST_CASE("SGD Nesterov: p -= lr (g + mu v) with the updated v") {
  auto opt = Make(Sgd(0.9, true), 2);
  std::vector<float> p = {1.0f, -2.0f};
  const std::vector<float> g = {0.5f, 0.25f};
  opt->Step(p, g, 0.1, 1);  // v = g; update = 1.9 g
  CheckParams(p, {0.905, -2.0475});
  opt->Step(p, g, 0.1, 2);  // v = (0.95, 0.475); update = (1.355, 0.6775)
  CheckParams(p, {0.7695, -2.11525});
}

TEST_CASE("SGD momentum with weight decay") {
  auto opt = Make(Sgd(0.5, false, 0.1), 1);
  std::vector<float> p = {2.0f};
  opt->Step(p, std::vector<float>{1.0f}, 0.1, 1);  // g' = 1.2, v = 1.2, p = 1.88
  CheckParams(p, {1.88});
  opt->Step(p, std::vector<float>{1.0f}, 0.1, 2);  // g' = 1.188, v = 0.6 + 1.188 = 1.788, p = 1.7012
  CheckParams(p, {1.7012});
}

TEST_CASE("Adam: bias-corrected moments") {
  OptimConfig c;
  c.type = OptimizerType::kAdam;
  c.beta1 = 0.9;
  c.beta2 = 0.999;
  c.eps = 1e-8;
  auto opt = Make(c, 2);
  REQUIRE(opt->state().size() == 4);  // m then v
  std::vector<float> p = {1.0f, -2.0f};

  // Step 1: m_hat = g and v_hat = g^2, so each parameter moves by lr against the sign of g.
  opt->Step(p, std::vector<float>{0.5f, 0.25f}, 0.1, 1);
  CheckParams(p, {0.9, -2.1});
  CheckParams({opt->state().begin(), opt->state().end()}, {0.05, 0.025, 0.00025, 0.0000625});

  // Step 2 with g = (-0.5, 0.25), by hand:
  //   m = 0.9 m + 0.1 g = (0.045 - 0.05, 0.0225 + 0.025) = (-0.005, 0.0475)
  //   v = 0.999 v + 0.001 g^2 = (0.00024975 + 0.00025, 0.0000624375 + 0.0000625)
  //   p -= 0.1 * (m / 0.19) / (sqrt(v / 0.001999) + 1e-8)
  opt->Step(p, std::vector<float>{-0.5f, 0.25f}, 0.1, 2);
  const double m0 = -0.005, m1 = 0.0475;
  const double v0 = 0.00049975, v1 = 0.0001249375;
  const double c1 = 1 - 0.81, c2 = 1 - 0.998001;
  CheckParams(p, {0.9 - 0.1 * (m0 / c1) / (std::sqrt(v0 / c2) + 1e-8),
                  -2.1 - 0.1 * (m1 / c1) / (std::sqrt(v1 / c2) + 1e-8)});
  CheckParams({opt->state().begin(), opt->state().end()}, {m0, m1, v0, v1});
}

TEST_CASE("Adam weight decay is L2 added to the gradient") {
  OptimConfig c;
  c.type = OptimizerType::kAdam;
  c.weight_decay = 0.5;
  c.eps = 1e-8;
  auto opt = Make(c, 1);
  std::vector<float> p = {2.0f};
  opt->Step(p, std::vector<float>{-0.4f}, 0.01, 1);  // g' = -0.4 + 1.0 = 0.6 > 0: p decreases by lr
  CheckParams(p, {1.99});
  CheckParams({opt->state().begin(), opt->state().end()}, {0.06, 0.00036});
}

TEST_CASE("state() round trip: a restored optimizer takes the identical next step") {
  OptimConfig adam;
  adam.type = OptimizerType::kAdam;
  adam.weight_decay = 1e-3;
  for (const OptimConfig& config : {adam, Sgd(0.9), Sgd(0.9, true, 1e-4)}) {
    CAPTURE(config.type);
    const int64_t n = 1000;
    std::mt19937 rng(1);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> p(n), g(n);
    for (float& v : p) v = normal(rng);
    auto first = Make(config, n);
    for (int64_t step = 1; step <= 3; ++step) {
      for (float& v : g) v = normal(rng);
      first->Step(p, g, 0.01, step);
    }
    // Save, restore into a fresh optimizer, and take step 4 on both.
    const std::vector<float> saved_state(first->state().begin(), first->state().end());
    auto second = Make(config, n);
    REQUIRE(second->state().size() == saved_state.size());
    std::copy(saved_state.begin(), saved_state.end(), second->state().begin());
    std::vector<float> p2 = p;
    for (float& v : g) v = normal(rng);
    first->Step(p, g, 0.01, 4);
    second->Step(p2, g, 0.01, 4);
    CHECK(std::memcmp(p.data(), p2.data(), n * sizeof(float)) == 0);
    CHECK(std::equal(first->state().begin(), first->state().end(), second->state().begin()));
  }
}

TEST_CASE("Describe names the optimizer and its knobs") {
  CHECK(Make(Sgd(0), 1)->Describe() == "sgd");
  CHECK(Make(Sgd(0.9, true, 0.0001), 1)->Describe() == "sgd momentum=0.9 nesterov wd=0.0001");
  OptimConfig adam;
  adam.type = OptimizerType::kAdam;
  CHECK(Make(adam, 1)->Describe() == "adam b1=0.9 b2=0.999 eps=1e-08");
}

std::string ErrorOf(const OptimConfig& config, int64_t n = 10) {
  auto optimizer = CreateOptimizer(config, n);
  if (optimizer.ok()) return "";
  CHECK(optimizer.status().code() == Status::Code::kInvalidArgument);
  return optimizer.status().message();
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_CASE("CreateOptimizer rejects bad settings, naming the key") {
  CHECK(ErrorOf(OptimConfig{}).empty());
  // An unknown type or schedule cannot reach here: the schema parses them
  // into enums (test_config_enums).
  OptimConfig c;
  c.lr = 0;
  CHECK(Contains(ErrorOf(c), "optim.lr: must be > 0 (got 0)"));
  c.lr = std::nan("");
  CHECK(Contains(ErrorOf(c), "optim.lr"));
  c = OptimConfig{};
  c.momentum = 1.0;
  CHECK(Contains(ErrorOf(c), "optim.momentum"));
  c = OptimConfig{};
  c.momentum = 0;
  c.nesterov = true;
  CHECK(Contains(ErrorOf(c), "optim.nesterov"));
  c = OptimConfig{};
  c.weight_decay = -1;
  CHECK(Contains(ErrorOf(c), "optim.weight_decay"));
  c = OptimConfig{};
  c.beta1 = 1;
  CHECK(Contains(ErrorOf(c), "optim.beta1"));
  c = OptimConfig{};
  c.beta2 = -0.1;
  CHECK(Contains(ErrorOf(c), "optim.beta2"));
  c = OptimConfig{};
  c.eps = 0;
  CHECK(Contains(ErrorOf(c), "optim.eps"));
  c = OptimConfig{};
  c.step_size = 0;
  CHECK(Contains(ErrorOf(c), "optim.step_size"));
  c = OptimConfig{};
  c.gamma = 0;
  CHECK(Contains(ErrorOf(c), "optim.gamma"));
  c = OptimConfig{};
  c.warmup_steps = -1;
  CHECK(Contains(ErrorOf(c), "optim.warmup_steps"));
  c = OptimConfig{};
  c.min_lr = -1;
  CHECK(Contains(ErrorOf(c), "optim.min_lr"));
  c = OptimConfig{};
  c.clip_norm = -1;
  CHECK(Contains(ErrorOf(c), "optim.clip_norm"));
  CHECK(Contains(ErrorOf(OptimConfig{}, 0), "parameters"));
}

}  // namespace
}  // namespace meshtrain
