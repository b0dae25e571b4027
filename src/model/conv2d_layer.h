// 2-D convolution as GEMMs on the model's preallocated path (model/gemm.h):
// the patches of the output pixels (patch = kernel x kernel x in channels
// values, index (ky * kernel + kx) * in_channels + c) form a patch x pixels
// matrix P, and out = W P, dW = dout P^T, dP = W^T dout, folded back onto the
// input (col2im). Parameters: W (filters x patch, column-major), then b.
//
// P is never stored (docs/models.md, "Convolution by im2col"): the input is
// copied once into zero borders, and the forward and weight-gradient GEMMs
// pack their blocks of P straight from that copy (RhsSource). Only dP is
// stored, a chunk of samples at a time, to be folded back.
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
  // Blocks of P from padded_, as the GEMMs pack them: columns are output
  // pixels (forward), or patch elements with the depth running over the
  // pixels (weight gradient, P^T).
  class PaddedColumns final : public RhsSource {
   public:
    enum class Columns { kPixels, kElements };
    PaddedColumns(const Conv2dLayer& layer, Columns columns) : layer_(layer), columns_(columns) {}
    void Pack(Eigen::Index k0, Eigen::Index depth, Eigen::Index j0, Eigen::Index cols, float* out) const override;

   private:
    const Conv2dLayer& layer_;
    Columns columns_;
  };

  // padded_ = samples [0, rows) of `in` inside their zero borders.
  void Pad(const float* in, int64_t rows);
  // din samples [first, first + count) = the patch gradients in dcols_ folded back.
  void Fold(int64_t first, int64_t count, float* din) const;

  int64_t filters_, kernel_, stride_, padding_;
  int64_t patch_;   // kernel * kernel * in channels
  int64_t pixels_;  // output height * width
  int64_t chunk_;   // samples whose patch gradients dcols_ holds at once
  WeightGemms gemms_;     // out = W * P, dW = dout * P^T, dP = W^T * dout (a chunk at a time)
  AlignedFloats dcols_;   // dP of a chunk: patch x (chunk * pixels); empty if the layer does not propagate
  // The input of a pass in zero borders ((height + 2 padding) x (width + 2
  // padding) x channels a sample), the offset in it of each output pixel's
  // patch (max_batch x pixels) and of each patch element within a patch, and
  // how many floats on from each one stay adjacent (pixel_step_ apart, for
  // pixels; 1 apart, for elements: to the end of a kernel row).
  AlignedFloats padded_;
  std::vector<int64_t> pixel_offset_;
  std::vector<int64_t> pixel_run_;
  std::vector<int64_t> patch_offset_;
  std::vector<int64_t> patch_run_;
  int64_t pixel_step_;                  // floats between the patches of side-by-side pixels: stride x channels
  const float* padded_from_ = nullptr;  // the input padded_ holds (Forward), to catch a Backward of other rows
  int64_t padded_rows_ = 0;
  PaddedColumns pixel_columns_{*this, PaddedColumns::Columns::kPixels};
  PaddedColumns patch_columns_{*this, PaddedColumns::Columns::kElements};
};

}  // namespace meshtrain
