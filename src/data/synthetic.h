// Synthetic linear regression: y = x.w + b + noise * N(0,1), x ~ N(0,1) per
// feature, with w and b themselves drawn N(0,1) from the seed. The train and
// test rows come from separate streams of the same seed, so resizing one leaves
// the other unchanged.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

namespace meshtrain {

struct SyntheticTruth {
  std::vector<float> weights;
  float bias = 0;
};

enum class SyntheticStream { kTrain = 1, kTest = 2 };

SyntheticTruth MakeSyntheticTruth(uint64_t seed, int64_t features);

// Calls visit(row, x, y) for rows 0 .. rows-1 of `stream`; `x` is valid only during the call.
void GenerateSyntheticRows(uint64_t seed, SyntheticStream stream, int64_t rows, const SyntheticTruth& truth,
                           double noise, const std::function<void(int64_t, const float*, float)>& visit);

}  // namespace meshtrain
