// Max and average pooling over square windows (no padding), channels-last.
// Max pooling keeps the index of each output's maximum (the first one on
// ties), so its backward pass is a scatter and needs neither input nor output.
//
// A relu right below a max pool is done by the pool (docs/models.md, "Relu
// before max pooling"): max(relu(x)) = relu(max(x)) value for value, and the
// gradient reaches the same element in both orders, so the pool takes the max
// of the raw values and applies relu to its outputs, a quarter as many for a
// 2x2 window; the relu layer passes its input through.
#pragma once

#include <vector>

#include "model/layer.h"

namespace meshtrain {

class Pool2dLayer final : public Layer {
 public:
  enum class Kind { kMax, kAverage };

  // Output side: (in - kernel) / stride + 1, which must be >= 1.
  static int64_t OutputSide(int64_t in, int64_t kernel, int64_t stride) { return (in - kernel) / stride + 1; }

  // `relu_below` (max only): the layer below is a relu whose work this one does.
  Pool2dLayer(Kind kind, TensorShape in, int64_t kernel, int64_t stride, int64_t max_batch, bool relu_below = false);

  bool backward_reads_input() const override { return false; }  // argmax or the window size only
  void Forward(const float* in, float* out, int64_t rows, const Pass& pass) override;
  void Backward(const float* in, const float* out, float* dout, float* din, int64_t rows, bool accumulate,
                const Pass& pass) override;
  std::string Describe() const override;
  std::string Short() const override;

 private:
  void MaxForward(const float* in, float* out, int64_t rows);
  void AverageForward(const float* in, float* out, int64_t rows) const;
  // Backward when the windows tile the input (stride == kernel).
  void TiledBackward(const float* dout, float* din, int64_t rows) const;

  Kind kind_;
  int64_t kernel_, stride_;
  bool relu_below_;
  // Max: per output element, its input's offset within the sample; negated
  // (~offset) when the relu done here zeroed it (no gradient flows).
  std::vector<int32_t> argmax_;
};

}  // namespace meshtrain
