// Synthetic linear regression: exact y = Xw + b without noise, seeded and
// reproducible, with test rows independent of the train size.
#include <doctest/doctest.h>

#include <cmath>

#include "data/synthetic.h"
#include "meshtrain/data.h"

using namespace meshtrain;

namespace {

DataConfig Synthetic() {
  DataConfig cfg;
  cfg.format = DataFormat::kSynthetic;
  cfg.synthetic_train = 200;
  cfg.synthetic_test = 50;
  cfg.synthetic_features = 5;
  cfg.synthetic_noise = 0;
  cfg.synthetic_seed = 3;
  cfg.scaling = ScalingMode::kNone;
  return cfg;
}

}  // namespace

TEST_CASE("without noise, y = x.w + b exactly; the truth is reported") {
  auto data = LoadShardedData(Synthetic(), 1, 0);
  REQUIRE_MESSAGE(data.ok(), data.status().ToString());
  const Dataset& train = data->train;
  CHECK(train.rows == 200);
  CHECK(train.dim == 5);
  CHECK(train.num_classes == 0);
  CHECK(train.labels.empty());
  REQUIRE(train.targets.size() == 200);
  REQUIRE(data->true_weights.size() == 5);
  CHECK(data->test.rows == 50);
  CHECK(data->test.num_classes == 0);
  double sum = 0, sum_sq = 0;
  for (int64_t r = 0; r < train.rows; ++r) {
    double y = data->true_bias;
    for (int64_t j = 0; j < 5; ++j) {
      const float x = train.values[static_cast<size_t>(r * 5 + j)];
      y += static_cast<double>(x) * data->true_weights[static_cast<size_t>(j)];
      sum += x;
      sum_sq += static_cast<double>(x) * x;
    }
    CHECK(train.targets[static_cast<size_t>(r)] == doctest::Approx(y).epsilon(1e-6));
  }
  CHECK(std::abs(sum / 1000) < 0.15);  // x ~ N(0, 1)
  CHECK(sum_sq / 1000 == doctest::Approx(1).epsilon(0.15));
}

TEST_CASE("noise has the configured size") {
  DataConfig cfg = Synthetic();
  cfg.synthetic_noise = 0.5;
  cfg.synthetic_train = 4000;
  auto data = LoadShardedData(cfg, 1, 0);
  REQUIRE(data.ok());
  double sq = 0;
  for (int64_t r = 0; r < data->train.rows; ++r) {
    double y = data->true_bias;
    for (int64_t j = 0; j < 5; ++j) {
      y += static_cast<double>(data->train.values[static_cast<size_t>(r * 5 + j)]) *
           data->true_weights[static_cast<size_t>(j)];
    }
    const double e = data->train.targets[static_cast<size_t>(r)] - y;
    sq += e * e;
  }
  CHECK(std::sqrt(sq / 4000) == doctest::Approx(0.5).epsilon(0.05));
}

TEST_CASE("same seed, same data; another seed, other data; test rows do not depend on the train size") {
  auto a = LoadShardedData(Synthetic(), 1, 0);
  auto b = LoadShardedData(Synthetic(), 1, 0);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->train.values == b->train.values);
  CHECK(a->train.targets == b->train.targets);
  CHECK(a->true_weights == b->true_weights);

  DataConfig other = Synthetic();
  other.synthetic_seed = 4;
  auto c = LoadShardedData(other, 1, 0);
  REQUIRE(c.ok());
  CHECK(c->true_weights != a->true_weights);
  CHECK(c->train.values != a->train.values);

  DataConfig bigger = Synthetic();
  bigger.synthetic_train = 300;
  auto d = LoadShardedData(bigger, 1, 0);
  REQUIRE(d.ok());
  CHECK(d->test.values == a->test.values);
  CHECK(std::equal(a->train.targets.begin(), a->train.targets.end(), d->train.targets.begin()));

  DataConfig limited = Synthetic();
  limited.train_limit = 20;
  limited.test_limit = 7;
  auto e = LoadShardedData(limited, 1, 0);
  REQUIRE(e.ok());
  CHECK(e->train.rows == 20);
  CHECK(e->test.rows == 7);
}

TEST_CASE("standardize: train features get mean 0 and std 1; test uses the train statistics") {
  DataConfig cfg = Synthetic();
  cfg.scaling = ScalingMode::kStandardize;
  auto data = LoadShardedData(cfg, 1, 0);
  REQUIRE(data.ok());
  std::vector<double> sum(5), sum_sq(5);
  std::vector<float> row(5);
  for (int64_t r = 0; r < data->train.rows; ++r) {
    data->train.FillRow(r, row.data());
    for (size_t j = 0; j < 5; ++j) {
      sum[j] += row[j];
      sum_sq[j] += static_cast<double>(row[j]) * row[j];
    }
  }
  for (size_t j = 0; j < 5; ++j) {
    CHECK(sum[j] / 200 == doctest::Approx(0).epsilon(1e-5));
    CHECK(sum_sq[j] / 200 == doctest::Approx(1).epsilon(1e-4));
  }
  CHECK(data->test.offset == data->train.offset);
  CHECK(data->test.scale == data->train.scale);
}

TEST_CASE("synthetic config errors") {
  DataConfig cfg = Synthetic();
  cfg.synthetic_features = 0;
  auto bad = LoadShardedData(cfg, 1, 0);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().code() == Status::Code::kInvalidArgument);
  CHECK(bad.status().message().find("data.synthetic_features") != std::string::npos);
  cfg = Synthetic();
  cfg.synthetic_noise = -1;
  bad = LoadShardedData(cfg, 1, 0);
  REQUIRE_FALSE(bad.ok());
  CHECK(bad.status().message().find("data.synthetic_noise") != std::string::npos);
}

TEST_CASE("MakeSyntheticTruth is fixed by the seed") {
  const SyntheticTruth a = MakeSyntheticTruth(9, 4);
  const SyntheticTruth b = MakeSyntheticTruth(9, 4);
  CHECK(a.weights == b.weights);
  CHECK(a.bias == b.bias);
  CHECK(a.weights.size() == 4);
}
