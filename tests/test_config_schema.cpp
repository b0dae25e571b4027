// The schema stays in step with config.h (every field of a section struct is a
// key, and back), docs/config.md documents every key, and its example loads.
#include <doctest/doctest.h>

#include <map>
#include <set>
#include <sstream>

#include "config/schema.h"
#include "meshtrain/config.h"
#include "support/temp_dir.h"

using meshtrain::testing::ReadFile;
using meshtrain::testing::TempDir;

namespace {

std::string Docs() { return ReadFile(std::string(MESHTRAIN_SOURCE_DIR) + "/docs/config.md"); }

std::string Trim(const std::string& s) {
  const auto first = s.find_first_not_of(" \t");
  return first == std::string::npos ? "" : s.substr(first, s.find_last_not_of(" \t") - first + 1);
}

// The data members of each struct in config.h: struct name -> (member name -> type).
std::map<std::string, std::map<std::string, std::string>> HeaderMembers() {
  std::istringstream in(ReadFile(std::string(MESHTRAIN_SOURCE_DIR) + "/include/meshtrain/config.h"));
  std::map<std::string, std::map<std::string, std::string>> structs;
  std::string current, line;
  while (std::getline(in, line)) {
    line = Trim(line.substr(0, line.find("//")));
    if (line.rfind("struct ", 0) == 0 && line.back() == '{') {
      current = Trim(line.substr(7, line.size() - 8));
    } else if (line == "};") {
      current.clear();
    } else if (!current.empty() && !line.empty() && line.back() == ';' && line.find('(') == std::string::npos) {
      const std::string declaration = Trim(line.substr(0, std::min(line.find('='), line.size() - 1)));
      const size_t space = declaration.find_last_of(' ');
      structs[current][declaration.substr(space + 1)] = Trim(declaration.substr(0, space));
    }
  }
  return structs;
}

}  // namespace

TEST_CASE("the schema has exactly the fields of config.h's section structs") {
  auto structs = HeaderMembers();
  REQUIRE(structs.count("Config") == 1);
  int sections = 0;
  for (const auto& [member, type] : structs["Config"]) {
    if (type.size() <= 6 || type.substr(type.size() - 6) != "Config") continue;  // self_id, source_path, ...
    ++sections;
    CAPTURE(member);
    CHECK(meshtrain::config_internal::IsSection(member));
    std::set<std::string> in_header, in_schema;
    for (const auto& [field, field_type] : structs[type]) in_header.insert(field);
    for (std::string_view key : meshtrain::config_internal::KeysOf(member)) in_schema.insert(std::string(key));
    CHECK(in_header == in_schema);
  }
  CHECK(sections == 12);  // every section but [peer], which is Config::self_id
}

TEST_CASE("every key of the schema has a row in docs/config.md") {
  const std::string docs = Docs();
  REQUIRE_FALSE(docs.empty());
  for (const auto& field : meshtrain::config_internal::AllFields()) {
    CAPTURE(field.name());
    CHECK(docs.find("| `" + field.name() + "` |") != std::string::npos);
  }
  for (std::string_view section : meshtrain::config_internal::SectionNames()) {
    CAPTURE(section);
    CHECK(docs.find("### `[" + std::string(section) + "]") != std::string::npos);
  }
}

TEST_CASE("the example cluster file in docs/config.md loads") {
  const std::string docs = Docs();
  const std::string fence = "```toml\n";
  const size_t begin = docs.find(fence);
  REQUIRE(begin != std::string::npos);
  const size_t end = docs.find("```", begin + fence.size());
  REQUIRE(end != std::string::npos);
  TempDir dir;
  const std::string path = dir.Write("example.toml", docs.substr(begin + fence.size(), end - begin - fence.size()));
  auto cfg = meshtrain::LoadConfig(path, "p2", {});
  REQUIRE_MESSAGE(cfg.ok(), cfg.status().ToString());
  CHECK(cfg->cluster.peers.size() == 4);
  CHECK(cfg->CheckpointDir() == "runs/p2/ckpt");
  CHECK(meshtrain::LoadConfig(path, "", {"cluster.size=1"}).ok());
}
