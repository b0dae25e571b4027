// The one model class behind every model type: a stack of dense layers with a
// loss head. linear = one identity layer + half squared error; softmax = one
// identity layer + softmax cross-entropy; mlp = hidden layers with relu/tanh,
// then an identity layer + softmax cross-entropy.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "meshtrain/model.h"
#include "model/dense_layer.h"
#include "model/layer.h"
#include "model/loss_heads.h"

namespace meshtrain {

struct NetworkSpec {
  std::string type;             // "linear" | "softmax" | "mlp": the first word of Describe()
  std::vector<int64_t> widths;  // input, hidden..., output (at least two)
  Activation hidden_activation = Activation::kRelu;
  InitScheme init = InitScheme::kHe;
  LossKind loss = LossKind::kSoftmaxCrossEntropy;
  int64_t max_batch = 1;
};

class FeedForwardModel final : public Model {
 public:
  static int64_t CountParams(const std::vector<int64_t>& widths);

  explicit FeedForwardModel(NetworkSpec spec);

  std::string Describe() const override;
  std::vector<std::string> LayerList() const override;
  void InitParams(uint64_t seed) override;
  double ForwardBackward(const Batch& batch) override;
  void Evaluate(const Batch& batch, EvalTotals* totals) override;

 private:
  bool Fits(const Batch& batch) const;
  // Runs samples [first, first + rows) of the batch (rows <= max_batch) up the stack.
  void Forward(const ConstMatrixView& x, int64_t rows);
  // Loss of the top layer's outputs for those samples; with_deltas also seeds the backward pass.
  LossSums TopLoss(const Batch& batch, int64_t first, int64_t rows, float delta_scale, bool with_deltas);
  void Backward(const ConstMatrixView& x, int64_t rows, bool accumulate);

  NetworkSpec spec_;
  GemmScratch scratch_;
  std::vector<DenseLayer> layers_;
};

}  // namespace meshtrain
