// The Eigen views the model code works through: column-major float matrices
// mapped over buffers owned elsewhere (the flat parameter/gradient vectors, the
// batch, the preallocated activations), so nothing is copied or allocated.
#pragma once

#include "common/eigen_core.h"

namespace meshtrain {

using MatrixView = Eigen::Map<Eigen::MatrixXf>;
using ConstMatrixView = Eigen::Map<const Eigen::MatrixXf>;
using VectorView = Eigen::Map<Eigen::VectorXf>;
using ConstVectorView = Eigen::Map<const Eigen::VectorXf>;

}  // namespace meshtrain
