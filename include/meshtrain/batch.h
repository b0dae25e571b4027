// A mini-batch as the data layer hands it to a model: a view into buffers the
// sampler owns and reuses, so a step allocates nothing.
#pragma once

#include <cstdint>

namespace meshtrain {

struct Batch {
  // rows x dim features, row-major (one sample's features contiguous); equally a
  // column-major dim x rows matrix, which is how the models map it.
  const float* x = nullptr;
  int64_t rows = 0;
  int64_t dim = 0;
  const int32_t* labels = nullptr;  // classification: rows labels in [0, num_classes)
  const float* targets = nullptr;   // regression: rows targets
};

}  // namespace meshtrain
