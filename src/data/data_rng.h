// Portable, seeded randomness for the data layer. std::*_distribution and
// std::shuffle differ between standard libraries, yet every peer must compute
// the same shards and the same epoch order, so we draw from xoshiro256** and map
// to numbers ourselves.
#pragma once

#include <cstdint>

namespace meshtrain {

// Combines two seeds into one well-mixed seed (SplitMix64 finalizer).
uint64_t MixSeeds(uint64_t a, uint64_t b);

class DataRng {
 public:
  explicit DataRng(uint64_t seed);

  uint64_t Next();
  // Uniform in (0, 1), never 0 (safe to take the log of).
  double UniformOpen();
  // Uniform integer in [0, n), unbiased; n > 0.
  uint64_t Below(uint64_t n);
  // Standard normal (Box-Muller).
  double Normal();
  // log of a Gamma(shape, 1) draw, shape > 0 (Marsaglia-Tsang). The log keeps
  // tiny shapes (alpha = 0.01) from underflowing to zero.
  double LogGamma(double shape);

 private:
  uint64_t s_[4];
};

}  // namespace meshtrain
