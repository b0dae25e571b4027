#include "cli/json_fields.h"

#include <cstdlib>

namespace meshtrain {
namespace {

void SkipSpace(const std::string& s, size_t* i) {
  while (*i < s.size() && (s[*i] == ' ' || s[*i] == '\t' || s[*i] == '\r' || s[*i] == '\n')) ++*i;
}

// Reads a JSON string starting at the opening quote; returns its unescaped text.
std::optional<std::string> ReadString(const std::string& s, size_t* i) {
  if (*i >= s.size() || s[*i] != '"') return std::nullopt;
  std::string out;
  for (++*i; *i < s.size(); ++*i) {
    char c = s[*i];
    if (c == '"') {
      ++*i;
      return out;
    }
    if (c == '\\' && *i + 1 < s.size()) {
      char e = s[++*i];
      switch (e) {
        case 'n': out += '\n'; break;
        case 't': out += '\t'; break;
        case 'r': out += '\r'; break;
        case 'u': *i += 4; out += '?'; break;  // metrics only escape control characters
        default: out += e;
      }
    } else {
      out += c;
    }
  }
  return std::nullopt;
}

// Reads any other value (number, literal, nested object/array) as raw text.
std::optional<std::string> ReadRaw(const std::string& s, size_t* i) {
  size_t start = *i;
  int depth = 0;
  bool in_string = false;
  for (; *i < s.size(); ++*i) {
    char c = s[*i];
    if (in_string) {
      if (c == '\\') ++*i;
      else if (c == '"') in_string = false;
      continue;
    }
    if (c == '"') in_string = true;
    else if (c == '{' || c == '[') ++depth;
    else if (c == '}' || c == ']') {
      if (depth == 0) break;
      --depth;
    } else if (c == ',' && depth == 0) {
      break;
    }
  }
  if (depth != 0 || in_string) return std::nullopt;
  size_t end = *i;
  while (end > start && (s[end - 1] == ' ' || s[end - 1] == '\t')) --end;
  return s.substr(start, end - start);
}

}  // namespace

std::optional<JsonFields> ParseJsonFields(const std::string& line) {
  JsonFields fields;
  size_t i = 0;
  SkipSpace(line, &i);
  if (i >= line.size() || line[i] != '{') return std::nullopt;
  ++i;
  SkipSpace(line, &i);
  if (i < line.size() && line[i] == '}') return fields;
  while (i < line.size()) {
    SkipSpace(line, &i);
    auto key = ReadString(line, &i);
    if (!key) return std::nullopt;
    SkipSpace(line, &i);
    if (i >= line.size() || line[i] != ':') return std::nullopt;
    ++i;
    SkipSpace(line, &i);
    auto value = (i < line.size() && line[i] == '"') ? ReadString(line, &i) : ReadRaw(line, &i);
    if (!value) return std::nullopt;
    fields[*key] = *value;
    SkipSpace(line, &i);
    if (i < line.size() && line[i] == ',') {
      ++i;
      continue;
    }
    if (i < line.size() && line[i] == '}') return fields;
    return std::nullopt;
  }
  return std::nullopt;
}

double NumberField(const JsonFields& fields, const std::string& key, double fallback) {
  auto it = fields.find(key);
  if (it == fields.end() || it->second.empty()) return fallback;
  char* end = nullptr;
  double v = std::strtod(it->second.c_str(), &end);
  return (end && *end == '\0') ? v : fallback;
}

}  // namespace meshtrain
