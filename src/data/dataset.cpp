#include <cassert>

#include "meshtrain/data.h"

namespace meshtrain {

void Dataset::FillRow(int64_t row, float* out) const {
  assert(row >= 0 && row < rows && !streamed);
  assert(static_cast<int64_t>(offset.size()) == dim && static_cast<int64_t>(scale.size()) == dim);
  const size_t first = static_cast<size_t>(row * dim);
  const float* off = offset.data();
  const float* sc = scale.data();
  if (!bytes.empty()) {
    const uint8_t* raw = bytes.data() + first;
    for (int64_t j = 0; j < dim; ++j) out[j] = (static_cast<float>(raw[j]) - off[j]) * sc[j];
  } else {
    // In double: raw - offset of two floats near +-3.4e38 would overflow a float
    // (and rows are few and narrow on this path: CSV and synthetic data).
    const float* raw = values.data() + first;
    for (int64_t j = 0; j < dim; ++j) {
      out[j] = static_cast<float>((static_cast<double>(raw[j]) - off[j]) * static_cast<double>(sc[j]));
    }
  }
}

}  // namespace meshtrain
