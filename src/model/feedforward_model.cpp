#include "model/feedforward_model.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "model/chunked_passes.h"
#include "model/uniform_init.h"

namespace meshtrain {

int64_t FeedForwardModel::CountParams(const std::vector<int64_t>& widths) {
  int64_t total = 0;
  for (size_t i = 1; i < widths.size(); ++i) total += DenseLayer::NumParams(widths[i - 1], widths[i]);
  return total;
}

FeedForwardModel::FeedForwardModel(NetworkSpec spec) : Model(CountParams(spec.widths)), spec_(std::move(spec)) {
  const size_t n_layers = spec_.widths.size() - 1;
  layers_.reserve(n_layers);
  float* params = this->params().data();
  float* grads = this->grads().data();
  for (size_t i = 0; i < n_layers; ++i) {
    const bool top = i + 1 == n_layers;
    const Activation activation = top ? Activation::kIdentity : spec_.hidden_activation;
    DenseLayer& layer =
        layers_.emplace_back(spec_.widths[i], spec_.widths[i + 1], activation, spec_.max_batch, /*propagates=*/i > 0);
    layer.Bind(params, grads, &scratch_);
    params += layer.num_params();
    grads += layer.num_params();
  }
}

std::string FeedForwardModel::Describe() const {
  std::string text = spec_.type + " ";
  for (size_t i = 0; i < spec_.widths.size(); ++i) {
    if (i > 0) text += "-";
    text += std::to_string(spec_.widths[i]);
  }
  if (layers_.size() > 1) text += spec_.hidden_activation == Activation::kTanh ? " tanh" : " relu";
  return text;
}

std::vector<std::string> FeedForwardModel::LayerList() const {
  // The short forms as the layer list they amount to (docs/models.md, "Layers").
  std::vector<std::string> lines = {"input " + std::to_string(spec_.widths.front())};
  const char* activation = spec_.hidden_activation == Activation::kTanh ? "tanh" : "relu";
  for (size_t i = 0; i < layers_.size(); ++i) {
    lines.push_back("dense units=" + std::to_string(layers_[i].out()) + " -> " + std::to_string(layers_[i].out()) +
                    ", " + std::to_string(layers_[i].num_params()) + " params");
    if (i + 1 < layers_.size()) lines.push_back(std::string(activation) + " -> " + std::to_string(layers_[i].out()));
  }
  return lines;
}

void FeedForwardModel::InitParams(uint64_t seed) {
  SplitMix64 rng(seed);
  auto params = this->params();
  size_t offset = 0;
  for (const DenseLayer& layer : layers_) {
    const double fan_in = static_cast<double>(layer.in());
    const double fan_out = static_cast<double>(layer.out());
    const double bound = spec_.init == InitScheme::kHe ? std::sqrt(6.0 / fan_in) : std::sqrt(6.0 / (fan_in + fan_out));
    const size_t n_weights = static_cast<size_t>(layer.in() * layer.out());
    FillUniform(params.subspan(offset, n_weights), static_cast<float>(bound), &rng);
    std::fill_n(params.begin() + static_cast<std::ptrdiff_t>(offset + n_weights), layer.out(), 0.0f);
    offset += static_cast<size_t>(layer.num_params());
  }
  std::fill(grads().begin(), grads().end(), 0.0f);
}

bool FeedForwardModel::Fits(const Batch& batch) const {
  if (batch.rows < 0 || batch.dim != spec_.widths.front()) return false;
  if (batch.rows == 0) return true;
  if (batch.x == nullptr) return false;
  return spec_.loss == LossKind::kSoftmaxCrossEntropy ? batch.labels != nullptr : batch.targets != nullptr;
}

void FeedForwardModel::Forward(const ConstMatrixView& x, int64_t rows) {
  layers_.front().Forward(x, rows);
  for (size_t i = 1; i < layers_.size(); ++i) layers_[i].Forward(layers_[i - 1].outputs(rows), rows);
}

LossSums FeedForwardModel::TopLoss(const Batch& batch, int64_t first, int64_t rows, float delta_scale,
                                   bool with_deltas) {
  DenseLayer& top = layers_.back();
  MatrixView deltas = top.deltas(rows);
  MatrixView* out = with_deltas ? &deltas : nullptr;
  if (spec_.loss == LossKind::kSoftmaxCrossEntropy) {
    return SoftmaxCrossEntropy(top.outputs(rows), batch.labels + first, delta_scale, out);
  }
  return HalfSquaredError(top.outputs(rows), batch.targets + first, delta_scale, out);
}

void FeedForwardModel::Backward(const ConstMatrixView& x, int64_t rows, bool accumulate) {
  for (size_t i = layers_.size() - 1; i > 0; --i) {
    layers_[i].ComputeGradients(layers_[i - 1].outputs(rows), rows, accumulate);
    layers_[i].PropagateDeltas(layers_[i - 1], rows);
  }
  layers_.front().ComputeGradients(x, rows, accumulate);
}

double FeedForwardModel::ForwardBackward(const Batch& batch) {
  const auto chunk = [&](int64_t first, int64_t rows, float delta_scale) {
    const ConstMatrixView x(batch.x + first * batch.dim, batch.dim, rows);
    Forward(x, rows);
    const double loss_sum = TopLoss(batch, first, rows, delta_scale, /*with_deltas=*/true).loss_sum;
    Backward(x, rows, /*accumulate=*/first > 0);
    return loss_sum;
  };
  return TrainInChunks(batch, Fits(batch), spec_.max_batch, grads(), chunk);
}

void FeedForwardModel::Evaluate(const Batch& batch, EvalTotals* totals) {
  EvaluateInChunks(batch, Fits(batch), spec_.max_batch, totals, [&](int64_t first, int64_t rows) {
    Forward(ConstMatrixView(batch.x + first * batch.dim, batch.dim, rows), rows);
    return TopLoss(batch, first, rows, 0.0f, /*with_deltas=*/false);
  });
}

}  // namespace meshtrain
