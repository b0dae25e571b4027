#include "cli/peer_metrics.h"

#include <algorithm>
#include <charconv>
#include <cmath>

#include "cli/json_fields.h"
#include "meshtrain/metric_names.h"

namespace meshtrain {
namespace {

// The strings of a JSON array of strings (raw text as ParseJsonFields leaves it).
size_t CountStrings(const std::string& raw_array) {
  size_t quotes = 0;
  for (size_t i = 0; i < raw_array.size(); ++i) {
    if (raw_array[i] == '\\')
      ++i;
    else if (raw_array[i] == '"')
      ++quotes;
  }
  return quotes / 2;
}

// Label values escape backslash, double quote and newline (the text format's rules).
std::string LabelValue(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string Number(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  return ec == std::errc() ? std::string(buf, end) : "NaN";
}

class Writer {
 public:
  explicit Writer(const std::string& peer) : peer_label_("peer=\"" + LabelValue(peer) + "\"") {}

  void Family(const char* name, const char* type, const char* help) {
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += help;
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  // One sample with the peer label and optionally one more label.
  void Sample(const char* name, double value, const char* label = nullptr, const std::string& label_value = "") {
    out_ += name;
    out_ += '{';
    out_ += peer_label_;
    if (label) {
      out_ += ',';
      out_ += label;
      out_ += "=\"" + LabelValue(label_value) + '"';
    }
    out_ += "} ";
    out_ += Number(value);
    out_ += '\n';
  }
  void One(const char* name, const char* type, const char* help, double value) {
    Family(name, type, help);
    Sample(name, value);
  }
  std::string str() { return std::move(out_); }

 private:
  std::string peer_label_;
  std::string out_;
};

}  // namespace

PeerMetrics::PeerMetrics(std::string peer_id) : peer_(std::move(peer_id)) {}

void PeerMetrics::Observe(const std::string& line) {
  // Parsed before the lock: the scrape side never waits for the parse.
  auto fields = ParseJsonFields(line);
  if (!fields) return;
  auto text = [&](const char* key) -> const std::string* {
    auto it = fields->find(key);
    return it == fields->end() ? nullptr : &it->second;
  };
  // The numbers of a nested object ("rejected", "bytes_sent_by_peer", ...).
  auto numbers = [&](const char* key) {
    std::map<std::string, double> out;
    if (const std::string* raw = text(key)) {
      if (auto inner = ParseJsonFields(*raw)) {
        for (const auto& [name, value] : *inner) out[name] = NumberField(*inner, name, 0);
      }
    }
    return out;
  };
  const std::map<std::string, double> rejected = numbers(metric::kRejected);
  const std::map<std::string, double> sent_by = numbers(metric::kBytesSentByPeer);
  const std::map<std::string, double> recv_by = numbers(metric::kBytesRecvByPeer);
  std::lock_guard<std::mutex> lock(mu_);
  Figures& f = figures_;
  if (const std::string* run = text(metric::kRun)) f.run = *run;
  f.last_line_t = NumberField(*fields, metric::kTime, f.last_line_t);
  // A resumed or reconciled peer jumps ahead; no line ever moves it back.
  f.step = std::max(f.step, NumberField(*fields, metric::kStep, f.step));
  f.epoch = std::max(f.epoch, NumberField(*fields, metric::kEpoch, f.epoch));
  if (text(metric::kLoss)) {
    f.loss = NumberField(*fields, metric::kLoss, NAN);
    f.has_loss = true;
  }
  f.test_loss = NumberField(*fields, metric::kTestLoss, f.test_loss);
  f.test_acc = NumberField(*fields, metric::kTestAcc, f.test_acc);
  f.samples_per_s = NumberField(*fields, metric::kSamplesPerSecond, f.samples_per_s);
  // Running totals of this process: they only grow (counters).
  f.compute_s = std::max(f.compute_s, NumberField(*fields, metric::kComputeSeconds, 0));
  f.comm_s = std::max(f.comm_s, NumberField(*fields, metric::kCommSeconds, 0));
  f.bytes_sent = std::max(f.bytes_sent, NumberField(*fields, metric::kBytesSent, 0));
  f.bytes_recv = std::max(f.bytes_recv, NumberField(*fields, metric::kBytesRecv, 0));
  for (const auto& [id, bytes] : sent_by) f.sent_by_neighbour[id] = std::max(f.sent_by_neighbour[id], bytes);
  for (const auto& [id, bytes] : recv_by) f.recv_by_neighbour[id] = std::max(f.recv_by_neighbour[id], bytes);
  f.consensus = NumberField(*fields, metric::kConsensus, f.consensus);
  for (const auto& [kind, count] : rejected) f.rejected_by_kind[kind] = std::max(f.rejected_by_kind[kind], count);
  if (const std::string* view = text(metric::kView)) f.view_members = static_cast<double>(CountStrings(*view));
  if (const std::string* event = text(metric::kEvent)) {
    ++f.events[*event];
    if (*event == events::kViewChange) {
      ++f.view_changes;
      f.view_id = NumberField(*fields, metric::kViewId, f.view_id);
    } else if (*event == events::kRoundAborted) {
      ++f.rounds_aborted;
    } else if (*event == events::kStateSync) {
      ++f.state_syncs;
    } else if (*event == events::kPeerDead) {
      ++f.peers_dead;
    }
  }
  ++version_;
}

std::string PeerMetrics::Exposition() {
  std::lock_guard<std::mutex> cache_lock(cache_mu_);
  Figures copy;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (version_ == rendered_version_) return rendered_;
    copy = figures_;
    rendered_version_ = version_;
  }
  rendered_ = Render(peer_, copy);
  return rendered_;
}

std::string PeerMetrics::Render(const std::string& peer, const Figures& f) {
  Writer w(peer);
  if (!f.run.empty()) {
    w.Family("meshtrain_run_info", "gauge",
             "The run this peer's metrics belong to (its id in metrics.jsonl); always 1.");
    w.Sample("meshtrain_run_info", 1, "run", f.run);
  }
  if (f.step >= 0) w.One("meshtrain_step", "gauge", "Steps this peer has taken (the step its next one has).", f.step);
  if (f.epoch >= 0) w.One("meshtrain_epoch", "gauge", "The epoch this peer's next step belongs to.", f.epoch);
  if (f.has_loss) w.One("meshtrain_train_loss", "gauge", "Training loss of the last logged step.", f.loss);
  if (f.test_acc >= 0) {
    w.One("meshtrain_test_accuracy_ratio", "gauge", "Test accuracy of the last evaluation (0..1).", f.test_acc);
  }
  if (f.test_loss >= 0) w.One("meshtrain_test_loss", "gauge", "Test loss of the last evaluation.", f.test_loss);
  if (f.samples_per_s >= 0) {
    w.One("meshtrain_samples_per_second", "gauge", "Training samples per second over the last second.",
          f.samples_per_s);
  }
  w.One("meshtrain_compute_seconds_total", "counter", "Seconds spent computing steps (forward, backward, update).",
        f.compute_s);
  w.One("meshtrain_communication_seconds_total", "counter",
        "Seconds spent combining with the cluster (all-reduce, gossip, agreement).", f.comm_s);
  w.One("meshtrain_sent_bytes_total", "counter",
        "Message bytes this peer handed to the transport, to all neighbours together (header and payload).",
        f.bytes_sent);
  w.One("meshtrain_received_bytes_total", "counter",
        "Message bytes this peer received from all neighbours together (header and payload).", f.bytes_recv);
  if (!f.sent_by_neighbour.empty()) {
    w.Family("meshtrain_neighbour_sent_bytes_total", "counter",
             "Message bytes this peer handed to the transport for each neighbour (header and payload).");
    for (const auto& [id, bytes] : f.sent_by_neighbour) {
      w.Sample("meshtrain_neighbour_sent_bytes_total", bytes, "neighbour", id);
    }
  }
  if (!f.recv_by_neighbour.empty()) {
    w.Family("meshtrain_neighbour_received_bytes_total", "counter",
             "Message bytes this peer received from each neighbour (header and payload); neighbour \"(other)\": "
             "from senders it holds no link to.");
    for (const auto& [id, bytes] : f.recv_by_neighbour) {
      w.Sample("meshtrain_neighbour_received_bytes_total", bytes, "neighbour", id);
    }
  }
  if (!f.rejected_by_kind.empty()) {
    w.Family("meshtrain_rejected_messages_total", "counter",
             "Received messages dropped, by why (docs/training.md, \"Metrics\").");
    for (const auto& [kind, count] : f.rejected_by_kind)
      w.Sample("meshtrain_rejected_messages_total", count, "kind", kind);
  }
  if (f.view_members >= 0) {
    w.One("meshtrain_view_members", "gauge", "Members of the view this peer trains in.", f.view_members);
  }
  if (f.view_id >= 0) w.One("meshtrain_view_id", "gauge", "Id of the last membership view this peer saw.", f.view_id);
  w.One("meshtrain_view_changes_total", "counter", "Membership view changes this peer saw.",
        static_cast<double>(f.view_changes));
  w.One("meshtrain_peer_deaths_total", "counter", "Peers this peer declared dead.", static_cast<double>(f.peers_dead));
  w.One("meshtrain_rounds_aborted_total", "counter", "Sync rounds abandoned because the view changed.",
        static_cast<double>(f.rounds_aborted));
  w.One("meshtrain_state_syncs_total", "counter", "Times this peer copied the cluster's state to catch up.",
        static_cast<double>(f.state_syncs));
  if (f.consensus >= 0) {
    w.One("meshtrain_gossip_consensus_distance", "gauge",
          "Gossip: last measured distance of this peer's parameters from its neighbours' (docs/gossip.md).",
          f.consensus);
  }
  if (!f.events.empty()) {
    w.Family("meshtrain_events_total", "counter", "Events in this peer's metrics, by name (docs/training.md).");
    for (const auto& [name, count] : f.events)
      w.Sample("meshtrain_events_total", static_cast<double>(count), "event", name);
  }
  if (f.last_line_t >= 0) {
    w.One("meshtrain_last_metrics_line_timestamp_seconds", "gauge", "Unix time of this peer's last metrics line.",
          f.last_line_t);
  }
  return w.str();
}

}  // namespace meshtrain
