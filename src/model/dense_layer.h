// One fully connected layer, out = act(W * in + b), over views into the model's
// flat parameter and gradient buffers. It owns the preallocated outputs and
// deltas (dLoss/dPreactivation) for up to max_batch rows, so that a step
// allocates nothing.
#pragma once

#include <cstdint>

#include "model/eigen_views.h"
#include "model/gemm.h"

namespace meshtrain {

enum class Activation { kIdentity, kRelu, kTanh };

class DenseLayer {
 public:
  // `propagates`: whether PropagateDeltas will be called (not for the first
  // layer, whose input gradient nobody needs; it then reserves no scratch for it).
  DenseLayer(int64_t in, int64_t out, Activation activation, int64_t max_batch, bool propagates);

  static int64_t NumParams(int64_t in, int64_t out) { return out * in + out; }
  int64_t num_params() const { return NumParams(in_, out_); }
  int64_t in() const { return in_; }
  int64_t out() const { return out_; }

  // Points the layer at its slice of the flat buffers, W (out x in, column-major)
  // then b, and at the model's GEMM packing buffers, grown to fit this layer.
  void Bind(float* params, float* grads, GemmScratch* scratch);

  // outputs(rows) = act(W * input + b); input is in x rows.
  void Forward(const ConstMatrixView& input, int64_t rows);

  // With deltas(rows) set: dW = deltas * input^T, db = row sums of deltas
  // (added to what is there when `accumulate`, for chunked batches).
  void ComputeGradients(const ConstMatrixView& input, int64_t rows, bool accumulate);

  // below.deltas(rows) = (W^T * deltas) * act'(below's outputs): the chain rule
  // through this layer into the one below.
  void PropagateDeltas(DenseLayer& below, int64_t rows) const;

  ConstMatrixView outputs(int64_t rows) const { return ConstMatrixView(outputs_.data(), out_, rows); }
  MatrixView deltas(int64_t rows) { return MatrixView(deltas_.data(), out_, rows); }

 private:
  ConstMatrixView weights() const { return ConstMatrixView(gemms_.params, out_, in_); }
  ConstVectorView bias() const { return ConstVectorView(gemms_.params + out_ * in_, out_); }

  int64_t in_;
  int64_t out_;
  Activation activation_;
  WeightGemms gemms_;        // Z = W * input, dW = deltas * input^T, deltas below = W^T * deltas
  Eigen::MatrixXf outputs_;  // out x max_batch; columns [0, rows) in use
  Eigen::MatrixXf deltas_;   // out x max_batch
};

}  // namespace meshtrain
