// Every model's loss and gradient against a double-precision reference written
// independently here (plain loops), differentiated by central differences.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "meshtrain/model.h"

namespace meshtrain {
namespace {

struct Problem {
  int64_t dim = 0;
  int num_classes = 0;
  std::vector<float> x;  // rows x dim, sample-major
  std::vector<int32_t> labels;
  std::vector<float> targets;
  Batch batch(int64_t rows) const { return Batch{x.data(), rows, dim, labels.data(), targets.data()}; }
};

Problem MakeProblem(int64_t dim, int num_classes, int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Problem p;
  p.dim = dim;
  p.num_classes = num_classes;
  p.x.resize(static_cast<size_t>(dim * rows));
  for (float& v : p.x) v = u(rng);
  for (int64_t i = 0; i < rows; ++i) {
    p.labels.push_back(num_classes > 0 ? static_cast<int32_t>(rng() % static_cast<uint32_t>(num_classes)) : 0);
    p.targets.push_back(2.0f * u(rng));
  }
  return p;
}

// The textbook forward pass in double, on the documented flat layout
// (per layer: W out x in column-major, then b).
double ReferenceLoss(const std::vector<double>& params, const std::vector<int64_t>& widths, HiddenActivation act,
                     const Problem& p, int64_t rows) {
  double total = 0;
  for (int64_t j = 0; j < rows; ++j) {
    std::vector<double> a(p.x.begin() + j * p.dim, p.x.begin() + (j + 1) * p.dim);
    size_t offset = 0;
    for (size_t l = 1; l < widths.size(); ++l) {
      const int64_t in = widths[l - 1], out = widths[l];
      std::vector<double> z(static_cast<size_t>(out));
      for (int64_t o = 0; o < out; ++o) {
        double s = params[offset + static_cast<size_t>(out * in + o)];
        for (int64_t i = 0; i < in; ++i) s += params[offset + static_cast<size_t>(o + i * out)] * a[static_cast<size_t>(i)];
        const bool hidden = l + 1 < widths.size();
        z[static_cast<size_t>(o)] = !hidden ? s : act == HiddenActivation::kTanh ? std::tanh(s) : std::max(s, 0.0);
      }
      offset += static_cast<size_t>(out * in + out);
      a = z;
    }
    if (p.num_classes == 0) {
      const double r = a[0] - p.targets[static_cast<size_t>(j)];
      total += 0.5 * r * r;
    } else {
      double lse = 0;
      for (double v : a) lse += std::exp(v);
      total += std::log(lse) - a[static_cast<size_t>(p.labels[static_cast<size_t>(j)])];
    }
  }
  return total / static_cast<double>(rows);
}

struct Case {
  std::string name;
  ModelConfig config;
  std::vector<int64_t> widths;
  int num_classes;
};

std::vector<Case> Cases() {
  std::vector<Case> cases;
  ModelConfig linear;
  linear.type = ModelType::kLinear;
  cases.push_back({"linear", linear, {5, 1}, 0});
  ModelConfig softmax;
  softmax.type = ModelType::kSoftmax;
  softmax.init = InitScheme::kXavier;
  cases.push_back({"softmax", softmax, {5, 3}, 3});
  ModelConfig relu;
  relu.hidden = {4, 6};
  cases.push_back({"mlp relu", relu, {5, 4, 6, 3}, 3});
  ModelConfig tanh_mlp;
  tanh_mlp.hidden = {7};
  tanh_mlp.activation = HiddenActivation::kTanh;
  tanh_mlp.init = InitScheme::kXavier;
  cases.push_back({"mlp tanh", tanh_mlp, {5, 7, 4}, 4});
  return cases;
}

void CheckAgainstReference(const Case& c, int64_t max_batch, int64_t rows) {
  CAPTURE(c.name);
  CAPTURE(max_batch);
  CAPTURE(rows);
  const Problem problem = MakeProblem(c.widths.front(), c.num_classes, rows, 11);
  auto created = CreateModel(c.config, c.widths.front(), c.num_classes, max_batch);
  REQUIRE(created.ok());
  Model& model = **created;
  model.InitParams(3);
  // Nudge biases off zero so they matter in the check.
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-0.1f, 0.1f);
  for (float& v : model.params()) v += u(rng);

  const double loss = model.ForwardBackward(problem.batch(rows));
  std::vector<double> params(model.params().begin(), model.params().end());
  const double reference = ReferenceLoss(params, c.widths, c.config.activation, problem, rows);
  CHECK(loss == doctest::Approx(reference).epsilon(1e-5));

  const double h = 1e-5;
  double max_error = 0;
  double max_numeric = 0;
  for (size_t k = 0; k < params.size(); ++k) {
    const double saved = params[k];
    params[k] = saved + h;
    const double up = ReferenceLoss(params, c.widths, c.config.activation, problem, rows);
    params[k] = saved - h;
    const double down = ReferenceLoss(params, c.widths, c.config.activation, problem, rows);
    params[k] = saved;
    const double numeric = (up - down) / (2 * h);
    const double analytic = model.grads()[k];
    CAPTURE(k);
    CHECK(std::abs(analytic - numeric) <= 1e-4 + 1e-3 * std::abs(numeric));
    max_error = std::max(max_error, std::abs(analytic - numeric));
    max_numeric = std::max(max_numeric, std::abs(numeric));
  }
  CHECK(max_numeric > 1e-3);  // the check compared something
  CHECK(max_error < 1e-4);
}

TEST_CASE("gradients match central differences of a double-precision reference") {
  for (const Case& c : Cases()) {
    CheckAgainstReference(c, /*max_batch=*/6, /*rows=*/6);
    CheckAgainstReference(c, /*max_batch=*/8, /*rows=*/5);  // a partial batch
    CheckAgainstReference(c, /*max_batch=*/4, /*rows=*/9);  // chunked: 4 + 4 + 1
  }
}

TEST_CASE("float central differences on the model itself agree with its gradient") {
  ModelConfig config;
  config.hidden = {6};
  config.activation = HiddenActivation::kTanh;
  const Problem problem = MakeProblem(4, 3, 8, 21);
  auto created = CreateModel(config, 4, 3, 8);
  REQUIRE(created.ok());
  Model& model = **created;
  model.InitParams(9);
  model.ForwardBackward(problem.batch(8));
  const std::vector<float> grads(model.grads().begin(), model.grads().end());
  const float eps = 1e-3f;
  int compared = 0;
  for (size_t k = 0; k < grads.size(); ++k) {
    if (std::abs(grads[k]) < 1e-2f) continue;  // float differences cannot resolve tiny slopes
    const float saved = model.params()[k];
    model.params()[k] = saved + eps;
    const double up = model.ForwardBackward(problem.batch(8));
    model.params()[k] = saved - eps;
    const double down = model.ForwardBackward(problem.batch(8));
    model.params()[k] = saved;
    const double numeric = (up - down) / (2.0 * eps);
    CAPTURE(k);
    CHECK(grads[k] == doctest::Approx(numeric).epsilon(1e-2));
    ++compared;
  }
  CHECK(compared > 5);
}

TEST_CASE("softmax cross-entropy stays finite for huge logits") {
  ModelConfig config;
  config.type = ModelType::kSoftmax;
  auto created = CreateModel(config, 2, 3, 4);
  REQUIRE(created.ok());
  Model& model = **created;
  model.InitParams(1);
  const std::vector<float> x = {1e4f, -1e4f, -3e4f, 2e4f, 5e3f, 5e3f, 0.0f, 0.0f};
  const std::vector<int32_t> labels = {0, 1, 2, 1};
  const Batch batch{x.data(), 4, 2, labels.data(), nullptr};
  const double loss = model.ForwardBackward(batch);
  CHECK(std::isfinite(loss));
  for (float g : model.grads()) CHECK(std::isfinite(g));
  EvalTotals totals;
  model.Evaluate(batch, &totals);
  CHECK(std::isfinite(totals.loss_sum));
}

}  // namespace
}  // namespace meshtrain
