// Metrics as JSON lines (docs/training.md, "Metrics"): one object per line, flushed
// as written so that a peer killed mid-run leaves every line before the kill.
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "meshtrain/status.h"

namespace meshtrain {

// Builds one JSON object; fields appear in the order they are added.
class JsonLine {
 public:
  JsonLine& Add(const char* key, const std::string& value);
  JsonLine& Add(const char* key, const char* value) { return Add(key, std::string(value)); }
  JsonLine& Add(const char* key, double value);
  JsonLine& Add(const char* key, int64_t value);
  JsonLine& Add(const char* key, uint64_t value) { return Add(key, static_cast<int64_t>(value)); }
  JsonLine& Add(const char* key, int value) { return Add(key, static_cast<int64_t>(value)); }
  JsonLine& Add(const char* key, bool value);
  JsonLine& Add(const char* key, const std::vector<std::string>& values);
  // `json` must already be valid JSON (a nested object built with another JsonLine, say).
  JsonLine& AddRaw(const char* key, const std::string& json);
  std::string str() const { return body_ + "}"; }

 private:
  void Key(const char* key);
  std::string body_ = "{";
};

std::string JsonEscape(const std::string& s);

// Sees every metrics line as written (with its "run", without the newline):
// the live figures of `log.prometheus` are fed from here (docs/observability.md).
using MetricsObserver = std::function<void(const std::string& line)>;

class MetricsWriter {
 public:
  MetricsWriter() = default;
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  // Opens `path` for appending, creating parent directories. Runs in one file
  // are told apart by the "run" field every line starts with (docs/training.md,
  // "Metrics"): a new id, or with `continue_run` the last one in the file (a
  // resumed run continues the run it resumes).
  Status Open(const std::string& path, bool continue_run = false);
  void Write(const JsonLine& line);
  void SetObserver(MetricsObserver observer) { observer_ = std::move(observer); }
  const std::string& run_id() const { return run_id_; }

 private:
  std::FILE* file_ = nullptr;
  std::string run_id_;
  std::string run_field_;  // "run":"<run_id_>", built once: every line starts with it
  MetricsObserver observer_;
};

// A new run id: UTC start time and process id, "20261203T081523Z-4242".
std::string NewRunId();
// The "run" of the last line of the metrics file at `path` that has one; empty if none.
std::string LastRunId(const std::string& path);

double UnixSeconds();

}  // namespace meshtrain
