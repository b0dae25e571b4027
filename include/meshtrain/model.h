// Models: linear regression, softmax regression and MLPs on Eigen, each keeping
// its parameters and gradients in ONE contiguous float buffer (per-layer
// Eigen::Map views into it), so that all-reduce, gossip, checkpoints and state
// sync move the flat buffer as it is.
//
// Layout of the flat buffer, layer by layer from the input: W (out x in,
// column-major) then b (out). A step allocates nothing: activations are
// preallocated for `max_batch` rows at construction.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "meshtrain/aligned_buffer.h"
#include "meshtrain/batch.h"
#include "meshtrain/config.h"
#include "meshtrain/status.h"

namespace meshtrain {

// Running sums of an evaluation over any number of batches.
struct EvalTotals {
  double loss_sum = 0;  // sum over samples of the per-sample loss
  int64_t correct = 0;  // classification only: argmax == label
  int64_t count = 0;    // samples seen

  double loss() const { return count > 0 ? loss_sum / static_cast<double>(count) : 0.0; }
  double accuracy() const { return count > 0 ? static_cast<double>(correct) / static_cast<double>(count) : 0.0; }
};

class Model {
 public:
  virtual ~Model();
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;

  std::span<float> params() { return params_; }
  std::span<const float> params() const { return params_; }
  std::span<float> grads() { return grads_; }
  std::span<const float> grads() const { return grads_; }
  int64_t num_params() const { return static_cast<int64_t>(params_.size()); }

  // e.g. "mlp 784-128-10 relu", "softmax 784-10", "linear 8-1",
  // "layers 1x28x28 conv2d(16,5x5,s1,p2) relu maxpool2d(2) flatten dense(10)".
  virtual std::string Describe() const = 0;

  // The architecture, one line per layer after an "input SHAPE" line, e.g.
  // "conv2d filters=16 kernel=5 stride=1 padding=2 -> 16x28x28, 416 params".
  // Checkpoints record it; two models with equal lists have the same layout.
  virtual std::vector<std::string> LayerList() const = 0;

  // The noise key of the next ForwardBackward calls (NoiseKey below): dropout
  // masks are a pure function of it, so a resumed run draws the same masks.
  // Models without dropout ignore it.
  virtual void SetNoiseKey(uint64_t /*key*/) {}

  // Weights uniform in +-sqrt(6/fan_in) (he) or +-sqrt(6/(fan_in+fan_out))
  // (xavier) from a portable generator seeded by `seed` (the same seed gives the
  // same bits on every platform); biases and gradients zero.
  virtual void InitParams(uint64_t seed) = 0;

  // Returns the mean loss over the batch and writes the mean gradient into grads().
  // Linear regression: loss = mean of 0.5*(y_hat - y)^2; classifiers: softmax
  // cross-entropy. Batches larger than max_batch are processed in chunks (exact
  // same result). A batch that does not fit the model (wrong dim, missing labels
  // or targets, a label outside [0, num_classes)) returns NaN, so the caller's
  // finite check skips the update; an empty batch returns 0 with zero grads.
  virtual double ForwardBackward(const Batch& batch) = 0;

  // Adds the batch's loss sum, correct count (classifiers) and row count to
  // *totals. Leaves grads() untouched.
  virtual void Evaluate(const Batch& batch, EvalTotals* totals) = 0;

 protected:
  explicit Model(int64_t num_params);

 private:
  AlignedFloats params_;
  AlignedFloats grads_;
};

// The key of one training step's noise: a pure function of train.seed, the
// peer's index in the cluster and the step.
uint64_t NoiseKey(uint64_t seed, uint64_t peer_index, int64_t step);

// The shape of one input sample as the data gives it: an image (IDX: 1 x
// rows x cols) or a flat vector of `features` (CSV, synthetic: channels,
// height and width 0).
struct SampleShape {
  int64_t features = 0;
  int64_t channels = 0, height = 0, width = 0;

  static SampleShape Flat(int64_t features) { return {features, 0, 0, 0}; }
  static SampleShape Image(int64_t channels, int64_t height, int64_t width) {
    return {channels * height * width, channels, height, width};
  }
  bool image() const { return height > 0; }
};

// Builds the model `config` describes for inputs of `input_dim` features and
// `num_classes` classes (0 = regression, which needs type "linear"; "softmax"
// and "mlp" need num_classes >= 2). Activations are preallocated for
// `max_batch` rows. Invalid combinations return InvalidArgument naming the key.
Result<std::unique_ptr<Model>> CreateModel(const ModelConfig& config, int64_t input_dim, int num_classes,
                                           int64_t max_batch);
// The same for samples of `input` shape; type "layers" builds config.layers on
// it, and a layer that does not fit its input is InvalidArgument naming the
// entry's FILE:LINE:COL (LayerConfig::where).
Result<std::unique_ptr<Model>> CreateModel(const ModelConfig& config, const SampleShape& input, int num_classes,
                                           int64_t max_batch);

}  // namespace meshtrain
