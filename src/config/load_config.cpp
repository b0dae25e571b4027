// LoadConfig: read the file, parse TOML, copy known keys, apply --set, check
// every key, then the keys against each other and the cluster; report all
// problems at once.
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <toml++/toml.h>

#include "config/cluster_checks.h"
#include "config/field_checks.h"
#include "config/load_state.h"
#include "config/overrides.h"
#include "config/relation_checks.h"
#include "config/toml_reader.h"
#include "meshtrain/config.h"

namespace meshtrain {
namespace {

using config_internal::LoadState;

Result<std::string> ReadWholeFile(const std::string& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return Status::IOError("config file " + path + " is a directory");
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::IOError("cannot open config file " + path + ": " + std::strerror(errno));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return Status::IOError("cannot read config file " + path + ": " + std::strerror(errno));
  return text.str();
}

Result<toml::table> ParseToml(const std::string& text, const std::string& path) {
  try {
    return toml::parse(std::string_view(text), std::string_view(path));
  } catch (const toml::parse_error& e) {
    const auto& at = e.source().begin;
    return Status::InvalidArgument(path + ":" + std::to_string(at.line) + ":" + std::to_string(at.column) +
                                   ": TOML syntax error: " + std::string(e.description()));
  } catch (const std::exception& e) {
    return Status::InvalidArgument(path + ": cannot parse: " + e.what());
  }
}

// "{id}" in a path becomes this peer's id, so one cluster file can give every
// peer its own metrics file, checkpoint dir and key files.
void ExpandId(const std::string& id, std::string* path) {
  constexpr std::string_view kPlaceholder = "{id}";
  for (size_t at = path->find(kPlaceholder); at != std::string::npos; at = path->find(kPlaceholder, at + id.size())) {
    path->replace(at, kPlaceholder.size(), id);
  }
}

}  // namespace

Result<Config> LoadConfig(const std::string& path, const std::string& id, const std::vector<std::string>& overrides) {
  auto text = ReadWholeFile(path);
  if (!text.ok()) return text.status();
  auto root = ParseToml(text.value(), path);
  if (!root.ok()) return root.status();

  LoadState state(path);
  config_internal::ReadToml(root.value(), &state);
  config_internal::ApplyOverrides(overrides, &state);
  const size_t errors_before_fields = state.diagnostics.size();
  config_internal::CheckFields(&state);
  // Relations are only meaningful between values that are valid on their own.
  if (state.diagnostics.size() == errors_before_fields) config_internal::CheckRelations(&state);
  config_internal::CheckClusterAndPickSelf(id, &state);
  if (!state.diagnostics.empty()) return state.diagnostics.ToStatus();

  Config& config = state.config;
  for (std::string* p : {&config.log.metrics, &config.checkpoint.dir, &config.security.secret_key_file,
                         &config.security.public_key_file}) {
    ExpandId(config.self_id, p);
  }
  return std::move(config);
}

}  // namespace meshtrain
