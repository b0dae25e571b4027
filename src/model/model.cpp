#include "meshtrain/model.h"

namespace meshtrain {

Model::Model(int64_t num_params)
    : params_(static_cast<size_t>(num_params), 0.0f), grads_(static_cast<size_t>(num_params), 0.0f) {}

Model::~Model() = default;

uint64_t NoiseKey(uint64_t seed, uint64_t peer_index, int64_t step) {
  // SplitMix64's finalizer over each input in turn: every bit of each matters.
  auto mix = [](uint64_t z) {
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  };
  uint64_t key = mix(seed + 0x9E3779B97F4A7C15ULL);
  key = mix(key ^ (peer_index * 0xD1B54A32D192ED03ULL + 1));
  return mix(key + static_cast<uint64_t>(step));
}

}  // namespace meshtrain
