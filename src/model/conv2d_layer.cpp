#include "model/conv2d_layer.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

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
      // Patch-major copies runs of an output row (gathered every `channels`
      // floats), packing from the input runs of kernel x channels: the longer.
      patch_major_(stride == 1 && in.channels * kernel < out_.width),
      chunk_(ChunkSamples(patch_ * pixels_, max_batch)),
      propagates_(propagates),
      forward_(filters_, (patch_major_ ? chunk_ : max_batch) * pixels_, patch_),
      weight_grad_(filters_, patch_, (patch_major_ ? chunk_ : max_batch) * pixels_),
      input_grad_(patch_major_ ? chunk_ * pixels_ : patch_, patch_major_ ? patch_ : chunk_ * pixels_, filters_),
      cols_(patch_major_ || propagates ? static_cast<size_t>(patch_ * pixels_ * chunk_) : 0, 0.0f) {
  if (patch_major_) return;
  const int64_t channels = in_.channels, padded_w = in_.width + 2 * padding_;
  const int64_t padded_sample = (in_.height + 2 * padding_) * padded_w * channels;
  padded_.assign(static_cast<size_t>(padded_sample * max_batch), 0.0f);  // the borders stay 0
  for (int64_t n = 0; n < max_batch; ++n) {
    for (int64_t oy = 0; oy < out_.height; ++oy) {
      for (int64_t ox = 0; ox < out_.width; ++ox) {
        pixel_offset_.push_back(n * padded_sample + (oy * stride_ * padded_w + ox * stride_) * channels);
      }
    }
  }
  for (int64_t ky = 0; ky < kernel_; ++ky) {
    for (int64_t kx = 0; kx < kernel_; ++kx) {
      for (int64_t c = 0; c < channels; ++c) patch_offset_.push_back((ky * padded_w + kx) * channels + c);
    }
  }
  // A kernel row of a patch is kernel x channels adjacent floats of padded_.
  const int64_t row = kernel_ * channels;
  for (int64_t k = 0; k < patch_; ++k) patch_run_.push_back(row - k % row);
}

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

void Conv2dLayer::Pad(const float* in, int64_t rows) {
  const int64_t row_floats = in_.width * in_.channels, padded_w = in_.width + 2 * padding_;
  const int64_t padded_sample = (in_.height + 2 * padding_) * padded_w * in_.channels;
  for (int64_t n = 0; n < rows; ++n) {
    for (int64_t y = 0; y < in_.height; ++y) {
      std::copy_n(in + n * in_.size() + y * row_floats, row_floats,
                  padded_.data() + n * padded_sample + ((y + padding_) * padded_w + padding_) * in_.channels);
    }
  }
  padded_from_ = in;
  padded_rows_ = rows;
}

void Conv2dLayer::PixelColumns::Pack(Eigen::Index k0, Eigen::Index depth, Eigen::Index j0, Eigen::Index cols,
                                     float* out) const {
  // Column j = output pixel j0 + j, row k = patch element k0 + k.
  const float* padded = layer_.padded_.data();
  const int64_t* element = layer_.patch_offset_.data() + k0;
  Eigen::Index j = 0;
  for (; j + kRhsPanel <= cols; j += kRhsPanel) {
    const float* pixel[kRhsPanel];
    for (Eigen::Index q = 0; q < kRhsPanel; ++q) {
      pixel[q] = padded + layer_.pixel_offset_[static_cast<size_t>(j0 + j + q)];
    }
    float* panel = out + j * depth;
    // Along a run of adjacent elements (a kernel row: kernel x channels
    // floats) the pixels' values are runs too: interleave them, which GCC
    // turns into vector loads, transposes and stores.
    for (Eigen::Index k = 0; k < depth;) {
      const Eigen::Index run = std::min<Eigen::Index>(layer_.patch_run_[static_cast<size_t>(k0 + k)], depth - k);
      const float* __restrict from[kRhsPanel];
      for (Eigen::Index q = 0; q < kRhsPanel; ++q) from[q] = pixel[q] + element[k];
      float* __restrict to = panel + k * kRhsPanel;
      for (Eigen::Index t = 0; t < run; ++t) {
        for (Eigen::Index q = 0; q < kRhsPanel; ++q) to[t * kRhsPanel + q] = from[q][t];
      }
      k += run;
    }
  }
  for (; j < cols; ++j) {
    const float* pixel = padded + layer_.pixel_offset_[static_cast<size_t>(j0 + j)];
    for (Eigen::Index k = 0; k < depth; ++k) out[j * depth + k] = pixel[element[k]];
  }
}

void Conv2dLayer::PatchColumns::Pack(Eigen::Index k0, Eigen::Index depth, Eigen::Index j0, Eigen::Index cols,
                                     float* out) const {
  // Column j = patch element j0 + j, row k = output pixel k0 + k.
  const float* padded = layer_.padded_.data();
  const int64_t* pixel = layer_.pixel_offset_.data() + k0;
  const int64_t* element = layer_.patch_offset_.data() + j0;
  Eigen::Index j = 0;
  for (; j + kRhsPanel <= cols; j += kRhsPanel) {
    float* panel = out + j * depth;
    // A panel's elements are adjacent floats of a pixel's patch (channels of
    // one input pixel) unless it straddles a kernel row or column.
    bool adjacent = true;
    for (Eigen::Index q = 1; q < kRhsPanel; ++q) adjacent = adjacent && element[j + q] == element[j] + q;
    if (adjacent) {
      for (Eigen::Index k = 0; k < depth; ++k) {
        std::copy_n(padded + pixel[k] + element[j], kRhsPanel, panel + k * kRhsPanel);
      }
      continue;
    }
    for (Eigen::Index k = 0; k < depth; ++k) {
      for (Eigen::Index q = 0; q < kRhsPanel; ++q) panel[k * kRhsPanel + q] = padded[pixel[k] + element[j + q]];
    }
  }
  for (; j < cols; ++j) {
    for (Eigen::Index k = 0; k < depth; ++k) out[j * depth + k] = padded[pixel[k] + element[j]];
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
  if (!patch_major_) {
    Pad(in, rows);
    forward_.Multiply(weights, Op::kPlain, patch_, pixel_columns_, MatrixView(out, filters_, rows * pixels_),
                      /*accumulate=*/true, scratch_);
    return;
  }
  for (int64_t first = 0; first < rows; first += chunk_) {
    const int64_t count = std::min(chunk_, rows - first);
    Unfold(in, first, count);
    unfolded_ = first == 0 && count == rows ? in : nullptr;
    const int64_t columns = count * pixels_;
    forward_.Multiply(weights, Op::kPlain, ConstMatrixView(cols_.data(), columns, patch_), Op::kTransposed,
                      MatrixView(out + first * out_.size(), filters_, columns), /*accumulate=*/true, scratch_);
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
  if (!patch_major_) {
    // The model calls Backward right after the Forward of the same rows, so
    // padded_ normally still holds them.
    if (padded_from_ != in || padded_rows_ != rows) Pad(in, rows);
    weight_grad_.Multiply(ConstMatrixView(dout, filters_, rows * pixels_), Op::kPlain, rows * pixels_, patch_columns_,
                          weight_grads, accumulate, scratch_);
    if (din == nullptr) return;
    for (int64_t first = 0; first < rows; first += chunk_) {
      const int64_t count = std::min(chunk_, rows - first);
      const int64_t columns = count * pixels_;
      input_grad_.Multiply(weights, Op::kTransposed, ConstMatrixView(dout + first * out_.size(), filters_, columns),
                           Op::kPlain, MatrixView(cols_.data(), patch_, columns), /*accumulate=*/false, scratch_);
      FoldPixelMajor(first, count, din);
    }
    return;
  }
  for (int64_t first = 0; first < rows; first += chunk_) {
    const int64_t count = std::min(chunk_, rows - first);
    const int64_t columns = count * pixels_;
    const ConstMatrixView deltas(dout + first * out_.size(), filters_, columns);
    // The model calls Backward right after the Forward of the same rows: a
    // pass unfolded whole is still in cols_.
    if (unfolded_ != in || count != rows) Unfold(in, first, count);
    unfolded_ = nullptr;
    weight_grad_.Multiply(deltas, Op::kPlain, ConstMatrixView(cols_.data(), columns, patch_), Op::kPlain, weight_grads,
                          /*accumulate=*/accumulate || first > 0, scratch_);
    if (din == nullptr) continue;
    // The patches are used; their buffer takes the patch gradients.
    input_grad_.Multiply(deltas, Op::kTransposed, weights, Op::kPlain, MatrixView(cols_.data(), columns, patch_),
                         /*accumulate=*/false, scratch_);
    FoldPatchMajor(first, count, din);
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
