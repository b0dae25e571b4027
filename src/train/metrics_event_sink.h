// The trainer's EventSink (sync_events.h): the sync layer's events become
// metrics lines (docs/training.md, "Metrics"), its messages console lines.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "meshtrain/metrics.h"
#include "meshtrain/progress.h"
#include "meshtrain/sync_events.h"

namespace meshtrain {

// Appends `fields` to `line`, in order, each as its own JSON type.
void AddEventFields(const std::vector<EventField>& fields, JsonLine* line);

class MetricsEventSink final : public EventSink {
 public:
  // `step`: the trainer's step, read at every event.
  MetricsEventSink(MetricsWriter& metrics, ProgressReporter& progress, std::string peer, const int64_t& step)
      : metrics_(metrics), progress_(progress), peer_(std::move(peer)), step_(step) {}

  void Record(const SyncEvent& event) override;
  void Say(const std::string& text) override;

 private:
  MetricsWriter& metrics_;
  ProgressReporter& progress_;
  std::string peer_;
  const int64_t& step_;
};

}  // namespace meshtrain
