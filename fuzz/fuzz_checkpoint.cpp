// ReadCheckpoint / ReadCheckpointHeader on arbitrary bytes: a torn, truncated
// or forged checkpoint is Corruption, never a crash or an allocation the file
// does not back.
//
// Input: byte 0 bit 0 set = "fix the CRC": the trailing 4 bytes are replaced by
// the right CRC-32 of the rest, so the search gets past the checksum into the
// header and payload checks behind it. The rest is the file.
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>

#include "fuzz_support.h"
#include "meshtrain/checkpoint.h"

using meshtrain::Status;
using meshtrain::fuzz::ScratchDir;

namespace {

void FixCrc(std::string* file) {
  if (file->size() < 4) return;
  const size_t body = file->size() - 4;
  const auto crc = static_cast<uint32_t>(
      crc32(crc32(0L, Z_NULL, 0), reinterpret_cast<const Bytef*>(file->data()), static_cast<uInt>(body)));
  for (int i = 0; i < 4; ++i) (*file)[body + static_cast<size_t>(i)] = static_cast<char>((crc >> (8 * i)) & 0xff);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1 || size > (1 << 20)) return 0;
  std::string file(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] & 1) FixCrc(&file);
  const ScratchDir& dir = ScratchDir::Get();
  const std::string path = dir.Write("ckpt.bin", file);

  auto checkpoint = meshtrain::ReadCheckpoint(path);
  auto header = meshtrain::ReadCheckpointHeader(path);
  meshtrain::fuzz::Note(checkpoint.ok() ? "checkpoint ok: step " + std::to_string(checkpoint->header.step)
                                        : checkpoint.status().ToString());
  MESHTRAIN_FUZZ_CHECK(checkpoint.ok() == header.ok());
  if (!checkpoint.ok()) {
    // Corruption, or InvalidArgument for a file that is not a checkpoint at all (no MESHCKPT magic).
    MESHTRAIN_FUZZ_CHECK(checkpoint.status().code() == Status::Code::kCorruption ||
                         checkpoint.status().code() == Status::Code::kInvalidArgument);
    MESHTRAIN_FUZZ_CHECK(!checkpoint.status().message().empty());
    return 0;
  }
  const meshtrain::Checkpoint& c = checkpoint.value();
  MESHTRAIN_FUZZ_CHECK(c.params.size() == c.header.n_params);
  MESHTRAIN_FUZZ_CHECK(c.optimizer_state.size() == c.header.n_optimizer_state);
  MESHTRAIN_FUZZ_CHECK(c.header.step >= 0 && c.header.epoch >= 0);
  MESHTRAIN_FUZZ_CHECK(header->n_params == c.header.n_params && header->step == c.header.step);
  // A checkpoint that reads back must write back to the same bytes; one of an
  // older format is written in the current one, and must read back the same.
  const std::string copy = dir.File("copy.bin");
  MESHTRAIN_FUZZ_CHECK(meshtrain::WriteCheckpoint(copy, c).ok());
  if (c.header.format_version == meshtrain::Checkpoint{}.header.format_version) {
    std::ifstream in(copy, std::ios::binary);
    const std::string written((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    MESHTRAIN_FUZZ_CHECK(written == file);
  } else {
    auto again = meshtrain::ReadCheckpoint(copy);
    MESHTRAIN_FUZZ_CHECK(again.ok());
    const auto same_bits = [](const std::vector<float>& a, const std::vector<float>& b) {  // NaNs included
      return a.size() == b.size() && (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0);
    };
    MESHTRAIN_FUZZ_CHECK(same_bits(again->params, c.params) && same_bits(again->optimizer_state, c.optimizer_state));
    MESHTRAIN_FUZZ_CHECK(again->header.step == c.header.step && again->header.n_params == c.header.n_params);
  }
  return 0;
}
