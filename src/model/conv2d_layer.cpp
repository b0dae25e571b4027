#include "model/conv2d_layer.h"

#include <algorithm>
#include <cmath>

namespace meshtrain {
namespace {

// About 256 KiB of patches per chunk (at least one sample): they stay in L2
// between the unfold and the GEMM's packing, and a peer's memory stays low
// (docs/models.md, "Memory"); 1 MiB was no faster.
constexpr int64_t kColsBudgetFloats = int64_t{1} << 16;
// Up to 2 MiB, a whole pass is unfolded at once, and the backward pass reuses
// the forward pass's patches instead of unfolding again (the reference
// network's first layer: 1.2 MiB for 16 samples).
constexpr int64_t kWholePassFloats = int64_t{1} << 19;

int64_t ChunkSamples(int64_t sample_floats, int64_t max_batch) {
  if (sample_floats * max_batch <= kWholePassFloats) return max_batch;
  return std::clamp<int64_t>(kColsBudgetFloats / std::max<int64_t>(sample_floats, 1), 1, max_batch);
}

}  // namespace

Conv2dLayer::Conv2dLayer(TensorShape in, int64_t filters, int64_t kernel, int64_t stride, int64_t padding,
                         int64_t max_batch, bool propagates)
    : Layer(in, TensorShape::Image(filters, OutputSide(in.height, kernel, stride, padding),
                                   OutputSide(in.width, kernel, stride, padding))),
      filters_(filters),
      kernel_(kernel),
      stride_(stride),
      padding_(padding),
      patch_(kernel * kernel * in.channels),
      pixels_(out_.height * out_.width),
      chunk_(ChunkSamples(patch_ * pixels_, max_batch)),
      propagates_(propagates),
      // Pixel-major copies runs of kernel * channels floats, patch-major runs of
      // an output row (gathered every `channels` floats): take the longer.
      patch_major_(stride == 1 && in.channels * kernel < out_.width),
      forward_(filters_, chunk_ * pixels_, patch_),
      weight_grad_(filters_, patch_, chunk_ * pixels_),
      input_grad_(patch_major_ ? chunk_ * pixels_ : patch_, patch_major_ ? patch_ : chunk_ * pixels_, filters_),
      cols_(static_cast<size_t>(patch_ * pixels_ * chunk_), 0.0f) {}

void Conv2dLayer::Bind(float* params, float* grads, GemmScratch* scratch) {
  params_ = params;
  grads_ = grads;
  scratch_ = scratch;
  for (const GemmPlan* plan : {&forward_, &weight_grad_}) scratch->Reserve(plan->lhs_floats(), plan->rhs_floats());
  if (propagates_) scratch->Reserve(input_grad_.lhs_floats(), input_grad_.rhs_floats());
}

void Conv2dLayer::InitParams(InitScheme init, SplitMix64* rng, float* params) const {
  const double fan_in = static_cast<double>(patch_);
  const double fan_out = static_cast<double>(filters_ * kernel_ * kernel_);
  const double bound = init == InitScheme::kHe ? std::sqrt(6.0 / fan_in) : std::sqrt(6.0 / (fan_in + fan_out));
  FillUniform(std::span<float>(params, static_cast<size_t>(filters_ * patch_)), static_cast<float>(bound), rng);
  std::fill_n(params + filters_ * patch_, filters_, 0.0f);
}

namespace {

// The output positions [lo, hi) (along one axis) whose input coordinate
// o * stride + offset falls inside [0, size); the others read padding.
struct Range {
  int64_t lo, hi;
};
Range Inside(int64_t offset, int64_t stride, int64_t size, int64_t outputs) {
  const int64_t lo = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  const int64_t last = size - 1 - offset;  // o * stride <= last
  const int64_t hi = last < 0 ? 0 : std::min(outputs, last / stride + 1);
  return {std::min(lo, outputs), std::max(hi, std::min(lo, outputs))};
}

}  // namespace

void Conv2dLayer::Unfold(const float* in, int64_t first, int64_t count) {
  if (patch_major_) {
    UnfoldPatchMajor(in, first, count);
  } else {
    UnfoldPixelMajor(in, first, count);
  }
}

void Conv2dLayer::Fold(int64_t first, int64_t count, float* din) const {
  if (patch_major_) {
    FoldPatchMajor(first, count, din);
  } else {
    FoldPixelMajor(first, count, din);
  }
}

ConstMatrixView Conv2dLayer::Cols(int64_t columns) const {
  return patch_major_ ? ConstMatrixView(cols_.data(), columns, patch_) : ConstMatrixView(cols_.data(), patch_, columns);
}

void Conv2dLayer::UnfoldPixelMajor(const float* in, int64_t first, int64_t count) {
  const int64_t channels = in_.channels, height = in_.height, width = in_.width;
  const int64_t row_floats = kernel_ * channels;  // one kernel row of a patch
  float* col = cols_.data();
  for (int64_t n = first; n < first + count; ++n) {
    const float* sample = in + n * in_.size();
    for (int64_t oy = 0; oy < out_.height; ++oy) {
      for (int64_t ox = 0; ox < out_.width; ++ox, col += patch_) {
        const int64_t x0 = ox * stride_ - padding_;
        // Kernel columns [kx0, kx1) fall inside the image; the rest are padding.
        const int64_t kx0 = std::max<int64_t>(0, -x0), kx1 = std::min(kernel_, width - x0);
        for (int64_t ky = 0; ky < kernel_; ++ky) {
          float* dst = col + ky * row_floats;
          const int64_t iy = oy * stride_ - padding_ + ky;
          // Plain loops: the runs are short, too short for memcpy/memset calls to pay.
          if (iy < 0 || iy >= height || kx1 <= kx0) {
            for (int64_t i = 0; i < row_floats; ++i) dst[i] = 0.0f;
            continue;
          }
          const int64_t begin = kx0 * channels, end = kx1 * channels;
          const float* src = sample + (iy * width + x0) * channels;
          for (int64_t i = 0; i < begin; ++i) dst[i] = 0.0f;
          for (int64_t i = begin; i < end; ++i) dst[i] = src[i];
          for (int64_t i = end; i < row_floats; ++i) dst[i] = 0.0f;
        }
      }
    }
  }
}

void Conv2dLayer::UnfoldPatchMajor(const float* in, int64_t first, int64_t count) {
  const int64_t channels = in_.channels, width = in_.width;
  const int64_t out_w = out_.width, ld = count * pixels_;
  for (int64_t n = first; n < first + count; ++n) {
    const float* sample = in + n * in_.size();
    for (int64_t ky = 0; ky < kernel_; ++ky) {
      const Range rows = Inside(ky - padding_, stride_, in_.height, out_.height);
      for (int64_t kx = 0; kx < kernel_; ++kx) {
        const Range xs = Inside(kx - padding_, stride_, width, out_w);
        for (int64_t c = 0; c < channels; ++c) {
          float* dst = cols_.data() + ((ky * kernel_ + kx) * channels + c) * ld + (n - first) * pixels_;
          std::fill_n(dst, rows.lo * out_w, 0.0f);
          for (int64_t oy = rows.lo; oy < rows.hi; ++oy) {
            float* row = dst + oy * out_w;
            // Input pixel (oy * stride + ky - padding, ox * stride + kx - padding), channel c.
            const int64_t base = ((oy * stride_ + ky - padding_) * width + kx - padding_) * channels + c;
            for (int64_t ox = 0; ox < xs.lo; ++ox) row[ox] = 0.0f;
            for (int64_t ox = xs.lo; ox < xs.hi; ++ox) row[ox] = sample[base + ox * stride_ * channels];
            for (int64_t ox = xs.hi; ox < out_w; ++ox) row[ox] = 0.0f;
          }
          std::fill(dst + rows.hi * out_w, dst + pixels_, 0.0f);
        }
      }
    }
  }
}

void Conv2dLayer::FoldPixelMajor(int64_t first, int64_t count, float* din) const {
  const int64_t channels = in_.channels, height = in_.height, width = in_.width;
  const int64_t row_floats = kernel_ * channels;
  const float* col = cols_.data();
  for (int64_t n = first; n < first + count; ++n) {
    float* sample = din + n * in_.size();
    std::fill_n(sample, in_.size(), 0.0f);
    for (int64_t oy = 0; oy < out_.height; ++oy) {
      for (int64_t ox = 0; ox < out_.width; ++ox, col += patch_) {
        const int64_t x0 = ox * stride_ - padding_;
        const int64_t kx0 = std::max<int64_t>(0, -x0), kx1 = std::min(kernel_, width - x0);
        for (int64_t ky = 0; ky < kernel_; ++ky) {
          const int64_t iy = oy * stride_ - padding_ + ky;
          if (iy < 0 || iy >= height || kx1 <= kx0) continue;
          const float* src = col + ky * row_floats + kx0 * channels;
          float* dst = sample + (iy * width + x0 + kx0) * channels;
          const int64_t n_floats = (kx1 - kx0) * channels;
          for (int64_t i = 0; i < n_floats; ++i) dst[i] += src[i];
        }
      }
    }
  }
}

void Conv2dLayer::FoldPatchMajor(int64_t first, int64_t count, float* din) const {
  const int64_t channels = in_.channels, width = in_.width;
  const int64_t out_w = out_.width, ld = count * pixels_;
  for (int64_t n = first; n < first + count; ++n) {
    float* sample = din + n * in_.size();
    std::fill_n(sample, in_.size(), 0.0f);
    for (int64_t ky = 0; ky < kernel_; ++ky) {
      const Range rows = Inside(ky - padding_, stride_, in_.height, out_.height);
      for (int64_t kx = 0; kx < kernel_; ++kx) {
        const Range xs = Inside(kx - padding_, stride_, width, out_w);
        for (int64_t c = 0; c < channels; ++c) {
          const float* src = cols_.data() + ((ky * kernel_ + kx) * channels + c) * ld + (n - first) * pixels_;
          for (int64_t oy = rows.lo; oy < rows.hi; ++oy) {
            const float* row = src + oy * out_w;
            const int64_t base = ((oy * stride_ + ky - padding_) * width + kx - padding_) * channels + c;
            for (int64_t ox = xs.lo; ox < xs.hi; ++ox) sample[base + ox * stride_ * channels] += row[ox];
          }
        }
      }
    }
  }
}

void Conv2dLayer::Forward(const float* in, float* out, int64_t rows, const Pass&) {
  const ConstMatrixView weights(params_, filters_, patch_);
  const float* bias = params_ + filters_ * patch_;
  // The bias first, then the product added to it: no zeroing pass, no bias pass.
  float* column = out;
  for (int64_t j = 0; j < rows * pixels_; ++j, column += filters_) std::copy_n(bias, filters_, column);
  for (int64_t first = 0; first < rows; first += chunk_) {
    const int64_t count = std::min(chunk_, rows - first);
    Unfold(in, first, count);
    unfolded_ = first == 0 && count == rows ? in : nullptr;
    const int64_t columns = count * pixels_;
    MatrixView z(out + first * out_.size(), filters_, columns);
    forward_.Multiply(weights, Op::kPlain, Cols(columns), patch_major_ ? Op::kTransposed : Op::kPlain, z,
                      /*accumulate=*/true, scratch_);
  }
}

void Conv2dLayer::Backward(const float* in, const float*, float* dout, float* din, int64_t rows, bool accumulate,
                           const Pass&) {
  const ConstMatrixView weights(params_, filters_, patch_);
  MatrixView weight_grads(grads_, filters_, patch_);
  float* bias_grads = grads_ + filters_ * patch_;
  if (!accumulate) std::fill_n(bias_grads, filters_, 0.0f);
  // Bias gradient: the sum of every output pixel's delta, in column order,
  // into local sums (a vector register's worth each) rather than into
  // bias_grads, which the compiler must assume dout may alias.
  constexpr int64_t kBlock = 64;
  for (int64_t f0 = 0; f0 < filters_; f0 += kBlock) {
    const int64_t width = std::min(kBlock, filters_ - f0);
    float sums[kBlock] = {};
    const float* column = dout + f0;
    for (int64_t j = 0; j < rows * pixels_; ++j, column += filters_) {
      for (int64_t f = 0; f < width; ++f) sums[f] += column[f];
    }
    for (int64_t f = 0; f < width; ++f) bias_grads[f0 + f] += sums[f];
  }
  for (int64_t first = 0; first < rows; first += chunk_) {
    const int64_t count = std::min(chunk_, rows - first);
    const int64_t columns = count * pixels_;
    const ConstMatrixView deltas(dout + first * out_.size(), filters_, columns);
    // The model calls Backward right after the Forward of the same rows: a
    // pass unfolded whole is still in cols_.
    if (unfolded_ != in || count != rows) Unfold(in, first, count);
    unfolded_ = nullptr;
    weight_grad_.Multiply(deltas, Op::kPlain, Cols(columns), patch_major_ ? Op::kPlain : Op::kTransposed,
                          weight_grads, /*accumulate=*/accumulate || first > 0, scratch_);
    if (din == nullptr) continue;
    // The patches are used; their buffer takes the patch gradients.
    if (patch_major_) {
      input_grad_.Multiply(deltas, Op::kTransposed, weights, Op::kPlain, MatrixView(cols_.data(), columns, patch_),
                           /*accumulate=*/false, scratch_);
    } else {
      input_grad_.Multiply(weights, Op::kTransposed, deltas, Op::kPlain, MatrixView(cols_.data(), patch_, columns),
                           /*accumulate=*/false, scratch_);
    }
    Fold(first, count, din);
  }
}

std::string Conv2dLayer::Describe() const {
  return "conv2d filters=" + std::to_string(filters_) + " kernel=" + std::to_string(kernel_) +
         " stride=" + std::to_string(stride_) + " padding=" + std::to_string(padding_);
}

std::string Conv2dLayer::Short() const {
  return "conv2d(" + std::to_string(filters_) + "," + std::to_string(kernel_) + "x" + std::to_string(kernel_) + ",s" +
         std::to_string(stride_) + ",p" + std::to_string(padding_) + ")";
}

}  // namespace meshtrain
