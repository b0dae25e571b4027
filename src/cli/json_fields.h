// Reads the top-level fields of one JSON object line (our metrics format).
// Values come back as raw JSON text, strings unquoted; nested objects and
// arrays stay raw. Enough for reports and tests without a JSON dependency.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace meshtrain {

using JsonFields = std::map<std::string, std::string>;

// nullopt when the line is not a JSON object.
std::optional<JsonFields> ParseJsonFields(const std::string& line);

// The number in `fields[key]`, or `fallback` if absent or not a number.
double NumberField(const JsonFields& fields, const std::string& key, double fallback);

}  // namespace meshtrain
