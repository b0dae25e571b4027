// CSV data files (plain or gzip): a header row naming the columns, then one
// sample per line of comma-separated numbers. One column holds the class label
// (a non-negative integer), picked by name or 0-based index; all others are
// features. Blank lines are skipped; cells may be wrapped in double quotes but
// may not contain commas. Messages give the 1-based line and field.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "meshtrain/status.h"

namespace meshtrain {

// More classes than this is surely a typo in a label cell.
inline constexpr int32_t kCsvMaxLabel = 65535;

struct CsvLayout {
  std::vector<std::string> columns;        // header names, in file order
  size_t label_index = 0;                  // which of them is the label
  std::vector<std::string> feature_names;  // the others, in file order
  int64_t rows = 0;                        // data rows visited
};

using CsvRowVisitor = std::function<void(int64_t row, int32_t label, std::span<const float> features)>;

// Parses `path`, checking every cell of the first `limit` data rows (0 = all),
// and calls visit(row, label, features) for each. Errors name the file, line and field.
Result<CsvLayout> ScanCsv(const std::string& path, const std::string& label_column, int64_t limit,
                          const CsvRowVisitor& visit);

}  // namespace meshtrain
