// The Eigen views the model code works through: column-major float matrices
// mapped over buffers owned elsewhere (the flat parameter/gradient vectors, the
// batch, the preallocated activations), so nothing is copied or allocated.
#pragma once

// GCC 12's own AVX-512 intrinsics (_mm512_undefined_ps) trip -Wmaybe-uninitialized
// once Eigen inlines them under -march=native; a false positive in system code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

namespace meshtrain {

using MatrixView = Eigen::Map<Eigen::MatrixXf>;
using ConstMatrixView = Eigen::Map<const Eigen::MatrixXf>;
using VectorView = Eigen::Map<Eigen::VectorXf>;
using ConstVectorView = Eigen::Map<const Eigen::VectorXf>;

}  // namespace meshtrain
