#include "model/uniform_init.h"

namespace meshtrain {

uint64_t SplitMix64::Next() {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

float SplitMix64::NextUnitFloat() {
  return static_cast<float>(Next() >> 40) * (1.0f / 16777216.0f);
}

void FillUniform(std::span<float> values, float bound, SplitMix64* rng) {
  for (float& v : values) v = (2.0f * rng->NextUnitFloat() - 1.0f) * bound;
}

}  // namespace meshtrain
