// Max and average pooling over square windows (no padding), channels-last.
// Max pooling keeps the index of each output's maximum (the first one on
// ties), so its backward pass is a scatter and needs neither input nor output.
#pragma once

#include <vector>

#include "model/layer.h"

namespace meshtrain {

class Pool2dLayer final : public Layer {
 public:
  enum class Kind { kMax, kAverage };

  // Output side: (in - kernel) / stride + 1, which must be >= 1.
  static int64_t OutputSide(int64_t in, int64_t kernel, int64_t stride) { return (in - kernel) / stride + 1; }

  Pool2dLayer(Kind kind, TensorShape in, int64_t kernel, int64_t stride, int64_t max_batch);

  void Forward(const float* in, float* out, int64_t rows, const Pass& pass) override;
  void Backward(const float* in, const float* out, float* dout, float* din, int64_t rows, bool accumulate,
                const Pass& pass) override;
  std::string Describe() const override;
  std::string Short() const override;

 private:
  Kind kind_;
  int64_t kernel_, stride_;
  std::vector<int32_t> argmax_;  // max: per output element, its input's offset within the sample
};

}  // namespace meshtrain
