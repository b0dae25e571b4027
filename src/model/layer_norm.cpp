#include "model/layer_norm.h"

#include <algorithm>
#include <cmath>

namespace meshtrain {

LayerNormLayer::LayerNormLayer(TensorShape shape, int64_t max_batch)
    : Layer(shape, shape), mean_(static_cast<size_t>(max_batch), 0.0f), rstd_(static_cast<size_t>(max_batch), 0.0f) {}

void LayerNormLayer::Bind(float* params, float* grads, GemmScratch*) {
  params_ = params;
  grads_ = grads;
}

void LayerNormLayer::InitParams(InitScheme, SplitMix64*, float* params) const {
  std::fill_n(params, in_.channels, 1.0f);
  std::fill_n(params + in_.channels, in_.channels, 0.0f);
}

void LayerNormLayer::Forward(const float* in, float* out, int64_t rows, const Pass&) {
  const int64_t size = in_.size(), channels = in_.channels;
  const float* gamma = params_;
  const float* beta = params_ + channels;
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = in + r * size;
    float* y = out + r * size;
    double sum = 0;
    for (int64_t i = 0; i < size; ++i) sum += x[i];
    const double mean = sum / static_cast<double>(size);
    double squares = 0;
    for (int64_t i = 0; i < size; ++i) squares += (x[i] - mean) * (x[i] - mean);
    const float m = static_cast<float>(mean);
    const float rstd = static_cast<float>(1.0 / std::sqrt(squares / static_cast<double>(size) + kEpsilon));
    mean_[static_cast<size_t>(r)] = m;
    rstd_[static_cast<size_t>(r)] = rstd;
    for (int64_t p = 0; p < size; p += channels) {
      for (int64_t c = 0; c < channels; ++c) y[p + c] = (x[p + c] - m) * rstd * gamma[c] + beta[c];
    }
  }
}

void LayerNormLayer::Backward(const float* in, const float*, float* dout, float* din, int64_t rows, bool accumulate,
                              const Pass&) {
  const int64_t size = in_.size(), channels = in_.channels;
  const float* gamma = params_;
  float* dgamma = grads_;
  float* dbeta = grads_ + channels;
  if (!accumulate) std::fill_n(grads_, 2 * channels, 0.0f);
  for (int64_t r = 0; r < rows; ++r) {
    const float* x = in + r * size;
    const float* dy = dout + r * size;
    const float m = mean_[static_cast<size_t>(r)];
    const float rstd = rstd_[static_cast<size_t>(r)];
    // dxhat = dy * gamma; dx = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat)).
    double sum_dxhat = 0, sum_dxhat_xhat = 0;
    for (int64_t p = 0; p < size; p += channels) {
      for (int64_t c = 0; c < channels; ++c) {
        const float xhat = (x[p + c] - m) * rstd;
        const float g = dy[p + c];
        dgamma[c] += g * xhat;
        dbeta[c] += g;
        const double dxhat = static_cast<double>(g) * gamma[c];
        sum_dxhat += dxhat;
        sum_dxhat_xhat += dxhat * xhat;
      }
    }
    if (din == nullptr) continue;
    const double mean_dxhat = sum_dxhat / static_cast<double>(size);
    const double mean_dxhat_xhat = sum_dxhat_xhat / static_cast<double>(size);
    float* dx = din + r * size;
    for (int64_t p = 0; p < size; p += channels) {
      for (int64_t c = 0; c < channels; ++c) {
        const double xhat = (x[p + c] - m) * rstd;
        const double dxhat = static_cast<double>(dy[p + c]) * gamma[c];
        dx[p + c] = static_cast<float>(rstd * (dxhat - mean_dxhat - xhat * mean_dxhat_xhat));
      }
    }
  }
}

}  // namespace meshtrain
