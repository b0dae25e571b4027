#include "sync/drop_log.h"

#include <cstdio>

namespace meshtrain {

DropLog::DropLog(std::string self_id) : self_id_(std::move(self_id)) {
  sink_ = [](std::string_view line) { std::fprintf(stderr, "%.*s\n", static_cast<int>(line.size()), line.data()); };
}

void DropLog::Dropped(const std::string& peer, const std::string& why) {
  const auto now = std::chrono::steady_clock::now();
  // Bound the table too: a flood of made-up routing ids shares one entry.
  const std::string key = peers_.size() < 1024 || peers_.count(peer) ? peer : std::string("<others>");
  PerPeer& p = peers_[key];
  if (p.logged && now - p.last < kInterval) {
    ++p.suppressed;
    return;
  }
  std::string line = "meshtrain[" + self_id_ + "]: dropped a message from " + PrintableId(key) + ": " + why;
  if (p.suppressed > 0) line += " (" + std::to_string(p.suppressed) + " more dropped since the last report)";
  line += "; further drops from this peer are reported at most once a minute";
  p.logged = true;
  p.last = now;
  p.suppressed = 0;
  if (sink_) sink_(line);
}

std::string PrintableId(std::string_view id) {
  std::string out;
  for (unsigned char c : id) {
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", c);
      out += hex;
    }
  }
  return out.empty() ? std::string("<empty id>") : out;
}

}  // namespace meshtrain
