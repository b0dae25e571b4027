// "Did you mean" hints for unknown sections, keys and enum values, by edit
// distance (case-insensitive, adjacent swaps count as one edit).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace meshtrain::config_internal {

// Optimal-string-alignment distance between a and b, ignoring case.
size_t EditDistance(std::string_view a, std::string_view b);

// The candidate closest to `name` if it is close enough to be a likely typo
// (or one contains the other, e.g. 'timeout' for 'timeout_ms').
std::optional<std::string_view> ClosestMatch(std::string_view name, const std::vector<std::string_view>& candidates);

// Messages for names the schema does not know. Each is the text after "WHERE: ".
std::string UnknownSectionMessage(std::string_view section);
// A key outside any section in the file ("lr = 0.1" at the top).
std::string TopLevelKeyMessage(std::string_view key);
std::string UnknownKeyMessage(std::string_view section, std::string_view key);

}  // namespace meshtrain::config_internal
