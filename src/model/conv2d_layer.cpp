#include "model/conv2d_layer.h"

#include <algorithm>
#include <cmath>
#include <cstddef>

namespace meshtrain {
namespace {

// The patch gradients are folded back about 256 KiB at a time (at least a
// sample; one of the reference network's second layer): they stay in L2
// between the GEMM that writes them and the fold (docs/models.md, "Memory").
constexpr int64_t kChunkFloats = int64_t{1} << 16;

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
      chunk_(std::clamp<int64_t>(kChunkFloats / std::max<int64_t>(patch_ * pixels_, 1), 1, max_batch)),
      gemms_(filters_, max_batch * pixels_, patch_, chunk_ * pixels_, propagates),
      dcols_(propagates ? static_cast<size_t>(patch_ * pixels_ * chunk_) : 0, 0.0f),
      pixel_step_(stride * in.channels) {
  const int64_t channels = in_.channels, padded_w = in_.width + 2 * padding_;
  const int64_t padded_sample = (in_.height + 2 * padding_) * padded_w * channels;
  padded_.assign(static_cast<size_t>(padded_sample * max_batch), 0.0f);  // the borders stay 0
  for (int64_t n = 0; n < max_batch; ++n) {
    for (int64_t oy = 0; oy < out_.height; ++oy) {
      for (int64_t ox = 0; ox < out_.width; ++ox) {
        pixel_offset_.push_back(n * padded_sample + (oy * stride_ * padded_w + ox * stride_) * channels);
        pixel_run_.push_back(out_.width - ox);  // the pixels left in this output row
      }
    }
  }
  for (int64_t ky = 0; ky < kernel_; ++ky) {
    for (int64_t kx = 0; kx < kernel_; ++kx) {
      for (int64_t c = 0; c < channels; ++c) {
        patch_offset_.push_back((ky * padded_w + kx) * channels + c);
        patch_run_.push_back((kernel_ - kx) * channels - c);  // the floats left in this kernel row
      }
    }
  }
}

void Conv2dLayer::Bind(float* params, float* grads, GemmScratch* scratch) { gemms_.Bind(params, grads, scratch); }

void Conv2dLayer::InitParams(InitScheme init, SplitMix64* rng, float* params) const {
  const double fan_in = static_cast<double>(patch_);
  const double fan_out = static_cast<double>(filters_ * kernel_ * kernel_);
  const double bound = init == InitScheme::kHe ? std::sqrt(6.0 / fan_in) : std::sqrt(6.0 / (fan_in + fan_out));
  FillUniform(std::span<float>(params, static_cast<size_t>(filters_ * patch_)), static_cast<float>(bound), rng);
  std::fill_n(params + filters_ * patch_, filters_, 0.0f);
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

namespace {

// Writes the interleave of kRhsPanel runs: to[t * kRhsPanel + q] = from[q][t * step]
// for t < n. With step 1, GCC makes vector loads, transposes and stores of it.
void Interleave(const float* const* from, int64_t step, Eigen::Index n, float* __restrict to) {
  const float* __restrict run[kRhsPanel];
  for (Eigen::Index q = 0; q < kRhsPanel; ++q) run[q] = from[q];
  if (step == 1) {
    for (Eigen::Index t = 0; t < n; ++t) {
      for (Eigen::Index q = 0; q < kRhsPanel; ++q) to[t * kRhsPanel + q] = run[q][t];
    }
    return;
  }
  for (Eigen::Index t = 0; t < n; ++t) {
    for (Eigen::Index q = 0; q < kRhsPanel; ++q) to[t * kRhsPanel + q] = run[q][t * step];
  }
}

// One axis of the padded input as a GEMM operand walks it: the offset in
// padded_ of each index, how many indices on from each one stay adjacent, and
// how many floats apart their values are.
struct PackAxis {
  const int64_t* offset;
  const int64_t* run;
  int64_t step;
};

// out = rows [k0, k0 + depth) x columns [j0, j0 + cols) of the matrix
// M(k, j) = padded[columns.offset[j] + rows.offset[k]], in panels of kRhsPanel
// columns as the GEMM packs them.
void PackPanels(const float* padded, PackAxis rows, PackAxis columns, Eigen::Index k0, Eigen::Index depth,
                Eigen::Index j0, Eigen::Index cols, float* out) {
  const int64_t* row = rows.offset + k0;
  const int64_t* col = columns.offset + j0;
  Eigen::Index j = 0;
  for (; j + kRhsPanel <= cols; j += kRhsPanel) {
    float* panel = out + j * depth;
    if (columns.step == 1 && columns.run[j0 + j] >= kRhsPanel) {
      // kRhsPanel adjacent columns (side-by-side pixels of one channel at
      // stride 1, a first layer on grey images; or the channels of one input
      // pixel): each row of the panel is kRhsPanel adjacent floats.
      for (Eigen::Index k = 0; k < depth; ++k) {
        std::copy_n(padded + col[j] + row[k], kRhsPanel, panel + k * kRhsPanel);
      }
      continue;
    }
    // Down a column, runs of values rows.step apart (along a kernel row for
    // elements, along an output row for pixels).
    for (Eigen::Index k = 0; k < depth;) {
      const Eigen::Index n = std::min<Eigen::Index>(rows.run[k0 + k], depth - k);
      const float* from[kRhsPanel];
      for (Eigen::Index q = 0; q < kRhsPanel; ++q) from[q] = padded + col[j + q] + row[k];
      Interleave(from, rows.step, n, panel + k * kRhsPanel);
      k += n;
    }
  }
  for (; j < cols; ++j) {
    for (Eigen::Index k = 0; k < depth; ++k) out[j * depth + k] = padded[col[j] + row[k]];
  }
}

}  // namespace

void Conv2dLayer::PaddedColumns::Pack(Eigen::Index k0, Eigen::Index depth, Eigen::Index j0, Eigen::Index cols,
                                      float* out) const {
  const Conv2dLayer& l = layer_;
  const PackAxis pixels{l.pixel_offset_.data(), l.pixel_run_.data(), l.pixel_step_};
  const PackAxis elements{l.patch_offset_.data(), l.patch_run_.data(), 1};
  if (columns_ == Columns::kPixels) {
    PackPanels(l.padded_.data(), elements, pixels, k0, depth, j0, cols, out);  // P: column j = output pixel j0 + j
  } else {
    PackPanels(l.padded_.data(), pixels, elements, k0, depth, j0, cols, out);  // P^T: column j = patch element j0 + j
  }
}

void Conv2dLayer::Fold(int64_t first, int64_t count, float* din) const {
  const int64_t channels = in_.channels, height = in_.height, width = in_.width;
  const int64_t row_floats = kernel_ * channels;
  const float* col = dcols_.data();
  for (int64_t n = first; n < first + count; ++n) {
    float* sample = din + n * in_.size();
    std::fill_n(sample, in_.size(), 0.0f);
    for (int64_t oy = 0; oy < out_.height; ++oy) {
      for (int64_t ox = 0; ox < out_.width; ++ox, col += patch_) {
        const int64_t x0 = ox * stride_ - padding_;
        // Kernel columns [kx0, kx1) fall inside the image; the rest are padding.
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

void Conv2dLayer::Forward(const float* in, float* out, int64_t rows, const Pass&) {
  const float* bias = gemms_.params + filters_ * patch_;
  // The bias first, then the product added to it: no zeroing pass, no bias pass.
  float* column = out;
  for (int64_t j = 0; j < rows * pixels_; ++j, column += filters_) std::copy_n(bias, filters_, column);
  Pad(in, rows);
  gemms_.forward.Multiply(ConstMatrixView(gemms_.params, filters_, patch_), Op::kPlain, patch_, pixel_columns_,
                          MatrixView(out, filters_, rows * pixels_), /*accumulate=*/true, gemms_.scratch);
}

void Conv2dLayer::Backward(const float* in, const float*, float* dout, float* din, int64_t rows, bool accumulate,
                           const Pass&) {
  float* bias_grads = gemms_.grads + filters_ * patch_;
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
  // The model calls Backward right after the Forward of the same rows, so
  // padded_ normally holds them already.
  if (padded_from_ != in || padded_rows_ != rows) Pad(in, rows);
  gemms_.weight_grad.Multiply(ConstMatrixView(dout, filters_, rows * pixels_), Op::kPlain, rows * pixels_,
                              patch_columns_, MatrixView(gemms_.grads, filters_, patch_), accumulate, gemms_.scratch);
  if (din == nullptr) return;
  const ConstMatrixView weights(gemms_.params, filters_, patch_);
  for (int64_t first = 0; first < rows; first += chunk_) {
    const int64_t count = std::min(chunk_, rows - first);
    const int64_t columns = count * pixels_;
    gemms_.input_grad.Multiply(weights, Op::kTransposed, ConstMatrixView(dout + first * out_.size(), filters_, columns),
                               Op::kPlain, MatrixView(dcols_.data(), patch_, columns), /*accumulate=*/false,
                               gemms_.scratch);
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
