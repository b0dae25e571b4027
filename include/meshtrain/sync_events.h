// What the sync layer reports while it keeps this replica in step with the
// cluster (docs/faults.md): metrics events with typed fields, and lines for
// the console. The trainer writes them (metrics.jsonl, the progress output),
// so the sync layer never holds the metrics writer; the names, fields and
// texts are the ones docs/training.md ("Metrics") lists.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <variant>
#include <vector>

namespace meshtrain {

// One field of an event beyond "t", "peer", "step", "event" and "detail".
struct EventField {
  using Value = std::variant<int64_t, double, bool, std::string, std::vector<std::string>>;
  std::string key;
  Value value;
};

struct SyncEvent {
  std::string name;  // "state_sync", "reshard", ... (docs/training.md, "Metrics")
  std::vector<EventField> fields;  // written in this order, after "event" and before "detail"
  std::string detail;
  std::optional<double> unix_t;  // when it happened, if not now (membership's own events)
};

class EventSink {
 public:
  virtual ~EventSink() = default;
  // One metrics line: {"t","peer","step","event",fields...,"detail"}; "step"
  // is the trainer's step at the time of the call.
  virtual void Record(const SyncEvent& event) = 0;
  // One console line, "peer <id>: <text>".
  virtual void Say(const std::string& text) = 0;
  // The usual pair: the event, and "peer <id>: <name>: <detail>" on the console.
  void Announce(const std::string& name, const std::string& detail) {
    Record({name, {}, detail, std::nullopt});
    Say(name + ": " + detail);
  }
};

}  // namespace meshtrain
