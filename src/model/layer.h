// One layer of a layer-stack model (docs/models.md, "Layers"). Activations
// flow as column-major matrices of `rows` columns, one column per sample; an
// image sample is stored channels-last (height, width, channel: element
// (y * width + x) * channels + c), so a convolution over a chunk of samples is
// one GEMM and its output is already in the layout the next layer reads.
// Parameters live in the model's flat buffer; a layer is handed its slice.
#pragma once

#include <cstdint>
#include <string>

#include "meshtrain/config.h"
#include "model/gemm.h"
#include "model/uniform_init.h"

namespace meshtrain {

// InitScheme is config.h's model.init (he | xavier).

// The shape of one sample between layers: an image (channels x height x
// width) or a flat vector of `channels` features (height = width = 1).
struct TensorShape {
  int64_t channels = 0;
  int64_t height = 1;
  int64_t width = 1;
  bool image = false;

  static TensorShape Flat(int64_t features) { return {features, 1, 1, false}; }
  static TensorShape Image(int64_t channels, int64_t height, int64_t width) { return {channels, height, width, true}; }
  int64_t size() const { return channels * height * width; }
  // "16x28x28" (channels x height x width, as the docs and PyTorch write it) or "784".
  std::string Text() const {
    return image ? std::to_string(channels) + "x" + std::to_string(height) + "x" + std::to_string(width)
                 : std::to_string(channels);
  }
  bool operator==(const TensorShape&) const = default;
};

// What a pass is for: training (dropout active) or evaluation, and for dropout
// the step's noise key and the batch row of column 0 (masks are per batch row,
// so chunking a batch does not change them).
struct Pass {
  bool training = false;
  uint64_t noise_key = 0;
  int64_t first_row = 0;
};

class Layer {
 public:
  Layer(TensorShape in, TensorShape out) : in_(in), out_(out) {}
  virtual ~Layer() = default;
  Layer(const Layer&) = delete;
  Layer& operator=(const Layer&) = delete;

  const TensorShape& in_shape() const { return in_; }
  const TensorShape& out_shape() const { return out_; }

  virtual int64_t num_params() const { return 0; }
  // Points the layer at its slices of the flat parameter and gradient buffers.
  virtual void Bind(float* /*params*/, float* /*grads*/, GemmScratch* /*scratch*/) {}
  // Fills the layer's slice of a fresh model's parameters.
  virtual void InitParams(InitScheme /*init*/, SplitMix64* /*rng*/, float* /*params*/) const {}

  // Whether the layer may write its output over its input (same size, and its
  // backward pass needs only its output).
  virtual bool can_run_in_place() const { return false; }
  // Whether Backward reads `out` (then the layer above must not overwrite it).
  virtual bool backward_reads_output() const { return false; }
  // Whether Backward reads `in`. When neither the layer above reads it nor its
  // producer reads its output, an activation is dead once the forward pass has
  // moved on, and the model lets it borrow a delta buffer (docs/models.md, "Memory").
  virtual bool backward_reads_input() const { return true; }

  // out (out size x rows) = f(in (in size x rows)); in == out when run in place.
  virtual void Forward(const float* in, float* out, int64_t rows, const Pass& pass) = 0;
  // dout = dLoss/d(out). Writes the parameter gradients (adds to them when
  // `accumulate`) and, when din is not null, din = dLoss/d(in). In place:
  // din == dout, and `in` is not readable (it was overwritten by `out`).
  virtual void Backward(const float* in, const float* out, float* dout, float* din, int64_t rows, bool accumulate,
                        const Pass& pass) = 0;

  // "conv2d filters=16 kernel=5 stride=1 padding=2": the kind and its settings.
  virtual std::string Describe() const = 0;
  // "conv2d(16,5x5,s1,p2)": the same, short, for Model::Describe().
  virtual std::string Short() const = 0;

 protected:
  TensorShape in_;
  TensorShape out_;
};

}  // namespace meshtrain
