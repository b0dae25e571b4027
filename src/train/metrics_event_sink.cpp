#include "train/metrics_event_sink.h"

#include <type_traits>
#include <variant>

namespace meshtrain {

void AddEventFields(const std::vector<EventField>& fields, JsonLine* line) {
  for (const EventField& field : fields) {
    std::visit([&](const auto& value) { line->Add(field.key.c_str(), value); }, field.value);
  }
}

void MetricsEventSink::Record(const SyncEvent& event) {
  JsonLine line;
  line.Add("t", event.unix_t ? *event.unix_t : UnixSeconds()).Add("peer", peer_).Add("step", step_);
  line.Add("event", event.name);
  AddEventFields(event.fields, &line);
  line.Add("detail", event.detail);
  metrics_.Write(line);
}

void MetricsEventSink::Say(const std::string& text) { progress_.Message("peer " + peer_ + ": " + text); }

}  // namespace meshtrain
