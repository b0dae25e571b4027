// StateFingerprint (docs/agreement.md, "Replica fingerprints"): taken every
// sync.verify_every steps, so it must cost little next to a step. Four
// independent multiply-xor lanes over 64-bit words keep the CPU's multipliers
// busy instead of waiting on one chain (StateChecksum's FNV runs one). Only
// integer operations on the floats' bit patterns, and both architectures we
// build for are little-endian: an x86-64 and an aarch64 replica of the same
// state have the same fingerprint.
#include <cstring>

#include "meshtrain/membership.h"

namespace meshtrain {
namespace {

constexpr uint64_t kPrime = 0x9e3779b97f4a7c15ULL;

uint64_t Rotl(uint64_t x, int r) { return (x << r) | (x >> (64 - r)); }

// murmur3's finaliser: every input bit reaches every output bit.
uint64_t Avalanche(uint64_t h) {
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdULL;
  h ^= h >> 33;
  h *= 0xc4ceb9fe1a85ec53ULL;
  h ^= h >> 33;
  return h;
}

uint64_t HashFloats(std::span<const float> values, uint64_t seed) {
  uint64_t lane[4] = {seed, seed ^ 0x1, seed ^ 0x2, seed ^ 0x3};
  const size_t words = values.size() / 2;
  const unsigned char* bytes = reinterpret_cast<const unsigned char*>(values.data());
  size_t i = 0;
  for (; i + 4 <= words; i += 4) {
    for (int k = 0; k < 4; ++k) {
      uint64_t w;
      std::memcpy(&w, bytes + (i + static_cast<size_t>(k)) * 8, 8);
      lane[k] = Rotl((lane[k] ^ w) * kPrime, 29);
    }
  }
  for (; i < words; ++i) {
    uint64_t w;
    std::memcpy(&w, bytes + i * 8, 8);
    lane[0] = Rotl((lane[0] ^ w) * kPrime, 29);
  }
  if (values.size() % 2 != 0) {
    uint32_t last;
    std::memcpy(&last, bytes + words * 8, 4);
    lane[1] = Rotl((lane[1] ^ last) * kPrime, 29);
  }
  uint64_t h = values.size();
  for (uint64_t l : lane) h = Avalanche(h ^ l) * kPrime;
  return Avalanche(h);
}

}  // namespace

uint64_t StateFingerprint(std::span<const float> params, std::span<const float> optimizer_state) {
  return Avalanche(HashFloats(params, 0x70617261) ^ Rotl(HashFloats(optimizer_state, 0x6f707469), 17));
}

}  // namespace meshtrain
