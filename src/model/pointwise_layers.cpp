#include "model/pointwise_layers.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace meshtrain {
namespace {

constexpr double kInvSqrt2 = 0.70710678118654752440;
constexpr double kInvSqrt2Pi = 0.39894228040143267794;

uint64_t Mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// Shortest text that reads back as the same double: 0.1, not 0.10000000000000001.
std::string Shortest(double value) {
  char text[32];
  for (int digits = 1; digits <= 17; ++digits) {
    std::snprintf(text, sizeof(text), "%.*g", digits, value);
    if (std::strtod(text, nullptr) == value) break;
  }
  return text;
}

}  // namespace

void ActivationLayer::Forward(const float* in, float* out, int64_t rows, const Pass&) {
  const int64_t n = rows * in_.size();
  if (done_above_) {
    if (in != out) std::copy_n(in, n, out);
    return;
  }
  switch (kind_) {
    case Pointwise::kRelu:
      for (int64_t i = 0; i < n; ++i) out[i] = std::max(in[i], 0.0f);
      break;
    case Pointwise::kTanh:
      for (int64_t i = 0; i < n; ++i) out[i] = std::tanh(in[i]);
      break;
    case Pointwise::kGelu:
      // The exact GELU, x * Phi(x), in double so its derivative below matches it.
      for (int64_t i = 0; i < n; ++i) {
        const double x = in[i];
        out[i] = static_cast<float>(0.5 * x * (1.0 + std::erf(x * kInvSqrt2)));
      }
      break;
  }
}

void ActivationLayer::Backward(const float* in, const float* out, float* dout, float* din, int64_t rows, bool,
                               const Pass&) {
  if (din == nullptr) return;
  const int64_t n = rows * in_.size();
  if (done_above_) {
    if (din != dout) std::copy_n(dout, n, din);
    return;
  }
  switch (kind_) {
    case Pointwise::kRelu:
      for (int64_t i = 0; i < n; ++i) din[i] = out[i] > 0.0f ? dout[i] : 0.0f;
      break;
    case Pointwise::kTanh:
      for (int64_t i = 0; i < n; ++i) din[i] = dout[i] * (1.0f - out[i] * out[i]);
      break;
    case Pointwise::kGelu:
      // d/dx x * Phi(x) = Phi(x) + x * phi(x).
      for (int64_t i = 0; i < n; ++i) {
        const double x = in[i];
        const double slope = 0.5 * (1.0 + std::erf(x * kInvSqrt2)) + x * kInvSqrt2Pi * std::exp(-0.5 * x * x);
        din[i] = static_cast<float>(dout[i] * slope);
      }
      break;
  }
}

std::string ActivationLayer::Describe() const {
  switch (kind_) {
    case Pointwise::kRelu: return "relu";
    case Pointwise::kTanh: return "tanh";
    case Pointwise::kGelu: return "gelu";
  }
  return "?";
}

bool DropoutKeeps(uint64_t key, int64_t layer, int64_t row, int64_t element, double rate) {
  uint64_t z = Mix(key + 0x9E3779B97F4A7C15ULL * static_cast<uint64_t>(layer + 1));
  z = Mix(z ^ (static_cast<uint64_t>(row) * 0xD1B54A32D192ED03ULL));
  z = Mix(z + static_cast<uint64_t>(element));
  // 32 random bits against rate * 2^32: the same comparison on every platform.
  return static_cast<double>(z >> 32) >= rate * 4294967296.0;
}

void DropoutLayer::Apply(const float* in, float* out, int64_t rows, const Pass& pass) const {
  const float scale = static_cast<float>(1.0 / (1.0 - rate_));
  const int64_t size = in_.size();
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t e = 0; e < size; ++e) {
      const int64_t i = r * size + e;
      out[i] = DropoutKeeps(pass.noise_key, index_, pass.first_row + r, e, rate_) ? in[i] * scale : 0.0f;
    }
  }
}

void DropoutLayer::Forward(const float* in, float* out, int64_t rows, const Pass& pass) {
  if (pass.training && rate_ > 0) {
    Apply(in, out, rows, pass);
  } else if (in != out) {
    std::copy_n(in, rows * in_.size(), out);
  }
}

void DropoutLayer::Backward(const float*, const float*, float* dout, float* din, int64_t rows, bool,
                            const Pass& pass) {
  if (din == nullptr) return;
  if (rate_ > 0) {
    Apply(dout, din, rows, pass);
  } else if (din != dout) {
    std::copy_n(dout, rows * in_.size(), din);
  }
}

std::string DropoutLayer::Describe() const { return "dropout rate=" + Shortest(rate_); }

std::string DropoutLayer::Short() const { return "dropout(" + Shortest(rate_) + ")"; }

void FlattenLayer::Forward(const float* in, float* out, int64_t rows, const Pass&) {
  if (in != out) std::copy_n(in, rows * in_.size(), out);
}

void FlattenLayer::Backward(const float*, const float*, float* dout, float* din, int64_t rows, bool, const Pass&) {
  if (din != nullptr && din != dout) std::copy_n(dout, rows * in_.size(), din);
}

}  // namespace meshtrain
