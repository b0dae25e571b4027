// The names of the codecs and rounding modes (the values of the sync.* keys),
// and the small arithmetic every user of a codec needs.
#include <cmath>
#include <string>

#include "meshtrain/codec.h"

namespace meshtrain {

Result<Compression> ParseCompression(std::string_view name) {
  if (name == "none") return Compression::kNone;
  if (name == "fp16") return Compression::kFP16;
  if (name == "bf16") return Compression::kBF16;
  if (name == "int8") return Compression::kInt8;
  if (name == "topk") return Compression::kTopK;
  return Status::InvalidArgument("sync.compression: must be one of 'none', 'fp16', 'bf16', 'int8', 'topk' (got '" +
                                 std::string(name) + "')");
}

Result<Rounding> ParseRounding(std::string_view name) {
  if (name == "nearest") return Rounding::kNearest;
  if (name == "stochastic") return Rounding::kStochastic;
  return Status::InvalidArgument("sync.int8_rounding: must be one of 'nearest', 'stochastic' (got '" +
                                 std::string(name) + "')");
}

const char* ToString(Compression compression) {
  switch (compression) {
    case Compression::kNone: return "none";
    case Compression::kFP16: return "fp16";
    case Compression::kBF16: return "bf16";
    case Compression::kInt8: return "int8";
    case Compression::kTopK: return "topk";
  }
  return "?";
}

const char* ToString(Rounding rounding) { return rounding == Rounding::kNearest ? "nearest" : "stochastic"; }

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
