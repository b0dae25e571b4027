// Portable, seeded weight initialization. std::*_distribution differ between
// standard libraries, and every peer of a ring must start from the same bits,
// so we draw from SplitMix64 and map to floats ourselves.
#pragma once

#include <cstdint>
#include <span>

namespace meshtrain {

class SplitMix64 {
 public:
  explicit SplitMix64(uint64_t seed) : state_(seed) {}
  uint64_t Next();
  // Uniform in [0, 1) with 24 random bits (exactly representable in a float).
  float NextUnitFloat();

 private:
  uint64_t state_;
};

// Fills `values` uniformly in [-bound, bound).
void FillUniform(std::span<float> values, float bound, SplitMix64* rng);

}  // namespace meshtrain
