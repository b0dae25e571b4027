#include "model/dense_layer.h"

#include <cassert>

namespace meshtrain {

DenseLayer::DenseLayer(int64_t in, int64_t out, Activation activation, int64_t max_batch, bool propagates)
    : in_(in),
      out_(out),
      activation_(activation),
      gemms_(out, max_batch, in, max_batch, propagates),
      outputs_(out, max_batch),
      deltas_(out, max_batch) {
  outputs_.setZero();
  deltas_.setZero();
}

void DenseLayer::Bind(float* params, float* grads, GemmScratch* scratch) { gemms_.Bind(params, grads, scratch); }

void DenseLayer::Forward(const ConstMatrixView& input, int64_t rows) {
  MatrixView z(outputs_.data(), out_, rows);
  gemms_.forward.Multiply(weights(), Op::kPlain, input, Op::kPlain, z, /*accumulate=*/false, gemms_.scratch);
  // Bias and activation in one pass over the (small) output block.
  switch (activation_) {
    case Activation::kIdentity:
      z.colwise() += bias();
      break;
    case Activation::kRelu:
      z = (z.colwise() + bias()).cwiseMax(0.0f);
      break;
    case Activation::kTanh:
      z = (z.colwise() + bias()).array().tanh().matrix();
      break;
  }
}

void DenseLayer::ComputeGradients(const ConstMatrixView& input, int64_t rows, bool accumulate) {
  ConstMatrixView d(deltas_.data(), out_, rows);
  MatrixView dw(gemms_.grads, out_, in_);
  VectorView db(gemms_.grads + out_ * in_, out_);
  gemms_.weight_grad.Multiply(d, Op::kPlain, input, Op::kTransposed, dw, accumulate, gemms_.scratch);
  if (accumulate) {
    db += d.rowwise().sum();
  } else {
    db = d.rowwise().sum();
  }
}

void DenseLayer::PropagateDeltas(DenseLayer& below, int64_t rows) const {
  assert(gemms_.propagates);
  ConstMatrixView d(deltas_.data(), out_, rows);
  MatrixView d_below(below.deltas_.data(), in_, rows);
  gemms_.input_grad.Multiply(weights(), Op::kTransposed, d, Op::kPlain, d_below, /*accumulate=*/false, gemms_.scratch);
  // The derivative comes from the layer below's outputs: relu' = [a > 0], tanh' = 1 - a^2.
  ConstMatrixView a(below.outputs_.data(), in_, rows);
  switch (below.activation_) {
    case Activation::kIdentity:
      break;
    case Activation::kRelu:
      d_below = (a.array() > 0.0f).select(d_below.array(), 0.0f).matrix();
      break;
    case Activation::kTanh:
      d_below.array() *= 1.0f - a.array().square();
      break;
  }
}

}  // namespace meshtrain
