// The config schema: every "section.key" a TOML file or --set may name, its
// value type, where it lives in Config, and the rule its final value must obey.
// One table (schema.cpp) drives the reader, the --set parser, the checks and
// the "did you mean" hints, so a key cannot be known to one and not the others.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "meshtrain/config.h"

namespace meshtrain::config_internal {

// The alternatives of FieldValue, in the same order as FieldKind.
enum class FieldKind { kInt, kUInt, kFloat, kBool, kString, kIntList, kStringList };
using FieldValue = std::variant<int64_t, uint64_t, double, bool, std::string, std::vector<int64_t>,
                                std::vector<std::string>>;

// "an integer", "a float", ... for messages.
std::string_view KindName(FieldKind kind);

// What a final value must satisfy. Unset parts do not constrain.
struct Rule {
  std::optional<int64_t> int_min{}, int_max{};  // integers and integer-list items, inclusive
  std::optional<double> float_min{}, float_max{};
  bool float_min_open = false, float_max_open = false;  // true: strict bound
  std::vector<std::string_view> one_of{};                 // allowed strings (an enum key's texts)
  // Checks one string (or string-list item); returns what is wrong, "" if fine.
  std::string (*text_check)(std::string_view) = nullptr;
  // A string key that also takes a non-negative TOML integer, read as its digits ("auto" or 5000).
  bool integer_as_text = false;

  // "must be >= 1", "must be in [0, 1)", "must be one of 'a', 'b'"; "" when the rule is empty.
  std::string Describe() const;
};

struct FieldSpec {
  std::string_view section;
  std::string_view key;
  FieldKind kind;
  Rule rule;
  FieldValue (*get)(const Config&);
  // `value` must hold the alternative named by `kind`. An enum key is a kString
  // whose text is parsed here, once; false (nothing stored) when the text is
  // not one of its values, which CheckFields then reports.
  bool (*set)(Config&, FieldValue);

  std::string name() const { return std::string(section) + "." + std::string(key); }
};

// Every field, in documentation order. cluster.peers is not here: it is an
// array of tables with its own reader (see kPeerKeys).
const std::vector<FieldSpec>& AllFields();
const FieldSpec* FindField(std::string_view section, std::string_view key);

// Section names in documentation order, and the keys valid in one of them
// (including "peers" for "cluster").
const std::vector<std::string_view>& SectionNames();
bool IsSection(std::string_view name);
std::vector<std::string_view> KeysOf(std::string_view section);

// Keys of one [[cluster.peers]] entry.
inline constexpr std::string_view kPeerKeys[] = {"id", "endpoint", "neighbors"};

}  // namespace meshtrain::config_internal
