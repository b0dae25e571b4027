#include "model/dense_stack_layer.h"

#include <algorithm>
#include <cmath>

namespace meshtrain {

DenseStackLayer::DenseStackLayer(TensorShape in, int64_t units, int64_t max_batch, bool propagates)
    : Layer(in, TensorShape::Flat(units)),
      units_(units),
      gemms_(units, max_batch, in.size(), max_batch, propagates) {}

void DenseStackLayer::Bind(float* params, float* grads, GemmScratch* scratch) { gemms_.Bind(params, grads, scratch); }

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
  gemms_.forward.Multiply(ConstMatrixView(gemms_.params, units_, n_in), Op::kPlain, ConstMatrixView(in, n_in, rows),
                          Op::kPlain, z, /*accumulate=*/false, gemms_.scratch);
  const float* bias = gemms_.params + units_ * n_in;
  float* column = out;
  for (int64_t j = 0; j < rows; ++j, column += units_) {
    for (int64_t u = 0; u < units_; ++u) column[u] += bias[u];
  }
}

void DenseStackLayer::Backward(const float* in, const float*, float* dout, float* din, int64_t rows, bool accumulate,
                               const Pass&) {
  const int64_t n_in = in_.size();
  const ConstMatrixView deltas(dout, units_, rows);
  gemms_.weight_grad.Multiply(deltas, Op::kPlain, ConstMatrixView(in, n_in, rows), Op::kTransposed,
                              MatrixView(gemms_.grads, units_, n_in), accumulate, gemms_.scratch);
  float* bias_grads = gemms_.grads + units_ * n_in;
  if (!accumulate) std::fill_n(bias_grads, units_, 0.0f);
  const float* column = dout;
  for (int64_t j = 0; j < rows; ++j, column += units_) {
    for (int64_t u = 0; u < units_; ++u) bias_grads[u] += column[u];
  }
  if (din == nullptr) return;
  gemms_.input_grad.Multiply(ConstMatrixView(gemms_.params, units_, n_in), Op::kTransposed, deltas, Op::kPlain,
                             MatrixView(din, n_in, rows), /*accumulate=*/false, gemms_.scratch);
}

}  // namespace meshtrain
