// A dense layer of a layer-stack model: out = W * in + b on a flat input, its
// activation a separate layer. Same parameter layout as DenseLayer (W out x in,
// column-major, then b) and the same preallocated GEMM path.
#pragma once

#include "model/layer.h"

namespace meshtrain {

class DenseStackLayer final : public Layer {
 public:
  DenseStackLayer(TensorShape in, int64_t units, int64_t max_batch, bool propagates);

  int64_t num_params() const override { return units_ * in_.size() + units_; }
  void Bind(float* params, float* grads, GemmScratch* scratch) override;
  void InitParams(InitScheme init, SplitMix64* rng, float* params) const override;
  void Forward(const float* in, float* out, int64_t rows, const Pass& pass) override;
  void Backward(const float* in, const float* out, float* dout, float* din, int64_t rows, bool accumulate,
                const Pass& pass) override;
  std::string Describe() const override { return "dense units=" + std::to_string(units_); }
  std::string Short() const override { return "dense(" + std::to_string(units_) + ")"; }

 private:
  int64_t units_;
  WeightGemms gemms_;  // out = W * in, dW = dout * in^T, din = W^T * dout
};

}  // namespace meshtrain
