// Integer powers that every peer computes to the same bits. std::pow is not
// correctly rounded and libm picks its code path by CPU (glibc has an FMA variant
// on x86-64, another path on aarch64), so two peers could differ in the last
// bit; a fixed sequence of IEEE multiplications cannot.
#pragma once

#include <cstdint>

namespace meshtrain::optim_internal {

// base^exponent for exponent >= 0, by repeated squaring (at most 2·63 multiplications).
inline double PowInt(double base, int64_t exponent) {
  double result = 1.0;
  while (exponent > 0) {
    if (exponent & 1) result *= base;
    base *= base;
    exponent >>= 1;
  }
  return result;
}

}  // namespace meshtrain::optim_internal
