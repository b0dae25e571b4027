// CreateModel: checks that the configured model fits the data (regression vs
// classification, sizes) and builds it. Errors name the config key at fault.
#include <new>
#include <string>

#include "meshtrain/model.h"
#include "model/feedforward_model.h"
#include "model/layer_builder.h"

namespace meshtrain {
namespace {

// Far beyond any model this trainer is meant for, and small enough that sizes
// never overflow: 2^31 floats is 8 GiB.
constexpr int64_t kMaxFloats = int64_t{1} << 31;

Result<NetworkSpec> SpecFor(const ModelConfig& config, int64_t input_dim, int num_classes, int64_t max_batch) {
  if (input_dim <= 0) {
    return Status::InvalidArgument("model: the data has " + std::to_string(input_dim) + " features; need at least 1");
  }
  if (num_classes < 0 || num_classes == 1) {
    return Status::InvalidArgument("model: the data has " + std::to_string(num_classes) +
                                   " classes; need 0 (regression) or at least 2");
  }
  if (max_batch <= 0) {
    return Status::InvalidArgument("model: batch size must be > 0 (got " + std::to_string(max_batch) + ")");
  }
  NetworkSpec spec;
  spec.type = std::string(ToString(config.type));
  spec.max_batch = max_batch;
  spec.widths.push_back(input_dim);

  spec.init = config.init;

  if (config.type == ModelType::kLinear) {
    if (num_classes > 0) {
      return Status::InvalidArgument("model.type: linear is a regression model but the data has " +
                                     std::to_string(num_classes) + " classes (use softmax or mlp)");
    }
    spec.loss = LossKind::kHalfSquaredError;
    spec.widths.push_back(1);
    return spec;
  }
  if (config.type != ModelType::kSoftmax && config.type != ModelType::kMlp) {
    return Status::InvalidArgument("model.type: unknown '" + spec.type +
                                   "' (expected linear | softmax | mlp | layers)");
  }
  if (num_classes == 0) {
    return Status::InvalidArgument("model.type: " + spec.type +
                                   " is a classifier but the data is regression (no classes); use linear");
  }
  spec.loss = LossKind::kSoftmaxCrossEntropy;
  if (config.type == ModelType::kMlp) {
    // The config's two hidden activations, as the dense layer's (which also has identity).
    spec.hidden_activation = config.activation == HiddenActivation::kTanh ? Activation::kTanh : Activation::kRelu;
    if (config.hidden.empty()) {
      return Status::InvalidArgument("model.hidden: an mlp needs at least one hidden layer (or use type softmax)");
    }
    for (size_t i = 0; i < config.hidden.size(); ++i) {
      if (config.hidden[i] <= 0 || config.hidden[i] > kMaxFloats) {
        return Status::InvalidArgument("model.hidden[" + std::to_string(i) + "]: must be > 0 (got " +
                                       std::to_string(config.hidden[i]) + ")");
      }
      spec.widths.push_back(config.hidden[i]);
    }
  }
  spec.widths.push_back(num_classes);
  return spec;
}

// Parameters and the activations/deltas of max_batch rows must stay within kMaxFloats.
Status CheckSize(const NetworkSpec& spec) {
  double params = 0;
  double activations = 0;
  for (size_t i = 1; i < spec.widths.size(); ++i) {
    params += static_cast<double>(spec.widths[i - 1]) * static_cast<double>(spec.widths[i]) +
              static_cast<double>(spec.widths[i]);
    activations += 2.0 * static_cast<double>(spec.widths[i]) * static_cast<double>(spec.max_batch);
  }
  if (params > static_cast<double>(kMaxFloats) || activations > static_cast<double>(kMaxFloats) ||
      static_cast<double>(spec.widths.front()) > static_cast<double>(kMaxFloats)) {
    return Status::InvalidArgument("model: " + spec.type + " with " + std::to_string(params) +
                                   " parameters and batch " + std::to_string(spec.max_batch) +
                                   " is too large (limit 2^31 floats each)");
  }
  return Status::OK();
}

}  // namespace

Result<std::unique_ptr<Model>> CreateModel(const ModelConfig& config, const SampleShape& input, int num_classes,
                                           int64_t max_batch) {
  if (config.type != ModelType::kLayers) return CreateModel(config, input.features, num_classes, max_batch);
  if (input.features <= 0) {
    return Status::InvalidArgument("model: the data has " + std::to_string(input.features) +
                                   " features; need at least 1");
  }
  if (num_classes < 0 || num_classes == 1) {
    return Status::InvalidArgument("model: the data has " + std::to_string(num_classes) +
                                   " classes; need 0 (regression) or at least 2");
  }
  if (max_batch <= 0) {
    return Status::InvalidArgument("model: batch size must be > 0 (got " + std::to_string(max_batch) + ")");
  }
  return BuildLayerStack(config, input, num_classes, max_batch);
}

Result<std::unique_ptr<Model>> CreateModel(const ModelConfig& config, int64_t input_dim, int num_classes,
                                           int64_t max_batch) {
  if (config.type == ModelType::kLayers) return CreateModel(config, SampleShape::Flat(input_dim), num_classes, max_batch);
  auto spec = SpecFor(config, input_dim, num_classes, max_batch);
  if (!spec.ok()) return spec.status();
  MESHTRAIN_RETURN_IF_ERROR(CheckSize(spec.value()));
  try {
    return std::unique_ptr<Model>(std::make_unique<FeedForwardModel>(std::move(spec.value())));
  } catch (const std::bad_alloc&) {
    return Status::Unavailable("model: out of memory allocating " + std::string(ToString(config.type)) + " for " +
                               std::to_string(input_dim) + " features and batch " + std::to_string(max_batch));
  }
}

}  // namespace meshtrain
