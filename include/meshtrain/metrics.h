// Metrics as JSON lines (the contract of DESIGN.md): one object per line, flushed
// as written so that a peer killed mid-run leaves every line before the kill.
#pragma once

#include <cstdint>
#include <cstdio>
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

class MetricsWriter {
 public:
  MetricsWriter() = default;
  ~MetricsWriter();
  MetricsWriter(const MetricsWriter&) = delete;
  MetricsWriter& operator=(const MetricsWriter&) = delete;

  // Opens `path` for appending (a resumed run continues the same file), creating parent directories.
  Status Open(const std::string& path);
  void Write(const JsonLine& line);

 private:
  std::FILE* file_ = nullptr;
};

double UnixSeconds();

}  // namespace meshtrain
