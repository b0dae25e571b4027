#include "train/metrics_event_sink.h"

#include <type_traits>
#include <variant>

#include "meshtrain/metric_names.h"

namespace meshtrain {

void AddEventFields(const std::vector<EventField>& fields, JsonLine* line) {
  for (const EventField& field : fields) {
    std::visit([&](const auto& value) { line->Add(field.key.c_str(), value); }, field.value);
  }
}

void MetricsEventSink::Record(const SyncEvent& event) {
  JsonLine line;
  line.Add(metric::kTime, event.unix_t ? *event.unix_t : UnixSeconds())
      .Add(metric::kPeer, peer_)
      .Add(metric::kStep, step_);
  line.Add(metric::kEvent, event.name);
  AddEventFields(event.fields, &line);
  line.Add(metric::kDetail, event.detail);
  metrics_.Write(line);
}

void MetricsEventSink::Say(const std::string& text) { progress_.Message("peer " + peer_ + ": " + text); }

}  // namespace meshtrain
