// [[model.layers]] entries are checked like every other key: unknown kinds and
// fields with a "did you mean", fields a kind does not take, missing and
// out-of-range values, each reported at its FILE:LINE:COL.
#include <doctest/doctest.h>

#include "meshtrain/config.h"
#include "support/temp_dir.h"

using meshtrain::Config;
using meshtrain::LoadConfig;
using meshtrain::testing::TempDir;

namespace {

constexpr const char* kPeer = R"(
[[cluster.peers]]
id = "p0"
endpoint = "tcp://127.0.0.1:7101"
)";

// `model` (a [model] section and its layers) before one peer, loaded as cfg.toml.
meshtrain::Result<Config> Load(const std::string& model, TempDir* dir, const std::vector<std::string>& sets = {}) {
  return LoadConfig(dir->Write("cfg.toml", model + kPeer), "p0", sets);
}

// The error `model` must produce, with the temp dir stripped ("cfg.toml:3:1: ...").
std::string ErrorFor(const std::string& model) {
  TempDir dir;
  auto cfg = Load(model, &dir);
  REQUIRE_MESSAGE(!cfg.ok(), "expected an error for:\n", model);
  CHECK(cfg.status().code() == meshtrain::Status::Code::kInvalidArgument);
  std::string message = cfg.status().message();
  const std::string prefix = dir.path() + "/";
  for (size_t at = message.find(prefix); at != std::string::npos; at = message.find(prefix)) message.erase(at, prefix.size());
  return message;
}

bool Contains(const std::string& haystack, const std::string& needle) { return haystack.find(needle) != std::string::npos; }

#define CHECK_CONTAINS(haystack, needle) CHECK_MESSAGE(Contains(haystack, needle), "message: ", haystack, "\nwanted: ", needle)

constexpr const char* kLenet = R"([model]
init = "xavier"
[[model.layers]]
kind = "conv2d"
filters = 16
kernel = 5
padding = 2
[[model.layers]]
kind = "relu"
[[model.layers]]
kind = "maxpool2d"
kernel = 2
[[model.layers]]
kind = "dropout"
rate = 0.25
[[model.layers]]
kind = "flatten"
[[model.layers]]
kind = "dense"
units = 10
)";

}  // namespace

TEST_CASE("a layer list is read in order, with each entry's position, and makes the model type 'layers'") {
  TempDir dir;
  auto cfg = Load(kLenet, &dir);
  REQUIRE_MESSAGE(cfg.ok(), cfg.status().ToString());
  const auto& layers = cfg->model.layers;
  CHECK(cfg->model.type == meshtrain::ModelType::kLayers);
  REQUIRE(layers.size() == 6);
  CHECK(layers[0].kind == meshtrain::LayerKind::kConv2d);
  CHECK(layers[0].filters == 16);
  CHECK(layers[0].kernel == 5);
  CHECK(layers[0].padding == 2);
  CHECK(layers[0].stride == 0);  // unset: the kind's default
  CHECK(layers[0].where == dir.path() + "/cfg.toml:3:1");
  CHECK(layers[2].kind == meshtrain::LayerKind::kMaxPool2d);
  CHECK(layers[3].rate == 0.25);
  CHECK(layers[5].units == 10);
  CHECK(layers[5].where == dir.path() + "/cfg.toml:18:1");

  // The hash a resumed run must agree with covers the layers, not where they were written.
  std::string changed = kLenet;
  changed.replace(changed.find("units = 10"), 10, "units = 11");
  TempDir other;
  auto cfg2 = Load(changed, &other);
  REQUIRE(cfg2.ok());
  CHECK(cfg2->Hash() != cfg->Hash());
  TempDir moved;
  auto cfg3 = Load("# a comment moves every line\n" + std::string(kLenet), &moved);
  REQUIRE(cfg3.ok());
  CHECK(cfg3->Hash() == cfg->Hash());
}

TEST_CASE("unknown layer kinds and fields suggest the closest") {
  CHECK(ErrorFor("[[model.layers]]\nkind = \"conv2\"\nfilters = 4\nkernel = 3\n") ==
        "cfg.toml:2:8: model.layers[0].kind: unknown layer kind 'conv2'; did you mean 'conv2d'?");
  CHECK(ErrorFor("[[model.layers]]\nkind = \"maxpool\"\nkernel = 2\n") ==
        "cfg.toml:2:8: model.layers[0].kind: unknown layer kind 'maxpool'; did you mean 'maxpool2d'?");
  CHECK_CONTAINS(ErrorFor("[[model.layers]]\nkind = \"lstm\"\n"),
                 "cfg.toml:2:8: model.layers[0].kind: unknown layer kind 'lstm'; kinds are 'conv2d', 'maxpool2d'");
  CHECK(ErrorFor("[[model.layers]]\nkind = \"conv2d\"\nfilter = 4\nkernel = 3\n") ==
        "cfg.toml:1:1: model.layers[0]: conv2d needs 'filters'\n"
        "cfg.toml:3:1: model.layers[0].filter: unknown key; did you mean 'filters'?");
  CHECK(ErrorFor("[[model.layers]]\nkind = \"dense\"\nunits = 10\n[[model.layers]]\nkind = \"relu\"\nslope = 0.1\n") ==
        "cfg.toml:6:1: model.layers[1].slope: unknown key; relu takes no fields besides 'kind'");
  CHECK(ErrorFor("[model]\nlayer = 3\n") == "cfg.toml:2:1: model.layer: unknown key; did you mean 'layers'?");
}

TEST_CASE("a field the kind does not take, or a missing one, is named with what the kind takes") {
  CHECK(ErrorFor("[[model.layers]]\nkind = \"conv2d\"\nfilters = 4\nkernel = 3\nunits = 5\n") ==
        "cfg.toml:5:1: model.layers[0].units: not a field of conv2d; conv2d takes 'filters', 'kernel', 'stride', "
        "'padding'");
  CHECK(ErrorFor("[[model.layers]]\nkind = \"dense\"\n") == "cfg.toml:1:1: model.layers[0]: dense needs 'units'");
  CHECK_CONTAINS(ErrorFor("[[model.layers]]\nunits = 5\n"), "cfg.toml:1:1: model.layers[0]: missing key 'kind'");
}

TEST_CASE("layer fields of the wrong type or out of range say what is allowed") {
  CHECK(ErrorFor("[[model.layers]]\nkind = \"dense\"\nunits = \"10\"\n") ==
        "cfg.toml:3:1: model.layers[0].units: expects an integer, found the string '10'");
  CHECK(ErrorFor("[[model.layers]]\nkind = \"maxpool2d\"\nkernel = 0\n") ==
        "cfg.toml:3:1: model.layers[0].kernel: must be in 1..1024 (got 0)");
  CHECK(ErrorFor("[[model.layers]]\nkind = \"dropout\"\nrate = 1.0\n") ==
        "cfg.toml:3:1: model.layers[0].rate: must be in [0, 1) (got 1)");
  CHECK(ErrorFor("[[model.layers]]\nkind = \"conv2d\"\nfilters = 4\nkernel = 3\npadding = -1\n") ==
        "cfg.toml:5:1: model.layers[0].padding: must be in 0..1024 (got -1)");
  CHECK_CONTAINS(ErrorFor("[model]\nlayers = 3\n"), "cfg.toml:2:1: model.layers: expects an array of tables");
}

TEST_CASE("model.type and the layer list must agree") {
  CHECK(ErrorFor("[model]\ntype = \"mlp\"\n[[model.layers]]\nkind = \"dense\"\nunits = 10\n") ==
        "cfg.toml:3:9: model.layers: given, but model.type = 'mlp' builds its own layers; remove model.type or set "
        "it to 'layers'");
  CHECK_CONTAINS(ErrorFor("[model]\ntype = \"layers\"\n"),
                 "cfg.toml:2:1: model.type: 'layers' needs [[model.layers]] entries");
  TempDir dir;
  auto overridden = Load(kLenet, &dir, {"model.type=softmax"});
  REQUIRE_FALSE(overridden.ok());
  CHECK_CONTAINS(overridden.status().message(), "model.layers: given, but model.type = 'softmax'");
  TempDir dir2;
  auto set_layers = Load(kLenet, &dir2, {"model.layers=[]"});
  REQUIRE_FALSE(set_layers.ok());
  CHECK_CONTAINS(set_layers.status().message(),
                 "--set model.layers=[]: model.layers: cannot be set with --set; list layers as [[model.layers]]");
}
