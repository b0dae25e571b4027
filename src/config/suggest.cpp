#include "config/suggest.h"

#include <algorithm>
#include <cctype>

#include "config/schema.h"
#include "config/text_format.h"

namespace meshtrain::config_internal {
namespace {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Sections holding a key spelled exactly `key` ("mode" -> sync, security).
std::vector<std::string> QualifiedHomes(std::string_view key) {
  std::vector<std::string> homes;
  for (std::string_view section : SectionNames()) {
    const auto keys = KeysOf(section);
    if (std::find(keys.begin(), keys.end(), key) != keys.end()) homes.push_back(std::string(section) + "." + std::string(key));
  }
  return homes;
}

std::string DidYouMean(const std::vector<std::string>& options) {
  std::string out = "did you mean ";
  for (size_t i = 0; i < options.size(); ++i) out += (i ? " or " : "") + Quote(options[i]);
  return out + "?";
}

}  // namespace

size_t EditDistance(std::string_view a_in, std::string_view b_in) {
  const std::string a = Lower(a_in), b = Lower(b_in);
  // d[i][j]: distance between a[0,i) and b[0,j); three rows suffice for swaps.
  std::vector<size_t> two_back(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], two_back[j - 2] + 1);
    }
    two_back.swap(prev);
    prev.swap(cur);
  }
  return prev[b.size()];
}

std::optional<std::string_view> ClosestMatch(std::string_view name, const std::vector<std::string_view>& candidates) {
  std::optional<std::string_view> best;
  size_t best_distance = 0;
  const std::string lower = Lower(name);
  for (std::string_view candidate : candidates) {
    const size_t d = EditDistance(name, candidate);
    const std::string lower_candidate = Lower(candidate);
    const bool contains = std::min(lower.size(), lower_candidate.size()) >= 3 &&
                          (lower_candidate.find(lower) != std::string::npos || lower.find(lower_candidate) != std::string::npos);
    const bool close = d <= std::max<size_t>(1, name.size() / 3);
    if ((close || contains) && (!best || d < best_distance)) {
      best = candidate;
      best_distance = d;
    }
  }
  return best;
}

std::string UnknownSectionMessage(std::string_view section) {
  std::string message = std::string(section) + ": unknown section; ";
  if (auto match = ClosestMatch(section, SectionNames())) return message + DidYouMean({std::string(*match)});
  return message + "sections are " + JoinQuoted(SectionNames());
}

std::string TopLevelKeyMessage(std::string_view key) {
  std::string message = std::string(key) + ": keys belong in a section such as [optim]";
  const auto homes = QualifiedHomes(key);
  if (!homes.empty()) return message + "; " + DidYouMean(homes);
  if (auto match = ClosestMatch(key, SectionNames())) return message + "; did you mean the section [" + std::string(*match) + "]?";
  return message;
}

namespace {

// Keys an older meshtrain accepted, and why they are gone: the user learns
// what to do instead of being offered the nearest spelling of something else.
struct RemovedKey {
  std::string_view name, why;
};
constexpr RemovedKey kRemovedKeys[] = {
    {"transport.heartbeat_ivl_ms",
     "removed: ZMTP heartbeats can abort libzmq 4.3.4 on a lossy link, so meshtrain no longer uses them "
     "(docs/transport.md, \"Options we avoid\"); membership.heartbeat_ms and membership.dead_ms detect dead peers. "
     "Delete the line"},
    {"transport.heartbeat_timeout_ms",
     "removed: ZMTP heartbeats can abort libzmq 4.3.4 on a lossy link, so meshtrain no longer uses them "
     "(docs/transport.md, \"Options we avoid\"); membership.dead_ms detects dead peers and "
     "transport.connect_timeout_ms bounds a connect. Delete the line"},
};

}  // namespace

std::string UnknownKeyMessage(std::string_view section, std::string_view key) {
  const std::string name = std::string(section) + "." + std::string(key);
  for (const RemovedKey& removed : kRemovedKeys) {
    if (removed.name == name) return name + ": " + std::string(removed.why);
  }
  const auto keys = KeysOf(section);
  if (auto match = ClosestMatch(key, keys)) return name + ": unknown key; " + DidYouMean({std::string(*match)});
  // The right key in the wrong section: "[train] lr" -> optim.lr.
  if (const auto homes = QualifiedHomes(key); !homes.empty()) {
    return name + ": unknown key in [" + std::string(section) + "]; " + DidYouMean(homes);
  }
  return name + ": unknown key; keys of [" + std::string(section) + "] are " + JoinQuoted(keys);
}

}  // namespace meshtrain::config_internal
