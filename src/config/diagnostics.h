// Where a config value came from, and the list of everything wrong with a
// config. LoadConfig reports every problem it finds at once, one per line,
// in file order, so a user fixes a file in one pass instead of one per run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "meshtrain/status.h"

namespace meshtrain::config_internal {

struct Origin {
  enum class Kind { kDefault, kFile, kOverride };
  Kind kind = Kind::kDefault;
  int64_t line = 0, column = 0;  // kFile: 1-based
  size_t override_index = 0;     // kOverride: position among the --set arguments
  std::string override_text;     // kOverride: "optim.lr=abc"

  static Origin File(int64_t line, int64_t column) { return {Kind::kFile, line, column, 0, {}}; }
  static Origin Override(size_t index, std::string text) { return {Kind::kOverride, 0, 0, index, std::move(text)}; }

  // Whether this origin was given after `other` (overrides after the file, later lines after earlier ones).
  bool LaterThan(const Origin& other) const;
};

class Diagnostics {
 public:
  explicit Diagnostics(std::string file) : file_(std::move(file)) {}

  // Records "WHERE: message", WHERE being "FILE:LINE:COL", "--set TEXT" or "FILE".
  void Add(const Origin& origin, std::string message);
  bool empty() const { return errors_.empty(); }
  size_t size() const { return errors_.size(); }

  // InvalidArgument with one line per problem (file order, then --set order);
  // OK when there is none.
  Status ToStatus() const;

  // "FILE:LINE:COL", "--set TEXT" or "FILE".
  std::string Where(const Origin& origin) const;

 private:
  struct Entry {
    Origin origin;
    std::string text;
  };
  std::string file_;
  std::vector<Entry> errors_;
};

}  // namespace meshtrain::config_internal
