// SumOfSquares, ClipByGlobalNorm and AllFinite.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <vector>

#include "meshtrain/optim.h"

namespace meshtrain {
namespace {

TEST_CASE("ClipByGlobalNorm scales down to max_norm and returns the norm before") {
  std::vector<float> g = {3.0f, 4.0f};
  CHECK(ClipByGlobalNorm(g, 1.0) == doctest::Approx(5.0));
  CHECK(g[0] == doctest::Approx(0.6));
  CHECK(g[1] == doctest::Approx(0.8));
  CHECK(ClipByGlobalNorm(g, 1.0) == doctest::Approx(1.0));  // already within

  g = {3.0f, 4.0f};
  CHECK(ClipByGlobalNorm(g, 10.0) == doctest::Approx(5.0));
  CHECK(g == std::vector<float>{3.0f, 4.0f});
  CHECK(ClipByGlobalNorm(g, 0.0) == doctest::Approx(5.0));  // no clipping
  CHECK(g == std::vector<float>{3.0f, 4.0f});

  std::vector<float> empty;
  CHECK(ClipByGlobalNorm(empty, 1.0) == 0.0);
}

TEST_CASE("ClipByGlobalNorm over a large buffer, and leaves non-finite gradients alone") {
  std::vector<float> g(100003, 0.01f);
  const double norm = ClipByGlobalNorm(g, 0.5);
  CHECK(norm == doctest::Approx(0.01 * std::sqrt(100003.0)).epsilon(1e-6));
  double sum = 0;
  for (float v : g) sum += static_cast<double>(v) * v;
  CHECK(std::sqrt(sum) == doctest::Approx(0.5).epsilon(1e-5));

  std::vector<float> bad = {1.0f, std::numeric_limits<float>::infinity()};
  CHECK(std::isinf(ClipByGlobalNorm(bad, 1.0)));
  CHECK(bad[0] == 1.0f);
}

TEST_CASE("SumOfSquares adds in its documented order, whatever the vector width") {
  // Values whose squares lose bits when added in another order: the result must
  // be the fixed eight-lane fold, to the bit, for every length (tails included).
  std::vector<float> v(1037);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<float>(1.0 + 1e-3 * static_cast<double>(i % 97)) * (i % 3 ? 1e4f : 1e-4f);
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{1000}, v.size()}) {
    double lane[8] = {};
    for (size_t i = 0; i < n; ++i) {
      const double x = v[i];
      const double square = x * x;  // rounded on its own, as in the library (no FMA)
      lane[i % 8] += square;
    }
    const double expected = ((lane[0] + lane[1]) + (lane[2] + lane[3])) + ((lane[4] + lane[5]) + (lane[6] + lane[7]));
    INFO("n = " << n);
    CHECK(SumOfSquares(std::span<const float>(v.data(), n)) == expected);
  }
}

TEST_CASE("AllFinite") {
  CHECK(AllFinite(std::vector<float>{}));
  CHECK(AllFinite(std::vector<float>{1.0f, -2.0f, 0.0f}));
  std::vector<float> big(10001, std::numeric_limits<float>::max());
  CHECK(AllFinite(big));
  for (size_t at : {size_t{0}, size_t{5000}, size_t{10000}}) {
    std::vector<float> v(10001, 1.0f);
    v[at] = std::numeric_limits<float>::quiet_NaN();
    CHECK(!AllFinite(v));
    v[at] = std::numeric_limits<float>::infinity();
    CHECK(!AllFinite(v));
    v[at] = -std::numeric_limits<float>::infinity();
    CHECK(!AllFinite(v));
  }
}

}  // namespace
}  // namespace meshtrain
