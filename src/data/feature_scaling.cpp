#include "data/feature_scaling.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace meshtrain {

FeatureStats::FeatureStats(int64_t dim)
    : min_(static_cast<size_t>(dim), std::numeric_limits<double>::infinity()),
      max_(static_cast<size_t>(dim), -std::numeric_limits<double>::infinity()),
      mean_(static_cast<size_t>(dim), 0.0),
      m2_(static_cast<size_t>(dim), 0.0) {}

template <typename T>
void FeatureStats::AddRow(const T* row) {
  ++count_;
  const double inv_count = 1.0 / static_cast<double>(count_);
  for (size_t j = 0; j < mean_.size(); ++j) {
    const double x = static_cast<double>(row[j]);
    min_[j] = std::min(min_[j], x);
    max_[j] = std::max(max_[j], x);
    const double delta = x - mean_[j];
    mean_[j] += delta * inv_count;
    m2_[j] += delta * (x - mean_[j]);
  }
}

void FeatureStats::Add(const float* row) { AddRow(row); }
void FeatureStats::Add(const uint8_t* row) { AddRow(row); }

double FeatureStats::stddev(int64_t j) const {
  return count_ > 0 ? std::sqrt(m2_[static_cast<size_t>(j)] / static_cast<double>(count_)) : 0.0;
}

bool ScalingNeedsStats(ScalingMode mode, bool pixels) {
  return mode == ScalingMode::kStandardize || (mode == ScalingMode::kUnit && !pixels);
}

FeatureScaling MakeScaling(ScalingMode mode, bool pixels, const FeatureStats& stats) {
  const auto dim = static_cast<size_t>(stats.dim());
  FeatureScaling s{std::vector<float>(dim, 0.0f), std::vector<float>(dim, 1.0f)};
  for (size_t j = 0; j < dim; ++j) {
    const auto f = static_cast<int64_t>(j);
    if (mode == ScalingMode::kUnit && pixels) {
      s.scale[j] = 1.0f / 255.0f;
    } else if (mode == ScalingMode::kUnit) {
      const double range = stats.max(f) - stats.min(f);
      s.offset[j] = static_cast<float>(stats.min(f));
      s.scale[j] = range > 0 ? static_cast<float>(1.0 / range) : 1.0f;
    } else if (mode == ScalingMode::kStandardize) {
      const double sd = stats.stddev(f);
      s.offset[j] = static_cast<float>(stats.mean(f));
      s.scale[j] = sd > 0 ? static_cast<float>(1.0 / sd) : 1.0f;
    }
  }
  // A near-zero spread would give an infinite scale: treat it like a constant feature.
  for (float& v : s.scale) {
    if (!std::isfinite(v)) v = 1.0f;
  }
  return s;
}

}  // namespace meshtrain
