#include "refusal_log.h"

#include <cstdio>

namespace meshtrain::transport_internal {
namespace {

constexpr size_t kMaxSources = 256;

}  // namespace

RefusalLog::RefusalLog(std::string self_id) : self_id_(std::move(self_id)) {
  sink_ = [](std::string_view line) { std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data()); };
}

void RefusalLog::Refused(const std::string& source, const std::string& reason, const std::string& detail) {
  const auto now = std::chrono::steady_clock::now();
  std::string key = reason + "|" + source;
  // Made-up sources (random keys, many addresses) share one entry past the bound.
  if (entries_.size() >= kMaxSources && entries_.count(key) == 0) key = reason + "|<others>";
  auto [it, fresh] = entries_.emplace(key, Entry{});
  Entry& e = it->second;
  if (!fresh && now - e.last < kInterval) {
    ++e.suppressed;
    return;
  }
  std::string line = "meshtrain[" + self_id_ + "]: security: refused " + source + (detail.empty() ? "" : " ") +
                     detail + ": " + reason;
  if (e.suppressed > 0) line += " (" + std::to_string(e.suppressed) + " more since the last report)";
  e.last = now;
  e.suppressed = 0;
  if (sink_) sink_(line);
}

}  // namespace meshtrain::transport_internal
