// Feature scaling as per-feature (offset, scale), x = (raw - offset) * scale,
// applied when a batch is filled so IDX pixels can stay bytes in memory. The
// statistics always come from the train file (all of it, not just one peer's
// shard), so every peer scales identically and the test set uses the same.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "meshtrain/config.h"

namespace meshtrain {

// Per-feature min, max, mean and variance, one row at a time (Welford).
class FeatureStats {
 public:
  explicit FeatureStats(int64_t dim);
  void Add(const float* row);
  void Add(const uint8_t* row);

  int64_t count() const { return count_; }
  int64_t dim() const { return static_cast<int64_t>(mean_.size()); }
  double min(int64_t j) const { return min_[static_cast<size_t>(j)]; }
  double max(int64_t j) const { return max_[static_cast<size_t>(j)]; }
  double mean(int64_t j) const { return mean_[static_cast<size_t>(j)]; }
  // Population standard deviation.
  double stddev(int64_t j) const;

 private:
  template <typename T>
  void AddRow(const T* row);

  int64_t count_ = 0;
  std::vector<double> min_, max_, mean_, m2_;
};

struct FeatureScaling {
  std::vector<float> offset;
  std::vector<float> scale;
};

// Whether `mode` needs train statistics (pixels under unit are simply /255).
bool ScalingNeedsStats(ScalingMode mode, bool pixels);

// mode: none (identity), unit (pixels /255; otherwise min-max to [0,1], a
// constant feature maps to 0), standardize (mean 0, std 1; std 0 -> scale 1).
FeatureScaling MakeScaling(ScalingMode mode, bool pixels, const FeatureStats& stats);

}  // namespace meshtrain
