// The tensor codecs (codec.h): each one round-trips within its documented
// error, handles the edge values (zero, subnormal, huge, NaN, Inf), is
// deterministic, and its decoder refuses payloads that do not fit.
#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <ios>
#include <limits>
#include <numeric>
#include <string>
#include <vector>

#include "meshtrain/codec.h"

using namespace meshtrain;

namespace {

// Deterministic pseudo-random floats: mantissa and sign random, exponent over
// [min_exp, max_exp], so every magnitude range is covered.
class FloatSource {
 public:
  explicit FloatSource(uint64_t seed) : state_(seed * 2 + 1) {}
  uint64_t Next() {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 7;
    state_ ^= state_ << 17;
    return state_;
  }
  float Wide(int min_exp, int max_exp) {
    const uint64_t r = Next();
    const float mantissa = 1.0f + static_cast<float>(r & 0x7FFFFF) * 0x1.0p-23f;
    const int span = max_exp - min_exp + 1;
    const int e = min_exp + static_cast<int>((r >> 23) % static_cast<uint64_t>(span));
    return ((r >> 40) & 1 ? -1.0f : 1.0f) * std::ldexp(mantissa, e);
  }
  float Normal() {  // roughly N(0, 1), enough for gradient-like data
    float s = 0;
    for (int i = 0; i < 12; ++i) s += static_cast<float>(Next() & 0xFFFFFF) * 0x1.0p-24f;
    return s - 6.0f;
  }

 private:
  uint64_t state_;
};

std::vector<float> Decoded(const EncodedTensor& e, size_t n) {
  std::vector<float> out(n, -1.0f);
  const Status st = DecodeTensor(e.dtype, e.n_elems, e.bytes.data(), e.bytes.size(), out);
  REQUIRE_MESSAGE(st.ok(), st.ToString());
  return out;
}

EncodedTensor Encode(Compression c, const std::vector<float>& x, Rounding r = Rounding::kNearest,
                     uint64_t seed = 1, double ratio = 0.01) {
  CodecSpec spec;
  spec.compression = c;
  spec.rounding = r;
  spec.topk_ratio = ratio;
  EncodedTensor e;
  EncodeTensor(spec, x, seed, &e);
  return e;
}

uint32_t Bits(float f) { return std::bit_cast<uint32_t>(f); }

}  // namespace

// The names are config.h's (sync.compression, sync.int8_rounding; test_config_enums).
TEST_CASE("codec names parse, print and map to their wire dtype") {
  for (const char* name : {"none", "fp16", "bf16", "int8", "topk"}) {
    auto c = ParseEnum<Compression>(name);
    REQUIRE(c.has_value());
    CHECK(ToString(*c) == name);
  }
  CHECK(!ParseEnum<Compression>("int4").has_value());
  CHECK(ParseEnum<Rounding>("stochastic") == Rounding::kStochastic);
  CHECK(!ParseEnum<Rounding>("up").has_value());
  CHECK(WireDType(Compression::kNone) == DType::kF32);
  CHECK(WireDType(Compression::kFP16) == DType::kF16);
  CHECK(WireDType(Compression::kBF16) == DType::kBF16);
  CHECK(WireDType(Compression::kInt8) == DType::kI8);
  CHECK(WireDType(Compression::kTopK) == DType::kTopK);
  CHECK(TopKCount(0, 0.01) == 0);
  CHECK(TopKCount(10, 0.01) == 1);
  CHECK(TopKCount(1000, 0.01) == 10);
  CHECK(TopKCount(1001, 0.01) == 11);
  CHECK(TopKCount(50, 1.0) == 50);
}

TEST_CASE("fp16: every half decodes and re-encodes to itself") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto half = static_cast<uint16_t>(h);
    float f = 0;
    DecodeF16(&half, 1, &f);
    uint16_t again = 0;
    EncodeF16(&f, 1, &again);
    const bool nan = (h & 0x7C00) == 0x7C00 && (h & 0x3FF) != 0;
    if (nan) {
      CHECK(std::isnan(f));
      CHECK((again & 0x7C00) == 0x7C00);
      CHECK((again & 0x3FF) != 0);
    } else if (again != half) {
      FAIL_CHECK("half 0x" << std::hex << h << " -> " << f << " -> 0x" << again);
    }
  }
}

TEST_CASE("fp16: round to nearest even within 2^-11 relative, saturating, as the compiler converts") {
  FloatSource src(1);
  std::vector<float> x;
  for (int i = 0; i < 200000; ++i) x.push_back(src.Wide(-30, 17));
  // Ties and edges: halfway between halves rounds to even; 65504 is the largest half.
  x.insert(x.end(), {0.0f, -0.0f, 1.0f + 0x1.0p-11f, 1.0f + 3 * 0x1.0p-11f, 65504.0f, 65519.0f, 65520.0f, 1e30f,
                     -1e30f, std::numeric_limits<float>::max(), 0x1.0p-24f, 0x1.0p-25f, 0x1.8p-25f, 0x1.0p-26f,
                     std::numeric_limits<float>::denorm_min()});
  const EncodedTensor e = Encode(Compression::kFP16, x);
  REQUIRE(e.dtype == DType::kF16);
  REQUIRE(e.bytes.size() == 2 * x.size());
  const std::vector<float> d = Decoded(e, x.size());
  for (size_t i = 0; i < x.size(); ++i) {
    const float a = std::fabs(x[i]);
    const float err = std::fabs(x[i] - d[i]);
    if (a > 65504.0f) {
      CHECK(d[i] == std::copysign(65504.0f, x[i]));
    } else if (a >= 0x1.0p-14f) {
      if (err > 0x1.0p-11f * a) FAIL_CHECK(x[i] << " -> " << d[i]);
    } else if (err > 0x1.0p-25f) {
      FAIL_CHECK(x[i] << " -> " << d[i]);
    }
#ifdef __FLT16_MAX__
    // The compiler's own conversion (IEEE, round to nearest even) agrees wherever it does not overflow.
    if (a <= 65504.0f && Bits(d[i]) != Bits(static_cast<float>(static_cast<_Float16>(x[i])))) {
      FAIL_CHECK(x[i] << " -> " << d[i] << ", compiler: " << static_cast<float>(static_cast<_Float16>(x[i])));
    }
#endif
  }
  CHECK(d[x.size() - 15] == 0.0f);
  CHECK(std::signbit(d[x.size() - 14]));
  CHECK(d[x.size() - 13] == 1.0f);                    // tie -> even (down)
  CHECK(d[x.size() - 12] == 1.0f + 4 * 0x1.0p-11f);   // tie -> even (up)
  CHECK(d[x.size() - 9] == 65504.0f);                 // would be Inf in IEEE
  CHECK(d[x.size() - 5] == 0x1.0p-24f);               // the smallest subnormal half
  CHECK(d[x.size() - 4] == 0.0f);                     // half of it: tie -> even (zero)
  CHECK(d[x.size() - 3] == 0x1.0p-24f);               // three quarters of it rounds up
}

TEST_CASE("fp16 and bf16 keep NaN and Inf") {
  const float inf = std::numeric_limits<float>::infinity();
  const std::vector<float> x = {std::numeric_limits<float>::quiet_NaN(), inf, -inf};
  for (Compression c : {Compression::kFP16, Compression::kBF16}) {
    const std::vector<float> d = Decoded(Encode(c, x), x.size());
    CHECK(std::isnan(d[0]));
    CHECK(d[1] == inf);
    CHECK(d[2] == -inf);
  }
}

TEST_CASE("bf16: every bfloat decodes and re-encodes to itself; nearest even within 2^-8 relative") {
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const auto b = static_cast<uint16_t>(h);
    float f = 0;
    DecodeBF16(&b, 1, &f);
    CHECK(Bits(f) == h << 16);
    uint16_t again = 0;
    EncodeBF16(&f, 1, &again);
    if (!std::isnan(f) && again != b) FAIL_CHECK("bf16 0x" << std::hex << h);
  }
  FloatSource src(2);
  std::vector<float> x;
  for (int i = 0; i < 200000; ++i) x.push_back(src.Wide(-126, 127));
  x.insert(x.end(), {1.0f + 0x1.0p-8f, 1.0f + 3 * 0x1.0p-8f, std::numeric_limits<float>::max(),
                     -std::numeric_limits<float>::max()});
  const std::vector<float> d = Decoded(Encode(Compression::kBF16, x), x.size());
  const size_t n = x.size();
  for (size_t i = 0; i < n - 2; ++i) {
    if (std::fabs(x[i] - d[i]) > 0x1.0p-8f * std::fabs(x[i])) FAIL_CHECK(x[i] << " -> " << d[i]);
  }
  CHECK(d[n - 4] == 1.0f);                      // tie -> even (down)
  CHECK(d[n - 3] == 1.0f + 4 * 0x1.0p-8f);      // tie -> even (up)
  CHECK(Bits(d[n - 2]) == 0x7F7F0000u);         // saturates instead of rounding to Inf
  CHECK(Bits(d[n - 1]) == 0xFF7F0000u);
}

TEST_CASE("int8 nearest: error at most half a step of max|x|/127") {
  FloatSource src(3);
  for (size_t n : {size_t{1}, size_t{7}, size_t{1000}, size_t{65537}}) {
    CAPTURE(n);
    std::vector<float> x(n);
    for (auto& v : x) v = src.Normal() * 0.01f;
    x[n / 2] = 0.37f;  // one outlier sets the scale
    const EncodedTensor e = Encode(Compression::kInt8, x);
    REQUIRE(e.dtype == DType::kI8);
    REQUIRE(e.bytes.size() == 4 + n);
    const float largest = std::fabs(*std::max_element(x.begin(), x.end(), [](float a, float b) {
      return std::fabs(a) < std::fabs(b);
    }));
    const float step = largest / 127.0f;
    const std::vector<float> d = Decoded(e, n);
    float worst = 0;
    for (size_t i = 0; i < n; ++i) worst = std::max(worst, std::fabs(x[i] - d[i]));
    CHECK(worst <= 0.5f * step * (1 + 0x1.0p-20f));
    CHECK(d[n / 2] == doctest::Approx(0.37f).epsilon(1e-6));
    for (size_t i = 0; i < n; ++i) CHECK(static_cast<int8_t>(e.bytes[4 + i]) != -128);
  }
}

TEST_CASE("int8 stochastic: error below one step, unbiased, and the same bytes for the same seed") {
  FloatSource src(4);
  const size_t n = 4096;
  std::vector<float> x(n);
  for (auto& v : x) v = src.Normal();
  x[0] = 5.0f;
  const float step = 5.0f / 127.0f;
  std::vector<double> mean(n, 0.0);
  const int trials = 400;
  for (int t = 0; t < trials; ++t) {
    const EncodedTensor e = Encode(Compression::kInt8, x, Rounding::kStochastic, static_cast<uint64_t>(t));
    const std::vector<float> d = Decoded(e, n);
    for (size_t i = 0; i < n; ++i) {
      if (!(std::fabs(x[i] - d[i]) < step * (1 + 0x1.0p-20f))) FAIL_CHECK(i << ": " << x[i] << " -> " << d[i]);
      mean[i] += d[i];
    }
  }
  // The mean of 400 draws is within a few standard errors (step / sqrt(4 * 400)) of x;
  // averaged over all elements, the bias is far smaller still.
  double bias = 0, worst = 0;
  for (size_t i = 0; i < n; ++i) {
    const double m = mean[i] / trials - x[i];
    bias += m;
    worst = std::max(worst, std::fabs(m));
  }
  CHECK(std::fabs(bias / n) < step * 0.005);
  CHECK(worst < step * 0.15);
  CHECK(Encode(Compression::kInt8, x, Rounding::kStochastic, 9).bytes ==
        Encode(Compression::kInt8, x, Rounding::kStochastic, 9).bytes);
  CHECK(Encode(Compression::kInt8, x, Rounding::kStochastic, 9).bytes !=
        Encode(Compression::kInt8, x, Rounding::kStochastic, 10).bytes);
}

TEST_CASE("int8: all zeros and tiny values") {
  const std::vector<float> zeros(10, 0.0f);
  for (Rounding r : {Rounding::kNearest, Rounding::kStochastic}) {
    const std::vector<float> d = Decoded(Encode(Compression::kInt8, zeros, r), zeros.size());
    for (float v : d) CHECK(v == 0.0f);
  }
  const std::vector<float> tiny = {1e-39f, -3e-39f, 2e-40f};  // 127 / max overflows a float
  for (Rounding r : {Rounding::kNearest, Rounding::kStochastic}) {
    const std::vector<float> d = Decoded(Encode(Compression::kInt8, tiny, r), tiny.size());
    for (size_t i = 0; i < tiny.size(); ++i) CHECK(std::fabs(d[i] - tiny[i]) <= 3e-39f / 127.0f + 1e-45f);
  }
}

TEST_CASE("topk keeps exactly the k largest magnitudes, ties to the lower index, indices ascending") {
  FloatSource src(5);
  for (size_t n : {size_t{1}, size_t{2}, size_t{10}, size_t{999}, size_t{20000}}) {
    for (double ratio : {0.001, 0.01, 0.1, 0.5, 1.0}) {
      CAPTURE(n);
      CAPTURE(ratio);
      std::vector<float> x(n);
      // Few distinct magnitudes: many ties, and signs mixed.
      for (auto& v : x) v = static_cast<float>(static_cast<int>(src.Next() % 21) - 10) * 0.25f;
      const size_t k = TopKCount(n, ratio);
      const EncodedTensor e = Encode(Compression::kTopK, x, Rounding::kNearest, 0, ratio);
      REQUIRE(e.dtype == DType::kTopK);
      REQUIRE(e.n_elems == k);
      REQUIRE(e.bytes.size() == 8 * k);

      std::vector<uint32_t> order(n);
      std::iota(order.begin(), order.end(), 0u);
      std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return std::fabs(x[a]) > std::fabs(x[b]); });
      std::vector<uint32_t> expected(order.begin(), order.begin() + static_cast<long>(k));
      std::sort(expected.begin(), expected.end());
      std::vector<uint32_t> got;
      SelectTopK(x.data(), n, k, &got);
      CHECK(got == expected);

      const std::vector<float> d = Decoded(e, n);
      size_t kept = 0;
      for (size_t i = 0; i < n; ++i) {
        if (std::binary_search(expected.begin(), expected.end(), static_cast<uint32_t>(i))) {
          CHECK(d[i] == x[i]);
          ++kept;
        } else {
          CHECK(d[i] == 0.0f);
        }
      }
      CHECK(kept == k);
    }
  }
  std::vector<uint32_t> none;
  SelectTopK(nullptr, 0, 3, &none);
  CHECK(none.empty());
}

TEST_CASE("topk on real-valued data agrees with a full sort") {
  FloatSource src(6);
  std::vector<float> x(100000);
  for (auto& v : x) v = src.Normal() * 1e-3f;
  std::vector<uint32_t> got;
  SelectTopK(x.data(), x.size(), 1000, &got);
  REQUIRE(got.size() == 1000);
  std::vector<float> mags(x.size());
  for (size_t i = 0; i < x.size(); ++i) mags[i] = std::fabs(x[i]);
  std::vector<float> sorted = mags;
  std::nth_element(sorted.begin(), sorted.begin() + 999, sorted.end(), std::greater<float>());
  const float kth = sorted[999];
  for (uint32_t i : got) CHECK(mags[i] >= kth);
  CHECK(std::is_sorted(got.begin(), got.end()));
}

TEST_CASE("topk is exact also when a strided sample misjudges the threshold") {
  // Every 8th entry large and distinct, the rest small: a sample of every 8th
  // entry sees only large ones and sets its bound too high.
  const size_t n = 8192, k = 512;
  std::vector<float> x(n);
  for (size_t i = 0; i < n; ++i) x[i] = i % 8 == 0 ? 1000.0f + static_cast<float>(i) : 1.0f + static_cast<float>(i % 7);
  std::vector<uint32_t> got;
  SelectTopK(x.data(), n, k, &got);
  std::vector<uint32_t> order(n);
  std::iota(order.begin(), order.end(), 0u);
  std::stable_sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) { return std::fabs(x[a]) > std::fabs(x[b]); });
  std::vector<uint32_t> expected(order.begin(), order.begin() + static_cast<long>(k));
  std::sort(expected.begin(), expected.end());
  CHECK(got == expected);
}

TEST_CASE("decoders refuse payloads that do not fit the tensor") {
  std::vector<float> out(4);
  std::vector<std::byte> bytes(16);
  CHECK(DecodeTensor(DType::kF32, 4, bytes.data(), 16, out).ok());
  CHECK(!DecodeTensor(DType::kF32, 4, bytes.data(), 15, out).ok());
  CHECK(!DecodeTensor(DType::kF32, 3, bytes.data(), 12, out).ok());
  CHECK(!DecodeTensor(DType::kF16, 4, bytes.data(), 16, out).ok());
  CHECK(!DecodeTensor(DType::kNone, 0, nullptr, 0, out).ok());
  CHECK(!AccumulateTensor(DType::kI8, 5, bytes.data(), 9, out).ok());

  // topk: index beyond the tensor, and indices out of order.
  auto topk = [](std::vector<uint32_t> idx) {
    std::vector<std::byte> b(8 * idx.size());
    for (size_t j = 0; j < idx.size(); ++j) {
      std::memcpy(b.data() + 4 * j, &idx[j], 4);
      const float one = 1.0f;
      std::memcpy(b.data() + 4 * idx.size() + 4 * j, &one, 4);
    }
    return b;
  };
  CHECK(DecodeTensor(DType::kTopK, 2, topk({0, 3}).data(), 16, out).ok());
  const Status beyond = DecodeTensor(DType::kTopK, 2, topk({0, 4}).data(), 16, out);
  CHECK(beyond.code() == Status::Code::kCorruption);
  CHECK(beyond.message().find("index 4") != std::string::npos);
  CHECK(!DecodeTensor(DType::kTopK, 2, topk({2, 2}).data(), 16, out).ok());
  CHECK(CheckTopK(topk({0, 3}).data(), 2, 4).ok());
  CHECK(!CheckTopK(topk({0, 4}).data(), 2, 4).ok());
  CHECK(!CheckTopK(topk({1, 0}).data(), 2, 4).ok());
  CHECK(!AccumulateTensor(DType::kTopK, 2, topk({3, 1}).data(), 16, out).ok());
  CHECK(!DecodeTensor(DType::kTopK, 5, topk({0, 1, 2, 3, 3}).data(), 40, out).ok());  // more entries than elements
}

TEST_CASE("accumulate adds the decoded values in fp32, from unaligned payloads too") {
  FloatSource src(7);
  const size_t n = 1001;
  std::vector<float> x(n), base(n);
  for (size_t i = 0; i < n; ++i) {
    x[i] = src.Normal();
    base[i] = src.Normal();
  }
  for (Compression c :
       {Compression::kNone, Compression::kFP16, Compression::kBF16, Compression::kInt8, Compression::kTopK}) {
    CAPTURE(std::string(ToString(c)));
    const EncodedTensor e = Encode(c, x, Rounding::kStochastic, 3, 0.05);
    std::vector<std::byte> shifted(e.bytes.size() + 1);  // payload at an odd address
    if (!e.bytes.empty()) std::memcpy(shifted.data() + 1, e.bytes.data(), e.bytes.size());
    std::vector<float> decoded(n), acc = base;
    REQUIRE(DecodeTensor(e.dtype, e.n_elems, shifted.data() + 1, e.bytes.size(), decoded).ok());
    REQUIRE(AccumulateTensor(e.dtype, e.n_elems, shifted.data() + 1, e.bytes.size(), acc).ok());
    CHECK(decoded == Decoded(e, n));
    // (int8 may fuse scale * q + acc into one FMA: exact up to the last rounding.)
    for (size_t i = 0; i < n; ++i) {
      REQUIRE(std::fabs(acc[i] - (base[i] + decoded[i])) <= 0x1.0p-23f * (std::fabs(base[i]) + std::fabs(decoded[i])));
    }
  }
}

TEST_CASE("nonzeros travel exactly, as topk when sparse and as f32 when dense") {
  std::vector<float> sparse(1000, 0.0f);
  sparse[3] = 1.5f;
  sparse[999] = -2e-30f;
  sparse[500] = -0.0f;
  EncodedTensor e;
  EncodeNonZeros(sparse, &e);
  CHECK(e.dtype == DType::kTopK);
  CHECK(e.n_elems == 2);
  std::vector<float> d = Decoded(e, sparse.size());
  CHECK(d == sparse);  // -0.0 == 0.0

  std::vector<float> dense(100, 1.0f);
  dense[7] = 0.0f;
  EncodeNonZeros(dense, &e);
  CHECK(e.dtype == DType::kF32);
  CHECK(Decoded(e, dense.size()) == dense);

  std::vector<float> empty;
  EncodeNonZeros(empty, &e);
  CHECK(e.bytes.empty());
}

TEST_CASE("error feedback: what is sent over the rounds plus the residual is what was given") {
  FloatSource src(8);
  const size_t n = 5000;
  for (Compression c : {Compression::kFP16, Compression::kBF16, Compression::kInt8, Compression::kTopK}) {
    CAPTURE(std::string(ToString(c)));
    CodecSpec spec;
    spec.compression = c;
    spec.topk_ratio = 0.01;
    std::vector<float> residual(n, 0.0f);
    std::vector<double> given(n, 0.0), sent(n, 0.0);
    EncodedTensor e;
    for (int round = 0; round < 50; ++round) {
      std::vector<float> g(n);
      for (auto& v : g) v = src.Normal() * 1e-2f;
      for (size_t i = 0; i < n; ++i) given[i] += g[i];
      EncodeWithFeedback(spec, g, residual, static_cast<uint64_t>(round), &e);
      const std::vector<float> d = Decoded(e, n);
      for (size_t i = 0; i < n; ++i) sent[i] += d[i];
    }
    double worst = 0, largest_residual = 0;
    for (size_t i = 0; i < n; ++i) {
      worst = std::max(worst, std::fabs(sent[i] + residual[i] - given[i]));
      largest_residual = std::max(largest_residual, static_cast<double>(std::fabs(residual[i])));
    }
    CHECK(worst < 1e-5);
    // Nothing piles up: topk sends each entry once it has grown enough.
    if (c == Compression::kTopK) {
      CHECK(largest_residual < 1.0);
    } else {
      CHECK(largest_residual < 1e-3);
    }
  }
}
