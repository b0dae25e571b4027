#include "config/field_checks.h"

#include <algorithm>
#include <optional>

#include "config/schema.h"
#include "config/suggest.h"
#include "config/text_format.h"

namespace meshtrain::config_internal {
namespace {

// What is wrong with one number, string or list item under `rule`; "" if nothing.
std::string IntProblem(const Rule& rule, int64_t v) {
  if ((rule.int_min && v < *rule.int_min) || (rule.int_max && v > *rule.int_max)) {
    return rule.Describe() + " (got " + std::to_string(v) + ")";
  }
  return "";
}

std::string FloatProblem(const Rule& rule, double v) {
  const bool below = rule.float_min && (rule.float_min_open ? !(v > *rule.float_min) : !(v >= *rule.float_min));
  const bool above = rule.float_max && (rule.float_max_open ? !(v < *rule.float_max) : !(v <= *rule.float_max));
  if (below || above) return rule.Describe() + " (got " + FormatNumber(v) + ")";
  return "";
}

std::string TextProblem(const Rule& rule, const std::string& v) {
  if (!rule.one_of.empty() && std::find(rule.one_of.begin(), rule.one_of.end(), v) == rule.one_of.end()) {
    std::string problem = rule.Describe() + " (got " + Quote(v);
    if (auto match = ClosestMatch(v, rule.one_of)) problem += "; did you mean " + Quote(*match) + "?";
    return problem + ")";
  }
  if (rule.text_check) {
    std::string why = rule.text_check(v);
    if (!why.empty()) return why + " (got " + Quote(v) + ")";
  }
  return "";
}

template <typename Item, typename Check>
void CheckList(const std::string& name, const std::vector<Item>& items, const Rule& rule, const Origin& origin,
               Check check, Diagnostics* diagnostics) {
  for (size_t i = 0; i < items.size(); ++i) {
    std::string problem = check(rule, items[i]);
    if (!problem.empty()) diagnostics->Add(origin, name + "[" + std::to_string(i) + "]: " + problem);
  }
}

}  // namespace

void StoreField(const FieldSpec& spec, FieldValue value, const Origin& at, LoadState* state) {
  const std::string name = spec.name();
  // An enum key whose text is none of its values keeps the text for CheckFields.
  const std::string text = spec.kind == FieldKind::kString ? std::get<std::string>(value) : std::string();
  if (spec.set(state->config, std::move(value))) {
    state->unknown_texts.erase(name);
  } else {
    state->unknown_texts[name] = text;
  }
  state->origins[name] = at;
}

void CheckFields(LoadState* state) {
  for (const FieldSpec& spec : AllFields()) {
    const std::string name = spec.name();
    const Origin origin = state->OriginOf(name);
    const FieldValue value = spec.get(state->config);
    std::string problem;
    switch (spec.kind) {
      case FieldKind::kInt: problem = IntProblem(spec.rule, std::get<int64_t>(value)); break;
      case FieldKind::kFloat: problem = FloatProblem(spec.rule, std::get<double>(value)); break;
      case FieldKind::kString: {
        const auto unknown = state->unknown_texts.find(name);
        problem = TextProblem(spec.rule, unknown != state->unknown_texts.end() ? unknown->second
                                                                             : std::get<std::string>(value));
        break;
      }
      case FieldKind::kIntList:
        CheckList(name, std::get<std::vector<int64_t>>(value), spec.rule, origin, IntProblem, &state->diagnostics);
        break;
      case FieldKind::kStringList:
        CheckList(name, std::get<std::vector<std::string>>(value), spec.rule, origin, TextProblem,
                  &state->diagnostics);
        break;
      case FieldKind::kUInt:
      case FieldKind::kBool: break;  // every value of the type is allowed
    }
    if (!problem.empty()) state->diagnostics.Add(origin, name + ": " + problem);
  }
}

}  // namespace meshtrain::config_internal
