#include "config/diagnostics.h"

#include <algorithm>
#include <tuple>

namespace meshtrain::config_internal {
namespace {

// A long list of errors usually means a wrong file; the first ones tell why.
constexpr size_t kMaxReported = 20;

// File positions first in line order, then --set arguments in order, then
// problems of the config as a whole.
std::tuple<int, int64_t, int64_t> SortKey(const Origin& o) {
  switch (o.kind) {
    case Origin::Kind::kFile: return {0, o.line, o.column};
    case Origin::Kind::kOverride: return {1, static_cast<int64_t>(o.override_index), 0};
    case Origin::Kind::kDefault: break;
  }
  return {2, 0, 0};
}

}  // namespace

bool Origin::LaterThan(const Origin& other) const {
  // A default was never given, so it comes before the file, which comes before --set.
  auto rank = [](const Origin& o) {
    const auto [group, a, b] = SortKey(o);
    return std::tuple(o.kind == Kind::kDefault ? -1 : group, a, b);
  };
  return rank(*this) > rank(other);
}

void Diagnostics::Add(const Origin& origin, std::string message) {
  errors_.push_back(Entry{origin, Where(origin) + ": " + std::move(message)});
}

std::string Diagnostics::Where(const Origin& origin) const {
  switch (origin.kind) {
    case Origin::Kind::kFile:
      return file_ + ":" + std::to_string(origin.line) + ":" + std::to_string(origin.column);
    case Origin::Kind::kOverride: return "--set " + origin.override_text;
    case Origin::Kind::kDefault: break;
  }
  return file_;
}

Status Diagnostics::ToStatus() const {
  if (errors_.empty()) return Status::OK();
  std::vector<Entry> sorted = errors_;
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const Entry& a, const Entry& b) { return SortKey(a.origin) < SortKey(b.origin); });
  std::string message;
  for (size_t i = 0; i < sorted.size() && i < kMaxReported; ++i) message += (i ? "\n" : "") + sorted[i].text;
  if (sorted.size() > kMaxReported) {
    message += "\n... and " + std::to_string(sorted.size() - kMaxReported) + " more errors";
  }
  return Status::InvalidArgument(message);
}

}  // namespace meshtrain::config_internal
