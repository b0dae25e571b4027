#include "data/data_rng.h"

#include <cmath>

namespace meshtrain {
namespace {

uint64_t SplitMixStep(uint64_t* state) {
  uint64_t z = (*state += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

uint64_t RotateLeft(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

constexpr double kTwoPi = 6.283185307179586476925286766559;

}  // namespace

uint64_t MixSeeds(uint64_t a, uint64_t b) {
  uint64_t state = a ^ (b * 0xD1B54A32D192ED03ULL);
  SplitMixStep(&state);
  return SplitMixStep(&state);
}

DataRng::DataRng(uint64_t seed) {
  uint64_t state = seed;
  for (uint64_t& word : s_) word = SplitMixStep(&state);
}

uint64_t DataRng::Next() {
  const uint64_t result = RotateLeft(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = RotateLeft(s_[3], 45);
  return result;
}

double DataRng::UniformOpen() {
  // 53 random bits, shifted by half a step so neither 0 nor 1 can come out.
  return (static_cast<double>(Next() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

uint64_t DataRng::Below(uint64_t n) {
  // Reject the top sliver that would make `r % n` favour small values.
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t r = Next();
    if (r >= threshold) return r % n;
  }
}

double DataRng::Normal() {
  const double u1 = UniformOpen();
  const double u2 = UniformOpen();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(kTwoPi * u2);
}

double DataRng::LogGamma(double shape) {
  // Gamma(a) = Gamma(a + 1) * U^(1/a) for a < 1 (Marsaglia-Tsang's boost).
  double log_boost = 0;
  if (shape < 1) {
    log_boost = std::log(UniformOpen()) / shape;
    shape += 1;
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  for (;;) {
    const double x = Normal();
    double v = 1 + c * x;
    if (v <= 0) continue;
    v = v * v * v;
    const double u = UniformOpen();
    if (std::log(u) < 0.5 * x * x + d - d * v + d * std::log(v)) return std::log(d * v) + log_boost;
  }
}

}  // namespace meshtrain
