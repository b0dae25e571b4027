#include "config/relation_checks.h"

#include "config/text_format.h"

namespace meshtrain::config_internal {
namespace {

std::string Text(int64_t v) { return std::to_string(v); }
std::string Text(double v) { return FormatNumber(v); }

// The origin of whichever of `a`, `b` was set last: that is the one the user just changed.
std::pair<std::string, Origin> Latest(const LoadState& state, const std::string& a, const std::string& b) {
  const Origin oa = state.OriginOf(a), ob = state.OriginOf(b);
  return oa.LaterThan(ob) ? std::pair{a, oa} : std::pair{b, ob};
}

// Requires a < b (or a <= b), phrased from the key that was set last.
template <typename T>
void RequireOrder(LoadState* state, const std::string& a, T va, const std::string& b, T vb, bool strict) {
  if (strict ? va < vb : va <= vb) return;
  const auto [blamed, origin] = Latest(*state, a, b);
  const std::string op_a = strict ? "<" : "<=", op_b = strict ? ">" : ">=";
  if (blamed == a) {
    state->diagnostics.Add(origin, a + ": must be " + op_a + " " + b + " (" + Text(vb) + ") (got " + Text(va) + ")");
  } else {
    state->diagnostics.Add(origin, b + ": must be " + op_b + " " + a + " (" + Text(va) + ") (got " + Text(vb) + ")");
  }
}

// A key that `when` (e.g. "data.format = 'csv'") makes mandatory; reported where `cause` was set.
void RequireSet(LoadState* state, bool missing, const std::string& key, const std::string& cause,
                const std::string& when) {
  if (!missing) return;
  state->diagnostics.Add(Latest(*state, key, cause).second, key + ": required when " + when);
}

void CheckTimings(LoadState* state) {
  const Config& c = state->config;
  RequireOrder(state, "membership.heartbeat_ms", c.membership.heartbeat_ms, "membership.suspect_ms",
               c.membership.suspect_ms, true);
  RequireOrder(state, "membership.suspect_ms", c.membership.suspect_ms, "membership.dead_ms", c.membership.dead_ms,
               true);
  RequireOrder(state, "transport.reconnect_ivl_ms", c.transport.reconnect_ivl_ms, "transport.reconnect_ivl_max_ms",
               c.transport.reconnect_ivl_max_ms, false);
}

void CheckDataAndModel(LoadState* state) {
  const Config& c = state->config;
  const std::string format = "data.format = " + Quote(ToString(c.data.format));
  if (c.data.format == DataFormat::kCsv) {
    RequireSet(state, c.data.train_csv.empty(), "data.train_csv", "data.format", format);
    RequireSet(state, c.data.test_csv.empty(), "data.test_csv", "data.format", format);
  }
  if (c.model.type == ModelType::kMlp && c.model.hidden.empty()) {
    const auto [blamed, origin] = Latest(*state, "model.hidden", "model.type");
    state->diagnostics.Add(origin, blamed + ": model.type = 'mlp' needs at least one hidden layer in model.hidden "
                                            "(or use model.type = 'softmax')");
  }
  if (c.model.type == ModelType::kLayers && c.model.layers.empty()) {
    state->diagnostics.Add(state->OriginOf("model.type"),
                           "model.type: 'layers' needs [[model.layers]] entries (docs/models.md, \"Layers\")");
  }
  if (c.model.type != ModelType::kLayers && !c.model.layers.empty()) {
    state->diagnostics.Add(state->OriginOf("model.layers"),
                           "model.layers: given, but model.type = " + Quote(ToString(c.model.type)) +
                               " builds its own layers; remove model.type or set it to 'layers'");
  }
  // Synthetic data is regression (a real-valued target); idx and csv carry class
  // labels. A layer list fits either (its last layer must match; checked with the data).
  const bool regression_data = c.data.format == DataFormat::kSynthetic;
  const bool regression_model = c.model.type == ModelType::kLinear;
  if (c.model.type != ModelType::kLayers && regression_data != regression_model) {
    const auto [blamed, origin] = Latest(*state, "model.type", "data.format");
    const std::string fix = regression_data ? "model.type = 'linear'" : "model.type = 'softmax' or 'mlp'";
    state->diagnostics.Add(origin, blamed + ": model.type = " + Quote(ToString(c.model.type)) + " does not fit " + format +
                                       " (" + (regression_data ? "a regression target" : "class labels") + "); use " +
                                       fix);
  }
}

void CheckOptimizer(LoadState* state) {
  const OptimConfig& o = state->config.optim;
  if (o.type == OptimizerType::kSgd && o.nesterov && o.momentum == 0.0) {
    const auto [blamed, origin] = Latest(*state, "optim.nesterov", "optim.momentum");
    state->diagnostics.Add(origin, blamed + ": optim.nesterov = true needs optim.momentum > 0");
  }
  if (o.schedule == LrSchedule::kCosine) RequireOrder(state, "optim.min_lr", o.min_lr, "optim.lr", o.lr, false);
}

void CheckSecurity(LoadState* state) {
  const SecurityConfig& s = state->config.security;
  if (s.mode != SecurityMode::kCurve) return;
  const std::string when = "security.mode = 'curve'";
  RequireSet(state, s.secret_key_file.empty(), "security.secret_key_file", "security.mode", when);
  RequireSet(state, s.public_key_file.empty(), "security.public_key_file", "security.mode", when);
  RequireSet(state, s.authorized_keys.empty(), "security.authorized_keys", "security.mode", when);
  // The key files (with {id} expanded, and the secret key's file mode) are read
  // when the peer starts (LoadTransportSecurity), before any socket opens.
}

}  // namespace

void CheckRelations(LoadState* state) {
  CheckTimings(state);
  CheckDataAndModel(state);
  CheckOptimizer(state);
  CheckSecurity(state);
}

}  // namespace meshtrain::config_internal
