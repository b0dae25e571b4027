#include "model/pool_layers.h"

#include <algorithm>
#include <bit>
#include <cstdint>

namespace meshtrain {

Pool2dLayer::Pool2dLayer(Kind kind, TensorShape in, int64_t kernel, int64_t stride, int64_t max_batch, bool relu_below)
    : Layer(in, TensorShape::Image(in.channels, OutputSide(in.height, kernel, stride),
                                   OutputSide(in.width, kernel, stride))),
      kind_(kind),
      kernel_(kernel),
      stride_(stride),
      relu_below_(relu_below && kind == Kind::kMax),
      argmax_(kind == Kind::kMax ? static_cast<size_t>(out_.size() * max_batch) : 0, 0) {}

void Pool2dLayer::Forward(const float* in, float* out, int64_t rows, const Pass&) {
  if (kind_ == Kind::kMax) {
    MaxForward(in, out, rows);
  } else {
    AverageForward(in, out, rows);
  }
}

namespace {

// One window element into the running max of one output pixel's channels:
// the first maximum wins (strict >). Written with a select for the value and
// a bit mask for the offset, so GCC vectorises it with blends (the plain
// `cond ? a : dst[c]` became masked stores, slow on our CPU).
void MaxStep(const float* __restrict src, int32_t base, int32_t channels, float* __restrict best,
             int32_t* __restrict at) {
  for (int32_t c = 0; c < channels; ++c) {
    const float v = src[c], m = best[c];
    const int32_t w = at[c];
    const int32_t larger = -static_cast<int32_t>(v > m);
    best[c] = v > m ? v : m;
    at[c] = w ^ ((w ^ (base + c)) & larger);
  }
}

}  // namespace

void Pool2dLayer::MaxForward(const float* in, float* out, int64_t rows) {
  const int32_t channels = static_cast<int32_t>(in_.channels);
  const int64_t width = in_.width, out_size = out_.size(), out_w = out_.width;
  for (int64_t n = 0; n < rows; ++n) {
    const float* sample = in + n * in_.size();
    for (int64_t oy = 0; oy < out_.height; ++oy) {
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const int64_t o = n * out_size + (oy * out_w + ox) * channels;
        float* best = out + o;
        int32_t* at = argmax_.data() + o;
        const int32_t corner = static_cast<int32_t>((oy * stride_ * width + ox * stride_) * channels);
        for (int32_t c = 0; c < channels; ++c) {
          best[c] = sample[corner + c];
          at[c] = corner + c;
        }
        for (int64_t ky = 0; ky < kernel_; ++ky) {
          for (int64_t kx = ky == 0 ? 1 : 0; kx < kernel_; ++kx) {
            const int32_t base = corner + static_cast<int32_t>((ky * width + kx) * channels);
            MaxStep(sample + base, base, channels, best, at);
          }
        }
        if (!relu_below_) continue;
        // The relu, as the relu layer computes it (std::max keeps a NaN). Its
        // gradient passes where the value is > 0; elsewhere the offset is
        // stored negated (~offset) and the backward pass adds 0 there.
        for (int32_t c = 0; c < channels; ++c) {
          const int32_t w = at[c];
          at[c] = w ^ (-static_cast<int32_t>(!(best[c] > 0.0f)));  // ~w = w ^ -1
          best[c] = std::max(best[c], 0.0f);
        }
      }
    }
  }
}

void Pool2dLayer::AverageForward(const float* in, float* out, int64_t rows) const {
  const int64_t channels = in_.channels, width = in_.width, kernel = kernel_, stride = stride_;
  const int64_t in_size = in_.size(), out_size = out_.size(), out_h = out_.height, out_w = out_.width;
  const float inv_window = 1.0f / static_cast<float>(kernel * kernel);
  for (int64_t n = 0; n < rows; ++n) {
    const float* sample = in + n * in_size;
    for (int64_t oy = 0; oy < out_h; ++oy) {
      for (int64_t ox = 0; ox < out_w; ++ox) {
        float* __restrict dst = out + n * out_size + (oy * out_w + ox) * channels;
        const int64_t corner = (oy * stride * width + ox * stride) * channels;
        for (int64_t c = 0; c < channels; ++c) dst[c] = sample[corner + c];
        for (int64_t ky = 0; ky < kernel; ++ky) {
          for (int64_t kx = ky == 0 ? 1 : 0; kx < kernel; ++kx) {
            const float* __restrict src = sample + corner + (ky * width + kx) * channels;
            for (int64_t c = 0; c < channels; ++c) dst[c] += src[c];
          }
        }
        for (int64_t c = 0; c < channels; ++c) dst[c] *= inv_window;
      }
    }
  }
}

void Pool2dLayer::Backward(const float*, const float*, float* dout, float* din, int64_t rows, bool, const Pass&) {
  if (din == nullptr) return;
  if (stride_ == kernel_) {
    TiledBackward(dout, din, rows);
    return;
  }
  const int64_t channels = in_.channels, width = in_.width;
  const float inv_window = 1.0f / static_cast<float>(kernel_ * kernel_);
  std::fill_n(din, rows * in_.size(), 0.0f);
  for (int64_t n = 0; n < rows; ++n) {
    float* sample = din + n * in_.size();
    const float* deltas = dout + n * out_.size();
    if (kind_ == Kind::kMax) {
      const int32_t* where = argmax_.data() + n * out_.size();
      // Branch-free: an output the relu zeroed adds 0 at its (negated) offset.
      for (int64_t i = 0; i < out_.size(); ++i) {
        const int32_t w = where[i];
        sample[w < 0 ? ~w : w] += w < 0 ? 0.0f : deltas[i];
      }
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

void Pool2dLayer::TiledBackward(const float* dout, float* din, int64_t rows) const {
  // The windows tile the input: every input element is written once, with its
  // window's gradient or 0 (no zeroing pass, no scatter). The rows and columns
  // past the last whole window get 0.
  const int32_t channels = static_cast<int32_t>(in_.channels);
  const int64_t width = in_.width, out_w = out_.width, kernel = kernel_;
  const int64_t covered_w = out_w * kernel * channels, row_floats = width * channels;
  const float inv_window = 1.0f / static_cast<float>(kernel * kernel);
  for (int64_t n = 0; n < rows; ++n) {
    float* sample = din + n * in_.size();
    for (int64_t oy = 0; oy < out_.height; ++oy) {
      for (int64_t ox = 0; ox < out_w; ++ox) {
        const int64_t o = n * out_.size() + (oy * out_w + ox) * channels;
        const float* __restrict d = dout + o;
        const int32_t* __restrict at = kind_ == Kind::kMax ? argmax_.data() + o : nullptr;
        const int32_t corner = static_cast<int32_t>((oy * kernel * width + ox * kernel) * channels);
        for (int64_t ky = 0; ky < kernel; ++ky) {
          for (int64_t kx = 0; kx < kernel; ++kx) {
            const int32_t base = corner + static_cast<int32_t>((ky * width + kx) * channels);
            float* __restrict dst = sample + base;
            if (at != nullptr) {
              // d or +0 by a bit mask: `cond ? d[c] : 0.0f` became masked loads, slow on our CPU.
              for (int32_t c = 0; c < channels; ++c) {
                const uint32_t keep = 0u - static_cast<uint32_t>(at[c] == base + c);
                dst[c] = std::bit_cast<float>(std::bit_cast<uint32_t>(d[c]) & keep);
              }
            } else {
              for (int32_t c = 0; c < channels; ++c) dst[c] = d[c] * inv_window;
            }
          }
        }
      }
      for (int64_t y = oy * kernel; y < (oy + 1) * kernel; ++y) {
        std::fill(sample + y * row_floats + covered_w, sample + (y + 1) * row_floats, 0.0f);
      }
    }
    std::fill(sample + out_.height * kernel * row_floats, sample + in_.size(), 0.0f);
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
