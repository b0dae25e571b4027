// Config::AgreementKeys: what every peer of a sync mode must share, as text a
// peer can send and a person can read (docs/agreement.md). Unlike Config::Hash
// (what a resumed run must share with its checkpoint), this covers every key
// the replicas' equality depends on, lr and schedule included, and it names
// the keys so that a refused peer is told which one differs.
#include <charconv>
#include <map>
#include <optional>
#include <string_view>

#include "meshtrain/config.h"

namespace meshtrain {
namespace {

class Settings {
 public:
  Settings& Add(const char* key, const std::string& v) {
    out_.push_back({key, v});
    return *this;
  }
  Settings& Add(const char* key, const char* v) { return Add(key, std::string(v)); }
  Settings& Add(const char* key, int64_t v) { return Add(key, std::to_string(v)); }
  Settings& Add(const char* key, uint64_t v) { return Add(key, std::to_string(v)); }
  Settings& Add(const char* key, bool v) { return Add(key, std::string(v ? "true" : "false")); }
  template <ConfigEnum E>
  Settings& Add(const char* key, E v) {
    return Add(key, std::string(ToString(v)));
  }
  Settings& Add(const char* key, double v) {
    // The shortest text that reads back as the same double: equal text, equal value.
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    return Add(key, std::string(buf, ec == std::errc() ? end : buf));
  }
  Settings& Add(const char* key, const std::vector<int64_t>& v) {
    std::string text = "[";
    for (size_t i = 0; i < v.size(); ++i) text += (i ? ", " : "") + std::to_string(v[i]);
    return Add(key, text + "]");
  }
  std::vector<Setting> Take() { return std::move(out_); }

 private:
  std::vector<Setting> out_;
};

void AddData(const DataConfig& d, Settings* s) {
  s->Add("data.format", d.format);
  if (d.format == DataFormat::kIdx) {
    s->Add("data.train_images", d.train_images).Add("data.train_labels", d.train_labels);
    s->Add("data.test_images", d.test_images).Add("data.test_labels", d.test_labels);
  } else if (d.format == DataFormat::kCsv) {
    s->Add("data.train_csv", d.train_csv).Add("data.test_csv", d.test_csv).Add("data.label_column", d.label_column);
  } else {
    s->Add("data.synthetic_train", d.synthetic_train).Add("data.synthetic_test", d.synthetic_test);
    s->Add("data.synthetic_features", d.synthetic_features).Add("data.synthetic_noise", d.synthetic_noise);
    s->Add("data.synthetic_seed", d.synthetic_seed);
  }
  s->Add("data.scaling", d.scaling).Add("data.shard", d.shard);
  if (d.shard == ShardMode::kDirichlet) s->Add("data.alpha", d.alpha).Add("data.shard_seed", d.shard_seed);
  s->Add("data.train_limit", d.train_limit).Add("data.test_limit", d.test_limit);
}

// One setting per layer, "model.layers[2]" = "conv2d filters=16 kernel=5 ...":
// a refused peer is told which layer differs, not only that some did.
std::string LayerText(const LayerConfig& l) {
  std::string text(ToString(l.kind));
  const auto field = [&](const char* name, int64_t v) {
    if (v != 0) text += std::string(" ") + name + "=" + std::to_string(v);
  };
  field("filters", l.filters);
  field("kernel", l.kernel);
  field("stride", l.stride);
  field("padding", l.padding);
  field("units", l.units);
  if (l.rate != 0) {
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), l.rate);
    text += " rate=" + std::string(buf, ec == std::errc() ? end : buf);
  }
  return text;
}

void AddModel(const ModelConfig& m, Settings* s) {
  s->Add("model.type", m.type).Add("model.init", m.init);
  if (m.type == ModelType::kMlp) s->Add("model.hidden", m.hidden).Add("model.activation", m.activation);
  if (m.type == ModelType::kLayers) {
    s->Add("model.layers", static_cast<int64_t>(m.layers.size()));
    for (size_t i = 0; i < m.layers.size(); ++i) {
      s->Add(("model.layers[" + std::to_string(i) + "]").c_str(), LayerText(m.layers[i]));
    }
  }
}

// Every constant of the update rule: replicas that apply the same averaged
// gradient stay equal only if each applies it the same way.
void AddOptimizer(const OptimConfig& o, Settings* s) {
  s->Add("optim.type", o.type).Add("optim.lr", o.lr).Add("optim.lr_scaling", o.lr_scaling);
  if (o.type == OptimizerType::kSgd) {
    s->Add("optim.momentum", o.momentum).Add("optim.nesterov", o.nesterov);
  } else {
    s->Add("optim.beta1", o.beta1).Add("optim.beta2", o.beta2).Add("optim.eps", o.eps);
  }
  s->Add("optim.weight_decay", o.weight_decay).Add("optim.clip_norm", o.clip_norm);
  s->Add("optim.schedule", o.schedule).Add("optim.warmup_steps", o.warmup_steps);
  if (o.schedule == LrSchedule::kStep) s->Add("optim.step_size", o.step_size).Add("optim.gamma", o.gamma);
  if (o.schedule == LrSchedule::kCosine) s->Add("optim.min_lr", o.min_lr);
}

void AddCompression(const SyncConfig& y, Settings* s) {
  s->Add("sync.compression", y.compression);
  if (y.compression == Compression::kInt8) s->Add("sync.int8_rounding", y.int8_rounding);
  if (y.compression == Compression::kTopK) s->Add("sync.topk_ratio", y.topk_ratio);
  if (y.compression != Compression::kNone) s->Add("sync.error_feedback", y.error_feedback);
}

}  // namespace

std::vector<Setting> Config::AgreementKeys() const {
  Settings s;
  // Not the number of peers listed: a newcomer joining through cluster.bootstrap
  // lists only itself, and the shards and the lr's peer count come from the
  // cluster's epoch plan (docs/membership.md), not from each peer's list.
  s.Add("sync.mode", sync.mode);
  AddModel(model, &s);
  AddData(data, &s);
  // Lockstep: the same steps per epoch and in all (the lr schedule spans them).
  s.Add("train.batch_size", train.batch_size).Add("train.seed", train.seed);
  s.Add("train.epochs", train.epochs).Add("train.max_steps", train.max_steps);
  if (sync.mode == SyncMode::kRing) {
    AddOptimizer(optim, &s);
    s.Add("sync.every", sync.every);
    AddCompression(sync, &s);
    // Fingerprints are compared step for step: peers must take them at the same steps.
    if (sync.every == 1) s.Add("sync.verify_every", sync.verify_every);
  } else if (sync.mode == SyncMode::kGossip) {
    // Each gossip replica runs its own optimizer (docs/gossip.md): only its kind
    // must match (a state transfer copies parameters between them); the graph,
    // the mixing and the aggregation must be the same everywhere.
    s.Add("optim.type", optim.type);
    s.Add("sync.every", sync.every).Add("sync.topology", sync.topology).Add("sync.async", sync.async);
    if (sync.topology == TopologyKind::kRandom) s.Add("sync.gossip_seed", sync.gossip_seed);
    s.Add("sync.final_rounds", sync.final_rounds);
    AddCompression(sync, &s);
    if (sync.compression != Compression::kNone) s.Add("sync.consensus_step", sync.consensus_step);
    s.Add("sync.robust", sync.robust);
    if (sync.robust == RobustKind::kClip) s.Add("sync.robust_clip", sync.robust_clip);
    if (sync.robust == RobustKind::kTrimmedMean) s.Add("sync.trim", sync.trim);
  }
  s.Add("membership.reshard", membership.reshard);
  return s.Take();
}

std::string DescribeSettingDifferences(const std::vector<Setting>& here, const std::vector<Setting>& there,
                                       const std::string& there_name) {
  std::map<std::string, std::string> theirs;
  for (const Setting& t : there) theirs[t.key] = t.value;
  std::string out;
  const auto add = [&](const std::string& text) { out += (out.empty() ? "" : "; ") + text; };
  for (const Setting& h : here) {
    auto it = theirs.find(h.key);
    if (it == theirs.end()) {
      add(h.key + " = " + h.value + " here, not set in " + there_name);
    } else if (it->second != h.value) {
      add(h.key + " = " + h.value + " here, " + it->second + " in " + there_name);
    }
    if (it != theirs.end()) theirs.erase(it);
  }
  for (const Setting& t : there) {
    if (theirs.count(t.key)) add(t.key + " = " + t.value + " in " + there_name + ", not set here");
  }
  return out;
}

namespace {

// A value may hold any byte (a path, say): '\\' and newline are escaped so
// that each setting stays one line.
std::string Escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::string> Unescape(std::string_view v) {
  std::string out;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] != '\\') {
      out += v[i];
      continue;
    }
    if (++i == v.size()) return std::nullopt;
    if (v[i] == 'n') {
      out += '\n';
    } else if (v[i] == '\\') {
      out += '\\';
    } else {
      return std::nullopt;
    }
  }
  return out;
}

}  // namespace

std::string EncodeSettings(const std::vector<Setting>& settings) {
  std::string out;
  for (const Setting& s : settings) out += s.key + "=" + Escape(s.value) + "\n";
  return out;
}

std::optional<std::vector<Setting>> DecodeSettings(std::string_view text) {
  std::vector<Setting> out;
  while (!text.empty()) {
    const size_t end = text.find('\n');
    if (end == std::string_view::npos) return std::nullopt;
    const std::string_view line = text.substr(0, end);
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos || eq == 0) return std::nullopt;
    std::optional<std::string> value = Unescape(line.substr(eq + 1));
    if (!value) return std::nullopt;
    out.push_back({std::string(line.substr(0, eq)), std::move(*value)});
    text.remove_prefix(end + 1);
  }
  return out;
}

}  // namespace meshtrain
