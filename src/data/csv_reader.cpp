#include "data/csv_reader.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <limits>
#include <memory>
#include <string_view>

#include "data/data_file_reader.h"

namespace meshtrain {
namespace {

constexpr size_t kMaxLineBytes = size_t{1} << 26;

// Hands out one line at a time (without its "\n" or "\r\n"), counting line numbers.
class CsvLines {
 public:
  explicit CsvLines(std::unique_ptr<DataFileReader> file) : file_(std::move(file)) {}

  // Sets *line to the next line; false at the end of the file (or on error, see status()).
  bool Next(std::string_view* line) {
    begin_ = next_begin_;
    size_t newline;
    for (;;) {
      newline = pending_.find('\n', std::max(begin_, scanned_));
      if (newline != std::string::npos || at_end_) break;
      pending_.erase(0, begin_);  // drop handed-out lines only when refilling
      begin_ = 0;
      scanned_ = pending_.size();
      if (pending_.size() > kMaxLineBytes) {
        status_ = Status::Corruption(file_->path() + ": line " + std::to_string(line_number_ + 1) + ": longer than " +
                                     std::to_string(kMaxLineBytes) + " bytes");
        return false;
      }
      char buf[1 << 16];
      auto got = file_->ReadUpTo(buf, sizeof(buf));
      if (!got.ok()) {
        status_ = got.status();
        return false;
      }
      if (*got == 0) at_end_ = true;
      pending_.append(buf, *got);
    }
    if (newline == std::string::npos && begin_ >= pending_.size()) return false;
    const size_t end = newline == std::string::npos ? pending_.size() : newline;
    next_begin_ = newline == std::string::npos ? end : end + 1;
    std::string_view text(pending_.data() + begin_, end - begin_);
    if (!text.empty() && text.back() == '\r') text.remove_suffix(1);
    if (line_number_ == 0 && text.starts_with("\xEF\xBB\xBF")) text.remove_prefix(3);  // UTF-8 BOM
    ++line_number_;
    *line = text;
    return true;
  }

  int64_t line_number() const { return line_number_; }
  const Status& status() const { return status_; }
  const std::string& path() const { return file_->path(); }

 private:
  std::unique_ptr<DataFileReader> file_;
  std::string pending_;
  size_t begin_ = 0;       // start of the line handed out last
  size_t next_begin_ = 0;  // start of the line after it
  size_t scanned_ = 0;     // bytes of pending_ already searched for '\n'
  bool at_end_ = false;
  int64_t line_number_ = 0;
  Status status_;
};

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

bool IsBlank(std::string_view line) { return Trim(line).empty() && line.find('"') == std::string_view::npos; }

void SplitCells(std::string_view line, std::vector<std::string_view>* cells) {
  cells->clear();
  size_t start = 0;
  for (;;) {
    const size_t comma = line.find(',', start);
    cells->push_back(
        Trim(line.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start)));
    if (comma == std::string_view::npos) return;
    start = comma + 1;
  }
}

bool ParseNumber(std::string_view cell, double* out) {
  if (!cell.empty() && cell.front() == '+') cell.remove_prefix(1);
  if (cell.empty()) return false;
  const auto [end, ec] = std::from_chars(cell.data(), cell.data() + cell.size(), *out);
  return ec == std::errc() && end == cell.data() + cell.size() && std::isfinite(*out);
}

Result<size_t> FindLabelColumn(const std::string& path, const std::vector<std::string>& columns,
                               const std::string& label_column) {
  for (size_t i = 0; i < columns.size(); ++i) {
    if (columns[i] == label_column) return i;
  }
  std::string listed;
  for (const auto& c : columns) listed += (listed.empty() ? "'" : ", '") + c + "'";
  size_t index = 0;
  const char* first = label_column.data();
  const char* last = first + label_column.size();
  const auto [end, ec] = std::from_chars(first, last, index);
  if (label_column.empty() || ec != std::errc() || end != last) {
    return Status::InvalidArgument(path + ": header: data.label_column '" + label_column +
                                   "' is neither a column name nor a 0-based column index (header: " + listed + ")");
  }
  if (index >= columns.size()) {
    return Status::InvalidArgument(path + ": header: data.label_column index " + label_column +
                                   " is past the last column (the header has " + std::to_string(columns.size()) + ": " +
                                   listed + ")");
  }
  return index;
}

}  // namespace

Result<CsvLayout> ScanCsv(const std::string& path, const std::string& label_column, int64_t limit,
                          const CsvRowVisitor& visit) {
  auto file = DataFileReader::Open(path);
  if (!file.ok()) return file.status();
  CsvLines lines(std::move(file.value()));
  std::string_view line;
  std::vector<std::string_view> cells;

  bool have_header = false;
  while (!have_header && lines.Next(&line)) have_header = !IsBlank(line);
  MESHTRAIN_RETURN_IF_ERROR(lines.status());
  if (!have_header) return Status::Corruption(path + ": no header row (the file holds only blank lines)");
  CsvLayout layout;
  SplitCells(line, &cells);
  for (auto cell : cells) layout.columns.emplace_back(cell);
  if (layout.columns.size() < 2) {
    return Status::Corruption(path + ": line " + std::to_string(lines.line_number()) + ": header has " +
                              std::to_string(layout.columns.size()) +
                              " column; need a label and at least one feature (is the separator a comma?)");
  }
  auto label = FindLabelColumn(path, layout.columns, label_column);
  if (!label.ok()) return label.status();
  layout.label_index = *label;
  for (size_t i = 0; i < layout.columns.size(); ++i) {
    if (i != layout.label_index) layout.feature_names.push_back(layout.columns[i]);
  }

  std::vector<float> features(layout.feature_names.size());
  while ((limit == 0 || layout.rows < limit) && lines.Next(&line)) {
    if (IsBlank(line)) continue;
    auto at = [&] { return path + ": line " + std::to_string(lines.line_number()); };
    SplitCells(line, &cells);
    if (cells.size() != layout.columns.size()) {
      return Status::Corruption(at() + ": " + std::to_string(cells.size()) + " fields, but the header has " +
                                std::to_string(layout.columns.size()));
    }
    int32_t row_label = 0;
    for (size_t i = 0, f = 0; i < cells.size(); ++i) {
      // Messages are built only on failure: this loop runs once per cell.
      auto field = [&] {
        return at() + ", field " + std::to_string(i + 1) + " ('" + layout.columns[i] + "'): '" + std::string(cells[i]) +
               "'";
      };
      double v = 0;
      if (!ParseNumber(cells[i], &v)) return Status::Corruption(field() + " is not a finite number");
      if (i != layout.label_index) {
        // Features are kept as float: a larger magnitude would become infinity.
        if (std::fabs(v) > std::numeric_limits<float>::max()) {
          return Status::Corruption(field() + " is too large for a float feature (|x| > 3.4e38)");
        }
        features[f++] = static_cast<float>(v);
        continue;
      }
      if (v < 0) return Status::Corruption(field() + ": a label must not be negative");
      if (v != std::floor(v)) return Status::Corruption(field() + ": a label must be an integer");
      if (v > kCsvMaxLabel) {
        return Status::Corruption(field() + ": a label must be at most " + std::to_string(kCsvMaxLabel));
      }
      row_label = static_cast<int32_t>(v);
    }
    visit(layout.rows, row_label, std::span<const float>(features));
    ++layout.rows;
  }
  MESHTRAIN_RETURN_IF_ERROR(lines.status());
  if (layout.rows == 0) return Status::Corruption(path + ": no data rows after the header");
  return layout;
}

}  // namespace meshtrain
