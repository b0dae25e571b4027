// The CSV loader (LoadShardedData with data.format = "csv") on arbitrary text:
// ragged rows, bad numbers, odd quoting, blank lines, a BOM, CRLF, gzip — each
// comes back as a Status naming the file and line, never a crash.
//
// Input: byte 0 picks the label column, scaling and shard mode, byte 1 the peers
// and limits; the rest is the train file. With bit 6 of byte 1 set, a NUL byte
// ends the train file and the test file follows; else the train file doubles as
// the test file (and gzip input, which holds NULs, stays whole).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "data_checks.h"
#include "fuzz_support.h"
#include "meshtrain/data.h"

using meshtrain::Status;
using meshtrain::fuzz::ScratchDir;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2 || size > (1 << 20)) return 0;
  const uint8_t knobs = data[0];
  const uint8_t peers = data[1];
  std::string_view text(reinterpret_cast<const char*>(data) + 2, size - 2);
  const size_t nul = (peers & 0x40) ? text.find('\0') : std::string_view::npos;
  const ScratchDir& dir = ScratchDir::Get();

  meshtrain::DataConfig cfg;
  cfg.format = meshtrain::DataFormat::kCsv;
  cfg.train_csv = dir.Write("train.csv", text.substr(0, nul));
  cfg.test_csv = nul == std::string_view::npos ? cfg.train_csv : dir.Write("test.csv", text.substr(nul + 1));
  static const char* const kLabelColumns[] = {"label", "0", "1", "y"};
  cfg.label_column = kLabelColumns[knobs & 3];
  cfg.scaling = meshtrain::fuzz::ScalingKnob(knobs >> 2);
  cfg.shard = meshtrain::fuzz::ShardKnob(knobs >> 4);
  cfg.alpha = (knobs & 0x40) ? 0.05 : 2.0;
  const int num_peers = 1 + (peers & 3);
  const int peer_index = (peers >> 2) % num_peers;
  cfg.train_limit = (peers & 0x10) ? 3 : 0;
  cfg.test_limit = (peers & 0x20) ? 1 : 0;

  auto loaded = meshtrain::LoadShardedData(cfg, num_peers, peer_index);
  meshtrain::fuzz::Note(loaded.ok() ? "csv ok: " + std::to_string(loaded->train.rows) + " of " +
                                          std::to_string(loaded->total_train_rows) + " train rows, dim " +
                                          std::to_string(loaded->train.dim)
                                    : loaded.status().ToString());
  if (!loaded.ok()) {
    const Status& s = loaded.status();
    MESHTRAIN_FUZZ_CHECK(!s.message().empty());
    MESHTRAIN_FUZZ_CHECK(s.code() == Status::Code::kCorruption || s.code() == Status::Code::kIOError ||
                         s.code() == Status::Code::kInvalidArgument);
    return 0;
  }
  meshtrain::fuzz::CheckShardedData(loaded.value(), num_peers, peer_index, /*pixels=*/false);
  return 0;
}
