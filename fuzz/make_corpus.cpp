// Writes the seed corpora of the fuzz targets: a few valid inputs, made with the
// real encoders (EncodeHeader, WriteCheckpoint, zlib), and near-valid ones that
// stop at each check of the parser. Deterministic; the output is committed under
// fuzz/corpus/<target>/ and kept small.
//
//   fuzz_make_corpus OUT_DIR     (OUT_DIR/<target>/<seed> files are overwritten)
#include <zlib.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "meshtrain/checkpoint.h"
#include "meshtrain/wire.h"

namespace fs = std::filesystem;
using meshtrain::DType;
using meshtrain::Header;
using meshtrain::MessageType;

namespace {

fs::path g_out;

void Seed(const std::string& target, const std::string& name, const std::string& bytes) {
  const fs::path dir = g_out / target;
  fs::create_directories(dir);
  std::ofstream(dir / name, std::ios::binary | std::ios::trunc) << bytes;
}

std::string Gzip(const std::string& raw) {
  z_stream z{};
  deflateInit2(&z, Z_BEST_COMPRESSION, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);  // +16: gzip wrapper
  std::string out(deflateBound(&z, static_cast<uLong>(raw.size())) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw.data()));
  z.avail_in = static_cast<uInt>(raw.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  deflate(&z, Z_FINISH);
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

std::string Be32(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8), static_cast<char>(v)};
}
std::string Le32(uint32_t v) {
  return {static_cast<char>(v), static_cast<char>(v >> 8), static_cast<char>(v >> 16), static_cast<char>(v >> 24)};
}
std::string Le16(uint16_t v) { return {static_cast<char>(v), static_cast<char>(v >> 8)}; }
std::string Byte(int v) { return std::string(1, static_cast<char>(v)); }

// ---- IDX ------------------------------------------------------------------

std::string IdxLabels(const std::vector<int>& labels) {
  std::string f = Be32(0x00000801) + Be32(static_cast<uint32_t>(labels.size()));
  for (int l : labels) f += Byte(l);
  return f;
}

std::string IdxImages(uint32_t count, uint32_t rows, uint32_t cols) {
  std::string f = Be32(0x00000803) + Be32(count) + Be32(rows) + Be32(cols);
  for (uint32_t i = 0; i < count * rows * cols; ++i) f += Byte(static_cast<int>((i * 37) % 256));
  return f;
}

void IdxSeeds() {
  const std::string labels = IdxLabels({0, 1, 2, 1, 0, 2});
  const std::string images = IdxImages(6, 3, 2);
  // Mode 0: the labels reader.
  Seed("fuzz_idx", "labels-plain", Byte(0) + labels);
  Seed("fuzz_idx", "labels-gzip", Byte(0) + Gzip(labels));
  Seed("fuzz_idx", "labels-truncated", Byte(0) + labels.substr(0, labels.size() - 2));
  Seed("fuzz_idx", "labels-trailing", Byte(0) + labels + "xy");
  Seed("fuzz_idx", "labels-gzip-cut", Byte(0) + Gzip(labels).substr(0, 20));
  // Mode 1: the image reader.
  Seed("fuzz_idx", "images-plain", Byte(1) + images);
  Seed("fuzz_idx", "images-gzip", Byte(1) + Gzip(images));
  Seed("fuzz_idx", "images-zero-dim", Byte(1) + Be32(0x00000803) + Be32(2) + Be32(0) + Be32(5));
  Seed("fuzz_idx", "images-huge-count",
       Byte(1) + Be32(0x00000803) + Be32(0xffffffffu) + Be32(28) + Be32(28) + images.substr(16));
  Seed("fuzz_idx", "images-wrong-magic", Byte(1) + labels);
  // Mode 2: the whole loader; knob bytes pick shard mode / scaling / peers / limits.
  auto pair = [](int knobs, const std::string& img, const std::string& lab) {
    return Byte(2) + Byte(knobs) + Le32(static_cast<uint32_t>(img.size())) + img + lab;
  };
  Seed("fuzz_idx", "loader-contiguous-1peer", pair(0x00, images, labels));
  Seed("fuzz_idx", "loader-dirichlet-3peers-standardize", pair(0x2a, images, labels));
  Seed("fuzz_idx", "loader-strided-2peers-limits-gzip", pair(0xd1, Gzip(images), Gzip(labels)));
  Seed("fuzz_idx", "loader-count-mismatch", pair(0x00, IdxImages(5, 3, 2), labels));
}

// ---- CSV ------------------------------------------------------------------

void CsvSeeds() {
  const std::string csv = "label,a,b,c\n0,1.5,2,3\n1,-4,5e-1,6\n2,7,8,9\n1,0,0,0\n";
  // byte 0: label column (bits 0-1), scaling (2-3), shard (4-5), alpha (6);
  // byte 1: peers (0-3), train/test limit (4, 5), a separate test file after a NUL (6).
  Seed("fuzz_csv", "by-name", Byte(0x00) + Byte(0x00) + csv);
  Seed("fuzz_csv", "by-index-standardize-strided", Byte(0x19) + Byte(0x01) + "y,a,b\n3,0.5,1\n4,0.25,2\n5,1,3\n");
  Seed("fuzz_csv", "dirichlet-3peers", Byte(0x60) + Byte(0x06) + csv);
  Seed("fuzz_csv", "crlf-bom-quotes-blank",
       Byte(0x00) + Byte(0x11) + "\xEF\xBB\xBF\"label\",\"x\"\r\n\r\n\"1\", 2.5 \r\n0,+3\r\n\n");
  Seed("fuzz_csv", "separate-test-file", Byte(0x00) + Byte(0x60) + csv + '\0' + "label,a,b,c\n2,1,1,1\n");
  Seed("fuzz_csv", "test-header-differs", Byte(0x00) + Byte(0x40) + csv + '\0' + "label,a,c,b\n2,1,1,1\n");
  Seed("fuzz_csv", "ragged-row", Byte(0x00) + Byte(0x00) + "label,a,b\n0,1,2\n1,3\n");
  Seed("fuzz_csv", "not-a-number", Byte(0x00) + Byte(0x00) + "label,a\n0,1\n1,nan\n0,abc\n");
  Seed("fuzz_csv", "bad-label", Byte(0x00) + Byte(0x00) + "label,a\n0,1\n1.5,2\n-1,3\n70000,4\n");
  Seed("fuzz_csv", "gzip", Byte(0x04) + Byte(0x00) + Gzip(csv));
  Seed("fuzz_csv", "header-only", Byte(0x00) + Byte(0x00) + "label,a\n\n");
}

// ---- Checkpoint -----------------------------------------------------------

std::string CheckpointBytes(const meshtrain::Checkpoint& c) {
  const std::string path = (g_out / "tmp-checkpoint.bin").string();
  if (!meshtrain::WriteCheckpoint(path, c).ok()) {
    std::fprintf(stderr, "cannot write %s\n", path.c_str());
    std::exit(1);
  }
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  fs::remove(path);
  return bytes;
}

void CheckpointSeeds() {
  meshtrain::Checkpoint c;
  c.header.step = 1200;
  c.header.epoch = 3;
  c.header.config_hash = 0x1234abcd5678ef00ull;
  c.header.seed = 42;
  c.header.peer_id = "p1";
  c.header.model = "mlp 4-3-2 relu";
  c.params = {0.5f, -1.0f, 2.0f, 0.0f, 3.5f};
  c.optimizer_state = {0.1f, 0.2f, 0.3f, 0.4f, 0.5f, 0.6f, 0.7f, 0.8f, 0.9f, 1.0f};
  const std::string good = CheckpointBytes(c);
  // byte 0 bit 0: the harness rewrites the CRC, so damaged bodies reach the checks behind it.
  Seed("fuzz_checkpoint", "valid", Byte(0) + good);
  Seed("fuzz_checkpoint", "valid-fixcrc", Byte(1) + good);
  std::string lying = good;
  lying[8 + 4 + 8 + 8 + 8 + 8 + 4 + 2 + 4 + 14] = 9;  // n_params
  Seed("fuzz_checkpoint", "nparams-lies-fixcrc", Byte(1) + lying);
  std::string version = good;
  version[8] = 2;
  Seed("fuzz_checkpoint", "version2-fixcrc", Byte(1) + version);
  Seed("fuzz_checkpoint", "truncated", Byte(0) + good.substr(0, good.size() - 7));
  Seed("fuzz_checkpoint", "header-truncated-fixcrc", Byte(1) + good.substr(0, 30) + "CRC!");
  std::string flipped = good;
  flipped[40] ^= 0x10;
  Seed("fuzz_checkpoint", "bitflip", Byte(0) + flipped);
  meshtrain::Checkpoint empty;
  empty.header.peer_id = "p0";
  Seed("fuzz_checkpoint", "empty-state", Byte(0) + CheckpointBytes(empty));
}

// ---- Wire -----------------------------------------------------------------

Header MakeHeader(MessageType type, DType dtype, uint64_t n_elems) {
  Header h;
  h.type = type;
  h.sender = "p1";
  h.view_id = 3;
  h.round = 17;
  h.step = 1700;
  h.dtype = dtype;
  h.n_elems = n_elems;
  if (meshtrain::IsChunked(type)) {
    h.chunk = 1;
    h.n_chunks = 4;
  }
  return h;
}

// flags: bit 0 sender known, 1 allow unknown hello, 2 skip finite check,
// 3 max_elems 4096, 4 topk bound 100, 5 max_extra 8, 6 routing id "p0".
std::string WireInput(int flags, int view, const Header& h, const std::string& payload) {
  const std::string frame0 = meshtrain::EncodeHeader(h);
  return Byte(flags) + Byte(view) + Le16(static_cast<uint16_t>(frame0.size())) + frame0 + payload;
}

std::string Floats(const std::vector<float>& values) {
  std::string out;
  for (float f : values) {
    uint32_t bits;
    std::memcpy(&bits, &f, 4);
    out += Le32(bits);
  }
  return out;
}

void WireSeeds() {
  Seed("fuzz_wire", "hello", WireInput(0x02, 0, MakeHeader(MessageType::kHello, DType::kNone, 0), ""));
  Header bye = MakeHeader(MessageType::kBye, DType::kNone, 0);
  Seed("fuzz_wire", "bye", WireInput(0x01, 0, bye, ""));
  Header heartbeat = MakeHeader(MessageType::kHeartbeat, DType::kNone, 0);
  heartbeat.extra = std::string("\x92\xa2p0\x05", 5);
  Seed("fuzz_wire", "heartbeat-extra", WireInput(0x01, 0, heartbeat, ""));
  Seed("fuzz_wire", "reduce-scatter-f32",
       WireInput(0x01, 2, MakeHeader(MessageType::kReduceScatter, DType::kF32, 4), Floats({1, -2, 0.5f, 3})));
  Seed("fuzz_wire", "all-gather-f16",
       WireInput(0x01, 3, MakeHeader(MessageType::kAllGather, DType::kF16, 3),
                 std::string("\x00\x3c\x00\xc0\x00\x38", 6)));
  Seed("fuzz_wire", "state-bf16",
       WireInput(0x09, 0, MakeHeader(MessageType::kState, DType::kBF16, 2), std::string("\x80\x3f\x00\x40", 4)));
  Seed("fuzz_wire", "gossip-i8",
       WireInput(0x01, 0, MakeHeader(MessageType::kGossip, DType::kI8, 3), Floats({0.01f}) + "\x01\xff\x7f"));
  Seed("fuzz_wire", "gossip-topk",
       WireInput(0x11, 0, MakeHeader(MessageType::kGossip, DType::kTopK, 2),
                 Le32(3) + Le32(40) + Floats({0.25f, -1.5f})));
  Seed("fuzz_wire", "f32-nan",
       WireInput(0x01, 0, MakeHeader(MessageType::kReduceScatter, DType::kF32, 1), std::string("\x00\x00\xc0\x7f", 4)));
  Seed("fuzz_wire", "stale-view", WireInput(0x01, 9, MakeHeader(MessageType::kAllGather, DType::kF32, 0), ""));
  Seed("fuzz_wire", "size-mismatch",
       WireInput(0x01, 0, MakeHeader(MessageType::kReduceScatter, DType::kF32, 3), Floats({1, 2})));
  Header future = MakeHeader(MessageType::kHello, DType::kNone, 0);
  future.version = 9;
  Seed("fuzz_wire", "future-version", WireInput(0x03, 0, future, ""));
  // A bare frame 0 (the whole input is decoded as one header too).
  Seed("fuzz_wire", "bare-header", meshtrain::EncodeHeader(MakeHeader(MessageType::kState, DType::kF32, 8)));
}

// ---- Config ---------------------------------------------------------------

void ConfigSeeds() {
  const std::string one_peer = "[[cluster.peers]]\nid = \"p0\"\nendpoint = \"tcp://127.0.0.1:7101\"\n";
  const std::string cluster =
      "[peer]\nid = \"p1\"\n[cluster]\nsize = 2\nbootstrap = [\"tcp://10.0.0.1:9000\"]\n"
      "[[cluster.peers]]\nid = \"p0\"\nendpoint = \"tcp://127.0.0.1:7101\"\n"
      "[[cluster.peers]]\nid = \"p1\"\nendpoint = \"tcp://[::1]:7102\"\n"
      "[[cluster.peers]]\nid = \"p2\"\nendpoint = \"tcp://localhost:7103\"\n";
  const std::string sections =
      "[data]\nformat = \"csv\"\ntrain_csv = \"a.csv\"\ntest_csv = \"b.csv\"\nlabel_column = \"0\"\n"
      "scaling = \"standardize\"\nshard = \"dirichlet\"\nalpha = 0.3\ntrain_limit = 100\n"
      "[model]\ntype = \"mlp\"\nhidden = [64, 32]\nactivation = \"tanh\"\ninit = \"xavier\"\n"
      "[optim]\ntype = \"adam\"\nlr = 1e-3\nschedule = \"cosine\"\nwarmup_steps = 10\nclip_norm = 5\n"
      "[train]\nepochs = 2\nbatch_size = 32\nseed = 7\neval_every = 100\n"
      "[sync]\nmode = \"gossip\"\nevery = 4\ntopology = \"exponential\"\nasync = true\n"
      "[transport]\nlinger_ms = 0\nmax_msg_bytes = 1048576\n"
      "[membership]\nsuspect_ms = 300\ndead_ms = 900\n"
      "[checkpoint]\ndir = \"ckpt/{id}\"\nevery_steps = 50\nkeep = 2\n"
      "[log]\nmetrics = \"out/{id}.jsonl\"\nprogress = \"line\"\n"
      "[security]\nmode = \"none\"\n[debug]\nslowdown = 1.5\n";
  Seed("fuzz_config", "one-peer", one_peer);
  Seed("fuzz_config", "cluster-self-from-file", cluster);
  Seed("fuzz_config", "every-section", cluster + sections);
  Seed("fuzz_config", "inline-peers",
       "cluster.peers = [{ id = \"a\", endpoint = \"tcp://127.0.0.1:1\" }, { id = \"b\", endpoint = "
       "\"tcp://127.0.0.1:2\" }]\noptim.lr = 0.5\n");
  Seed("fuzz_config", "overrides-and-id",
       cluster + std::string(1, '\0') +
           "--id=p0\noptim.lr=0.05\nsync.mode=ring\ndata.shard=strided\ntrain.seed=18446744073709551615");
  Seed("fuzz_config", "bad-overrides", one_peer + std::string(1, '\0') + "optim.lr=abc\nnope\nmembership.dead_ms=1\n=");
  Seed("fuzz_config", "syntax-error", one_peer + "[model\ntype = \"mlp\"\n");
  Seed("fuzz_config", "typos-and-types",
       one_peer +
           "[model]\nactivaton = \"relu\"\nhidden = 128\n[optim]\nlr = \"0.1\"\n[train]\nlr = 1\n[sync]\nmode = "
           "\"rign\"\n");
  Seed("fuzz_config", "bad-endpoint-duplicate-id",
       "[[cluster.peers]]\nid = \"p0\"\nendpoint = \"tcp://localhost\"\n[[cluster.peers]]\nid = \"p0\"\nendpoint = "
       "\"udp://x:99999\"\n[membership]\nsuspect_ms = 500\ndead_ms = 300\n");
  Seed("fuzz_config", "values-out-of-range",
       one_peer +
           "[optim]\nlr = -1\nbeta1 = 1.5\neps = nan\n[train]\nbatch_size = 0\nepochs = -3\n[data]\nalpha = inf\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR\n", argv[0]);
    return 2;
  }
  g_out = argv[1];
  fs::create_directories(g_out);
  IdxSeeds();
  CsvSeeds();
  CheckpointSeeds();
  WireSeeds();
  ConfigSeeds();
  return 0;
}
