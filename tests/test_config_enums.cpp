// The fixed-value keys are enums parsed once by the schema (config.h,
// docs/architecture.md "Decisions"): every value reads back from its text, the
// schema allows exactly those texts, and an unknown one is refused with the
// allowed list, from the file as from --set.
#include <doctest/doctest.h>

#include <fstream>
#include <string>
#include <tuple>
#include <vector>

#include "config/schema.h"
#include "meshtrain/config.h"
#include "support/temp_dir.h"

using namespace meshtrain;
using meshtrain::testing::TempDir;

namespace {

// Every text of E parses to the value whose ToString it is, in enum order.
template <typename E>
void CheckRoundTrip() {
  const auto texts = AllTexts<E>();
  REQUIRE(!texts.empty());
  for (size_t i = 0; i < texts.size(); ++i) {
    const auto value = static_cast<E>(i);
    CAPTURE(texts[i]);
    CHECK(ToString(value) == texts[i]);
    REQUIRE(ParseEnum<E>(texts[i]).has_value());
    CHECK(*ParseEnum<E>(texts[i]) == value);
  }
  CHECK(!ParseEnum<E>("").has_value());
  CHECK(!ParseEnum<E>("no-such-value").has_value());
  // Exact text only: the file's spelling is the one a peer and a hash see.
  CHECK(!ParseEnum<E>(std::string(texts[0]) + " ").has_value());
  CHECK(!ParseEnum<E>("X" + std::string(texts[0])).has_value());
}

// The schema's allowed values for "section.key" are the enum's texts.
template <typename E>
void CheckSchemaLists(std::string_view section, std::string_view key) {
  const config_internal::FieldSpec* spec = config_internal::FindField(section, key);
  REQUIRE(spec != nullptr);
  const auto texts = AllTexts<E>();
  CHECK(std::vector<std::string_view>(texts.begin(), texts.end()) == spec->rule.one_of);
}

struct Fixture {
  TempDir dir;
  std::string path = dir.path() + "/cfg.toml";

  std::string Error(const std::string& toml, const std::vector<std::string>& overrides = {}) {
    std::ofstream(path) << "[[cluster.peers]]\nid = 'p0'\nendpoint = 'tcp://127.0.0.1:7000'\n" << toml;
    auto cfg = LoadConfig(path, "", overrides);
    return cfg.ok() ? std::string() : cfg.status().message();
  }
};

}  // namespace

TEST_CASE("every enum value round-trips through its config text") {
  CheckRoundTrip<DataFormat>();
  CheckRoundTrip<ScalingMode>();
  CheckRoundTrip<ShardMode>();
  CheckRoundTrip<ModelType>();
  CheckRoundTrip<HiddenActivation>();
  CheckRoundTrip<InitScheme>();
  CheckRoundTrip<LayerKind>();
  CheckRoundTrip<OptimizerType>();
  CheckRoundTrip<LrSchedule>();
  CheckRoundTrip<LrScaling>();
  CheckRoundTrip<SyncMode>();
  CheckRoundTrip<TopologyKind>();
  CheckRoundTrip<Compression>();
  CheckRoundTrip<Rounding>();
  CheckRoundTrip<RobustKind>();
  CheckRoundTrip<ReshardPolicy>();
  CheckRoundTrip<MinorityPolicy>();
  CheckRoundTrip<ProgressMode>();
  CheckRoundTrip<SecurityMode>();
  CheckRoundTrip<ByzantineKind>();
}

TEST_CASE("the schema allows exactly each enum's texts") {
  CheckSchemaLists<DataFormat>("data", "format");
  CheckSchemaLists<ScalingMode>("data", "scaling");
  CheckSchemaLists<ShardMode>("data", "shard");
  CheckSchemaLists<ModelType>("model", "type");
  CheckSchemaLists<HiddenActivation>("model", "activation");
  CheckSchemaLists<InitScheme>("model", "init");
  CheckSchemaLists<OptimizerType>("optim", "type");
  CheckSchemaLists<LrSchedule>("optim", "schedule");
  CheckSchemaLists<LrScaling>("optim", "lr_scaling");
  CheckSchemaLists<SyncMode>("sync", "mode");
  CheckSchemaLists<TopologyKind>("sync", "topology");
  CheckSchemaLists<Compression>("sync", "compression");
  CheckSchemaLists<Rounding>("sync", "int8_rounding");
  CheckSchemaLists<RobustKind>("sync", "robust");
  CheckSchemaLists<ReshardPolicy>("membership", "reshard");
  CheckSchemaLists<MinorityPolicy>("membership", "minority");
  CheckSchemaLists<ProgressMode>("log", "progress");
  CheckSchemaLists<SecurityMode>("security", "mode");
  CheckSchemaLists<ByzantineKind>("debug", "byzantine");
}

TEST_CASE("every text of an enum key loads as its value, from the file and from --set") {
  Fixture f;
  std::ofstream(f.path) << "[[cluster.peers]]\nid = 'p0'\nendpoint = 'tcp://127.0.0.1:7000'\n"
                        << "[sync]\nmode = 'gossip'\ntopology = 'torus'\n";
  auto cfg = LoadConfig(f.path, "", {"sync.compression=int8", "sync.int8_rounding=stochastic", "log.progress=none"});
  REQUIRE(cfg.ok());
  CHECK(cfg->sync.mode == SyncMode::kGossip);
  CHECK(cfg->sync.topology == TopologyKind::kTorus);
  CHECK(cfg->sync.compression == Compression::kInt8);
  CHECK(cfg->sync.int8_rounding == Rounding::kStochastic);
  CHECK(cfg->log.progress == ProgressMode::kNone);
}

TEST_CASE("an unknown value is refused with the allowed list") {
  Fixture f;
  CHECK(f.Error("[sync]\ncompression = 'gzip'\n") ==
        f.path + ":5:1: sync.compression: must be one of 'none', 'fp16', 'bf16', 'int8', 'topk' (got 'gzip')");
  CHECK(f.Error("[log]\nprogress = 'lien'\n") ==
        f.path + ":5:1: log.progress: must be one of 'auto', 'line', 'none' (got 'lien'; did you mean 'line'?)");
  CHECK(f.Error("", {"debug.byzantine=hug"}) ==
        "--set debug.byzantine=hug: debug.byzantine: must be one of 'none', 'huge', 'noise' (got 'hug'; did you mean "
        "'huge'?)");
  // Empty restores a string key's default, but is no enum value.
  CHECK(f.Error("", {"security.mode="}) ==
        "--set security.mode=: security.mode: must be one of 'none', 'curve' (got '')");
  // A wrong type is still a type error, not an unknown value.
  CHECK(f.Error("[sync]\nmode = 3\n") ==
        f.path + ":5:1: sync.mode: expects a string, found an integer; write it in quotes: \"3\"");
}

TEST_CASE("the last value of an enum key decides, and is the one blamed") {
  Fixture f;
  // A bad file value that a --set replaces is no error ...
  CHECK(f.Error("[sync]\nmode = 'rign'\n", {"sync.mode=ring"}).empty());
  // ... and a good file value that a bad --set replaces is the --set's error.
  CHECK(f.Error("[sync]\nmode = 'ring'\n", {"sync.mode=rign"}) ==
        "--set sync.mode=rign: sync.mode: must be one of 'local', 'ring', 'gossip' (got 'rign'; did you mean 'ring'?)");
  // The later of two --set wins either way.
  CHECK(f.Error("", {"sync.mode=rign", "sync.mode=gossip"}).empty());
}
