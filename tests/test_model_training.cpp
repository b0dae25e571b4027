// End-to-end sanity: each model type learns a small synthetic problem built by
// hand, with a plain SGD loop (the optimizer lives in another module).
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include "meshtrain/model.h"

namespace meshtrain {
namespace {

struct Data {
  int64_t rows = 0;
  int64_t dim = 0;
  std::vector<float> x;
  std::vector<int32_t> labels;
  std::vector<float> targets;
  Batch Rows(int64_t first, int64_t count) const {
    return Batch{x.data() + first * dim, count, dim, labels.data() + first, targets.data() + first};
  }
};

// `classes` Gaussian blobs around well separated centres (drawn from
// centre_seed): linearly separable. sample_seed draws the points.
Data Blobs(int64_t rows, int64_t dim, int classes, uint32_t centre_seed, uint32_t sample_seed) {
  std::mt19937 centre_rng(centre_seed);
  std::uniform_real_distribution<float> u(-3.0f, 3.0f);
  std::vector<std::vector<float>> centres(static_cast<size_t>(classes), std::vector<float>(static_cast<size_t>(dim)));
  for (auto& c : centres) {
    for (float& v : c) v = u(centre_rng);
  }
  std::mt19937 rng(sample_seed);
  std::normal_distribution<float> noise(0.0f, 0.3f);
  Data d;
  d.rows = rows;
  d.dim = dim;
  for (int64_t i = 0; i < rows; ++i) {
    const int32_t label = static_cast<int32_t>(rng() % static_cast<uint32_t>(classes));
    d.labels.push_back(label);
    d.targets.push_back(0);
    for (int64_t k = 0; k < dim; ++k) d.x.push_back(centres[static_cast<size_t>(label)][static_cast<size_t>(k)] + noise(rng));
  }
  return d;
}

// XOR of the signs of the first two features: not linearly separable.
Data Xor(int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Data d;
  d.rows = rows;
  d.dim = 2;
  for (int64_t i = 0; i < rows; ++i) {
    const float a = u(rng), b = u(rng);
    d.x.push_back(a);
    d.x.push_back(b);
    d.labels.push_back((a > 0) != (b > 0) ? 1 : 0);
    d.targets.push_back(0);
  }
  return d;
}

void Train(Model& model, const Data& data, int64_t batch, int epochs, float lr) {
  bool finite = true;
  for (int e = 0; e < epochs; ++e) {
    for (int64_t first = 0; first + batch <= data.rows; first += batch) {
      finite = finite && std::isfinite(model.ForwardBackward(data.Rows(first, batch)));
      auto p = model.params();
      auto g = model.grads();
      for (size_t i = 0; i < p.size(); ++i) p[i] -= lr * g[i];
    }
  }
  CHECK(finite);
}

EvalTotals EvaluateAll(Model& model, const Data& data) {
  EvalTotals totals;
  model.Evaluate(data.Rows(0, data.rows), &totals);
  return totals;
}

TEST_CASE("softmax regression separates Gaussian blobs") {
  const Data train = Blobs(2000, 10, 5, /*centre_seed=*/1, /*sample_seed=*/2);
  const Data test = Blobs(500, 10, 5, /*centre_seed=*/1, /*sample_seed=*/3);
  ModelConfig config;
  config.type = ModelType::kSoftmax;
  auto created = CreateModel(config, 10, 5, 32);
  REQUIRE(created.ok());
  Model& model = **created;
  model.InitParams(7);
  const double before = EvaluateAll(model, test).loss();
  Train(model, train, 32, 5, 0.1f);
  const EvalTotals after = EvaluateAll(model, test);
  CHECK(after.loss() < before);
  CHECK(after.accuracy() > 0.97);
}

TEST_CASE("an MLP learns XOR, which softmax regression cannot") {
  const Data train = Xor(4000, 2);
  const Data test = Xor(1000, 3);
  ModelConfig mlp;
  mlp.hidden = {32};
  auto created = CreateModel(mlp, 2, 2, 32);
  REQUIRE(created.ok());
  (*created)->InitParams(3);
  Train(**created, train, 32, 30, 0.2f);
  CHECK(EvaluateAll(**created, test).accuracy() > 0.9);

  ModelConfig tanh_mlp = mlp;
  tanh_mlp.activation = HiddenActivation::kTanh;
  tanh_mlp.init = InitScheme::kXavier;
  auto tanh_model = CreateModel(tanh_mlp, 2, 2, 32);
  REQUIRE(tanh_model.ok());
  (*tanh_model)->InitParams(3);
  Train(**tanh_model, train, 32, 30, 0.2f);
  CHECK(EvaluateAll(**tanh_model, test).accuracy() > 0.9);

  ModelConfig softmax;
  softmax.type = ModelType::kSoftmax;
  auto linear = CreateModel(softmax, 2, 2, 32);
  REQUIRE(linear.ok());
  (*linear)->InitParams(3);
  Train(**linear, train, 32, 30, 0.2f);
  CHECK(EvaluateAll(**linear, test).accuracy() < 0.75);
}

TEST_CASE("linear regression recovers the weights of y = w.x + b") {
  std::mt19937 rng(4);
  std::normal_distribution<float> n(0.0f, 1.0f);
  const std::vector<float> w = {1.5f, -2.0f, 0.5f, 3.0f};
  const float b = -0.7f;
  Data d;
  d.rows = 4096;
  d.dim = 4;
  for (int64_t i = 0; i < d.rows; ++i) {
    float y = b;
    for (float wk : w) {
      const float v = n(rng);
      d.x.push_back(v);
      y += wk * v;
    }
    d.targets.push_back(y + 0.01f * n(rng));
    d.labels.push_back(0);
  }
  ModelConfig config;
  config.type = ModelType::kLinear;
  auto created = CreateModel(config, 4, 0, 64);
  REQUIRE(created.ok());
  Model& model = **created;
  model.InitParams(1);
  Train(model, d, 64, 5, 0.05f);
  for (size_t k = 0; k < w.size(); ++k) CHECK(model.params()[k] == doctest::Approx(w[k]).epsilon(0.01));
  CHECK(model.params()[4] == doctest::Approx(b).epsilon(0.01));
  CHECK(EvaluateAll(model, d).loss() < 1e-3);
}

}  // namespace
}  // namespace meshtrain
