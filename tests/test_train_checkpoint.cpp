#include <doctest/doctest.h>

#include <zlib.h>

#include <filesystem>
#include <fstream>

#include "meshtrain/checkpoint.h"
#include "support/temp_dir.h"

using namespace meshtrain;
using meshtrain::testing::ReadFile;
using meshtrain::testing::TempDir;

namespace {

Checkpoint Sample(int64_t step) {
  Checkpoint c;
  c.header.step = step;
  c.header.epoch = step / 10;
  c.header.config_hash = 0x1234abcdULL;
  c.header.seed = 42;
  c.header.peer_id = "p0";
  c.header.model = "mlp 4-3-2 relu";
  for (int i = 0; i < 23; ++i) c.params.push_back(0.5f * static_cast<float>(i) - 3.0f);
  for (int i = 0; i < 23; ++i) c.optimizer_state.push_back(static_cast<float>(i * i));
  c.header.n_params = c.params.size();
  c.header.n_optimizer_state = c.optimizer_state.size();
  return c;
}

}  // namespace

TEST_CASE("a checkpoint reads back exactly what was written") {
  TempDir dir;
  Checkpoint c = Sample(120);
  REQUIRE(WriteCheckpoint(dir.File("a.bin"), c).ok());
  auto back = ReadCheckpoint(dir.File("a.bin"));
  REQUIRE_MESSAGE(back.ok(), back.status().message());
  CHECK(back->header.step == 120);
  CHECK(back->header.epoch == 12);
  CHECK(back->header.config_hash == 0x1234abcdULL);
  CHECK(back->header.peer_id == "p0");
  CHECK(back->header.model == "mlp 4-3-2 relu");
  CHECK(back->params == c.params);
  CHECK(back->optimizer_state == c.optimizer_state);
  CHECK_FALSE(std::filesystem::exists(dir.File("a.bin.tmp")));
}

TEST_CASE("format 2 records the layer list; format 1 files still read, without one") {
  TempDir dir;
  Checkpoint c = Sample(7);
  c.header.layers = {"input 4", "dense units=3 -> 3, 15 params", "relu -> 3", "dense units=2 -> 2, 8 params"};
  REQUIRE(WriteCheckpoint(dir.File("v2.bin"), c).ok());
  auto v2 = ReadCheckpoint(dir.File("v2.bin"));
  REQUIRE_MESSAGE(v2.ok(), v2.status().message());
  CHECK(v2->header.format_version == 2);
  CHECK(v2->header.layers == c.header.layers);

  // A version 1 file is a version 2 file without the layer count (0 here) after
  // the model description: magic 8, version 4, step/epoch/hash/seed 32, then
  // the length-prefixed peer id and model.
  c.header.layers.clear();
  REQUIRE(WriteCheckpoint(dir.File("v2empty.bin"), c).ok());
  std::string bytes = ReadFile(dir.File("v2empty.bin"));
  const size_t count_at = 8 + 4 + 32 + (4 + c.header.peer_id.size()) + (4 + c.header.model.size());
  REQUIRE(bytes.substr(count_at, 4) == std::string(4, '\0'));
  bytes.erase(count_at, 4);
  bytes[8] = 1;
  bytes.resize(bytes.size() - 4);
  const uint32_t crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
  for (int i = 0; i < 4; ++i) bytes.push_back(static_cast<char>((crc >> (8 * i)) & 0xFF));
  std::ofstream(dir.File("v1.bin"), std::ios::binary) << bytes;
  auto v1 = ReadCheckpoint(dir.File("v1.bin"));
  REQUIRE_MESSAGE(v1.ok(), v1.status().message());
  CHECK(v1->header.format_version == 1);
  CHECK(v1->header.layers.empty());
  CHECK(v1->header.model == "mlp 4-3-2 relu");
  CHECK(v1->header.step == 7);
  CHECK(v1->params == c.params);
  CHECK(v1->optimizer_state == c.optimizer_state);

  bytes[8] = 3;  // a version from the future is refused, naming what this build reads
  std::ofstream(dir.File("v3.bin"), std::ios::binary) << bytes;
  auto v3 = ReadCheckpoint(dir.File("v3.bin"));
  REQUIRE_FALSE(v3.ok());
  CHECK(v3.status().message().find("unsupported format version 3 (this build reads 1 to 2)") != std::string::npos);
}

TEST_CASE("every single flipped byte or truncation is detected") {
  TempDir dir;
  REQUIRE(WriteCheckpoint(dir.File("a.bin"), Sample(5)).ok());
  const std::string good = ReadFile(dir.File("a.bin"));
  for (size_t i = 0; i < good.size(); i += 7) {
    std::string bad = good;
    bad[i] = static_cast<char>(bad[i] ^ 0x5a);
    dir.Write("bad.bin", bad);
    auto r = ReadCheckpoint(dir.File("bad.bin"));
    CHECK_MESSAGE(!r.ok(), "flip at byte " << i << " went unnoticed");
    if (!r.ok()) CHECK(r.status().message().find("bad.bin") != std::string::npos);
  }
  for (size_t len : {size_t{0}, size_t{4}, size_t{20}, good.size() / 2, good.size() - 1}) {
    dir.Write("short.bin", good.substr(0, len));
    CHECK_FALSE(ReadCheckpoint(dir.File("short.bin")).ok());
  }
  auto missing = ReadCheckpoint(dir.File("nope.bin"));
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.status().message().find("nope.bin") != std::string::npos);
}

TEST_CASE("SaveCheckpoint keeps the newest K and LoadNewest skips a corrupt one") {
  TempDir dir;
  const std::string ckpt = dir.File("ckpt");
  for (int64_t step : {10, 20, 30, 40}) REQUIRE(SaveCheckpoint(ckpt, Sample(step), 3).ok());
  auto files = ListCheckpoints(ckpt);
  REQUIRE(files.size() == 3);
  CHECK(files[0].find("ckpt-000000000040.bin") != std::string::npos);
  CHECK(files[2].find("ckpt-000000000020.bin") != std::string::npos);

  // Damage the newest: the loader reports it and falls back to step 30.
  std::string bytes = ReadFile(files[0]);
  bytes[bytes.size() / 2] ^= 1;
  std::ofstream(files[0], std::ios::binary) << bytes;
  std::vector<std::string> skipped;
  auto c = LoadNewestCheckpoint(ckpt, &skipped);
  REQUIRE(c.ok());
  CHECK(c->header.step == 30);
  REQUIRE(skipped.size() == 1);
  CHECK(skipped[0].find("checksum") != std::string::npos);

  // A leftover temp file from a peer killed mid-write is ignored.
  dir.Write("ckpt/ckpt-000000000050.bin.tmp", "half a checkpoint");
  auto again = LoadNewestCheckpoint(ckpt, nullptr);
  REQUIRE(again.ok());
  CHECK(again->header.step == 30);

  TempDir empty;
  auto none = LoadNewestCheckpoint(empty.path(), nullptr);
  CHECK(none.status().code() == Status::Code::kNotFound);
}
