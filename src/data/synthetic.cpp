#include "data/synthetic.h"

#include "data/data_rng.h"

namespace meshtrain {

SyntheticTruth MakeSyntheticTruth(uint64_t seed, int64_t features) {
  DataRng rng(MixSeeds(seed, 0));
  SyntheticTruth truth;
  truth.weights.resize(static_cast<size_t>(features));
  for (float& w : truth.weights) w = static_cast<float>(rng.Normal());
  truth.bias = static_cast<float>(rng.Normal());
  return truth;
}

void GenerateSyntheticRows(uint64_t seed, SyntheticStream stream, int64_t rows, const SyntheticTruth& truth,
                           double noise, const std::function<void(int64_t, const float*, float)>& visit) {
  DataRng rng(MixSeeds(seed, static_cast<uint64_t>(stream)));
  std::vector<float> x(truth.weights.size());
  for (int64_t r = 0; r < rows; ++r) {
    // y from the float features as stored, so the data fit the truth exactly when noise = 0.
    double y = truth.bias;
    for (size_t j = 0; j < x.size(); ++j) {
      x[j] = static_cast<float>(rng.Normal());
      y += static_cast<double>(x[j]) * truth.weights[j];
    }
    y += noise * rng.Normal();
    visit(r, x.data(), static_cast<float>(y));
  }
}

}  // namespace meshtrain
