// The config being built by LoadConfig, with where each value came from so a
// later check can point at the line or --set argument that set it.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "config/diagnostics.h"
#include "meshtrain/config.h"

namespace meshtrain::config_internal {

// Where one [[cluster.peers]] entry and its keys were written.
struct PeerOrigin {
  Origin entry;
  Origin id;
  Origin endpoint;
  Origin neighbors;       // where its neighbors list was written (if at all)
  bool complete = false;  // has both an id and an endpoint of the right type
};

struct LoadState {
  explicit LoadState(const std::string& path) : diagnostics(path) { config.source_path = path; }

  // Where "section.key" was last set; the file as a whole when it was never set.
  Origin OriginOf(const std::string& name) const {
    auto it = origins.find(name);
    return it == origins.end() ? Origin{} : it->second;
  }

  Config config;
  std::map<std::string, Origin> origins;
  std::vector<PeerOrigin> peer_origins;  // parallel to config.cluster.peers as listed in the file
  // Enum keys whose last value is not one of theirs, by "section.key": the
  // text waits here for CheckFields, since a later --set may still fix it.
  std::map<std::string, std::string> unknown_texts;
  Diagnostics diagnostics;
};

}  // namespace meshtrain::config_internal
