// Logging of dropped messages, at most one line per peer per minute so that a
// misbehaving peer cannot flood the log (DESIGN.md: "logged once per peer per
// minute"). The lines say how many drops were suppressed since the last one.
#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace meshtrain {

class DropLog {
 public:
  using Sink = std::function<void(std::string_view line)>;
  static constexpr std::chrono::seconds kInterval{60};

  explicit DropLog(std::string self_id);
  void set_sink(Sink sink) { sink_ = std::move(sink); }
  // Records that a message from `peer` was dropped because of `why`.
  void Dropped(const std::string& peer, const std::string& why);

 private:
  struct PerPeer {
    std::chrono::steady_clock::time_point last;
    uint64_t suppressed = 0;
    bool logged = false;
  };
  std::string self_id_;
  Sink sink_;
  std::map<std::string, PerPeer> peers_;
};

// `id` made printable: a routing id is arbitrary bytes from the network.
std::string PrintableId(std::string_view id);

}  // namespace meshtrain
