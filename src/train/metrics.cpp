#include "meshtrain/metrics.h"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>

namespace meshtrain {

std::string JsonEscape(const std::string& s) {
  std::string out;
  out.reserve(s.size() + 2);
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\t': out += "\\t"; break;
      case '\r': out += "\\r"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof(buf), "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out;
}

void JsonLine::Key(const char* key) {
  if (body_.size() > 1) body_ += ',';
  body_ += '"';
  body_ += key;
  body_ += "\":";
}

JsonLine& JsonLine::Add(const char* key, const std::string& value) {
  Key(key);
  body_ += '"' + JsonEscape(value) + '"';
  return *this;
}

JsonLine& JsonLine::Add(const char* key, double value) {
  Key(key);
  if (!std::isfinite(value)) {
    body_ += "null";  // JSON has no NaN/Inf
  } else {
    // Shortest text that reads back as the same double: unix times keep their
    // milliseconds, and 0.1 stays "0.1".
    char buf[32];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
    body_.append(buf, ec == std::errc() ? end : buf);
  }
  return *this;
}

JsonLine& JsonLine::Add(const char* key, int64_t value) {
  Key(key);
  body_ += std::to_string(value);
  return *this;
}

JsonLine& JsonLine::Add(const char* key, bool value) {
  Key(key);
  body_ += value ? "true" : "false";
  return *this;
}

JsonLine& JsonLine::Add(const char* key, const std::vector<std::string>& values) {
  Key(key);
  body_ += '[';
  for (size_t i = 0; i < values.size(); ++i) {
    if (i) body_ += ',';
    body_ += '"' + JsonEscape(values[i]) + '"';
  }
  body_ += ']';
  return *this;
}

JsonLine& JsonLine::AddRaw(const char* key, const std::string& json) {
  Key(key);
  body_ += json;
  return *this;
}

MetricsWriter::~MetricsWriter() {
  if (file_) std::fclose(file_);
}

Status MetricsWriter::Open(const std::string& path, bool continue_run) {
  std::error_code ec;
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent, ec);
  if (ec) return Status::IOError("cannot create directory " + parent.string() + " for metrics: " + ec.message());
  run_id_ = continue_run ? LastRunId(path) : std::string();
  if (run_id_.empty()) run_id_ = NewRunId();
  run_field_ = "\"run\":\"" + JsonEscape(run_id_) + "\"";
  file_ = std::fopen(path.c_str(), "a");
  if (!file_) return Status::IOError("cannot open metrics file " + path + ": " + std::strerror(errno));
  return Status::OK();
}

void MetricsWriter::Write(const JsonLine& line) {
  if (!file_) return;
  std::string s = line.str();
  s.insert(1, s.size() > 2 ? run_field_ + "," : run_field_);
  s += '\n';
  std::fwrite(s.data(), 1, s.size(), file_);
  std::fflush(file_);
  if (observer_) {
    s.pop_back();
    observer_(s);
  }
}

std::string NewRunId() {
  const std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  char buf[64];
  std::strftime(buf, sizeof(buf), "%Y%m%dT%H%M%SZ", &utc);
  return std::string(buf) + "-" + std::to_string(::getpid());
}

std::string LastRunId(const std::string& path) {
  // Lines are short and every one carries the run, so the file's tail is enough.
  constexpr std::streamoff kTail = 1 << 20;
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) return "";
  const std::streamoff size = in.tellg();
  const std::streamoff from = std::max<std::streamoff>(0, size - kTail);
  in.seekg(from);
  std::string tail(static_cast<size_t>(size - from), '\0');
  in.read(tail.data(), static_cast<std::streamsize>(tail.size()));
  const std::string key = "\"run\":\"";
  const size_t at = tail.rfind(key);
  if (at == std::string::npos) return "";
  const size_t begin = at + key.size();
  const size_t end = tail.find('"', begin);
  return end == std::string::npos ? "" : tail.substr(begin, end - begin);
}

double UnixSeconds() {
  using namespace std::chrono;
  return duration<double>(system_clock::now().time_since_epoch()).count();
}

}  // namespace meshtrain
