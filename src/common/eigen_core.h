// <Eigen/Core>, for every layer that uses Eigen (model, sync's topology):
// include this before any other Eigen header.
#pragma once

// GCC 12's own AVX-512 intrinsics (_mm512_undefined_ps) trip -Wmaybe-uninitialized
// once Eigen inlines them under -march=native; a false positive in system code.
// They come in with Eigen/Core, so the other Eigen modules need no such guard.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#include <Eigen/Core>
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
