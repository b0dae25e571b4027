// model.type = "layers": the configured layer list built on the data's sample
// shape, every layer checked against the shape it receives.
#pragma once

#include <memory>

#include "meshtrain/model.h"

namespace meshtrain {

Result<std::unique_ptr<Model>> BuildLayerStack(const ModelConfig& config, const SampleShape& input, int num_classes,
                                               int64_t max_batch);

}  // namespace meshtrain
