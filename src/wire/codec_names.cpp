// The small arithmetic every user of a codec needs (the codecs' names are
// config.h's, the values of sync.compression).
#include <cmath>

#include "meshtrain/codec.h"

namespace meshtrain {

DType WireDType(Compression compression) {
  switch (compression) {
    case Compression::kNone: return DType::kF32;
    case Compression::kFP16: return DType::kF16;
    case Compression::kBF16: return DType::kBF16;
    case Compression::kInt8: return DType::kI8;
    case Compression::kTopK: return DType::kTopK;
  }
  return DType::kF32;
}

size_t TopKCount(size_t n, double ratio) {
  if (n == 0) return 0;
  if (!(ratio > 0)) return 1;  // also NaN: keep the minimum rather than nothing
  if (ratio >= 1) return n;
  const double k = std::ceil(ratio * static_cast<double>(n));
  return k < 1 ? 1 : (k >= static_cast<double>(n) ? n : static_cast<size_t>(k));
}

}  // namespace meshtrain
