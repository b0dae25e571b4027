// CreateModel's checks, Describe, the parameter layout and InitParams.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "meshtrain/model.h"

namespace meshtrain {
namespace {

ModelConfig Type(const std::string& type) {
  ModelConfig config;
  config.type = ParseEnum<ModelType>(type).value();
  return config;
}

std::string ErrorOf(const ModelConfig& config, int64_t dim, int classes, int64_t max_batch) {
  auto model = CreateModel(config, dim, classes, max_batch);
  if (model.ok()) return "";
  CHECK(model.status().code() == Status::Code::kInvalidArgument);
  return model.status().message();
}

bool Contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST_CASE("describe and parameter counts") {
  auto linear = CreateModel(Type("linear"), 8, 0, 16);
  REQUIRE(linear.ok());
  CHECK((*linear)->Describe() == "linear 8-1");
  CHECK((*linear)->num_params() == 9);

  auto softmax = CreateModel(Type("softmax"), 784, 10, 64);
  REQUIRE(softmax.ok());
  CHECK((*softmax)->Describe() == "softmax 784-10");
  CHECK((*softmax)->num_params() == 7850);

  ModelConfig mlp;
  mlp.hidden = {256, 128};
  mlp.activation = HiddenActivation::kTanh;
  auto deep = CreateModel(mlp, 784, 10, 64);
  REQUIRE(deep.ok());
  CHECK((*deep)->Describe() == "mlp 784-256-128-10 tanh");
  CHECK((*deep)->num_params() == 784 * 256 + 256 + 256 * 128 + 128 + 128 * 10 + 10);
  CHECK((*deep)->params().size() == (*deep)->grads().size());
  CHECK((*deep)->params().data() != (*deep)->grads().data());
}

TEST_CASE("model and data that do not fit together are rejected with the key at fault") {
  CHECK(Contains(ErrorOf(Type("linear"), 8, 10, 4), "model.type: linear"));
  CHECK(Contains(ErrorOf(Type("softmax"), 8, 0, 4), "model.type: softmax"));
  CHECK(Contains(ErrorOf(Type("mlp"), 8, 0, 4), "use linear"));
  // An unknown type, activation or init cannot reach here: the schema parses
  // them into enums (test_config_enums).
  ModelConfig no_hidden;
  no_hidden.hidden = {};
  CHECK(Contains(ErrorOf(no_hidden, 8, 10, 4), "model.hidden"));
  ModelConfig zero_hidden;
  zero_hidden.hidden = {16, 0};
  CHECK(Contains(ErrorOf(zero_hidden, 8, 10, 4), "model.hidden[1]"));
  CHECK(Contains(ErrorOf(Type("softmax"), 0, 10, 4), "features"));
  CHECK(Contains(ErrorOf(Type("softmax"), 8, 1, 4), "classes"));
  CHECK(Contains(ErrorOf(Type("softmax"), 8, 10, 0), "batch"));
  ModelConfig huge;
  huge.hidden = {int64_t{1} << 20, int64_t{1} << 20};
  CHECK(Contains(ErrorOf(huge, 8, 10, 4), "too large"));
}

TEST_CASE("InitParams is seeded, bounded by the init scheme, and zeroes biases") {
  ModelConfig config;
  config.hidden = {32};
  auto a = CreateModel(config, 100, 10, 4);
  auto b = CreateModel(config, 100, 10, 4);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  (*a)->InitParams(42);
  (*b)->InitParams(42);
  CHECK(std::equal((*a)->params().begin(), (*a)->params().end(), (*b)->params().begin()));
  (*b)->InitParams(43);
  CHECK(!std::equal((*a)->params().begin(), (*a)->params().end(), (*b)->params().begin()));

  // Layer 1: W1 100x... he bound sqrt(6/100); b1 zero; layer 2 bound sqrt(6/32).
  auto p = (*a)->params();
  const float bound1 = std::sqrt(6.0f / 100.0f);
  float max1 = 0;
  for (size_t i = 0; i < 3200; ++i) max1 = std::max(max1, std::abs(p[i]));
  CHECK(max1 <= bound1);
  CHECK(max1 > 0.9f * bound1);
  for (size_t i = 3200; i < 3232; ++i) CHECK(p[i] == 0.0f);
  const float bound2 = std::sqrt(6.0f / 32.0f);
  float max2 = 0;
  for (size_t i = 3232; i < 3552; ++i) max2 = std::max(max2, std::abs(p[i]));
  CHECK(max2 <= bound2);
  for (size_t i = 3552; i < 3562; ++i) CHECK(p[i] == 0.0f);

  ModelConfig xavier = config;
  xavier.init = InitScheme::kXavier;
  auto c = CreateModel(xavier, 100, 10, 4);
  REQUIRE(c.ok());
  (*c)->InitParams(42);
  float max_x = 0;
  for (size_t i = 0; i < 3200; ++i) max_x = std::max(max_x, std::abs((*c)->params()[i]));
  CHECK(max_x <= std::sqrt(6.0f / 132.0f));
}

TEST_CASE("the flat layout is W (out x in, column-major) then b") {
  auto created = CreateModel(Type("softmax"), 3, 2, 1);
  REQUIRE(created.ok());
  Model& model = **created;
  // W = [[1 2 3], [4 5 6]] stored column-major: 1 4 2 5 3 6; b = [10, 20].
  const std::vector<float> params = {1, 4, 2, 5, 3, 6, 10, 20};
  std::copy(params.begin(), params.end(), model.params().begin());
  const std::vector<float> x = {1, 0, 0};
  const int32_t label = 0;
  EvalTotals totals;
  model.Evaluate(Batch{x.data(), 1, 3, &label, nullptr}, &totals);
  // logits = W x + b = [11, 24]: loss = log(e^11 + e^24) - 11.
  CHECK(totals.loss_sum == doctest::Approx(std::log(std::exp(11.0) + std::exp(24.0)) - 11.0));
  CHECK(totals.correct == 0);
}

}  // namespace
}  // namespace meshtrain
