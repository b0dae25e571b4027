#include "model/pool_layers.h"

#include <algorithm>

namespace meshtrain {

Pool2dLayer::Pool2dLayer(Kind kind, TensorShape in, int64_t kernel, int64_t stride, int64_t max_batch)
    : Layer(in, TensorShape::Image(in.channels, OutputSide(in.height, kernel, stride),
                                   OutputSide(in.width, kernel, stride))),
      kind_(kind),
      kernel_(kernel),
      stride_(stride),
      argmax_(kind == Kind::kMax ? static_cast<size_t>(out_.size() * max_batch) : 0, 0) {}

void Pool2dLayer::Forward(const float* in, float* out, int64_t rows, const Pass&) {
  const int64_t channels = in_.channels, width = in_.width;
  const float inv_window = 1.0f / static_cast<float>(kernel_ * kernel_);
  for (int64_t n = 0; n < rows; ++n) {
    const float* sample = in + n * in_.size();
    for (int64_t oy = 0; oy < out_.height; ++oy) {
      for (int64_t ox = 0; ox < out_.width; ++ox) {
        const int64_t o = n * out_.size() + (oy * out_.width + ox) * channels;
        float* dst = out + o;
        int32_t* where = kind_ == Kind::kMax ? argmax_.data() + o : nullptr;
        for (int64_t ky = 0; ky < kernel_; ++ky) {
          for (int64_t kx = 0; kx < kernel_; ++kx) {
            const int64_t offset = ((oy * stride_ + ky) * width + ox * stride_ + kx) * channels;
            const float* src = sample + offset;
            const bool first = ky == 0 && kx == 0;
            if (kind_ == Kind::kAverage) {
              for (int64_t c = 0; c < channels; ++c) dst[c] = first ? src[c] : dst[c] + src[c];
            } else if (first) {
              for (int64_t c = 0; c < channels; ++c) {
                dst[c] = src[c];
                where[c] = static_cast<int32_t>(offset + c);
              }
            } else {
              // Selects, not branches, so the loop over channels vectorises.
              const int32_t base = static_cast<int32_t>(offset);
              for (int64_t c = 0; c < channels; ++c) {
                const bool larger = src[c] > dst[c];
                dst[c] = larger ? src[c] : dst[c];
                where[c] = larger ? base + static_cast<int32_t>(c) : where[c];
              }
            }
          }
        }
        if (kind_ == Kind::kAverage) {
          for (int64_t c = 0; c < channels; ++c) dst[c] *= inv_window;
        }
      }
    }
  }
}

void Pool2dLayer::Backward(const float*, const float*, float* dout, float* din, int64_t rows, bool, const Pass&) {
  if (din == nullptr) return;
  const int64_t channels = in_.channels, width = in_.width;
  const float inv_window = 1.0f / static_cast<float>(kernel_ * kernel_);
  std::fill_n(din, rows * in_.size(), 0.0f);
  for (int64_t n = 0; n < rows; ++n) {
    float* sample = din + n * in_.size();
    const float* deltas = dout + n * out_.size();
    if (kind_ == Kind::kMax) {
      const int32_t* where = argmax_.data() + n * out_.size();
      for (int64_t i = 0; i < out_.size(); ++i) sample[where[i]] += deltas[i];
      continue;
    }
    for (int64_t oy = 0; oy < out_.height; ++oy) {
      for (int64_t ox = 0; ox < out_.width; ++ox) {
        const float* d = deltas + (oy * out_.width + ox) * channels;
        for (int64_t ky = 0; ky < kernel_; ++ky) {
          for (int64_t kx = 0; kx < kernel_; ++kx) {
            float* dst = sample + ((oy * stride_ + ky) * width + ox * stride_ + kx) * channels;
            for (int64_t c = 0; c < channels; ++c) dst[c] += d[c] * inv_window;
          }
        }
      }
    }
  }
}

std::string Pool2dLayer::Describe() const {
  return std::string(kind_ == Kind::kMax ? "maxpool2d" : "avgpool2d") + " kernel=" + std::to_string(kernel_) +
         " stride=" + std::to_string(stride_);
}

std::string Pool2dLayer::Short() const {
  std::string text = std::string(kind_ == Kind::kMax ? "maxpool2d" : "avgpool2d") + "(" + std::to_string(kernel_);
  if (stride_ != kernel_) text += ",s" + std::to_string(stride_);
  return text + ")";
}

}  // namespace meshtrain
