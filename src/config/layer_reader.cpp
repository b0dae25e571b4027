#include "config/layer_reader.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "config/suggest.h"
#include "config/text_format.h"

namespace meshtrain::config_internal {
namespace {

Origin At(const toml::source_region& region) {
  return Origin::File(static_cast<int64_t>(region.begin.line), static_cast<int64_t>(region.begin.column));
}

// One field a layer may take: its range, and whether the kind needs it.
struct LayerField {
  std::string_view key;
  bool is_float;
  int64_t min, max;  // integers: inclusive; the float (rate) is checked on its own
};

constexpr LayerField kFilters{"filters", false, 1, 65536};
constexpr LayerField kKernel{"kernel", false, 1, 1024};
constexpr LayerField kStride{"stride", false, 1, 1024};
constexpr LayerField kPadding{"padding", false, 0, 1024};
constexpr LayerField kUnits{"units", false, 1, 1000000};
constexpr LayerField kRate{"rate", true, 0, 0};

struct KindSpec {
  LayerKind kind;
  std::vector<LayerField> required;
  std::vector<LayerField> optional;
};

const std::vector<KindSpec>& KindSpecs() {
  static const std::vector<KindSpec> specs = {
      {LayerKind::kConv2d, {kFilters, kKernel}, {kStride, kPadding}},
      {LayerKind::kMaxPool2d, {kKernel}, {kStride}},
      {LayerKind::kAvgPool2d, {kKernel}, {kStride}},
      {LayerKind::kFlatten, {}, {}},
      {LayerKind::kDense, {kUnits}, {}},
      {LayerKind::kRelu, {}, {}},
      {LayerKind::kTanh, {}, {}},
      {LayerKind::kGelu, {}, {}},
      {LayerKind::kDropout, {kRate}, {}},
      {LayerKind::kLayerNorm, {}, {}},
  };
  return specs;
}

const KindSpec* FindKind(LayerKind kind) {
  for (const KindSpec& spec : KindSpecs()) {
    if (spec.kind == kind) return &spec;
  }
  return nullptr;
}

std::vector<std::string_view> KeysOfKind(const KindSpec& spec) {
  std::vector<std::string_view> keys = {"kind"};
  for (const LayerField& f : spec.required) keys.push_back(f.key);
  for (const LayerField& f : spec.optional) keys.push_back(f.key);
  return keys;
}

std::vector<std::string_view> AllLayerKeys() {
  std::vector<std::string_view> keys = {"kind"};
  for (const KindSpec& spec : KindSpecs()) {
    for (std::string_view key : KeysOfKind(spec)) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) keys.push_back(key);
    }
  }
  return keys;
}

std::string TakesText(const KindSpec& spec) {
  const auto keys = KeysOfKind(spec);
  const std::string kind(ToString(spec.kind));
  if (keys.size() == 1) return kind + " takes no fields besides 'kind'";
  return kind + " takes " + JoinQuoted(std::vector<std::string_view>(keys.begin() + 1, keys.end()));
}

// Stores one field's value; returns false (with a diagnostic) when it does not fit.
bool SetField(const LayerField& field, const toml::node& node, const std::string& name, const Origin& at,
              LayerConfig* layer, Diagnostics* diagnostics) {
  if (field.is_float) {
    std::optional<double> value;
    if (auto* v = node.as_integer()) value = static_cast<double>(v->get());
    if (auto* v = node.as_floating_point()) value = v->get();
    if (!value) {
      diagnostics->Add(at, name + ": expects a float, found " + std::string(node.is_string() ? "a string" : "another type"));
      return false;
    }
    if (!std::isfinite(*value) || *value < 0 || *value >= 1) {
      diagnostics->Add(at, name + ": must be in [0, 1) (got " + FormatNumber(*value) + ")");
      return false;
    }
    layer->rate = *value;
    return true;
  }
  const auto* v = node.as_integer();
  if (!v) {
    diagnostics->Add(at, name + ": expects an integer, found " +
                             std::string(node.is_string() ? "the string " + Quote(node.as_string()->get())
                                         : node.is_floating_point() ? "a float" : "another type"));
    return false;
  }
  const int64_t value = v->get();
  if (value < field.min || value > field.max) {
    diagnostics->Add(at, name + ": must be in " + std::to_string(field.min) + ".." + std::to_string(field.max) +
                             " (got " + std::to_string(value) + ")");
    return false;
  }
  if (field.key == "filters") layer->filters = value;
  if (field.key == "kernel") layer->kernel = value;
  if (field.key == "stride") layer->stride = value;
  if (field.key == "padding") layer->padding = value;
  if (field.key == "units") layer->units = value;
  return true;
}

void ReadLayer(const toml::table& table, size_t index, LoadState* state) {
  const std::string name = "model.layers[" + std::to_string(index) + "]";
  const Origin entry = At(table.source());
  LayerConfig layer;
  layer.where = state->diagnostics.Where(entry);

  const toml::node* kind_node = table.get("kind");
  const KindSpec* spec = nullptr;
  if (!kind_node) {
    state->diagnostics.Add(entry, name + ": missing key 'kind' (one of " + JoinQuoted(LayerKinds()) + ")");
  } else if (!kind_node->is_string()) {
    state->diagnostics.Add(At(kind_node->source()), name + ".kind: expects a string");
  } else {
    const std::string& text = kind_node->as_string()->get();
    if (const auto kind = ParseEnum<LayerKind>(text)) {
      layer.kind = *kind;
      spec = FindKind(*kind);
    } else {
      std::string message = name + ".kind: unknown layer kind " + Quote(text);
      if (auto match = ClosestMatch(text, LayerKinds())) {
        message += "; did you mean " + Quote(*match) + "?";
      } else {
        message += "; kinds are " + JoinQuoted(LayerKinds());
      }
      state->diagnostics.Add(At(kind_node->source()), message);
    }
  }

  const std::vector<std::string_view> all_keys = AllLayerKeys();
  for (auto&& [key, node] : table) {
    if (key.str() == "kind") continue;
    const Origin at = At(key.source());
    const std::string key_name = name + "." + std::string(key.str());
    const bool known = std::find(all_keys.begin(), all_keys.end(), key.str()) != all_keys.end();
    if (!known) {
      const std::vector<std::string_view> candidates = spec ? KeysOfKind(*spec) : all_keys;
      std::string message = key_name + ": unknown key";
      if (auto match = ClosestMatch(key.str(), candidates)) {
        message += "; did you mean " + Quote(*match) + "?";
      } else if (spec) {
        message += "; " + TakesText(*spec);
      }
      state->diagnostics.Add(at, message);
      continue;
    }
    if (!spec) continue;  // the kind is wrong; its fields cannot be judged
    const LayerField* field = nullptr;
    for (const auto* list : {&spec->required, &spec->optional}) {
      for (const LayerField& f : *list) {
        if (f.key == key.str()) field = &f;
      }
    }
    if (!field) {
      state->diagnostics.Add(at, key_name + ": not a field of " + std::string(ToString(spec->kind)) + "; " +
                                     TakesText(*spec));
      continue;
    }
    SetField(*field, node, key_name, at, &layer, &state->diagnostics);
  }
  if (spec) {
    for (const LayerField& f : spec->required) {
      if (!table.contains(f.key)) {
        state->diagnostics.Add(entry,
                               name + ": " + std::string(ToString(spec->kind)) + " needs '" + std::string(f.key) + "'");
      }
    }
  }
  state->config.model.layers.push_back(std::move(layer));
}

}  // namespace

const std::vector<std::string_view>& LayerKinds() {
  static const std::vector<std::string_view> kinds(AllTexts<LayerKind>().begin(), AllTexts<LayerKind>().end());
  return kinds;
}

void ReadLayers(const toml::node& node, const Origin& at, LoadState* state) {
  const toml::array* array = node.as_array();
  if (!array || (!array->empty() && !array->is_array_of_tables())) {
    state->diagnostics.Add(at, "model.layers: expects an array of tables ([[model.layers]] entries, each with a "
                               "kind), found something else");
    return;
  }
  state->origins["model.layers"] = at;
  state->config.model.layers.clear();
  for (size_t i = 0; i < array->size(); ++i) ReadLayer(*array->get(i)->as_table(), i, state);
}

}  // namespace meshtrain::config_internal
