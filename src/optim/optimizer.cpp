#include "meshtrain/optim.h"

namespace meshtrain {

Optimizer::Optimizer(int64_t num_params, int64_t state_size)
    : num_params_(num_params), state_(static_cast<size_t>(state_size), 0.0f) {}

Optimizer::~Optimizer() = default;

}  // namespace meshtrain
