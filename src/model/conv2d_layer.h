// 2-D convolution as GEMMs on the model's preallocated path (model/gemm.h):
// the patches of the output pixels (patch = kernel x kernel x in channels
// values, index (ky * kernel + kx) * in_channels + c) form a patch x pixels
// matrix P, and out = W P, dW = dout P^T, dP = W^T dout (folded back onto the
// input: col2im). Parameters: W (filters x patch, column-major), then b.
//
// P is built one of two ways (docs/models.md, "Convolution by im2col"):
// - Packed straight from the input (many channels, or a stride): the input is
//   copied once into a zero-bordered buffer, and the forward and weight
//   gradient GEMMs pack their blocks of P from it (RhsSource), so P is never
//   stored: its runs are kernel x channels floats long.
// - Unfolded patch-major (one or two channels at stride 1, such as a first
//   layer on grey images): each patch element's row over the output pixels is
//   stored (runs of an output row), and the GEMMs read it transposed.
#pragma once

#include <vector>

#include "meshtrain/aligned_buffer.h"
#include "model/layer.h"

namespace meshtrain {

class Conv2dLayer final : public Layer {
 public:
  // Output side: (in + 2 * padding - kernel) / stride + 1, which must be >= 1.
  static int64_t OutputSide(int64_t in, int64_t kernel, int64_t stride, int64_t padding) {
    return (in + 2 * padding - kernel) / stride + 1;
  }

  Conv2dLayer(TensorShape in, int64_t filters, int64_t kernel, int64_t stride, int64_t padding, int64_t max_batch,
              bool propagates);

  int64_t num_params() const override { return filters_ * patch_ + filters_; }
  void Bind(float* params, float* grads, GemmScratch* scratch) override;
  void InitParams(InitScheme init, SplitMix64* rng, float* params) const override;
  void Forward(const float* in, float* out, int64_t rows, const Pass& pass) override;
  void Backward(const float* in, const float* out, float* dout, float* din, int64_t rows, bool accumulate,
                const Pass& pass) override;
  std::string Describe() const override;
  std::string Short() const override;

 private:
  // P's blocks for the GEMMs, from padded_: columns are output pixels (forward)
  // or patch elements (weight gradient, whose depth runs over the pixels).
  class PixelColumns final : public RhsSource {
   public:
    explicit PixelColumns(const Conv2dLayer& layer) : layer_(layer) {}
    void Pack(Eigen::Index k0, Eigen::Index depth, Eigen::Index j0, Eigen::Index cols, float* out) const override;

   private:
    const Conv2dLayer& layer_;
  };
  class PatchColumns final : public RhsSource {
   public:
    explicit PatchColumns(const Conv2dLayer& layer) : layer_(layer) {}
    void Pack(Eigen::Index k0, Eigen::Index depth, Eigen::Index j0, Eigen::Index cols, float* out) const override;

   private:
    const Conv2dLayer& layer_;
  };

  // padded_ = samples [0, rows) of `in` inside their zero borders.
  void Pad(const float* in, int64_t rows);
  // cols_ = the patch-major patches of samples [first, first + count) of `in`.
  void Unfold(const float* in, int64_t first, int64_t count);
  // din samples [first, first + count) = the patch gradients in cols_ folded back.
  void FoldPixelMajor(int64_t first, int64_t count, float* din) const;
  void FoldPatchMajor(int64_t first, int64_t count, float* din) const;

  int64_t filters_, kernel_, stride_, padding_;
  int64_t patch_;   // kernel * kernel * in channels
  int64_t pixels_;  // output height * width
  // Pixel-major P is packed from padded_; patch-major P is unfolded into cols_.
  bool patch_major_;
  int64_t chunk_;  // samples whose patches (or patch gradients) cols_ holds at once
  bool propagates_;
  const float* params_ = nullptr;
  float* grads_ = nullptr;
  GemmScratch* scratch_ = nullptr;
  GemmPlan forward_;      // out = W * P
  GemmPlan weight_grad_;  // dW = dout * P^T
  GemmPlan input_grad_;   // dP = W^T * dout (pixel-major), dP^T = dout^T * W (patch-major)
  AlignedFloats cols_;    // patch-major: P, then dP^T; pixel-major: dP (patch x chunk * pixels)
  const float* unfolded_ = nullptr;  // patch-major: the input whose whole pass cols_ holds, else null
  // Pixel-major: the input of a pass in zero borders ((height + 2 padding) x
  // (width + 2 padding) x channels a sample), the offset in it of each output
  // pixel's patch (max_batch x pixels) and of each patch element within it.
  AlignedFloats padded_;
  std::vector<int64_t> pixel_offset_;
  std::vector<int64_t> patch_offset_;
  std::vector<int64_t> patch_run_;  // adjacent elements from each one to the end of its kernel row
  const float* padded_from_ = nullptr;  // the input padded_ holds
  int64_t padded_rows_ = 0;
  PixelColumns pixel_columns_{*this};
  PatchColumns patch_columns_{*this};
};

}  // namespace meshtrain
