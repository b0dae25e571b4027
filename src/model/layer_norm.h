// Layer normalisation (Ba et al., 2016): each sample is normalised by the mean
// and variance of its own features, then scaled and shifted per channel
// (gamma, beta: `channels` each; for a flat vector every feature is a
// channel, as in PyTorch's LayerNorm). No statistics outlive a pass, so
// replicas have nothing to keep consistent beyond the parameters themselves
// (docs/models.md, "Why layer norm"). Sums run in double, in a fixed order.
#pragma once

#include <vector>

#include "model/layer.h"

namespace meshtrain {

class LayerNormLayer final : public Layer {
 public:
  static constexpr double kEpsilon = 1e-5;

  LayerNormLayer(TensorShape shape, int64_t max_batch);

  int64_t num_params() const override { return 2 * in_.channels; }
  void Bind(float* params, float* grads, GemmScratch* scratch) override;
  void InitParams(InitScheme init, SplitMix64* rng, float* params) const override;
  void Forward(const float* in, float* out, int64_t rows, const Pass& pass) override;
  void Backward(const float* in, const float* out, float* dout, float* din, int64_t rows, bool accumulate,
                const Pass& pass) override;
  std::string Describe() const override { return "layernorm"; }
  std::string Short() const override { return "layernorm"; }

 private:
  const float* params_ = nullptr;  // gamma, then beta
  float* grads_ = nullptr;
  std::vector<float> mean_;  // per sample of the last forward pass
  std::vector<float> rstd_;  // 1 / sqrt(variance + epsilon)
};

}  // namespace meshtrain
