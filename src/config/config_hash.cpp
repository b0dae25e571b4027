// Config::Hash: 64-bit FNV-1a over the keys a resumed run must agree with the
// checkpoint on — what defines the data each peer sees, the shape of the
// model and optimizer state, and the batch/seed sequence. Epochs, lr and
// schedule, paths, timeouts and sync settings may change between runs.
//
// Each key is fed as its name and a little-endian, length-prefixed value, so
// the hash is the same on every platform and build. Changing what goes in
// (or how) makes every existing checkpoint unresumable: don't, lightly.
#include <bit>
#include <cstring>

#include "meshtrain/config.h"

namespace meshtrain {
namespace {

class Fnv1a {
 public:
  void Bytes(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    for (size_t i = 0; i < n; ++i) {
      hash_ ^= p[i];
      hash_ *= 0x100000001b3ULL;
    }
  }
  void U64(uint64_t v) {
    unsigned char le[8];
    for (int i = 0; i < 8; ++i) le[i] = static_cast<unsigned char>(v >> (8 * i));
    Bytes(le, sizeof(le));
  }
  void Str(const std::string& s) {
    U64(s.size());
    Bytes(s.data(), s.size());
  }
  Fnv1a& Key(const char* name, const std::string& v) {
    Str(name);
    Str(v);
    return *this;
  }
  Fnv1a& Key(const char* name, uint64_t v) {
    Str(name);
    U64(v);
    return *this;
  }
  Fnv1a& Key(const char* name, int64_t v) { return Key(name, static_cast<uint64_t>(v)); }
  // An enum is hashed as its config text, as it was when it was a string.
  template <ConfigEnum E>
  Fnv1a& Key(const char* name, E v) {
    return Key(name, std::string(ToString(v)));
  }
  Fnv1a& Key(const char* name, double v) { return Key(name, std::bit_cast<uint64_t>(v)); }
  Fnv1a& Key(const char* name, const std::vector<int64_t>& v) {
    Str(name);
    U64(v.size());
    for (int64_t x : v) U64(static_cast<uint64_t>(x));
    return *this;
  }
  uint64_t value() const { return hash_; }

 private:
  uint64_t hash_ = 0xcbf29ce484222325ULL;
};

}  // namespace

uint64_t Config::Hash() const {
  Fnv1a h;
  h.Key("cluster.size", static_cast<int64_t>(cluster.peers.size()));
  // Data: only the keys of the chosen format, so editing an unused one changes nothing.
  h.Key("data.format", data.format);
  if (data.format == DataFormat::kIdx) {
    h.Key("data.dir", data.dir).Key("data.train_images", data.train_images).Key("data.train_labels", data.train_labels);
    h.Key("data.test_images", data.test_images).Key("data.test_labels", data.test_labels);
  } else if (data.format == DataFormat::kCsv) {
    h.Key("data.train_csv", data.train_csv).Key("data.test_csv", data.test_csv).Key("data.label_column", data.label_column);
  } else {
    h.Key("data.synthetic_train", data.synthetic_train).Key("data.synthetic_test", data.synthetic_test);
    h.Key("data.synthetic_features", data.synthetic_features).Key("data.synthetic_noise", data.synthetic_noise);
    h.Key("data.synthetic_seed", data.synthetic_seed);
  }
  h.Key("data.scaling", data.scaling).Key("data.shard", data.shard);
  if (data.shard == ShardMode::kDirichlet) h.Key("data.alpha", data.alpha).Key("data.shard_seed", data.shard_seed);
  h.Key("data.train_limit", data.train_limit).Key("data.test_limit", data.test_limit);
  // Model: hidden sizes and activation only shape an mlp.
  h.Key("model.type", model.type).Key("model.init", model.init);
  if (model.type == ModelType::kMlp) h.Key("model.hidden", model.hidden).Key("model.activation", model.activation);
  if (model.type == ModelType::kLayers) {
    for (const LayerConfig& l : model.layers) {
      h.Key("model.layers.kind", l.kind).Key("filters", l.filters).Key("kernel", l.kernel).Key("stride", l.stride);
      h.Key("padding", l.padding).Key("units", l.units).Key("rate", l.rate);
    }
  }
  h.Key("optim.type", optim.type);
  h.Key("train.batch_size", train.batch_size).Key("train.seed", train.seed);
  return h.value();
}

}  // namespace meshtrain
