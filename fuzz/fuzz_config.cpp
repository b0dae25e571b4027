// LoadConfig on arbitrary bytes: a config file a user wrote (or mangled) must
// come back as a Config or as an InvalidArgument Status with a message, never
// as a crash, a hang or an exception.
//
// Input: the TOML file, optionally followed by a NUL byte and '\n'-separated
// `--set` overrides; an override line "--id=X" picks the peer id instead.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_support.h"
#include "meshtrain/config.h"

using meshtrain::Config;
using meshtrain::Status;

namespace {

struct Request {
  std::string_view toml;
  std::string id;
  std::vector<std::string> overrides;
};

Request Split(std::string_view input) {
  Request r;
  const size_t nul = input.find('\0');
  r.toml = input.substr(0, nul);
  if (nul == std::string_view::npos) return r;
  std::string_view rest = input.substr(nul + 1);
  while (!rest.empty()) {
    const size_t newline = rest.find('\n');
    std::string_view line = rest.substr(0, newline);
    if (line.starts_with("--id=")) {
      r.id = std::string(line.substr(5));
    } else {
      r.overrides.emplace_back(line);
    }
    if (newline == std::string_view::npos) break;
    rest.remove_prefix(newline + 1);
  }
  return r;
}

void CheckCoherent(const Config& c) {
  MESHTRAIN_FUZZ_CHECK(!c.cluster.peers.empty());
  MESHTRAIN_FUZZ_CHECK(c.self_index < c.cluster.peers.size());
  MESHTRAIN_FUZZ_CHECK(c.cluster.peers[c.self_index].id == c.self_id);
  MESHTRAIN_FUZZ_CHECK(c.cluster.size >= 0);
  MESHTRAIN_FUZZ_CHECK(!c.MetricsPath().empty());
  MESHTRAIN_FUZZ_CHECK(!c.CheckpointDir().empty());
  (void)c.Hash();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  if (size > (1 << 16)) return 0;  // a config is small; longer inputs only slow the search
  const Request request = Split(input);
  const std::string path = meshtrain::fuzz::ScratchDir::Get().Write("cfg.toml", request.toml);
  auto config = meshtrain::LoadConfig(path, request.id, request.overrides);
  meshtrain::fuzz::Note(config.ok() ? "config ok: self " + config->self_id : config.status().ToString());
  if (config.ok()) {
    CheckCoherent(config.value());
  } else {
    MESHTRAIN_FUZZ_CHECK(config.status().code() == Status::Code::kInvalidArgument);
    MESHTRAIN_FUZZ_CHECK(!config.status().message().empty());
  }
  return 0;
}
