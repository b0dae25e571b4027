// The validated configuration of one peer: TOML file -> Config, with --set
// overrides applied and every key checked. Defaults here are the documented
// defaults (docs/config.md); the parser rejects anything outside the ranges.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "meshtrain/status.h"

namespace meshtrain {

// ---- fixed-value keys (docs/architecture.md, "Decisions") ----
// Every key with a fixed set of values is an enum, parsed once by the schema
// (src/config): no code outside src/config compares a config value to a
// string. EnumTexts<E>::kTexts is the one map between an enum and its config
// text, in enum order; ToString gives the text back for the config hash,
// AgreementKeys and every message, so they read exactly as the file does.
// The codec, topology and gossip layers use these enums as their own (each
// layer above config may read config.h).

enum class DataFormat : uint8_t { kIdx, kCsv, kSynthetic };
enum class ScalingMode : uint8_t { kNone, kUnit, kStandardize };
enum class ShardMode : uint8_t { kContiguous, kStrided, kDirichlet };
enum class ModelType : uint8_t { kLinear, kSoftmax, kMlp, kLayers };
enum class HiddenActivation : uint8_t { kRelu, kTanh };  // model.activation of an mlp
enum class InitScheme : uint8_t { kHe, kXavier };
enum class LayerKind : uint8_t {
  kConv2d, kMaxPool2d, kAvgPool2d, kFlatten, kDense, kRelu, kTanh, kGelu, kDropout, kLayerNorm,
};
enum class OptimizerType : uint8_t { kSgd, kAdam };
enum class LrSchedule : uint8_t { kConstant, kStep, kCosine };
enum class LrScaling : uint8_t { kNone, kLinear };
enum class SyncMode : uint8_t { kLocal, kRing, kGossip };
enum class TopologyKind : uint8_t {
  kRing,         // i -- i+1 (mod N)
  kTorus,        // a rows x cols grid with wrap-around, rows the largest divisor of N <= sqrt(N)
  kExponential,  // i -- i +- 2^k (mod N) for every 2^k < N
  kRandom,       // a fresh seeded random pairing each round (an odd one out sits it out)
  kExplicit,     // edges from cluster.peers[].neighbors
};
enum class Compression : uint8_t { kNone = 0, kFP16, kBF16, kInt8, kTopK };  // docs/compression.md
enum class Rounding : uint8_t { kNearest = 0, kStochastic };                 // int8 only
enum class RobustKind : uint8_t { kNone, kClip, kTrimmedMean };             // synchronous gossip
enum class ReshardPolicy : uint8_t { kEpoch, kNone };
enum class MinorityPolicy : uint8_t { kTrain, kStop };
enum class ProgressMode : uint8_t { kAuto, kLine, kNone };
enum class SecurityMode : uint8_t { kNone, kCurve };
enum class ByzantineKind : uint8_t { kNone, kHuge, kNoise };  // what a deliberately faulty peer sends

template <typename E>
struct EnumTexts;

#define MESHTRAIN_ENUM_TEXTS(E, ...) \
  template <>                        \
  struct EnumTexts<E> {              \
    static constexpr std::string_view kTexts[] = {__VA_ARGS__}; \
  }
MESHTRAIN_ENUM_TEXTS(DataFormat, "idx", "csv", "synthetic");
MESHTRAIN_ENUM_TEXTS(ScalingMode, "none", "unit", "standardize");
MESHTRAIN_ENUM_TEXTS(ShardMode, "contiguous", "strided", "dirichlet");
MESHTRAIN_ENUM_TEXTS(ModelType, "linear", "softmax", "mlp", "layers");
MESHTRAIN_ENUM_TEXTS(HiddenActivation, "relu", "tanh");
MESHTRAIN_ENUM_TEXTS(InitScheme, "he", "xavier");
MESHTRAIN_ENUM_TEXTS(LayerKind, "conv2d", "maxpool2d", "avgpool2d", "flatten", "dense", "relu", "tanh", "gelu",
                     "dropout", "layernorm");
MESHTRAIN_ENUM_TEXTS(OptimizerType, "sgd", "adam");
MESHTRAIN_ENUM_TEXTS(LrSchedule, "constant", "step", "cosine");
MESHTRAIN_ENUM_TEXTS(LrScaling, "none", "linear");
MESHTRAIN_ENUM_TEXTS(SyncMode, "local", "ring", "gossip");
MESHTRAIN_ENUM_TEXTS(TopologyKind, "ring", "torus", "exponential", "random", "explicit");
MESHTRAIN_ENUM_TEXTS(Compression, "none", "fp16", "bf16", "int8", "topk");
MESHTRAIN_ENUM_TEXTS(Rounding, "nearest", "stochastic");
MESHTRAIN_ENUM_TEXTS(RobustKind, "none", "clip", "trimmed_mean");
MESHTRAIN_ENUM_TEXTS(ReshardPolicy, "epoch", "none");
MESHTRAIN_ENUM_TEXTS(MinorityPolicy, "train", "stop");
MESHTRAIN_ENUM_TEXTS(ProgressMode, "auto", "line", "none");
MESHTRAIN_ENUM_TEXTS(SecurityMode, "none", "curve");
MESHTRAIN_ENUM_TEXTS(ByzantineKind, "none", "huge", "noise");
#undef MESHTRAIN_ENUM_TEXTS

template <typename E>
concept ConfigEnum = std::is_enum_v<E> && requires { EnumTexts<E>::kTexts; };

// Every value's text, in enum order: the allowed values of the key.
template <ConfigEnum E>
constexpr std::span<const std::string_view> AllTexts() {
  return EnumTexts<E>::kTexts;
}

template <ConfigEnum E>
constexpr std::string_view ToString(E value) {
  const auto texts = AllTexts<E>();
  const auto i = static_cast<size_t>(value);
  return i < texts.size() ? texts[i] : std::string_view("?");
}

// The value whose text is `text` (exact, case-sensitive), or nullopt.
template <ConfigEnum E>
constexpr std::optional<E> ParseEnum(std::string_view text) {
  const auto texts = AllTexts<E>();
  for (size_t i = 0; i < texts.size(); ++i) {
    if (texts[i] == text) return static_cast<E>(i);
  }
  return std::nullopt;
}

struct PeerEntry {
  std::string id;        // unique, [A-Za-z0-9_.-]+
  std::string endpoint;  // "tcp://host:port"
  // Gossip neighbours of this peer (ids) for sync.topology = "explicit"; an
  // edge listed on either side links both (docs/gossip.md).
  std::vector<std::string> neighbors = {};
};

struct ClusterConfig {
  std::vector<PeerEntry> peers;        // [[cluster.peers]], at least one
  int64_t size = 0;                    // use only the first `size` peers (0 = all): one file, any N
  std::vector<std::string> bootstrap;  // endpoints of live peers a newcomer may ask
};

struct DataConfig {
  DataFormat format = DataFormat::kIdx;
  // idx: four files; relative names resolve against `dir`.
  std::string dir = "/usr/share/datasets/fashion-mnist";
  std::string train_images = "train-images-idx3-ubyte.gz";
  std::string train_labels = "train-labels-idx1-ubyte.gz";
  std::string test_images = "t10k-images-idx3-ubyte.gz";
  std::string test_labels = "t10k-labels-idx1-ubyte.gz";
  // csv: header row, numeric cells; label column by name or 0-based index.
  std::string train_csv;
  std::string test_csv;
  std::string label_column = "label";
  // synthetic linear regression: y = Xw + b + N(0, noise^2), seeded.
  int64_t synthetic_train = 4096;
  int64_t synthetic_test = 1024;
  int64_t synthetic_features = 8;
  double synthetic_noise = 0.01;
  uint64_t synthetic_seed = 7;
  ScalingMode scaling = ScalingMode::kUnit;  // unit: [0,1], pixels /255; standardize: train mean/std
  ShardMode shard = ShardMode::kContiguous;
  double alpha = 0.5;                // dirichlet concentration, > 0
  uint64_t shard_seed = 1234;
  int64_t train_limit = 0;  // 0 = all rows; otherwise the first N rows of the file
  int64_t test_limit = 0;
};

// One [[model.layers]] entry (docs/models.md, "Layers"). Which fields a kind
// takes is checked when the config is read; shapes when the model is built.
struct LayerConfig {
  LayerKind kind = LayerKind::kDense;
  int64_t filters = 0;   // conv2d: output channels
  int64_t kernel = 0;    // conv2d, pools: square window side
  int64_t stride = 0;    // conv2d (default 1), pools (default kernel)
  int64_t padding = 0;   // conv2d: zeros on every side
  int64_t units = 0;     // dense: outputs
  double rate = 0;       // dropout: probability of zeroing an input, in [0, 1)
  std::string where;     // "FILE:LINE:COL" of the entry, for errors found when the model is built
};

struct ModelConfig {
  ModelType type = ModelType::kMlp;
  std::vector<LayerConfig> layers;   // type layers: the network, input to output
  std::vector<int64_t> hidden = {128};  // mlp hidden layer sizes
  HiddenActivation activation = HiddenActivation::kRelu;
  InitScheme init = InitScheme::kHe;
};

struct OptimConfig {
  OptimizerType type = OptimizerType::kSgd;
  double lr = 0.1;
  double momentum = 0.9;
  bool nesterov = false;
  double weight_decay = 0.0;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  LrSchedule schedule = LrSchedule::kConstant;
  int64_t warmup_steps = 0;           // linear warmup (cosine and step)
  int64_t step_size = 1000;           // step schedule: multiply by gamma every step_size steps
  double gamma = 0.1;
  double min_lr = 0.0;                // cosine floor
  double clip_norm = 0.0;             // 0 = no clipping by global norm
  // ring, every = 1: the cluster's batch is N times a peer's. "linear" multiplies
  // lr (and min_lr) by N (Goyal et al.), so one config suits any cluster size.
  LrScaling lr_scaling = LrScaling::kNone;
};

struct TrainConfig {
  int64_t epochs = 10;
  int64_t batch_size = 64;
  uint64_t seed = 42;
  int64_t eval_every = 0;   // steps between test evals; 0 = once per epoch
  int64_t log_every = 50;   // steps between metrics lines
  int64_t max_steps = 0;    // 0 = no cap (stop after `epochs`)
  int64_t stop_after_nonfinite = 10;  // consecutive non-finite steps that end the run as diverged; 0 = never
};

struct SyncConfig {
  SyncMode mode = SyncMode::kLocal;
  int64_t every = 1;              // 1: all-reduce gradients each step; k>1: average params every k steps
  TopologyKind topology = TopologyKind::kRing;  // gossip
  bool async = false;             // gossip: push-sum, never waiting on a slow neighbour
  int64_t final_rounds = 0;       // gossip: averaging rounds at the end so every peer holds one model
  uint64_t gossip_seed = 1;       // gossip: the random topology's choices
  Compression compression = Compression::kNone;
  Rounding int8_rounding = Rounding::kNearest;  // stochastic is unbiased
  double topk_ratio = 0.01;       // topk: fraction of each piece's entries a peer sends, (0, 1]
  bool error_feedback = true;     // lossy codecs: carry what was not sent into the next round
  RobustKind robust = RobustKind::kNone;  // gossip: a faulty neighbour cannot drag us off
  double robust_clip = 0.0;       // clip: largest norm of a neighbour's difference; 0 = the round's median distance
  int64_t trim = 1;               // trimmed_mean: values dropped at each end of every coordinate
  double consensus_step = 0.0;    // compressed gossip: CHOCO's gamma in (0, 1]; 0 = auto (1, topk 3 x ratio)
  int64_t timeout_ms = 10000;     // longest wait for any message of a round
  int64_t chunk_bytes = 1 << 20;  // pipelining unit of ring all-reduce
  int64_t direct_max_bytes = 256 << 10;  // buffers up to this all-reduce in one exchange step (0 = always the ring)
  // Two peers: the direct exchange sends the ring's bytes in one step instead of
  // two, so it pays up to a larger size (docs/ring.md, "Small buffers").
  int64_t pair_direct_max_bytes = 1 << 20;
  int64_t start_timeout_ms = 30000;  // how long to wait for every peer at start
  // Ring: steps between comparisons of the replicas' fingerprints (docs/agreement.md,
  // "Replica fingerprints"); 0 = never.
  int64_t verify_every = 100;
};

struct TransportConfig {
  int64_t linger_ms = 200;
  int64_t sndhwm = 1000;
  int64_t rcvhwm = 1000;
  int64_t reconnect_ivl_ms = 100;
  int64_t reconnect_ivl_max_ms = 1000;
  int64_t max_msg_bytes = 256LL << 20;  // ZMQ_MAXMSGSIZE
  // A TCP connect that gets no answer is given up (and retried) after this;
  // no ZMTP heartbeats (docs/transport.md, "Options we avoid").
  int64_t connect_timeout_ms = 3000;
  int64_t io_threads = 2;  // ZeroMQ I/O threads: one can send while the other receives
};

struct MembershipConfig {
  int64_t heartbeat_ms = 100;
  int64_t suspect_ms = 500;
  int64_t dead_ms = 1000;
  // What happens to a dead peer's shard (docs/faults.md): "epoch" re-cuts the
  // data over the live peers at the next epoch; "none" keeps the static shards.
  ReshardPolicy reshard = ReshardPolicy::kEpoch;
  // Live view members a peer needs to take steps (docs/membership.md,
  // "Quorum"): "off" (train in any view), "majority" of cluster.peers, or a
  // number ("0" = off). Without it a peer cut off alone trains on alone.
  std::string quorum = "off";
  int64_t quorum_timeout_ms = 0;  // give up (sync_failed) after this long without a quorum; 0 = wait
  // After the last step, how long a peer stays to tell peers that were away
  // that the run is over and hand them the final state (docs/membership.md,
  // "The end of a run"); only when some peer was away. 0 = leave at once.
  int64_t farewell_ms = 5000;
  // A cut-off minority (docs/faults.md, "A cut-off minority waits"): a peer
  // whose reconciled view holds no strict majority of its last primary view
  // takes no step for this long ("auto" = max(10 s, 5 x dead_ms); a number of
  // ms; "0" = no grace), then does what `minority` says: "train" on alone
  // (event minority_training) or "stop" (exit 1). At the last step, a peer
  // whose state went through a minority view waits `minority_end_wait_ms`
  // ("auto" = the grace) for the others before it ends with exit 3.
  std::string minority_grace_ms = "auto";
  MinorityPolicy minority = MinorityPolicy::kTrain;
  std::string minority_end_wait_ms = "auto";
};

struct CheckpointConfig {
  std::string dir;          // empty = runs/<id>/checkpoints
  int64_t every_steps = 0;  // 0 = only at the end
  int64_t keep = 3;
};

struct LogConfig {
  std::string metrics;          // empty = runs/<id>/metrics.jsonl
  ProgressMode progress = ProgressMode::kAuto;  // auto: a live line on a TTY
  std::string prometheus;         // "host:port" of the /metrics endpoint; empty = off (docs/observability.md)
};

struct SecurityConfig {
  SecurityMode mode = SecurityMode::kNone;
  std::string secret_key_file;
  std::string public_key_file;
  std::vector<std::string> authorized_keys;
};

struct DebugConfig {
  double slowdown = 1.0;      // multiply compute time (straggler experiments)
  int64_t step_delay_ms = 0;  // sleep this long after every step (fault tests need time to act)
  ByzantineKind byzantine = ByzantineKind::kNone;  // gossip fault injection (sends corrupted parameters)
  int64_t flip_bit_at_step = 0;    // flip one bit of this peer's parameters after this step (0 = never)
};

// One config key and its value as text ("optim.lr", "0.1").
struct Setting {
  std::string key;
  std::string value;
  bool operator==(const Setting&) const = default;
};

struct Config {
  std::string source_path;  // the TOML file it came from
  std::string self_id;      // this process's peer id (from --id or [peer] id)
  size_t self_index = 0;    // index of self_id in cluster.peers
  ClusterConfig cluster;
  DataConfig data;
  ModelConfig model;
  OptimConfig optim;
  TrainConfig train;
  SyncConfig sync;
  TransportConfig transport;
  MembershipConfig membership;
  CheckpointConfig checkpoint;
  LogConfig log;
  SecurityConfig security;
  DebugConfig debug;

  // Derived paths with the runs/<id>/ defaults applied.
  std::string MetricsPath() const;
  std::string CheckpointDir() const;
  // A hash of the keys that must match for a checkpoint to be resumed (model shape, data, optimizer).
  uint64_t Hash() const;
  // The settings every peer of this sync mode must share for its guarantees to
  // hold (ring replicas bit-identical, gossip converging to one model), as
  // "key" and value text, in a fixed order (docs/agreement.md).
  std::vector<Setting> AgreementKeys() const;
};

// "optim.lr = 0.5 here, 0.1 in the cluster; ..." for every key whose values
// differ (or that only one side has); empty when the lists agree.
std::string DescribeSettingDifferences(const std::vector<Setting>& here, const std::vector<Setting>& there,
                                       const std::string& there_name);
// One text of "key=value\n" lines, and back (nullopt if it is not such a text).
std::string EncodeSettings(const std::vector<Setting>& settings);
std::optional<std::vector<Setting>> DecodeSettings(std::string_view text);

// Passed as `id` to LoadConfig by tools that only read the cluster (e.g.
// `meshtrain peers`): selects the first peer instead of requiring one.
inline constexpr const char* kAnyPeerId = "*";

// Loads `path`, applies `overrides` ("section.key=value", in order), picks the
// peer `id` (empty = [peer] id, or the only peer), and validates everything.
// Errors name the file, line and key: "cfg.toml:12:1: optim.lr: must be > 0 (got -1)".
Result<Config> LoadConfig(const std::string& path, const std::string& id,
                          const std::vector<std::string>& overrides);

}  // namespace meshtrain
