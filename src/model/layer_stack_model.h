// The model of model.type = "layers": any stack of layers (model/layer.h) with
// a loss head on the last one's flat output. Each layer writes its output into
// a buffer preallocated for max_batch samples, or over its input when it can
// run in place (relu, tanh, dropout, flatten); the backward pass ping-pongs
// between two delta buffers. Nothing is allocated after construction.
#pragma once

#include <memory>
#include <vector>

#include "meshtrain/model.h"
#include "model/layer.h"
#include "model/loss_heads.h"

namespace meshtrain {

class LayerStackModel final : public Model {
 public:
  LayerStackModel(TensorShape input, std::vector<std::unique_ptr<Layer>> layers, LossKind loss, InitScheme init,
                  int64_t max_batch);

  std::string Describe() const override;
  std::vector<std::string> LayerList() const override;
  void SetNoiseKey(uint64_t key) override { noise_key_ = key; }
  void InitParams(uint64_t seed) override;
  double ForwardBackward(const Batch& batch) override;
  void Evaluate(const Batch& batch, EvalTotals* totals) override;

 private:
  static int64_t CountParams(const std::vector<std::unique_ptr<Layer>>& layers);
  bool Fits(const Batch& batch) const;
  void Forward(const float* x, int64_t rows, const Pass& pass);
  LossSums TopLoss(const Batch& batch, int64_t first, int64_t rows, float delta_scale, bool with_deltas);
  void Backward(const float* x, int64_t rows, bool accumulate, const Pass& pass);

  TensorShape input_;
  std::vector<std::unique_ptr<Layer>> layers_;
  LossKind loss_;
  InitScheme init_;
  int64_t max_batch_;
  uint64_t noise_key_ = 0;
  GemmScratch scratch_;
  std::vector<AlignedFloats> owned_outputs_;
  std::vector<float*> outputs_;  // per layer: its own buffer, or its input's when in place
  std::vector<bool> in_place_;
  AlignedFloats deltas_[2];      // ping-pong, each the largest gradient it holds x max_batch
};

}  // namespace meshtrain
