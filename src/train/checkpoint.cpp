#include "meshtrain/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "common/byte_io.h"

namespace meshtrain {
namespace {

namespace fs = std::filesystem;

constexpr char kMagic[8] = {'M', 'E', 'S', 'H', 'C', 'K', 'P', 'T'};
// Version 2 added the layer list after the model description; version 1 files
// still read (with no layer list).
constexpr uint32_t kFormatVersion = 2;
constexpr uint32_t kOldestReadableVersion = 1;
constexpr size_t kMaxNameBytes = 4096;
constexpr uint32_t kMaxLayers = 4096;

uLong Crc32Update(uLong crc, const char* data, size_t n) {
  // zlib takes uInt lengths; feed large buffers in pieces.
  while (n > 0) {
    uInt piece = static_cast<uInt>(std::min<size_t>(n, 1u << 30));
    crc = crc32(crc, reinterpret_cast<const Bytef*>(data), piece);
    data += piece;
    n -= piece;
  }
  return crc;
}

uint32_t Crc32(const char* data, size_t n) {
  return static_cast<uint32_t>(Crc32Update(crc32(0L, Z_NULL, 0), data, n));
}

// Everything before the floats. The floats are written after it straight
// from the caller's spans (StreamPayload), so a checkpoint never holds a
// second copy of the model in memory (docs/edge.md, "Peak memory").
std::string EncodeHeader(const CheckpointHeader& h, size_t n_params, size_t n_optimizer_state) {
  std::string out;
  ByteWriter w(&out);
  w.Raw(kMagic, sizeof(kMagic));
  w.U32(kFormatVersion);
  w.I64(h.step);
  w.I64(h.epoch);
  w.U64(h.config_hash);
  w.U64(h.seed);
  w.Str(h.peer_id);
  w.Str(h.model);
  w.U32(static_cast<uint32_t>(h.layers.size()));
  for (const std::string& line : h.layers) w.Str(line);
  w.U64(n_params);
  w.U64(n_optimizer_state);
  return out;
}

Status SysError(const std::string& what, const std::string& path) {
  return Status::IOError(what + " " + path + ": " + std::strerror(errno));
}

// write(2) until done; short writes happen on full disks and signals.
bool WriteAll(int fd, const char* data, size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

// Writes bytes to fd and folds them into *crc.
bool WriteAndSum(int fd, const char* data, size_t n, uLong* crc) {
  *crc = Crc32Update(*crc, data, n);
  return WriteAll(fd, data, n);
}

// The floats as little-endian bytes, a piece at a time through a small buffer.
bool StreamFloats(int fd, std::span<const float> values, uLong* crc) {
  constexpr size_t kPieceFloats = 16384;  // 64 KiB of bytes
  std::string piece;
  piece.reserve(kPieceFloats * sizeof(float));
  for (size_t begin = 0; begin < values.size(); begin += kPieceFloats) {
    piece.clear();
    ByteWriter w(&piece);
    w.Floats(values.subspan(begin, std::min(kPieceFloats, values.size() - begin)));
    if (!WriteAndSum(fd, piece.data(), piece.size(), crc)) return false;
  }
  return true;
}

Result<std::string> ReadWholeFile(const std::string& path) {
  // A wrong path is the caller's mistake (InvalidArgument/NotFound), not a damaged file.
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    return Status::InvalidArgument(path + " is a directory, not a checkpoint file (ckpt-<step>.bin)");
  }
  std::ifstream in(path, std::ios::binary);
  if (!in && errno == ENOENT) return Status::NotFound("no checkpoint file " + path);
  if (!in) return Status::IOError("cannot open checkpoint " + path + ": " + std::strerror(errno));
  // One buffer of the file's size (a stringstream would hold the bytes twice).
  in.seekg(0, std::ios::end);
  const std::streamoff size = in.tellg();
  in.seekg(0, std::ios::beg);
  if (size < 0 || !in) return Status::IOError("cannot read checkpoint " + path);
  std::string bytes(static_cast<size_t>(size), '\0');
  in.read(bytes.data(), size);
  if (in.gcount() != size) return Status::IOError("cannot read checkpoint " + path);
  return bytes;
}

Result<Checkpoint> Decode(const std::string& path, const std::string& bytes, bool with_payload) {
  auto corrupt = [&](const std::string& why) {
    return Status::Corruption("checkpoint " + path + ": " + why);
  };
  if (std::memcmp(bytes.data(), kMagic, std::min(bytes.size(), sizeof(kMagic))) != 0 || bytes.empty()) {
    return Status::InvalidArgument(path + " is not a meshtrain checkpoint (it does not start with MESHCKPT)");
  }
  if (bytes.size() < sizeof(kMagic) + 8) return corrupt("truncated (" + std::to_string(bytes.size()) + " bytes)");
  uint32_t stored_crc = 0;
  for (int i = 0; i < 4; ++i) {
    stored_crc |= static_cast<uint32_t>(static_cast<uint8_t>(bytes[bytes.size() - 4 + i])) << (8 * i);
  }
  uint32_t actual_crc = Crc32(bytes.data(), bytes.size() - 4);
  ByteReader body(bytes.data() + sizeof(kMagic), bytes.size() - sizeof(kMagic) - 4);
  Checkpoint c;
  c.header.format_version = body.U32();
  if (!body.failed() &&
      (c.header.format_version < kOldestReadableVersion || c.header.format_version > kFormatVersion)) {
    return corrupt("unsupported format version " + std::to_string(c.header.format_version) + " (this build reads " +
                   std::to_string(kOldestReadableVersion) + " to " + std::to_string(kFormatVersion) + ")");
  }
  if (stored_crc != actual_crc) {
    return corrupt("checksum mismatch (file is truncated or damaged)");
  }
  c.header.step = body.I64();
  c.header.epoch = body.I64();
  c.header.config_hash = body.U64();
  c.header.seed = body.U64();
  c.header.peer_id = body.Str(kMaxNameBytes);
  c.header.model = body.Str(kMaxNameBytes);
  if (c.header.format_version >= 2) {
    const uint32_t n_layers = body.U32();
    if (n_layers > kMaxLayers) return corrupt("layer list of " + std::to_string(n_layers) + " entries");
    for (uint32_t i = 0; i < n_layers && !body.failed(); ++i) c.header.layers.push_back(body.Str(kMaxNameBytes));
  }
  c.header.n_params = body.U64();
  c.header.n_optimizer_state = body.U64();
  if (body.failed()) return corrupt("header truncated");
  if (c.header.step < 0 || c.header.epoch < 0) return corrupt("negative step or epoch");
  uint64_t floats = body.remaining() / 4;
  if (body.remaining() % 4 != 0 || c.header.n_params > floats || c.header.n_optimizer_state != floats - c.header.n_params) {
    return corrupt("payload size disagrees with the header (" + std::to_string(c.header.n_params) + " params + " +
                   std::to_string(c.header.n_optimizer_state) + " optimizer values, " + std::to_string(body.remaining()) +
                   " bytes)");
  }
  if (with_payload) {
    c.params.resize(c.header.n_params);
    c.optimizer_state.resize(c.header.n_optimizer_state);
    if (!body.Floats(c.params) || !body.Floats(c.optimizer_state)) return corrupt("payload truncated");
  }
  return c;
}

}  // namespace

Status WriteCheckpoint(const std::string& path, const CheckpointHeader& header, std::span<const float> params,
                       std::span<const float> optimizer_state) {
  const std::string head = EncodeHeader(header, params.size(), optimizer_state.size());
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return SysError("cannot create", tmp);
  uLong crc = crc32(0L, Z_NULL, 0);
  bool ok = WriteAndSum(fd, head.data(), head.size(), &crc) && StreamFloats(fd, params, &crc) &&
            StreamFloats(fd, optimizer_state, &crc);
  if (ok) {
    std::string tail;
    ByteWriter(&tail).U32(static_cast<uint32_t>(crc));
    ok = WriteAll(fd, tail.data(), tail.size());
  }
  if (!ok || ::fsync(fd) != 0) {
    Status st = SysError("cannot write", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  }
  if (::close(fd) != 0) return SysError("cannot close", tmp);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status st = SysError("cannot rename " + tmp + " to", path);
    ::unlink(tmp.c_str());
    return st;
  }
  // fsync the directory so the rename itself survives a power cut.
  std::string dir = fs::path(path).parent_path().string();
  if (dir.empty()) dir = ".";
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
  return Status::OK();
}

Status WriteCheckpoint(const std::string& path, const Checkpoint& checkpoint) {
  return WriteCheckpoint(path, checkpoint.header, checkpoint.params, checkpoint.optimizer_state);
}

Result<Checkpoint> ReadCheckpoint(const std::string& path) {
  auto bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  return Decode(path, *bytes, /*with_payload=*/true);
}

Result<CheckpointHeader> ReadCheckpointHeader(const std::string& path) {
  auto bytes = ReadWholeFile(path);
  if (!bytes.ok()) return bytes.status();
  auto c = Decode(path, *bytes, /*with_payload=*/false);
  if (!c.ok()) return c.status();
  return c->header;
}

std::vector<std::string> ListCheckpoints(const std::string& dir) {
  // Newest written first: a rerun in the same directory may write lower steps
  // than an earlier run did, and its checkpoints are still the ones to keep and
  // resume from (docs/training.md, "Checkpoints"). Equal times (coarse
  // filesystem clocks) fall back to the higher step.
  struct Found {
    fs::file_time_type written;
    int64_t step;
    std::string path;
  };
  std::vector<Found> found;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (name.size() <= 9 || name.rfind("ckpt-", 0) != 0 || name.substr(name.size() - 4) != ".bin") continue;
    const std::string digits = name.substr(5, name.size() - 9);
    if (digits.empty() || !std::all_of(digits.begin(), digits.end(), ::isdigit) || digits.size() > 18) continue;
    std::error_code time_ec;
    const fs::file_time_type written = fs::last_write_time(entry.path(), time_ec);
    if (time_ec) continue;  // removed meanwhile
    found.push_back({written, std::stoll(digits), entry.path().string()});
  }
  std::sort(found.begin(), found.end(), [](const Found& a, const Found& b) {
    return a.written != b.written ? a.written > b.written : a.step > b.step;
  });
  std::vector<std::string> paths;
  for (auto& f : found) paths.push_back(std::move(f.path));
  return paths;
}

Result<std::string> SaveCheckpoint(const std::string& dir, const CheckpointHeader& header, std::span<const float> params,
                                   std::span<const float> optimizer_state, int64_t keep) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return Status::IOError("cannot create checkpoint directory " + dir + ": " + ec.message());
  char name[64];
  std::snprintf(name, sizeof(name), "ckpt-%012lld.bin", static_cast<long long>(header.step));
  const std::string path = (fs::path(dir) / name).string();
  MESHTRAIN_RETURN_IF_ERROR(WriteCheckpoint(path, header, params, optimizer_state));
  // The file just written always stays, whatever the others' times say.
  std::vector<std::string> older = ListCheckpoints(dir);
  std::erase_if(older, [&](const std::string& p) { return fs::path(p).filename() == name; });
  const size_t keep_older = static_cast<size_t>(std::max<int64_t>(keep, 1) - 1);
  for (size_t i = keep_older; i < older.size(); ++i) fs::remove(older[i], ec);
  return path;
}

Result<std::string> SaveCheckpoint(const std::string& dir, const Checkpoint& checkpoint, int64_t keep) {
  return SaveCheckpoint(dir, checkpoint.header, checkpoint.params, checkpoint.optimizer_state, keep);
}

Result<Checkpoint> LoadNewestCheckpoint(const std::string& dir, std::vector<std::string>* skipped) {
  for (const std::string& path : ListCheckpoints(dir)) {
    auto c = ReadCheckpoint(path);
    if (c.ok()) return c;
    if (skipped) skipped->push_back(c.status().message());
  }
  return Status::NotFound("no valid checkpoint in " + dir);
}

}  // namespace meshtrain
