// CSV loading: label column by name or index, the tolerated formatting, every
// kind of bad cell or file as a Status naming file, line and field, and scaling.
#include <doctest/doctest.h>

#include <cmath>

#include "data/csv_reader.h"
#include "meshtrain/data.h"
#include "test_data_fixtures.h"

using namespace meshtrain;
using namespace meshtrain::testing;

namespace {

void CheckError(const Status& st, Status::Code code, const std::vector<std::string>& pieces) {
  REQUIRE_FALSE(st.ok());
  CHECK_MESSAGE(st.code() == code, st.ToString());
  for (const auto& piece : pieces) {
    CHECK_MESSAGE(st.message().find(piece) != std::string::npos, st.message() << "\n  lacks: " << piece);
  }
}

DataConfig CsvConfig(const TempDir& dir, const std::string& train, const std::string& test) {
  DataConfig cfg;
  cfg.format = DataFormat::kCsv;
  cfg.train_csv = dir.Write("train.csv", train);
  cfg.test_csv = dir.Write("test.csv", test);
  cfg.scaling = ScalingMode::kNone;
  return cfg;
}

Status LoadStatus(const DataConfig& cfg) {
  auto data = LoadShardedData(cfg, 1, 0);
  return data.ok() ? Status::OK() : data.status();
}

const char* kTrain =
    "a,label,b\n"
    "1.5,0,10\n"
    "2.5,2,20\n"
    "-3,1,30\n"
    "4e1,2,40\n";
const char* kTest =
    "a,label,b\n"
    "0,1,5\n"
    "8,0,50\n";

}  // namespace

TEST_CASE("CSV label column by name and by index") {
  TempDir dir;
  DataConfig cfg = CsvConfig(dir, kTrain, kTest);
  for (const char* column : {"label", "1"}) {
    CAPTURE(column);
    cfg.label_column = column;
    auto data = LoadShardedData(cfg, 1, 0);
    REQUIRE_MESSAGE(data.ok(), data.status().ToString());
    const Dataset& train = data->train;
    CHECK(train.rows == 4);
    CHECK(train.dim == 2);
    CHECK(train.num_classes == 3);
    CHECK(train.bytes.empty());
    CHECK(train.values == std::vector<float>{1.5f, 10, 2.5f, 20, -3, 30, 40, 40});
    CHECK(train.labels == std::vector<int32_t>{0, 2, 1, 2});
    CHECK(data->test.rows == 2);
    CHECK(data->test.values == std::vector<float>{0, 5, 8, 50});
    CHECK(data->test.labels == std::vector<int32_t>{1, 0});
  }
  cfg.label_column.assign(1, '0');  // column 'a': 1.5 is no class. (assign: GCC 12 -Wrestrict false alarm)
  CheckError(LoadStatus(cfg), Status::Code::kCorruption, {"line 2, field 1 ('a')", "'1.5'", "integer"});
}

TEST_CASE("CSV tolerates CRLF, quotes, spaces, blank lines, a BOM, '+' and gzip") {
  TempDir dir;
  const std::string messy =
      "\xEF\xBB\xBF\"x\", \"y\" ,\"label\"\r\n"
      "\r\n"
      " 1 , +2.0 , 1 \r\n"
      "\"3\",4,\"0\"\r\n"
      "\n";
  DataConfig cfg = CsvConfig(dir, messy, "x,y,label\n5,6,1");  // last line without newline
  auto data = LoadShardedData(cfg, 1, 0);
  REQUIRE_MESSAGE(data.ok(), data.status().ToString());
  CHECK(data->train.values == std::vector<float>{1, 2, 3, 4});
  CHECK(data->train.labels == std::vector<int32_t>{1, 0});
  CHECK(data->test.values == std::vector<float>{5, 6});

  cfg.train_csv = dir.Write("train.csv.gz", Gzip(kTrain));
  cfg.test_csv = dir.Write("test.csv.gz", Gzip(kTest));
  data = LoadShardedData(cfg, 1, 0);
  REQUIRE_MESSAGE(data.ok(), data.status().ToString());
  CHECK(data->train.rows == 4);
}

TEST_CASE("CSV limits keep the first rows") {
  TempDir dir;
  DataConfig cfg = CsvConfig(dir, kTrain, kTest);
  cfg.train_limit = 2;
  cfg.test_limit = 1;
  auto data = LoadShardedData(cfg, 1, 0);
  REQUIRE(data.ok());
  CHECK(data->train.labels == std::vector<int32_t>{0, 2});
  CHECK(data->total_train_rows == 2);
  CHECK(data->test.rows == 1);
}

TEST_CASE("CSV errors name the file, line and field") {
  TempDir dir;
  DataConfig cfg = CsvConfig(dir, kTrain, kTest);
  const std::string train = cfg.train_csv;
  const std::string test = cfg.test_csv;

  SUBCASE("ragged row") {
    dir.Write("train.csv", "a,label,b\n1,0,2\n3,1\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {train, "line 3", "2 fields", "header has 3"});
  }
  SUBCASE("too many cells") {
    dir.Write("train.csv", "a,label,b\n1,0,2,9\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {train, "line 2", "4 fields"});
  }
  SUBCASE("non-numeric cell") {
    dir.Write("train.csv", "a,label,b\n1,0,2\n\n3,1,abc\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption,
               {train, "line 4, field 3 ('b')", "'abc'", "not a finite number"});
  }
  SUBCASE("number with junk after it") {
    dir.Write("train.csv", "a,label,b\n1,0,2x\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {train, "line 2, field 3", "'2x'"});
  }
  SUBCASE("empty cell") {
    dir.Write("train.csv", "a,label,b\n1,,2\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {train, "line 2, field 2 ('label')", "''"});
  }
  SUBCASE("nan and inf") {
    dir.Write("train.csv", "a,label,b\n1,0,nan\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {train, "line 2, field 3", "not a finite number"});
    dir.Write("train.csv", "a,label,b\n1,0,2\n-inf,0,2\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {train, "line 3, field 1"});
  }
  SUBCASE("a feature beyond the float range (found by fuzz_csv)") {
    dir.Write("train.csv", "a,label,b\n1,0,2\n3,1,4e69\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {train, "line 3, field 3 ('b')", "'4e69'", "too large"});
  }
  SUBCASE("negative label") {
    dir.Write("train.csv", "a,label,b\n1,-1,2\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {train, "line 2, field 2 ('label')", "'-1'", "negative"});
  }
  SUBCASE("huge label") {
    dir.Write("train.csv", "a,label,b\n1,1e9,2\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {train, "line 2, field 2", "at most 65535"});
  }
  SUBCASE("label column not found") {
    cfg.label_column = "class";
    CheckError(LoadStatus(cfg), Status::Code::kInvalidArgument,
               {train, "data.label_column 'class'", "'a', 'label', 'b'"});
  }
  SUBCASE("label column index past the end") {
    cfg.label_column = "3";
    CheckError(LoadStatus(cfg), Status::Code::kInvalidArgument, {train, "index 3", "has 3"});
  }
  SUBCASE("label column missing from the test file") {
    dir.Write("test.csv", "a,klass,b\n0,1,5\n");
    CheckError(LoadStatus(cfg), Status::Code::kInvalidArgument, {test, "data.label_column 'label'"});
  }
  SUBCASE("empty file") {
    dir.Write("train.csv", "");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {train, "empty file"});
  }
  SUBCASE("blank lines only") {
    dir.Write("train.csv", "\n  \n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {train, "no header row"});
  }
  SUBCASE("header only") {
    dir.Write("test.csv", "a,label,b\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {test, "no data rows"});
  }
  SUBCASE("one column") {
    dir.Write("train.csv", "a;label;b\n1;0;2\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {train, "line 1", "1 column", "separator"});
  }
  SUBCASE("missing file") {
    cfg.train_csv = dir.File("absent.csv");
    CheckError(LoadStatus(cfg), Status::Code::kIOError, {cfg.train_csv, "cannot open"});
  }
  SUBCASE("file not configured") {
    cfg.test_csv.clear();
    CheckError(LoadStatus(cfg), Status::Code::kInvalidArgument, {"data.test_csv"});
  }
  SUBCASE("test has a different number of features") {
    dir.Write("test.csv", "a,label,b,c\n0,1,5,6\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {test, train, "3 feature columns", "has 2"});
  }
  SUBCASE("test features named differently") {
    dir.Write("test.csv", "a,label,c\n0,1,5\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {test, "feature 2 is 'c'", "'b'"});
  }
  SUBCASE("test label outside the train classes") {
    dir.Write("test.csv", "a,label,b\n0,1,5\n0,3,5\n");
    CheckError(LoadStatus(cfg), Status::Code::kCorruption, {test, "data row 2", "label 3", "[0, 3)"});
  }
}

TEST_CASE("CSV scaling uses statistics of the whole train file, for every peer and the test set") {
  TempDir dir;
  DataConfig cfg = CsvConfig(dir, kTrain, kTest);
  cfg.shard = ShardMode::kStrided;

  cfg.scaling = ScalingMode::kUnit;  // min-max: a in [-3, 40], b in [10, 40]
  for (int peer = 0; peer < 2; ++peer) {
    auto data = LoadShardedData(cfg, 2, peer);
    REQUIRE(data.ok());
    CHECK(data->train.offset == std::vector<float>{-3, 10});
    CHECK(data->train.scale[0] == doctest::Approx(1.0 / 43));
    CHECK(data->train.scale[1] == doctest::Approx(1.0 / 30));
    CHECK(data->test.offset == data->train.offset);
    CHECK(data->test.scale == data->train.scale);
  }
  auto data = LoadShardedData(cfg, 1, 0);
  REQUIRE(data.ok());
  float row[2];
  data->train.FillRow(2, row);  // a = -3 is the min, b = 30
  CHECK(row[0] == doctest::Approx(0));
  CHECK(row[1] == doctest::Approx(20.0 / 30));
  data->test.FillRow(1, row);  // test values can fall outside [0, 1]: b = 50
  CHECK(row[1] == doctest::Approx(40.0 / 30));

  cfg.scaling = ScalingMode::kStandardize;
  data = LoadShardedData(cfg, 1, 0);
  REQUIRE(data.ok());
  const double mean_a = (1.5 + 2.5 - 3 + 40) / 4;
  double var_a = 0;
  for (double a : {1.5, 2.5, -3.0, 40.0}) var_a += (a - mean_a) * (a - mean_a) / 4;
  CHECK(data->train.offset[0] == doctest::Approx(mean_a));
  CHECK(data->train.scale[0] == doctest::Approx(1 / std::sqrt(var_a)));
  double sum = 0, sum_sq = 0;
  for (int64_t r = 0; r < 4; ++r) {
    data->train.FillRow(r, row);
    sum += row[1];
    sum_sq += row[1] * row[1];
  }
  CHECK(sum / 4 == doctest::Approx(0).epsilon(1e-6));
  CHECK(sum_sq / 4 == doctest::Approx(1).epsilon(1e-5));

  dir.Write("train.csv", "a,label,b\n7,0,1\n7,1,2\n");  // a constant feature: std 0 -> scale 1
  data = LoadShardedData(cfg, 1, 0);
  REQUIRE(data.ok());
  CHECK(data->train.scale[0] == 1.0f);
  cfg.scaling = ScalingMode::kUnit;
  data = LoadShardedData(cfg, 1, 0);
  REQUIRE(data.ok());
  data->train.FillRow(1, row);
  CHECK(row[0] == 0.0f);
  CHECK(row[1] == 1.0f);

  // Features near the float limits: max - min overflows a float, the scaled rows must not.
  dir.Write("train.csv", "a,label,b\n-3e38,0,1\n3e38,1,2\n");
  data = LoadShardedData(cfg, 1, 0);
  REQUIRE(data.ok());
  data->train.FillRow(1, row);
  CHECK(row[0] == doctest::Approx(1.0));
  data->train.FillRow(0, row);
  CHECK(row[0] == doctest::Approx(0.0));
}

TEST_CASE("ScanCsv reports the layout and visits every row") {
  TempDir dir;
  const std::string path = dir.Write("t.csv", kTrain);
  std::vector<int32_t> labels;
  auto layout = ScanCsv(path, "label", 0, [&](int64_t row, int32_t label, std::span<const float> features) {
    CHECK(row == static_cast<int64_t>(labels.size()));
    CHECK(features.size() == 2);
    labels.push_back(label);
  });
  REQUIRE(layout.ok());
  CHECK(layout->columns == std::vector<std::string>{"a", "label", "b"});
  CHECK(layout->label_index == 1);
  CHECK(layout->feature_names == std::vector<std::string>{"a", "b"});
  CHECK(layout->rows == 4);
  CHECK(labels == std::vector<int32_t>{0, 2, 1, 2});
}

TEST_CASE("CSV lines longer than the read buffer") {
  TempDir dir;
  std::string header = "label", row = "1", row2 = "0";
  for (int j = 0; j < 20000; ++j) {
    // append piecewise: GCC 12 warns (-Wrestrict, falsely) on "literal" + std::string&&
    const std::string n = std::to_string(j);
    header.append(",f").append(n);
    row.append(",").append(n);
    row2.append(",-").append(n);
  }
  DataConfig cfg = CsvConfig(dir, header + "\n" + row + "\n" + row2 + "\n", header + "\n" + row2 + "\n");
  auto data = LoadShardedData(cfg, 1, 0);
  REQUIRE_MESSAGE(data.ok(), data.status().ToString());
  CHECK(data->train.dim == 20000);
  CHECK(data->train.values[19999] == 19999.0f);
  CHECK(data->train.values[20000 + 19999] == -19999.0f);
  CHECK(data->train.labels == std::vector<int32_t>{1, 0});
}
