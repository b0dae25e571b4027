#include "train/trainer_parts.h"

#include <algorithm>

namespace meshtrain {

Result<Parts> BuildParts(const Config& cfg) {
  Parts parts;
  auto data = LoadShardedData(cfg.data, static_cast<int>(cfg.cluster.peers.size()), static_cast<int>(cfg.self_index));
  if (!data.ok()) return data.status();
  parts.data = std::move(data.value());
  const int64_t max_batch = std::max<int64_t>(cfg.train.batch_size, 1);
  const Dataset& train = parts.data.train;
  const SampleShape input = train.image_height > 0 ? SampleShape::Image(1, train.image_height, train.image_width)
                                                   : SampleShape::Flat(train.dim);
  auto model = CreateModel(cfg.model, input, train.num_classes, max_batch);
  if (!model.ok()) return model.status();
  parts.model = std::move(model.value());
  parts.model->InitParams(cfg.train.seed);
  auto optimizer = CreateOptimizer(cfg.optim, parts.model->num_params());
  if (!optimizer.ok()) return optimizer.status();
  parts.optimizer = std::move(optimizer.value());
  return parts;
}

Status SameArchitecture(const CheckpointHeader& header, const Model& model, const std::string& what) {
  const bool same = header.layers.empty() ? header.model == model.Describe() : header.layers == model.LayerList();
  if (same) return Status::OK();
  return Status::InvalidArgument(what + " holds the model '" + header.model + "' but the config builds '" +
                                 model.Describe() + "'; refusing to load it (use the config it was trained with)");
}

// A streamed (IDX) test set is read from its file a window of whole batches at
// a time, so the batches, and the sums, are the same as from memory.
Result<EvalTotals> EvaluateOn(Model& model, const Dataset& test, int64_t batch_size) {
  EvalTotals totals;
  const auto evaluate = [&](const Dataset& rows) {
    BatchSampler sampler(rows, batch_size, 0);
    for (int64_t first = 0; first < rows.rows; first += batch_size) {
      const int64_t count = std::min(batch_size, rows.rows - first);
      model.Evaluate(sampler.Sequential(first, count), &totals);
    }
  };
  if (!test.streamed) {
    evaluate(test);
    return totals;
  }
  constexpr int64_t kWindowRows = 128;  // 100 KB of Fashion-MNIST pixels
  const int64_t window = batch_size * std::max<int64_t>(1, kWindowRows / batch_size);
  MESHTRAIN_RETURN_IF_ERROR(ForEachWindow(test, window, evaluate));
  return totals;
}

}  // namespace meshtrain
