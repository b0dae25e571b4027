#include "config/toml_reader.h"

#include <cmath>
#include <optional>
#include <string>

#include "config/field_checks.h"
#include "config/layer_reader.h"
#include "config/schema.h"
#include "config/suggest.h"
#include "config/text_format.h"

namespace meshtrain::config_internal {
namespace {

Origin At(const toml::source_region& region) {
  return Origin::File(static_cast<int64_t>(region.begin.line), static_cast<int64_t>(region.begin.column));
}

// "a float", or "the string '0.1'" so that a quoted number is obvious.
std::string Describe(const toml::node& node) {
  switch (node.type()) {
    case toml::node_type::string: return "the string " + Quote(node.as_string()->get());
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a float";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

std::string TypeMessage(const std::string& name, FieldKind expected, const toml::node& found) {
  return name + ": expects " + std::string(KindName(expected)) + ", found " + Describe(found);
}

// One scalar of the given kind; adds a diagnostic and returns nothing when it does not fit.
std::optional<FieldValue> ReadScalar(FieldKind kind, const toml::node& node, const std::string& name, const Origin& at,
                                     Diagnostics* diagnostics) {
  switch (kind) {
    case FieldKind::kInt:
      if (auto* v = node.as_integer()) return FieldValue(v->get());
      break;
    case FieldKind::kUInt:
      if (auto* v = node.as_integer()) {
        if (v->get() >= 0) return FieldValue(static_cast<uint64_t>(v->get()));
        diagnostics->Add(at, name + ": must be >= 0 (got " + std::to_string(v->get()) + ")");
        return std::nullopt;
      }
      break;
    case FieldKind::kFloat: {
      std::optional<double> value;
      if (auto* v = node.as_integer()) value = static_cast<double>(v->get());
      if (auto* v = node.as_floating_point()) value = v->get();
      if (!value) break;
      if (!std::isfinite(*value)) {
        diagnostics->Add(at, name + ": must be a finite number (got " + FormatNumber(*value) + ")");
        return std::nullopt;
      }
      return FieldValue(*value);
    }
    case FieldKind::kBool:
      if (auto* v = node.as_boolean()) return FieldValue(v->get());
      break;
    case FieldKind::kString:
      if (auto* v = node.as_string()) return FieldValue(v->get());
      break;
    case FieldKind::kIntList:
    case FieldKind::kStringList: break;
  }
  std::string message = TypeMessage(name, kind, node);
  // A key that takes words or numbers (membership.quorum = "majority" or "3").
  if (kind == FieldKind::kString && node.is_integer()) {
    message += "; write it in quotes: \"" + std::to_string(node.as_integer()->get()) + "\"";
  }
  diagnostics->Add(at, message);
  return std::nullopt;
}

template <typename Item>
std::optional<FieldValue> ReadList(FieldKind list_kind, FieldKind item_kind, const toml::node& node,
                                   const std::string& name, const Origin& at, Diagnostics* diagnostics) {
  const toml::array* array = node.as_array();
  if (!array) {
    std::string message = TypeMessage(name, list_kind, node);
    if (node.is_integer() || node.is_string()) message += "; write a list, e.g. [" + std::string(node.is_string() ? "\"...\"" : "128") + "]";
    diagnostics->Add(at, message);
    return std::nullopt;
  }
  std::vector<Item> items;
  bool ok = true;
  for (size_t i = 0; i < array->size(); ++i) {
    const toml::node& element = *array->get(i);
    auto item = ReadScalar(item_kind, element, name + "[" + std::to_string(i) + "]", At(element.source()), diagnostics);
    if (item) {
      items.push_back(std::get<Item>(std::move(*item)));
    } else {
      ok = false;
    }
  }
  if (!ok) return std::nullopt;
  return FieldValue(std::move(items));
}

std::optional<FieldValue> ReadValue(const FieldSpec& spec, const toml::node& node, const Origin& at,
                                    Diagnostics* diagnostics) {
  switch (spec.kind) {
    case FieldKind::kIntList:
      return ReadList<int64_t>(spec.kind, FieldKind::kInt, node, spec.name(), at, diagnostics);
    case FieldKind::kStringList:
      return ReadList<std::string>(spec.kind, FieldKind::kString, node, spec.name(), at, diagnostics);
    default:
      if (spec.kind == FieldKind::kString && spec.rule.integer_as_text && node.is_integer() &&
          node.as_integer()->get() >= 0) {
        return FieldValue(std::to_string(node.as_integer()->get()));
      }
      return ReadScalar(spec.kind, node, spec.name(), at, diagnostics);
  }
}

// One [[cluster.peers]] entry: the strings id and endpoint (both required),
// and optionally neighbors, a list of peer ids (gossip, topology "explicit").
void ReadPeer(const toml::table& table, size_t index, LoadState* state) {
  const std::string name = "cluster.peers[" + std::to_string(index) + "]";
  PeerEntry peer;
  PeerOrigin origin;
  origin.entry = At(table.source());
  bool has_id = false, has_endpoint = false;    // present with the right type
  bool seen_id = false, seen_endpoint = false;  // present at all
  for (auto&& [key, node] : table) {
    const Origin at = At(key.source());
    const std::string key_name = name + "." + std::string(key.str());
    if (key.str() == "neighbors") {
      auto value = ReadList<std::string>(FieldKind::kStringList, FieldKind::kString, node, key_name, at,
                                         &state->diagnostics);
      if (!value) continue;
      peer.neighbors = std::get<std::vector<std::string>>(std::move(*value));
      origin.neighbors = at;
      continue;
    }
    const bool is_id = key.str() == "id";
    if (!is_id && key.str() != "endpoint") {
      std::vector<std::string_view> keys(std::begin(kPeerKeys), std::end(kPeerKeys));
      std::string hint = "a peer has only 'id', 'endpoint' and 'neighbors'";
      if (auto match = ClosestMatch(key.str(), keys)) hint = "did you mean " + Quote(*match) + "?";
      state->diagnostics.Add(at, key_name + ": unknown key; " + hint);
      continue;
    }
    (is_id ? seen_id : seen_endpoint) = true;
    auto value = ReadScalar(FieldKind::kString, node, key_name, at, &state->diagnostics);
    if (!value) continue;
    (is_id ? peer.id : peer.endpoint) = std::get<std::string>(std::move(*value));
    (is_id ? origin.id : origin.endpoint) = at;
    (is_id ? has_id : has_endpoint) = true;
  }
  if (!seen_id) state->diagnostics.Add(origin.entry, name + ": missing key 'id'");
  if (!seen_endpoint) state->diagnostics.Add(origin.entry, name + ": missing key 'endpoint'");
  origin.complete = has_id && has_endpoint;
  state->config.cluster.peers.push_back(std::move(peer));
  state->peer_origins.push_back(origin);
}

void ReadPeers(const toml::node& node, const Origin& at, LoadState* state) {
  const toml::array* array = node.as_array();
  if (!array || (!array->empty() && !array->is_array_of_tables())) {
    state->diagnostics.Add(at, "cluster.peers: expects an array of tables ([[cluster.peers]] entries with id and "
                               "endpoint), found " + Describe(node));
    return;
  }
  state->origins["cluster.peers"] = at;
  for (size_t i = 0; i < array->size(); ++i) ReadPeer(*array->get(i)->as_table(), i, state);
}

void ReadKey(const std::string& section, const toml::key& key, const toml::node& node, LoadState* state) {
  const Origin at = At(key.source());
  if (section == "cluster" && key.str() == "peers") {
    ReadPeers(node, at, state);
    return;
  }
  if (section == "model" && key.str() == "layers") {
    ReadLayers(node, at, state);
    return;
  }
  const FieldSpec* spec = FindField(section, key.str());
  if (!spec) {
    state->diagnostics.Add(at, UnknownKeyMessage(section, key.str()));
    return;
  }
  auto value = ReadValue(*spec, node, at, &state->diagnostics);
  if (value) StoreField(*spec, std::move(*value), at, state);
}

}  // namespace

void ReadToml(const toml::table& root, LoadState* state) {
  for (auto&& [key, node] : root) {
    const std::string section(key.str());
    if (!IsSection(section)) {
      const bool is_section = node.is_table();
      state->diagnostics.Add(At(is_section ? node.source() : key.source()),
                             is_section ? UnknownSectionMessage(section) : TopLevelKeyMessage(section));
      continue;
    }
    const toml::table* table = node.as_table();
    if (!table) {
      state->diagnostics.Add(At(key.source()),
                             section + ": expects a section ([" + section + "]), found " + Describe(node));
      continue;
    }
    for (auto&& [inner_key, inner_node] : *table) ReadKey(section, inner_key, inner_node, state);
  }
  // Layers given and no model.type written: the layers are the model.
  const bool has_layers = state->OriginOf("model.layers").kind != Origin::Kind::kDefault;
  if (has_layers && state->OriginOf("model.type").kind == Origin::Kind::kDefault) state->config.model.type = ModelType::kLayers;
}

}  // namespace meshtrain::config_internal
