#include "config/text_format.h"

#include <charconv>
#include <cmath>

namespace meshtrain::config_internal {

std::string FormatNumber(double value) {
  if (std::isnan(value)) return "nan";
  if (std::isinf(value)) return value > 0 ? "inf" : "-inf";
  char buf[64];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  if (ec != std::errc()) return "?";
  return std::string(buf, end);
}

std::string Quote(std::string_view text) {
  // Appended piecewise: GCC 12 raises a false -Wrestrict on "'" + std::string(...).
  std::string out;
  out.reserve(text.size() + 2);
  out += '\'';
  out += text;
  out += '\'';
  return out;
}

std::string JoinQuoted(const std::vector<std::string_view>& items) {
  std::string out;
  for (size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + Quote(items[i]);
  return out;
}

std::string JoinQuoted(const std::vector<std::string>& items) {
  return JoinQuoted(std::vector<std::string_view>(items.begin(), items.end()));
}

}  // namespace meshtrain::config_internal
