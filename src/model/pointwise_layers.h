// Layers that act on each element alone: the activations (relu, tanh, gelu),
// dropout, and flatten (which only changes how the shape is read: a sample's
// floats are already contiguous).
#pragma once

#include "model/layer.h"

namespace meshtrain {

enum class Pointwise { kRelu, kTanh, kGelu };

class ActivationLayer final : public Layer {
 public:
  // `done_above`: a relu whose work the max pool above it does
  // (model/pool_layers.h); it passes values and gradients through.
  ActivationLayer(Pointwise kind, TensorShape shape, bool done_above = false)
      : Layer(shape, shape), kind_(kind), done_above_(done_above && kind == Pointwise::kRelu) {}

  // gelu's derivative needs its input, so it keeps its own output buffer.
  bool can_run_in_place() const override { return kind_ != Pointwise::kGelu; }
  bool backward_reads_output() const override { return kind_ != Pointwise::kGelu && !done_above_; }
  bool backward_reads_input() const override { return kind_ == Pointwise::kGelu; }
  void Forward(const float* in, float* out, int64_t rows, const Pass& pass) override;
  void Backward(const float* in, const float* out, float* dout, float* din, int64_t rows, bool accumulate,
                const Pass& pass) override;
  std::string Describe() const override;
  std::string Short() const override { return Describe(); }

 private:
  Pointwise kind_;
  bool done_above_;
};

// Zeroes each input with probability `rate` while training and scales the kept
// ones by 1 / (1 - rate); the identity in evaluation. The mask is a pure
// function of (the step's noise key, this layer's index, batch row, element):
// see DropoutKeeps. Nothing is stored; the backward pass recomputes it.
class DropoutLayer final : public Layer {
 public:
  DropoutLayer(TensorShape shape, double rate, int64_t index) : Layer(shape, shape), rate_(rate), index_(index) {}

  bool can_run_in_place() const override { return true; }
  bool backward_reads_input() const override { return false; }  // the mask is recomputed from the key
  void Forward(const float* in, float* out, int64_t rows, const Pass& pass) override;
  void Backward(const float* in, const float* out, float* dout, float* din, int64_t rows, bool accumulate,
                const Pass& pass) override;
  std::string Describe() const override;
  std::string Short() const override;

 private:
  // in *= mask, row by row (in and out may be the same buffer).
  void Apply(const float* in, float* out, int64_t rows, const Pass& pass) const;

  double rate_;
  int64_t index_;
};

// Whether dropout with `rate` keeps element `element` of batch row `row` in
// layer `layer` at the step whose noise key is `key` (Model::NoiseKey).
bool DropoutKeeps(uint64_t key, int64_t layer, int64_t row, int64_t element, double rate);

class FlattenLayer final : public Layer {
 public:
  explicit FlattenLayer(TensorShape in) : Layer(in, TensorShape::Flat(in.size())) {}

  bool can_run_in_place() const override { return true; }
  bool backward_reads_input() const override { return false; }
  void Forward(const float* in, float* out, int64_t rows, const Pass& pass) override;
  void Backward(const float* in, const float* out, float* dout, float* din, int64_t rows, bool accumulate,
                const Pass& pass) override;
  std::string Describe() const override { return "flatten"; }
  std::string Short() const override { return "flatten"; }
};

}  // namespace meshtrain
