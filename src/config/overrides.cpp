#include "config/overrides.h"

#include <charconv>
#include <cmath>
#include <optional>
#include <string_view>

#include "config/field_checks.h"
#include "config/schema.h"
#include "config/suggest.h"
#include "config/text_format.h"

namespace meshtrain::config_internal {
namespace {

std::string_view Trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  return s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// Strips one pair of matching quotes; inside "..." a backslash escapes the next character.
std::string Unquote(std::string_view s) {
  if (s.size() < 2 || s.front() != s.back() || (s.front() != '"' && s.front() != '\'')) return std::string(s);
  std::string_view inner = s.substr(1, s.size() - 2);
  if (s.front() == '\'') return std::string(inner);
  std::string out;
  for (size_t i = 0; i < inner.size(); ++i) {
    if (inner[i] == '\\' && i + 1 < inner.size()) ++i;
    out += inner[i];
  }
  return out;
}

// Splits "a, 'b,c', d" at commas outside quotes.
std::vector<std::string_view> SplitItems(std::string_view s) {
  std::vector<std::string_view> items;
  char quote = 0;
  size_t start = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || (s[i] == ',' && !quote)) {
      items.push_back(Trim(s.substr(start, i - start)));
      start = i + 1;
    } else if (quote && s[i] == '\\' && quote == '"') {
      ++i;
    } else if (s[i] == '"' || s[i] == '\'') {
      quote = quote == 0 ? s[i] : (quote == s[i] ? 0 : quote);
    }
  }
  return items;
}

template <typename T>
std::optional<T> ParseNumber(std::string_view text) {
  if (!text.empty() && text.front() == '+') text.remove_prefix(1);
  T value{};
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// One scalar of `kind`, or what is wrong with it (after "KEY ").
struct Parsed {
  std::optional<FieldValue> value;
  std::string problem;
};

Parsed ParseScalar(FieldKind kind, std::string_view text) {
  auto expects = [&](FieldKind k) { return Parsed{std::nullopt, "expects " + std::string(KindName(k))}; };
  switch (kind) {
    case FieldKind::kInt:
      if (auto v = ParseNumber<int64_t>(text)) return {FieldValue(*v), {}};
      return expects(kind);
    case FieldKind::kUInt:
      if (auto v = ParseNumber<uint64_t>(text); v && text.front() != '-') return {FieldValue(*v), {}};
      return expects(kind);
    case FieldKind::kFloat:
      if (auto v = ParseNumber<double>(text)) {
        if (!std::isfinite(*v)) return {std::nullopt, "must be a finite number"};
        return {FieldValue(*v), {}};
      }
      return expects(kind);
    case FieldKind::kBool:
      if (text == "true") return {FieldValue(true), {}};
      if (text == "false") return {FieldValue(false), {}};
      return expects(kind);
    case FieldKind::kString: return {FieldValue(Unquote(text)), {}};
    case FieldKind::kIntList:
    case FieldKind::kStringList: break;
  }
  return expects(kind);
}

template <typename Item>
Parsed ParseList(FieldKind list_kind, FieldKind item_kind, std::string_view text) {
  if (!text.empty() && text.front() == '[') {
    if (text.back() != ']') return {std::nullopt, "expects " + std::string(KindName(list_kind)) + " (missing ']')"};
    text = Trim(text.substr(1, text.size() - 2));
  }
  std::vector<Item> items;
  if (text.empty()) return {FieldValue(std::move(items)), {}};
  for (std::string_view item_text : SplitItems(text)) {
    Parsed item = ParseScalar(item_kind, item_text);
    if (!item.value || item_text.empty()) {
      return {std::nullopt, "expects " + std::string(KindName(list_kind)) + " (" + Quote(item_text) + " is not " +
                                std::string(KindName(item_kind)) + ")"};
    }
    items.push_back(std::get<Item>(std::move(*item.value)));
  }
  return {FieldValue(std::move(items)), {}};
}

Parsed ParseValue(const FieldSpec& spec, std::string_view text) {
  switch (spec.kind) {
    case FieldKind::kIntList: return ParseList<int64_t>(spec.kind, FieldKind::kInt, text);
    case FieldKind::kStringList: return ParseList<std::string>(spec.kind, FieldKind::kString, text);
    default: return ParseScalar(spec.kind, text);
  }
}

void ApplyOne(const std::string& text, size_t index, LoadState* state) {
  const Origin origin = Origin::Override(index, text);
  Diagnostics& diagnostics = state->diagnostics;
  const size_t eq = text.find('=');
  const std::string_view key = Trim(std::string_view(text).substr(0, eq));
  const size_t dot = key.find('.');
  if (eq == std::string::npos || key.empty()) {
    diagnostics.Add(origin, "expected section.key=value");
    return;
  }
  if (dot == std::string_view::npos) {
    diagnostics.Add(origin, TopLevelKeyMessage(key) + " (write section.key=value)");
    return;
  }
  const std::string section(key.substr(0, dot));
  const std::string name(key.substr(dot + 1));
  if (!IsSection(section)) {
    diagnostics.Add(origin, UnknownSectionMessage(section));
    return;
  }
  if (section == "cluster" && name == "peers") {
    diagnostics.Add(origin, "cluster.peers: cannot be set with --set; list peers as [[cluster.peers]] in the file "
                            "(cluster.size=N keeps the first N)");
    return;
  }
  if (section == "model" && name == "layers") {
    diagnostics.Add(origin, "model.layers: cannot be set with --set; list layers as [[model.layers]] in the file");
    return;
  }
  const FieldSpec* spec = FindField(section, name);
  if (!spec) {
    diagnostics.Add(origin, UnknownKeyMessage(section, name));
    return;
  }
  Parsed parsed = ParseValue(*spec, Trim(std::string_view(text).substr(eq + 1)));
  if (!parsed.value) {
    diagnostics.Add(origin, spec->name() + " " + parsed.problem);
    return;
  }
  StoreField(*spec, std::move(*parsed.value), origin, state);
}

}  // namespace

void ApplyOverrides(const std::vector<std::string>& overrides, LoadState* state) {
  for (size_t i = 0; i < overrides.size(); ++i) ApplyOne(overrides[i], i, state);
}

}  // namespace meshtrain::config_internal
