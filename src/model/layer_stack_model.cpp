#include "model/layer_stack_model.h"

#include <algorithm>
#include <limits>

#include "model/chunked_passes.h"

namespace meshtrain {

int64_t LayerStackModel::CountParams(const std::vector<std::unique_ptr<Layer>>& layers) {
  int64_t total = 0;
  for (const auto& layer : layers) total += layer->num_params();
  return total;
}

LayerStackModel::LayerStackModel(TensorShape input, std::vector<std::unique_ptr<Layer>> layers, LossKind loss,
                                 InitScheme init, int64_t max_batch)
    : Model(CountParams(layers)),
      input_(input),
      layers_(std::move(layers)),
      loss_(loss),
      init_(init),
      max_batch_(max_batch) {
  float* params = this->params().data();
  float* grads = this->grads().data();
  for (size_t i = 0; i < layers_.size(); ++i) {
    Layer& layer = *layers_[i];
    layer.Bind(params, grads, &scratch_);
    params += layer.num_params();
    grads += layer.num_params();
    // Layer 0 reads the batch, which is read-only.
    in_place_.push_back(i > 0 && layer.can_run_in_place() && !layers_[i - 1]->backward_reads_output());
  }

  // Each delta buffer as large as the largest gradient Backward leaves in it,
  // following its ping-pong: the reference network's first layer's 16x28x28
  // lands in one of them only (docs/models.md, "Memory").
  int64_t need[2] = {0, 0};
  int current = 0;
  for (size_t i = layers_.size(); i-- > 0;) {
    need[current] = std::max(need[current], layers_[i]->out_shape().size());
    if (i > 0 && !in_place_[i]) {
      current = 1 - current;
      need[current] = std::max(need[current], layers_[i]->in_shape().size());
    }
  }
  for (int k = 0; k < 2; ++k) deltas_[k].assign(static_cast<size_t>(need[k] * max_batch_), 0.0f);

  // Activations: a layer that does not run in place writes a buffer, which
  // the in-place layers above it share (a chain). A chain nobody reads during
  // the backward pass (the reference network's conv outputs: the relu is done
  // by the max pool, which keeps argmaxes) borrows a delta buffer, idle during
  // the forward pass, other than the one its input is in; the others own one.
  // The top chain always owns its buffer: the loss reads it while writing deltas_[0].
  int input_in = -1;  // the delta buffer holding the current chain's input, or -1
  for (size_t i = 0; i < layers_.size();) {
    size_t top = i;  // the chain is layers i..top
    while (top + 1 < layers_.size() && in_place_[top + 1]) ++top;
    bool dead = top + 1 < layers_.size() && !layers_[top + 1]->backward_reads_input();
    for (size_t m = i; m <= top; ++m) dead = dead && !layers_[m]->backward_reads_output();
    const int64_t floats = layers_[i]->out_shape().size() * max_batch_;
    float* buffer = nullptr;
    int borrowed = -1;
    for (int k = 0; k < 2 && dead && buffer == nullptr; ++k) {
      if (k != input_in && static_cast<int64_t>(deltas_[k].size()) >= floats) {
        buffer = deltas_[k].data();
        borrowed = k;
      }
    }
    if (buffer == nullptr) {
      owned_outputs_.emplace_back(static_cast<size_t>(floats), 0.0f);
      buffer = owned_outputs_.back().data();
    }
    for (size_t m = i; m <= top; ++m) outputs_.push_back(buffer);
    input_in = borrowed;
    i = top + 1;
  }
}

std::string LayerStackModel::Describe() const {
  std::string text = "layers " + input_.Text();
  for (const auto& layer : layers_) text += " " + layer->Short();
  return text;
}

std::vector<std::string> LayerStackModel::LayerList() const {
  std::vector<std::string> lines = {"input " + input_.Text()};
  for (const auto& layer : layers_) {
    std::string line = layer->Describe() + " -> " + layer->out_shape().Text();
    if (layer->num_params() > 0) line += ", " + std::to_string(layer->num_params()) + " params";
    lines.push_back(std::move(line));
  }
  return lines;
}

void LayerStackModel::InitParams(uint64_t seed) {
  SplitMix64 rng(seed);
  float* params = this->params().data();
  for (const auto& layer : layers_) {
    layer->InitParams(init_, &rng, params);
    params += layer->num_params();
  }
  std::fill(grads().begin(), grads().end(), 0.0f);
}

bool LayerStackModel::Fits(const Batch& batch) const {
  if (batch.rows < 0 || batch.dim != input_.size()) return false;
  if (batch.rows == 0) return true;
  if (batch.x == nullptr) return false;
  return loss_ == LossKind::kSoftmaxCrossEntropy ? batch.labels != nullptr : batch.targets != nullptr;
}

void LayerStackModel::Forward(const float* x, int64_t rows, const Pass& pass) {
  const float* in = x;
  for (size_t i = 0; i < layers_.size(); ++i) {
    layers_[i]->Forward(in, outputs_[i], rows, pass);
    in = outputs_[i];
  }
}

LossSums LayerStackModel::TopLoss(const Batch& batch, int64_t first, int64_t rows, float delta_scale,
                                  bool with_deltas) {
  const int64_t classes = layers_.back()->out_shape().size();
  const ConstMatrixView top(outputs_.back(), classes, rows);
  MatrixView deltas(deltas_[0].data(), classes, rows);
  MatrixView* out = with_deltas ? &deltas : nullptr;
  if (loss_ == LossKind::kSoftmaxCrossEntropy) {
    return SoftmaxCrossEntropy(top, batch.labels + first, delta_scale, out);
  }
  return HalfSquaredError(top, batch.targets + first, delta_scale, out);
}

void LayerStackModel::Backward(const float* x, int64_t rows, bool accumulate, const Pass& pass) {
  int current = 0;  // deltas_[current] holds dLoss/d(output of layer i)
  for (size_t i = layers_.size(); i-- > 0;) {
    const float* in = i == 0 ? x : outputs_[i - 1];
    float* dout = deltas_[current].data();
    float* din = nullptr;
    if (i > 0) din = in_place_[i] ? dout : deltas_[1 - current].data();
    layers_[i]->Backward(in, outputs_[i], dout, din, rows, accumulate, pass);
    if (din != nullptr && din != dout) current = 1 - current;
  }
}

double LayerStackModel::ForwardBackward(const Batch& batch) {
  const auto chunk = [&](int64_t first, int64_t rows, float delta_scale) {
    const Pass pass{.training = true, .noise_key = noise_key_, .first_row = first};
    const float* x = batch.x + first * batch.dim;
    Forward(x, rows, pass);
    const double loss_sum = TopLoss(batch, first, rows, delta_scale, /*with_deltas=*/true).loss_sum;
    Backward(x, rows, /*accumulate=*/first > 0, pass);
    return loss_sum;
  };
  return TrainInChunks(batch, Fits(batch), max_batch_, grads(), chunk);
}

void LayerStackModel::Evaluate(const Batch& batch, EvalTotals* totals) {
  EvaluateInChunks(batch, Fits(batch), max_batch_, totals, [&](int64_t first, int64_t rows) {
    Forward(batch.x + first * batch.dim, rows, Pass{.training = false, .noise_key = 0, .first_row = first});
    return TopLoss(batch, first, rows, 0.0f, /*with_deltas=*/false);
  });
}

}  // namespace meshtrain
