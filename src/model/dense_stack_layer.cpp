#include "model/dense_stack_layer.h"

#include <algorithm>
#include <cmath>

namespace meshtrain {

DenseStackLayer::DenseStackLayer(TensorShape in, int64_t units, int64_t max_batch, bool propagates)
    : Layer(in, TensorShape::Flat(units)),
      units_(units),
      propagates_(propagates),
      forward_(units, max_batch, in.size()),
      weight_grad_(units, in.size(), max_batch),
      input_grad_(in.size(), max_batch, units) {}

void DenseStackLayer::Bind(float* params, float* grads, GemmScratch* scratch) {
  params_ = params;
  grads_ = grads;
  scratch_ = scratch;
  for (const GemmPlan* plan : {&forward_, &weight_grad_}) scratch->Reserve(plan->lhs_floats(), plan->rhs_floats());
  if (propagates_) scratch->Reserve(input_grad_.lhs_floats(), input_grad_.rhs_floats());
}

void DenseStackLayer::InitParams(InitScheme init, SplitMix64* rng, float* params) const {
  const double fan_in = static_cast<double>(in_.size());
  const double fan_out = static_cast<double>(units_);
  const double bound = init == InitScheme::kHe ? std::sqrt(6.0 / fan_in) : std::sqrt(6.0 / (fan_in + fan_out));
  FillUniform(std::span<float>(params, static_cast<size_t>(units_ * in_.size())), static_cast<float>(bound), rng);
  std::fill_n(params + units_ * in_.size(), units_, 0.0f);
}

void DenseStackLayer::Forward(const float* in, float* out, int64_t rows, const Pass&) {
  const int64_t n_in = in_.size();
  MatrixView z(out, units_, rows);
  forward_.Multiply(ConstMatrixView(params_, units_, n_in), Op::kPlain, ConstMatrixView(in, n_in, rows), Op::kPlain, z,
                    /*accumulate=*/false, scratch_);
  const float* bias = params_ + units_ * n_in;
  float* column = out;
  for (int64_t j = 0; j < rows; ++j, column += units_) {
    for (int64_t u = 0; u < units_; ++u) column[u] += bias[u];
  }
}

void DenseStackLayer::Backward(const float* in, const float*, float* dout, float* din, int64_t rows, bool accumulate,
                               const Pass&) {
  const int64_t n_in = in_.size();
  const ConstMatrixView deltas(dout, units_, rows);
  weight_grad_.Multiply(deltas, Op::kPlain, ConstMatrixView(in, n_in, rows), Op::kTransposed,
                        MatrixView(grads_, units_, n_in), accumulate, scratch_);
  float* bias_grads = grads_ + units_ * n_in;
  if (!accumulate) std::fill_n(bias_grads, units_, 0.0f);
  const float* column = dout;
  for (int64_t j = 0; j < rows; ++j, column += units_) {
    for (int64_t u = 0; u < units_; ++u) bias_grads[u] += column[u];
  }
  if (din == nullptr) return;
  input_grad_.Multiply(ConstMatrixView(params_, units_, n_in), Op::kTransposed, deltas, Op::kPlain,
                       MatrixView(din, n_in, rows), /*accumulate=*/false, scratch_);
}

}  // namespace meshtrain
