// How models treat batches: evaluation totals, chunking beyond max_batch,
// empty batches and batches that do not fit.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "meshtrain/model.h"

namespace meshtrain {
namespace {

struct Data {
  std::vector<float> x;
  std::vector<int32_t> labels;
  std::vector<float> targets;
};

Data RandomData(int64_t rows, int64_t dim, int classes) {
  std::mt19937 rng(17);
  std::normal_distribution<float> n(0.0f, 1.0f);
  Data d;
  for (int64_t i = 0; i < rows * dim; ++i) d.x.push_back(n(rng));
  for (int64_t i = 0; i < rows; ++i) {
    d.labels.push_back(static_cast<int32_t>(rng() % static_cast<uint32_t>(classes)));
    d.targets.push_back(n(rng));
  }
  return d;
}

std::unique_ptr<Model> Mlp(int64_t dim, int classes, int64_t max_batch) {
  ModelConfig config;
  config.hidden = {16, 8};
  auto model = CreateModel(config, dim, classes, max_batch);
  REQUIRE(model.ok());
  (*model)->InitParams(5);
  return std::move(model.value());
}

TEST_CASE("Evaluate adds loss sums, correct counts and rows without touching grads") {
  const Data d = RandomData(20, 6, 4);
  auto model = Mlp(6, 4, 20);
  const Batch batch{d.x.data(), 20, 6, d.labels.data(), nullptr};
  const double mean_loss = model->ForwardBackward(batch);
  const std::vector<float> grads(model->grads().begin(), model->grads().end());

  EvalTotals totals;
  model->Evaluate(batch, &totals);
  model->Evaluate(Batch{d.x.data(), 5, 6, d.labels.data(), nullptr}, &totals);
  CHECK(totals.count == 25);
  EvalTotals first5;
  model->Evaluate(Batch{d.x.data(), 5, 6, d.labels.data(), nullptr}, &first5);
  CHECK(totals.loss_sum == doctest::Approx(mean_loss * 20 + first5.loss_sum).epsilon(1e-6));
  CHECK(totals.correct >= 0);
  CHECK(totals.correct <= 25);
  CHECK(std::equal(grads.begin(), grads.end(), model->grads().begin()));
  CHECK(totals.loss() == doctest::Approx(totals.loss_sum / 25));
  CHECK(totals.accuracy() == doctest::Approx(static_cast<double>(totals.correct) / 25));
  CHECK(EvalTotals{}.loss() == 0.0);
  CHECK(EvalTotals{}.accuracy() == 0.0);
}

TEST_CASE("accuracy counts argmax == label") {
  ModelConfig config;
  config.type = ModelType::kSoftmax;
  auto created = CreateModel(config, 2, 2, 4);
  REQUIRE(created.ok());
  Model& model = **created;
  // W = identity, b = 0: the predicted class is the larger feature.
  const std::vector<float> params = {1, 0, 0, 1, 0, 0};
  std::copy(params.begin(), params.end(), model.params().begin());
  const std::vector<float> x = {2, 1, 0, 3, 5, 4, 1, 2};  // predicts 0, 1, 0, 1
  const std::vector<int32_t> labels = {0, 1, 1, 0};
  EvalTotals totals;
  model.Evaluate(Batch{x.data(), 4, 2, labels.data(), nullptr}, &totals);
  CHECK(totals.correct == 2);
  CHECK(totals.accuracy() == 0.5);
}

TEST_CASE("batches larger than max_batch give the same result as one big pass") {
  const Data d = RandomData(50, 6, 3);
  const Batch batch{d.x.data(), 50, 6, d.labels.data(), nullptr};
  auto whole = Mlp(6, 3, 64);
  auto chunked = Mlp(6, 3, 16);  // 16 + 16 + 16 + 2
  const double a = whole->ForwardBackward(batch);
  const double b = chunked->ForwardBackward(batch);
  CHECK(a == doctest::Approx(b).epsilon(1e-6));
  for (size_t i = 0; i < whole->grads().size(); ++i) {
    CHECK(whole->grads()[i] == doctest::Approx(chunked->grads()[i]).epsilon(1e-4).scale(1e-3));
  }
  EvalTotals ta, tb;
  whole->Evaluate(batch, &ta);
  chunked->Evaluate(batch, &tb);
  CHECK(ta.count == tb.count);
  CHECK(ta.correct == tb.correct);
  CHECK(ta.loss_sum == doctest::Approx(tb.loss_sum).epsilon(1e-6));
}

TEST_CASE("an empty batch is a zero gradient; a batch that does not fit is NaN") {
  const Data d = RandomData(4, 6, 3);
  auto model = Mlp(6, 3, 4);
  model->ForwardBackward(Batch{d.x.data(), 4, 6, d.labels.data(), nullptr});
  CHECK(model->ForwardBackward(Batch{d.x.data(), 0, 6, d.labels.data(), nullptr}) == 0.0);
  for (float g : model->grads()) CHECK(g == 0.0f);

  CHECK(std::isnan(model->ForwardBackward(Batch{d.x.data(), 4, 5, d.labels.data(), nullptr})));  // wrong dim
  CHECK(std::isnan(model->ForwardBackward(Batch{d.x.data(), 4, 6, nullptr, d.targets.data()})));  // no labels
  CHECK(std::isnan(model->ForwardBackward(Batch{nullptr, 4, 6, d.labels.data(), nullptr})));      // no features
  const std::vector<int32_t> bad_labels = {0, 1, 3, 2};  // 3 is not a class
  CHECK(std::isnan(model->ForwardBackward(Batch{d.x.data(), 4, 6, bad_labels.data(), nullptr})));
  const std::vector<int32_t> negative = {0, -1, 1, 2};
  CHECK(std::isnan(model->ForwardBackward(Batch{d.x.data(), 4, 6, negative.data(), nullptr})));

  EvalTotals totals;
  model->Evaluate(Batch{d.x.data(), 4, 5, d.labels.data(), nullptr}, &totals);
  CHECK(std::isnan(totals.loss_sum));
  CHECK(totals.count == 4);

  ModelConfig linear;
  linear.type = ModelType::kLinear;
  auto regression = CreateModel(linear, 6, 0, 4);
  REQUIRE(regression.ok());
  CHECK(std::isnan((*regression)->ForwardBackward(Batch{d.x.data(), 4, 6, d.labels.data(), nullptr})));  // no targets
  CHECK(std::isfinite((*regression)->ForwardBackward(Batch{d.x.data(), 4, 6, nullptr, d.targets.data()})));
}

TEST_CASE("linear regression reports the mean of 0.5 * (y_hat - y)^2") {
  ModelConfig linear;
  linear.type = ModelType::kLinear;
  auto created = CreateModel(linear, 2, 0, 4);
  REQUIRE(created.ok());
  Model& model = **created;
  const std::vector<float> params = {2, -1, 0.5f};  // y_hat = 2 a - b + 0.5
  std::copy(params.begin(), params.end(), model.params().begin());
  const std::vector<float> x = {1, 1, 0, 2, 3, 0};   // y_hat = 1.5, -1.5, 6.5
  const std::vector<float> y = {1.5f, 0.5f, 3.5f};   // residuals 0, -2, 3
  const double loss = model.ForwardBackward(Batch{x.data(), 3, 2, nullptr, y.data()});
  CHECK(loss == doctest::Approx((0.0 + 4.0 + 9.0) * 0.5 / 3.0));
  // dL/dw = mean(r * x) = (0 + -2*(0,2) + 3*(3,0)) / 3 = (3, -4/3); dL/db = mean(r) = 1/3.
  CHECK(model.grads()[0] == doctest::Approx(3.0));
  CHECK(model.grads()[1] == doctest::Approx(-4.0 / 3.0));
  CHECK(model.grads()[2] == doctest::Approx(1.0 / 3.0));
  EvalTotals totals;
  model.Evaluate(Batch{x.data(), 3, 2, nullptr, y.data()}, &totals);
  CHECK(totals.loss_sum == doctest::Approx(6.5));
  CHECK(totals.correct == 0);
  CHECK(totals.count == 3);
}

}  // namespace
}  // namespace meshtrain
