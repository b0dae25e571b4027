#include "config/schema.h"

#include <algorithm>
#include <climits>
#include <type_traits>

#include "config/text_checks.h"
#include "config/text_format.h"

namespace meshtrain::config_internal {
namespace {

// ---- rules ----------------------------------------------------------------

Rule IntAtLeast(int64_t min) { return Rule{.int_min = min}; }
Rule IntIn(int64_t min, int64_t max) { return Rule{.int_min = min, .int_max = max}; }
// Values handed to ZeroMQ socket options, which are C ints.
Rule ZmqInt(int64_t min) { return IntIn(min, INT_MAX); }
Rule FloatAbove(double min) { return Rule{.float_min = min, .float_min_open = true}; }
Rule FloatAtLeast(double min) { return Rule{.float_min = min}; }
Rule FloatFrom0Below1() { return Rule{.float_min = 0.0, .float_max = 1.0, .float_max_open = true}; }
Rule FloatAbove0UpTo1() { return Rule{.float_min = 0.0, .float_max = 1.0, .float_min_open = true}; }
// An enum key: Bind fills in its texts as the allowed values.
Rule Listed() { return Rule{}; }
Rule Text(std::string (*check)(std::string_view)) { return Rule{.text_check = check}; }
Rule Any() { return Rule{}; }
// "auto" or a whole number of milliseconds (membership.minority_grace_ms); a
// TOML integer is taken as its digits (toml_reader.cpp).
Rule MillisOrAuto() {
  Rule r = Text([](std::string_view s) {
    const bool number = !s.empty() && s.size() <= 10 && s.find_first_not_of("0123456789") == std::string_view::npos;
    return std::string(number || s == "auto" ? "" : "must be \"auto\" or a number of milliseconds (0 = none)");
  });
  r.integer_as_text = true;
  return r;
}

// ---- field binding ----------------------------------------------------------

template <typename T>
constexpr FieldKind KindOf() {
  if constexpr (std::is_same_v<T, int64_t>) return FieldKind::kInt;
  if constexpr (std::is_same_v<T, uint64_t>) return FieldKind::kUInt;
  if constexpr (std::is_same_v<T, double>) return FieldKind::kFloat;
  if constexpr (std::is_same_v<T, bool>) return FieldKind::kBool;
  if constexpr (std::is_same_v<T, std::string>) return FieldKind::kString;
  if constexpr (std::is_same_v<T, std::vector<int64_t>>) return FieldKind::kIntList;
  if constexpr (std::is_same_v<T, std::vector<std::string>>) return FieldKind::kStringList;
}

// An enum key reads as a string; its allowed values are its texts (config.h).
template <auto Section, auto Member>
  requires ConfigEnum<std::remove_cvref_t<decltype(std::declval<Config&>().*Section.*Member)>>
FieldSpec Bind(std::string_view section, std::string_view key, Rule rule) {
  using Value = std::remove_cvref_t<decltype(std::declval<Config&>().*Section.*Member)>;
  const auto texts = AllTexts<Value>();
  rule.one_of.assign(texts.begin(), texts.end());
  return FieldSpec{
      section, key, FieldKind::kString, std::move(rule),
      [](const Config& c) { return FieldValue(std::string(ToString(c.*Section.*Member))); },
      [](Config& c, FieldValue v) {
        const auto value = ParseEnum<Value>(std::get<std::string>(v));
        if (value) c.*Section.*Member = *value;
        return value.has_value();
      },
  };
}

template <auto Section, auto Member>
FieldSpec Bind(std::string_view section, std::string_view key, Rule rule) {
  using Value = std::remove_cvref_t<decltype(std::declval<Config&>().*Section.*Member)>;
  // Compared by type, not via FieldValue(Value{}): clang 14 cannot build a std::string in a constant expression.
  static_assert(std::is_same_v<std::variant_alternative_t<static_cast<size_t>(KindOf<Value>()), FieldValue>, Value>);
  return FieldSpec{
      section, key, KindOf<Value>(), std::move(rule),
      [](const Config& c) { return FieldValue(c.*Section.*Member); },
      [](Config& c, FieldValue v) {
        c.*Section.*Member = std::get<Value>(std::move(v));
        return true;
      },
  };
}

// The TOML name of a field is its C++ name, spelled once.
#define MESHTRAIN_FIELD(section, key, rule) \
  Bind<&Config::section, &decltype(Config::section)::key>(#section, #key, rule)

std::vector<FieldSpec> BuildFields() {
  std::vector<FieldSpec> f;
  // [peer] id is where self_id starts out; --id wins over it.
  f.push_back(FieldSpec{"peer", "id", FieldKind::kString, Any(),
                        [](const Config& c) { return FieldValue(c.self_id); },
                        [](Config& c, FieldValue v) {
                          c.self_id = std::get<std::string>(std::move(v));
                          return true;
                        }});

  f.push_back(MESHTRAIN_FIELD(cluster, size, IntAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(cluster, bootstrap, Text(EndpointProblem)));

  f.push_back(MESHTRAIN_FIELD(data, format, Listed()));
  f.push_back(MESHTRAIN_FIELD(data, dir, Any()));
  f.push_back(MESHTRAIN_FIELD(data, train_images, Any()));
  f.push_back(MESHTRAIN_FIELD(data, train_labels, Any()));
  f.push_back(MESHTRAIN_FIELD(data, test_images, Any()));
  f.push_back(MESHTRAIN_FIELD(data, test_labels, Any()));
  f.push_back(MESHTRAIN_FIELD(data, train_csv, Any()));
  f.push_back(MESHTRAIN_FIELD(data, test_csv, Any()));
  f.push_back(MESHTRAIN_FIELD(data, label_column, Text([](std::string_view s) {
                                return std::string(s.empty() ? "must not be empty" : "");
                              })));
  f.push_back(MESHTRAIN_FIELD(data, synthetic_train, IntAtLeast(1)));
  f.push_back(MESHTRAIN_FIELD(data, synthetic_test, IntAtLeast(1)));
  f.push_back(MESHTRAIN_FIELD(data, synthetic_features, IntIn(1, 1000000)));
  f.push_back(MESHTRAIN_FIELD(data, synthetic_noise, FloatAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(data, synthetic_seed, Any()));
  f.push_back(MESHTRAIN_FIELD(data, scaling, Listed()));
  f.push_back(MESHTRAIN_FIELD(data, shard, Listed()));
  f.push_back(MESHTRAIN_FIELD(data, alpha, FloatAbove(0)));
  f.push_back(MESHTRAIN_FIELD(data, shard_seed, Any()));
  f.push_back(MESHTRAIN_FIELD(data, train_limit, IntAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(data, test_limit, IntAtLeast(0)));

  f.push_back(MESHTRAIN_FIELD(model, type, Listed()));
  f.push_back(MESHTRAIN_FIELD(model, hidden, IntIn(1, 1000000)));
  f.push_back(MESHTRAIN_FIELD(model, activation, Listed()));
  f.push_back(MESHTRAIN_FIELD(model, init, Listed()));

  f.push_back(MESHTRAIN_FIELD(optim, type, Listed()));
  f.push_back(MESHTRAIN_FIELD(optim, lr, FloatAbove(0)));
  f.push_back(MESHTRAIN_FIELD(optim, momentum, FloatFrom0Below1()));
  f.push_back(MESHTRAIN_FIELD(optim, nesterov, Any()));
  f.push_back(MESHTRAIN_FIELD(optim, weight_decay, FloatAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(optim, beta1, FloatFrom0Below1()));
  f.push_back(MESHTRAIN_FIELD(optim, beta2, FloatFrom0Below1()));
  f.push_back(MESHTRAIN_FIELD(optim, eps, FloatAbove(0)));
  f.push_back(MESHTRAIN_FIELD(optim, schedule, Listed()));
  f.push_back(MESHTRAIN_FIELD(optim, warmup_steps, IntAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(optim, step_size, IntAtLeast(1)));
  f.push_back(MESHTRAIN_FIELD(optim, gamma, FloatAbove0UpTo1()));
  f.push_back(MESHTRAIN_FIELD(optim, min_lr, FloatAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(optim, lr_scaling, Listed()));
  f.push_back(MESHTRAIN_FIELD(optim, clip_norm, FloatAtLeast(0)));

  f.push_back(MESHTRAIN_FIELD(train, epochs, IntAtLeast(1)));
  f.push_back(MESHTRAIN_FIELD(train, batch_size, IntIn(1, 1000000)));
  f.push_back(MESHTRAIN_FIELD(train, seed, Any()));
  f.push_back(MESHTRAIN_FIELD(train, eval_every, IntAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(train, log_every, IntAtLeast(1)));
  f.push_back(MESHTRAIN_FIELD(train, max_steps, IntAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(train, stop_after_nonfinite, IntAtLeast(0)));

  f.push_back(MESHTRAIN_FIELD(sync, mode, Listed()));
  f.push_back(MESHTRAIN_FIELD(sync, every, IntAtLeast(1)));
  f.push_back(MESHTRAIN_FIELD(sync, topology, Listed()));
  f.push_back(MESHTRAIN_FIELD(sync, async, Any()));
  f.push_back(MESHTRAIN_FIELD(sync, final_rounds, IntIn(0, 100000)));
  f.push_back(MESHTRAIN_FIELD(sync, gossip_seed, Any()));
  f.push_back(MESHTRAIN_FIELD(sync, compression, Listed()));
  f.push_back(MESHTRAIN_FIELD(sync, int8_rounding, Listed()));
  f.push_back(MESHTRAIN_FIELD(sync, topk_ratio, FloatAbove0UpTo1()));
  f.push_back(MESHTRAIN_FIELD(sync, error_feedback, Any()));
  f.push_back(MESHTRAIN_FIELD(sync, robust, Listed()));
  f.push_back(MESHTRAIN_FIELD(sync, robust_clip, FloatAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(sync, trim, IntIn(1, 1000)));
  f.push_back(MESHTRAIN_FIELD(sync, consensus_step, (Rule{.float_min = 0.0, .float_max = 1.0})));
  f.push_back(MESHTRAIN_FIELD(sync, timeout_ms, IntAtLeast(1)));
  f.push_back(MESHTRAIN_FIELD(sync, chunk_bytes, IntAtLeast(4)));
  f.push_back(MESHTRAIN_FIELD(sync, direct_max_bytes, IntAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(sync, pair_direct_max_bytes, IntAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(sync, start_timeout_ms, IntAtLeast(1)));
  f.push_back(MESHTRAIN_FIELD(sync, verify_every, IntAtLeast(0)));

  f.push_back(MESHTRAIN_FIELD(transport, linger_ms, ZmqInt(0)));
  f.push_back(MESHTRAIN_FIELD(transport, sndhwm, ZmqInt(0)));
  f.push_back(MESHTRAIN_FIELD(transport, rcvhwm, ZmqInt(0)));
  f.push_back(MESHTRAIN_FIELD(transport, reconnect_ivl_ms, ZmqInt(1)));
  f.push_back(MESHTRAIN_FIELD(transport, reconnect_ivl_max_ms, ZmqInt(1)));
  f.push_back(MESHTRAIN_FIELD(transport, max_msg_bytes, IntAtLeast(1024)));
  f.push_back(MESHTRAIN_FIELD(transport, connect_timeout_ms, ZmqInt(100)));
  f.push_back(MESHTRAIN_FIELD(transport, io_threads, IntIn(1, 16)));

  f.push_back(MESHTRAIN_FIELD(membership, heartbeat_ms, IntAtLeast(1)));
  f.push_back(MESHTRAIN_FIELD(membership, suspect_ms, IntAtLeast(1)));
  f.push_back(MESHTRAIN_FIELD(membership, dead_ms, IntAtLeast(1)));
  f.push_back(MESHTRAIN_FIELD(membership, reshard, Listed()));
  f.push_back(MESHTRAIN_FIELD(membership, quorum, Text([](std::string_view s) {
                                const bool number = !s.empty() && s.size() <= 6 &&
                                                    s.find_first_not_of("0123456789") == std::string_view::npos;
                                return std::string(number || s == "off" || s == "majority"
                                                       ? ""
                                                       : "must be \"off\", \"majority\" or a number of peers");
                              })));
  f.push_back(MESHTRAIN_FIELD(membership, quorum_timeout_ms, IntAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(membership, farewell_ms, IntAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(membership, minority_grace_ms, MillisOrAuto()));
  f.push_back(MESHTRAIN_FIELD(membership, minority, Listed()));
  f.push_back(MESHTRAIN_FIELD(membership, minority_end_wait_ms, MillisOrAuto()));

  f.push_back(MESHTRAIN_FIELD(checkpoint, dir, Any()));
  f.push_back(MESHTRAIN_FIELD(checkpoint, every_steps, IntAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(checkpoint, keep, IntAtLeast(1)));

  f.push_back(MESHTRAIN_FIELD(log, metrics, Any()));
  f.push_back(MESHTRAIN_FIELD(log, progress, Listed()));
  f.push_back(MESHTRAIN_FIELD(log, prometheus, Text(ListenAddressProblem)));

  f.push_back(MESHTRAIN_FIELD(security, mode, Listed()));
  f.push_back(MESHTRAIN_FIELD(security, secret_key_file, Any()));
  f.push_back(MESHTRAIN_FIELD(security, public_key_file, Any()));
  f.push_back(MESHTRAIN_FIELD(security, authorized_keys, Text(AuthorizedKeyProblem)));

  f.push_back(MESHTRAIN_FIELD(debug, slowdown, FloatAtLeast(1)));
  f.push_back(MESHTRAIN_FIELD(debug, step_delay_ms, IntAtLeast(0)));
  f.push_back(MESHTRAIN_FIELD(debug, byzantine, Listed()));
  f.push_back(MESHTRAIN_FIELD(debug, flip_bit_at_step, IntAtLeast(0)));
  return f;
}

#undef MESHTRAIN_FIELD

std::string Bound(double value, bool open, bool lower) {
  return std::string(lower ? (open ? "> " : ">= ") : (open ? "< " : "<= ")) + FormatNumber(value);
}

}  // namespace

std::string_view KindName(FieldKind kind) {
  switch (kind) {
    case FieldKind::kInt: return "an integer";
    case FieldKind::kUInt: return "a non-negative integer";
    case FieldKind::kFloat: return "a float";
    case FieldKind::kBool: return "a boolean (true or false)";
    case FieldKind::kString: return "a string";
    case FieldKind::kIntList: return "an array of integers";
    case FieldKind::kStringList: return "an array of strings";
  }
  return "a value";
}

std::string Rule::Describe() const {
  if (int_min && int_max) return "must be in " + std::to_string(*int_min) + ".." + std::to_string(*int_max);
  if (int_min) return "must be >= " + std::to_string(*int_min);
  if (int_max) return "must be <= " + std::to_string(*int_max);
  if (float_min && float_max) {
    return "must be in " + std::string(float_min_open ? "(" : "[") + FormatNumber(*float_min) + ", " +
           FormatNumber(*float_max) + (float_max_open ? ")" : "]");
  }
  if (float_min) return "must be " + Bound(*float_min, float_min_open, true);
  if (float_max) return "must be " + Bound(*float_max, float_max_open, false);
  if (!one_of.empty()) return "must be one of " + JoinQuoted(one_of);
  return "";
}

const std::vector<FieldSpec>& AllFields() {
  static const std::vector<FieldSpec> fields = BuildFields();
  return fields;
}

const FieldSpec* FindField(std::string_view section, std::string_view key) {
  for (const FieldSpec& f : AllFields()) {
    if (f.section == section && f.key == key) return &f;
  }
  return nullptr;
}

const std::vector<std::string_view>& SectionNames() {
  static const std::vector<std::string_view> names = {"peer",  "cluster", "data",      "model",
                                                      "optim", "train",   "sync",      "transport",
                                                      "membership", "checkpoint", "log", "security", "debug"};
  return names;
}

bool IsSection(std::string_view name) {
  const auto& names = SectionNames();
  return std::find(names.begin(), names.end(), name) != names.end();
}

std::vector<std::string_view> KeysOf(std::string_view section) {
  std::vector<std::string_view> keys;
  if (section == "cluster") keys.push_back("peers");
  if (section == "model") keys.push_back("layers");
  for (const FieldSpec& f : AllFields()) {
    if (f.section == section) keys.push_back(f.key);
  }
  return keys;
}

}  // namespace meshtrain::config_internal
