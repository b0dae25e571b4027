// Small formatting helpers shared by the config messages.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace meshtrain::config_internal {

// Shortest text that reads back as the same double: 0.1, -1, 1e-08, inf.
std::string FormatNumber(double value);

// 'text' — single quotes, as every config message quotes values and names.
std::string Quote(std::string_view text);

// 'a', 'b', 'c'
std::string JoinQuoted(const std::vector<std::string_view>& items);
std::string JoinQuoted(const std::vector<std::string>& items);

}  // namespace meshtrain::config_internal
