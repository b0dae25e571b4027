#include "model/layer_builder.h"

#include <algorithm>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "model/conv2d_layer.h"
#include "model/dense_stack_layer.h"
#include "model/layer_norm.h"
#include "model/layer_stack_model.h"
#include "model/pointwise_layers.h"
#include "model/pool_layers.h"

namespace meshtrain {
namespace {

// A batch runs through the layers this many samples at a time (the gradient
// adds up over the chunks): the activations of a CNN are large (the reference
// network's first layer alone is 12,544 floats a sample), and 16 keeps a peer
// small (docs/models.md, "Memory") while the GEMMs stay wide enough.
constexpr int64_t kRowsAtOnce = 16;

// Far beyond any model this trainer is meant for; sizes never overflow.
constexpr double kMaxFloats = static_cast<double>(int64_t{1} << 31);

// "FILE:LINE:COL: model.layers[3] (dense): " — where a shape problem was written.
std::string Blame(const LayerConfig& layer, size_t index) {
  std::string where = layer.where.empty() ? "" : layer.where + ": ";
  return where + "model.layers[" + std::to_string(index) + "] (" + std::string(ToString(layer.kind)) + "): ";
}

std::string Gets(const TensorShape& shape) {
  return shape.image ? "gets a " + shape.Text() + " image (channels x height x width)"
                     : "gets a flat vector of " + shape.Text() + " features";
}

// The layer `config` describes on input `in`, or what does not fit.
// `relu_then_max`: this entry is a relu right below a max pool, or that max
// pool: the pool does the relu's work (model/pool_layers.h).
Result<std::unique_ptr<Layer>> MakeLayer(const LayerConfig& c, size_t index, const TensorShape& in, int64_t max_batch,
                                         bool propagates, bool relu_then_max) {
  const std::string blame = Blame(c, index);
  const auto needs_image = [&]() -> Status {
    if (in.image) return Status::OK();
    return Status::InvalidArgument(blame + "needs an image input but " + Gets(in) +
                                   (index == 0 ? " (the data are flat rows, not images)" : ""));
  };
  if (c.kind == LayerKind::kConv2d) {
    MESHTRAIN_RETURN_IF_ERROR(needs_image());
    const int64_t stride = c.stride > 0 ? c.stride : 1;
    if (in.height + 2 * c.padding < c.kernel || in.width + 2 * c.padding < c.kernel) {
      return Status::InvalidArgument(blame + "kernel " + std::to_string(c.kernel) + " with padding " +
                                     std::to_string(c.padding) + " does not fit its input: " + Gets(in));
    }
    // Sizes in double before anything is allocated: one sample's patches and outputs.
    const double pixels = static_cast<double>(Conv2dLayer::OutputSide(in.height, c.kernel, stride, c.padding)) *
                          static_cast<double>(Conv2dLayer::OutputSide(in.width, c.kernel, stride, c.padding));
    const double patch = static_cast<double>(c.kernel) * static_cast<double>(c.kernel) * static_cast<double>(in.channels);
    if (pixels * std::max(patch, static_cast<double>(c.filters)) * static_cast<double>(max_batch) > kMaxFloats) {
      return Status::InvalidArgument(blame + "too large: " + std::to_string(c.filters) + " filters of " +
                                     std::to_string(c.kernel) + "x" + std::to_string(c.kernel) + " on " + Gets(in) +
                                     " (limit 2^31 floats)");
    }
    return std::unique_ptr<Layer>(
        std::make_unique<Conv2dLayer>(in, c.filters, c.kernel, stride, c.padding, max_batch, propagates));
  }
  if (c.kind == LayerKind::kMaxPool2d || c.kind == LayerKind::kAvgPool2d) {
    MESHTRAIN_RETURN_IF_ERROR(needs_image());
    const int64_t stride = c.stride > 0 ? c.stride : c.kernel;
    if (in.height < c.kernel || in.width < c.kernel) {
      return Status::InvalidArgument(blame + "kernel " + std::to_string(c.kernel) + " does not fit its input: " +
                                     Gets(in));
    }
    const auto kind = c.kind == LayerKind::kMaxPool2d ? Pool2dLayer::Kind::kMax : Pool2dLayer::Kind::kAverage;
    return std::unique_ptr<Layer>(std::make_unique<Pool2dLayer>(kind, in, c.kernel, stride, max_batch, relu_then_max));
  }
  if (c.kind == LayerKind::kDense) {
    if (in.image) {
      return Status::InvalidArgument(blame + Gets(in) + "; put a flatten layer before it");
    }
    return std::unique_ptr<Layer>(std::make_unique<DenseStackLayer>(in, c.units, max_batch, propagates));
  }
  if (c.kind == LayerKind::kFlatten) return std::unique_ptr<Layer>(std::make_unique<FlattenLayer>(in));
  if (c.kind == LayerKind::kRelu) {
    return std::unique_ptr<Layer>(std::make_unique<ActivationLayer>(Pointwise::kRelu, in, relu_then_max));
  }
  if (c.kind == LayerKind::kTanh) return std::unique_ptr<Layer>(std::make_unique<ActivationLayer>(Pointwise::kTanh, in));
  if (c.kind == LayerKind::kGelu) return std::unique_ptr<Layer>(std::make_unique<ActivationLayer>(Pointwise::kGelu, in));
  if (c.kind == LayerKind::kDropout) {
    if (!(c.rate >= 0 && c.rate < 1)) return Status::InvalidArgument(blame + "rate must be in [0, 1)");
    return std::unique_ptr<Layer>(std::make_unique<DropoutLayer>(in, c.rate, static_cast<int64_t>(index)));
  }
  if (c.kind == LayerKind::kLayerNorm) return std::unique_ptr<Layer>(std::make_unique<LayerNormLayer>(in, max_batch));
  return Status::InvalidArgument(blame + "unknown layer kind");
}

// The output side of a conv/pool before it is built: a degenerate setting must
// not reach the constructors (sizes <= 0).
Status CheckFields(const LayerConfig& c, size_t index) {
  const bool windowed = c.kind == LayerKind::kConv2d || c.kind == LayerKind::kMaxPool2d || c.kind == LayerKind::kAvgPool2d;
  if (windowed && c.kernel < 1) return Status::InvalidArgument(Blame(c, index) + "kernel must be >= 1");
  if (windowed && c.stride < 0) return Status::InvalidArgument(Blame(c, index) + "stride must be >= 1");
  if (c.kind == LayerKind::kConv2d && (c.filters < 1 || c.padding < 0)) {
    return Status::InvalidArgument(Blame(c, index) + "filters must be >= 1 and padding >= 0");
  }
  if (c.kind == LayerKind::kDense && c.units < 1) return Status::InvalidArgument(Blame(c, index) + "units must be >= 1");
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<Model>> BuildLayerStack(const ModelConfig& config, const SampleShape& input, int num_classes,
                                               int64_t batch_size) {
  const int64_t max_batch = std::min(batch_size, kRowsAtOnce);
  if (config.layers.empty()) {
    return Status::InvalidArgument("model.type: 'layers' needs [[model.layers]] entries");
  }
  const InitScheme init = config.init;
  const TensorShape first = input.image() ? TensorShape::Image(input.channels, input.height, input.width)
                                          : TensorShape::Flat(input.features);
  try {
    std::vector<std::unique_ptr<Layer>> layers;
    TensorShape shape = first;
    double params = 0, activations = 0;
    for (size_t i = 0; i < config.layers.size(); ++i) {
      const LayerConfig& c = config.layers[i];
      MESHTRAIN_RETURN_IF_ERROR(CheckFields(c, i));
      // Sizes in double before anything is allocated.
      if (c.kind == LayerKind::kConv2d) {
        params += static_cast<double>(c.filters) * (static_cast<double>(c.kernel) * c.kernel * shape.channels + 1);
      } else if (c.kind == LayerKind::kDense) {
        params += static_cast<double>(c.units) * (static_cast<double>(shape.size()) + 1);
        activations += static_cast<double>(c.units) * static_cast<double>(max_batch);
      }
      if (params > kMaxFloats || activations > kMaxFloats) {
        return Status::InvalidArgument(Blame(c, i) + "the model is too large (limit 2^31 floats of parameters)");
      }
      const auto kind_at = [&](size_t j) -> std::optional<LayerKind> {
        if (j < config.layers.size()) return config.layers[j].kind;
        return std::nullopt;
      };
      const bool relu_then_max = (c.kind == LayerKind::kRelu && kind_at(i + 1) == LayerKind::kMaxPool2d) ||
                                 (c.kind == LayerKind::kMaxPool2d && i > 0 && kind_at(i - 1) == LayerKind::kRelu);
      auto layer = MakeLayer(c, i, shape, max_batch, /*propagates=*/i > 0, relu_then_max);
      if (!layer.ok()) return layer.status();
      shape = (*layer)->out_shape();
      layers.push_back(std::move(layer.value()));
    }
    const LayerConfig& last = config.layers.back();
    const int64_t want = num_classes > 0 ? num_classes : 1;
    const std::string what = num_classes > 0 ? "the data has " + std::to_string(num_classes) + " classes"
                                             : "the data is regression (one target)";
    if (shape.image || shape.size() != want) {
      return Status::InvalidArgument(Blame(last, config.layers.size() - 1) + "the last layer gives " +
                                     (shape.image ? "a " + shape.Text() + " image" : shape.Text() + " outputs") +
                                     " but " + what + "; end with a dense layer of " + std::to_string(want) +
                                     " units" + (shape.image ? " after a flatten" : ""));
    }
    const LossKind loss = num_classes > 0 ? LossKind::kSoftmaxCrossEntropy : LossKind::kHalfSquaredError;
    return std::unique_ptr<Model>(std::make_unique<LayerStackModel>(first, std::move(layers), loss, init, max_batch));
  } catch (const std::bad_alloc&) {
    return Status::Unavailable("model: out of memory allocating the layers for input " + first.Text() +
                               " and batch " + std::to_string(batch_size));
  }
}

}  // namespace meshtrain
