// 2-D convolution by im2col: a chunk of samples is unfolded into a matrix of
// patches (patch = kernel x kernel x in channels rows, one column per output
// pixel of every sample in the chunk), so the convolution, its weight
// gradient and its input gradient are three GEMMs on the model's preallocated
// path (model/gemm.h). Parameters: W (filters x patch, column-major, patch
// index (ky * kernel + kx) * in_channels + c), then b (filters).
//
// The patches are stored one of two ways, whichever copies longer runs
// (docs/models.md, "Convolution by im2col"): pixel-major (each output pixel's
// patch contiguous: runs of kernel x channels floats, good for many channels)
// or patch-major (each patch element's row over all output pixels contiguous:
// runs of an output row, good for one or two channels at stride 1, such as
// a first layer on grey images). The GEMMs read either through Op.
#pragma once

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
  // cols_ = the patches of samples [first, first + count) of `in`.
  void Unfold(const float* in, int64_t first, int64_t count);
  void UnfoldPixelMajor(const float* in, int64_t first, int64_t count);
  void UnfoldPatchMajor(const float* in, int64_t first, int64_t count);
  // din samples [first, first + count) = the patches in cols_ folded back (col2im).
  void Fold(int64_t first, int64_t count, float* din) const;
  void FoldPixelMajor(int64_t first, int64_t count, float* din) const;
  void FoldPatchMajor(int64_t first, int64_t count, float* din) const;
  // The patches of `columns` output pixels as the GEMMs read them: patch x columns.
  ConstMatrixView Cols(int64_t columns) const;

  int64_t filters_, kernel_, stride_, padding_;
  int64_t patch_;   // kernel * kernel * in channels
  int64_t pixels_;  // output height * width
  int64_t chunk_;   // samples unfolded at once
  bool propagates_;
  bool patch_major_;  // cols_ is (chunk * pixels) x patch column-major, else patch x (chunk * pixels)
  const float* params_ = nullptr;
  float* grads_ = nullptr;
  GemmScratch* scratch_ = nullptr;
  GemmPlan forward_;      // out = W * cols
  GemmPlan weight_grad_;  // dW = dout * cols^T
  GemmPlan input_grad_;   // dcols = W^T * dout (pixel-major), dcols^T = dout^T * W (patch-major)
  AlignedFloats cols_;    // patch x (chunk * pixels)
  const float* unfolded_ = nullptr;  // the input whose whole pass cols_ holds (Forward), else null
};

}  // namespace meshtrain
