// What a trainer is built from (data, model, optimizer), and how a model is
// evaluated on a test set: shared by the step loop and `meshtrain eval`.
#pragma once

#include <memory>
#include <string>

#include "meshtrain/checkpoint.h"
#include "meshtrain/config.h"
#include "meshtrain/data.h"
#include "meshtrain/model.h"
#include "meshtrain/optim.h"
#include "meshtrain/status.h"

namespace meshtrain {

struct Parts {
  ShardedData data;
  std::unique_ptr<Model> model;
  std::unique_ptr<Optimizer> optimizer;
};

// This peer's shard of the configured data, the model initialised from
// train.seed, and the optimizer.
Result<Parts> BuildParts(const Config& cfg);

// A checkpoint holds parameters of one architecture: the layer list it records
// (version 2), or its model description (version 1), must be the configured one.
Status SameArchitecture(const CheckpointHeader& header, const Model& model, const std::string& what);

// The test set in batches of batch_size rows, in order.
Result<EvalTotals> EvaluateOn(Model& model, const Dataset& test, int64_t batch_size);

}  // namespace meshtrain
