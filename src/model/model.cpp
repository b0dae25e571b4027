#include "meshtrain/model.h"

namespace meshtrain {

Model::Model(int64_t num_params)
    : params_(static_cast<size_t>(num_params), 0.0f), grads_(static_cast<size_t>(num_params), 0.0f) {}

Model::~Model() = default;

}  // namespace meshtrain
