// One stderr line per refused connection or message in CURVE mode, rate-limited
// so that an attacker hammering a port cannot flood the log: each (reason,
// source) is reported at most once a minute, with the number suppressed since,
// and the table of sources is bounded. Comm thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace meshtrain::transport_internal {

class RefusalLog {
 public:
  using Sink = std::function<void(std::string_view line)>;
  static constexpr std::chrono::seconds kInterval{60};

  explicit RefusalLog(std::string self_id);
  void set_sink(Sink sink) { sink_ = std::move(sink); }
  // `source` says who (an address), `reason` why; both pick the rate limit.
  // `detail` (a key prefix, a claimed id) is printed but does not, so fresh
  // keys or made-up ids from one address still share one line a minute.
  void Refused(const std::string& source, const std::string& reason, const std::string& detail = "");

 private:
  struct Entry {
    std::chrono::steady_clock::time_point last;
    uint64_t suppressed = 0;
  };
  std::string self_id_;
  Sink sink_;
  std::map<std::string, Entry> entries_;
};

}  // namespace meshtrain::transport_internal
