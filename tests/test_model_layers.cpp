// Every layer kind of model.type = "layers" (docs/models.md, "Layers"): the
// loss and the gradient of small networks around it against a double-precision
// reference written independently here (plain loops over the documented
// channels-last layout and parameter order), differentiated by central
// differences. Each network puts the layer under test above another layer with
// parameters, so its input gradient is checked too.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "meshtrain/model.h"
#include "model/pointwise_layers.h"

namespace meshtrain {
namespace {

LayerConfig L(const std::string& kind, int64_t a = 0, int64_t b = 0, int64_t stride = 0, int64_t padding = 0) {
  LayerConfig l;
  l.kind = ParseEnum<LayerKind>(kind).value();
  if (kind == "conv2d") {
    l.filters = a;
    l.kernel = b;
  } else if (kind == "maxpool2d" || kind == "avgpool2d") {
    l.kernel = a;
  } else if (kind == "dense") {
    l.units = a;
  }
  l.stride = stride;
  l.padding = padding;
  return l;
}

LayerConfig Dropout(double rate) {
  LayerConfig l;
  l.kind = LayerKind::kDropout;
  l.rate = rate;
  return l;
}

struct Shape {
  int64_t c, h, w;
  bool image;
  int64_t size() const { return c * h * w; }
};

// One layer of the reference, on one sample (channels-last, element (y * w + x) * c + ch).
std::vector<double> RefLayer(const LayerConfig& l, size_t index, Shape* shape, const double* p, size_t* used,
                             const std::vector<double>& x, uint64_t key, int64_t row) {
  const Shape in = *shape;
  std::vector<double> y;
  *used = 0;
  if (l.kind == LayerKind::kConv2d) {
    const int64_t k = l.kernel, s = l.stride > 0 ? l.stride : 1, pad = l.padding, f = l.filters;
    const int64_t oh = (in.h + 2 * pad - k) / s + 1, ow = (in.w + 2 * pad - k) / s + 1;
    const int64_t patch = k * k * in.c;
    y.assign(static_cast<size_t>(oh * ow * f), 0.0);
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t o = 0; o < f; ++o) {
          double sum = p[f * patch + o];
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx)
              for (int64_t c = 0; c < in.c; ++c) {
                const int64_t iy = oy * s - pad + ky, ix = ox * s - pad + kx;
                if (iy < 0 || iy >= in.h || ix < 0 || ix >= in.w) continue;
                sum += p[o + f * ((ky * k + kx) * in.c + c)] * x[static_cast<size_t>((iy * in.w + ix) * in.c + c)];
              }
          y[static_cast<size_t>((oy * ow + ox) * f + o)] = sum;
        }
    *used = static_cast<size_t>(f * patch + f);
    *shape = {f, oh, ow, true};
  } else if (l.kind == LayerKind::kMaxPool2d || l.kind == LayerKind::kAvgPool2d) {
    const int64_t k = l.kernel, s = l.stride > 0 ? l.stride : k;
    const int64_t oh = (in.h - k) / s + 1, ow = (in.w - k) / s + 1;
    for (int64_t oy = 0; oy < oh; ++oy)
      for (int64_t ox = 0; ox < ow; ++ox)
        for (int64_t c = 0; c < in.c; ++c) {
          double best = -1e300, sum = 0;
          for (int64_t ky = 0; ky < k; ++ky)
            for (int64_t kx = 0; kx < k; ++kx) {
              const double v = x[static_cast<size_t>(((oy * s + ky) * in.w + ox * s + kx) * in.c + c)];
              best = std::max(best, v);
              sum += v;
            }
          y.push_back(l.kind == LayerKind::kMaxPool2d ? best : sum / static_cast<double>(k * k));
        }
    *shape = {in.c, oh, ow, true};
  } else if (l.kind == LayerKind::kDense) {
    const int64_t n = in.size(), u = l.units;
    for (int64_t o = 0; o < u; ++o) {
      double sum = p[u * n + o];
      for (int64_t i = 0; i < n; ++i) sum += p[o + u * i] * x[static_cast<size_t>(i)];
      y.push_back(sum);
    }
    *used = static_cast<size_t>(u * n + u);
    *shape = {u, 1, 1, false};
  } else if (l.kind == LayerKind::kFlatten) {
    y = x;
    *shape = {in.size(), 1, 1, false};
  } else if (l.kind == LayerKind::kRelu || l.kind == LayerKind::kTanh || l.kind == LayerKind::kGelu) {
    for (double v : x) {
      y.push_back(l.kind == LayerKind::kRelu ? std::max(v, 0.0)
                  : l.kind == LayerKind::kTanh ? std::tanh(v)
                                     : 0.5 * v * (1.0 + std::erf(v / std::sqrt(2.0))));
    }
  } else if (l.kind == LayerKind::kDropout) {
    for (size_t e = 0; e < x.size(); ++e) {
      const bool keep = DropoutKeeps(key, static_cast<int64_t>(index), row, static_cast<int64_t>(e), l.rate);
      y.push_back(keep ? x[e] / (1.0 - l.rate) : 0.0);
    }
  } else if (l.kind == LayerKind::kLayerNorm) {
    double mean = 0, var = 0;
    for (double v : x) mean += v;
    mean /= static_cast<double>(x.size());
    for (double v : x) var += (v - mean) * (v - mean);
    var /= static_cast<double>(x.size());
    for (size_t e = 0; e < x.size(); ++e) {
      const size_t c = e % static_cast<size_t>(in.c);
      y.push_back((x[e] - mean) / std::sqrt(var + 1e-5) * p[c] + p[static_cast<size_t>(in.c) + c]);
    }
    *used = static_cast<size_t>(2 * in.c);
  } else {
    FAIL("no reference for " << l.kind);
  }
  return y;
}

struct Net {
  std::string name;
  Shape input;
  int classes;  // 0: regression
  std::vector<LayerConfig> layers;
};

struct Data {
  std::vector<float> x;
  std::vector<int32_t> labels;
  std::vector<float> targets;
};

Data MakeData(const Net& net, int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  Data d;
  d.x.resize(static_cast<size_t>(net.input.size() * rows));
  for (float& v : d.x) v = u(rng);
  for (int64_t i = 0; i < rows; ++i) {
    d.labels.push_back(net.classes > 0 ? static_cast<int32_t>(rng() % static_cast<uint32_t>(net.classes)) : 0);
    d.targets.push_back(u(rng));
  }
  return d;
}

double ReferenceLoss(const Net& net, const std::vector<double>& params, const Data& d, int64_t rows, uint64_t key) {
  double total = 0;
  for (int64_t r = 0; r < rows; ++r) {
    const size_t n = static_cast<size_t>(net.input.size());
    std::vector<double> a(d.x.begin() + static_cast<std::ptrdiff_t>(r * static_cast<int64_t>(n)),
                          d.x.begin() + static_cast<std::ptrdiff_t>((r + 1) * static_cast<int64_t>(n)));
    Shape shape = net.input;
    size_t offset = 0;
    for (size_t i = 0; i < net.layers.size(); ++i) {
      size_t used = 0;
      a = RefLayer(net.layers[i], i, &shape, params.data() + offset, &used, a, key, r);
      offset += used;
    }
    if (net.classes == 0) {
      const double e = a[0] - d.targets[static_cast<size_t>(r)];
      total += 0.5 * e * e;
    } else {
      const double top = *std::max_element(a.begin(), a.end());
      double lse = 0;
      for (double v : a) lse += std::exp(v - top);
      total += top + std::log(lse) - a[static_cast<size_t>(d.labels[static_cast<size_t>(r)])];
    }
  }
  return total / static_cast<double>(rows);
}

Result<std::unique_ptr<Model>> Build(const Net& net, int64_t max_batch) {
  ModelConfig config;
  config.type = ModelType::kLayers;
  config.layers = net.layers;
  const SampleShape input =
      net.input.image ? SampleShape::Image(net.input.c, net.input.h, net.input.w) : SampleShape::Flat(net.input.c);
  return CreateModel(config, input, net.classes, max_batch);
}

void CheckNet(const Net& net, int64_t max_batch, int64_t rows) {
  CAPTURE(net.name);
  CAPTURE(max_batch);
  CAPTURE(rows);
  auto created = Build(net, max_batch);
  REQUIRE_MESSAGE(created.ok(), created.status().ToString());
  Model& model = **created;
  model.InitParams(3);
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-0.1f, 0.1f);
  for (float& v : model.params()) v += u(rng);  // biases, gamma and beta off their start values
  const uint64_t key = NoiseKey(42, 1, 7);
  model.SetNoiseKey(key);
  const Data d = MakeData(net, rows, 11);
  const Batch batch{d.x.data(), rows, net.input.size(), d.labels.data(), d.targets.data()};
  const double loss = model.ForwardBackward(batch);

  std::vector<double> params(model.params().begin(), model.params().end());
  CHECK(loss == doctest::Approx(ReferenceLoss(net, params, d, rows, key)).epsilon(1e-5));
  const double h = 1e-5;
  double max_numeric = 0;
  for (size_t k = 0; k < params.size(); ++k) {
    const double saved = params[k];
    params[k] = saved + h;
    const double up = ReferenceLoss(net, params, d, rows, key);
    params[k] = saved - h;
    const double down = ReferenceLoss(net, params, d, rows, key);
    params[k] = saved;
    const double numeric = (up - down) / (2 * h);
    const double analytic = model.grads()[k];
    CAPTURE(k);
    CHECK(std::abs(analytic - numeric) <= 1e-4 + 1e-3 * std::abs(numeric));
    max_numeric = std::max(max_numeric, std::abs(numeric));
  }
  CHECK(max_numeric > 1e-3);

  // Evaluation: no dropout, the same forward pass otherwise.
  EvalTotals totals;
  model.Evaluate(batch, &totals);
  CHECK(totals.count == rows);
  CHECK(std::isfinite(totals.loss_sum));
}

const Shape kImage{2, 6, 5, true};  // not square, two channels: catches height/width and channel mix-ups

std::vector<Net> Nets() {
  return {
      {"conv2d (padding, then stride 2)", kImage, 3,
       {L("conv2d", 3, 3, 1, 1), L("conv2d", 2, 2, 2, 0), L("flatten"), L("dense", 3)}},
      {"conv2d stride 2 padding 2", kImage, 3, {L("conv2d", 2, 3, 1, 0), L("conv2d", 2, 3, 2, 2), L("flatten"), L("dense", 3)}},
      {"maxpool2d", kImage, 3, {L("conv2d", 3, 3, 1, 1), L("maxpool2d", 2), L("flatten"), L("dense", 3)}},
      {"maxpool2d overlapping", kImage, 3, {L("conv2d", 3, 3, 1, 1), L("maxpool2d", 3, 0, 1), L("flatten"), L("dense", 3)}},
      {"avgpool2d", kImage, 3, {L("conv2d", 3, 3, 1, 1), L("avgpool2d", 2), L("flatten"), L("dense", 3)}},
      // A relu right below a max pool is done by the pool (model/pool_layers.h).
      {"relu then maxpool2d", kImage, 3,
       {L("conv2d", 3, 3, 1, 1), L("relu"), L("maxpool2d", 2), L("flatten"), L("dense", 3)}},
      {"relu then overlapping maxpool2d", kImage, 3,
       {L("conv2d", 3, 3, 1, 1), L("relu"), L("maxpool2d", 2, 0, 1), L("flatten"), L("dense", 3)}},
      {"relu on the input then maxpool2d", kImage, 3, {L("relu"), L("maxpool2d", 2), L("flatten"), L("dense", 3)}},
      // One channel, then two, at stride 1: the patches are packed from side-by-side
      // pixels and from runs along output rows (model/conv2d_layer.cpp).
      {"conv2d on one channel", {1, 7, 9, true}, 3,
       {L("conv2d", 2, 3, 1, 1), L("conv2d", 2, 3, 1, 2), L("flatten"), L("dense", 3)}},
      {"relu", kImage, 3, {L("conv2d", 3, 3, 1, 1), L("relu"), L("flatten"), L("dense", 3)}},
      {"tanh", kImage, 3, {L("conv2d", 3, 3, 1, 1), L("tanh"), L("flatten"), L("dense", 3)}},
      {"gelu", kImage, 3, {L("conv2d", 3, 3, 1, 1), L("gelu"), L("flatten"), L("dense", 3)}},
      {"dropout on an image", kImage, 3, {L("conv2d", 3, 3, 1, 1), Dropout(0.3), L("flatten"), L("dense", 3)}},
      {"dropout then tanh (in place)", kImage, 3,
       {L("flatten"), L("dense", 6), Dropout(0.5), L("tanh"), L("dense", 3)}},
      {"layernorm per channel", kImage, 3, {L("conv2d", 3, 3, 1, 1), L("layernorm"), L("flatten"), L("dense", 3)}},
      {"layernorm on a vector", kImage, 3, {L("flatten"), L("dense", 5), L("layernorm"), L("relu"), L("dense", 3)}},
      {"dense on flat data", {7, 1, 1, false}, 4, {L("dense", 5), L("relu"), L("dense", 4)}},
      {"regression", {5, 1, 1, false}, 0, {L("dense", 4), L("gelu"), L("dense", 1)}},
  };
}

TEST_CASE("every layer kind's gradient matches central differences of a double-precision reference") {
  for (const Net& net : Nets()) {
    CheckNet(net, /*max_batch=*/6, /*rows=*/6);
    CheckNet(net, /*max_batch=*/4, /*rows=*/9);  // chunked: 4 + 4 + 1 (dropout masks follow the batch row)
  }
}

TEST_CASE("a convolution folded back a sample at a time within a pass equals one pass per sample") {
  // The patch gradients of the second convolution of each are more than 256
  // KiB a sample (18 x 2304 floats, from two channels; 72 x 576, from eight),
  // so a pass folds them back one sample at a time, each at its offset; its
  // input gradient reaches the 1x1 convolution below.
  const Net patch_major{"two channels", {1, 48, 48, true}, 3,
                        {L("conv2d", 2, 1), L("conv2d", 4, 3, 1, 1), L("maxpool2d", 4), L("flatten"), L("dense", 3)}};
  const Net pixel_major{"eight channels", {8, 24, 24, true}, 3,
                        {L("conv2d", 8, 1), L("conv2d", 4, 3, 1, 1), L("maxpool2d", 4), L("flatten"), L("dense", 3)}};
  for (const Net& net : {patch_major, pixel_major}) {
    CAPTURE(net.name);
    auto many = Build(net, 16);
    auto one = Build(net, 1);
    REQUIRE(many.ok());
    REQUIRE(one.ok());
    (*many)->InitParams(1);
    (*one)->InitParams(1);
    const Data d = MakeData(net, 16, 3);
    const Batch batch{d.x.data(), 16, net.input.size(), d.labels.data(), d.targets.data()};
    const double loss_many = (*many)->ForwardBackward(batch);
    const double loss_one = (*one)->ForwardBackward(batch);
    CHECK(loss_many == doctest::Approx(loss_one).epsilon(1e-6));
    double max_grad = 0, max_diff = 0;
    for (size_t k = 0; k < (*many)->grads().size(); ++k) {
      max_grad = std::max(max_grad, static_cast<double>(std::abs((*one)->grads()[k])));
      max_diff = std::max(max_diff, static_cast<double>(std::abs((*many)->grads()[k] - (*one)->grads()[k])));
    }
    CHECK(max_grad > 1e-3);
    CHECK(max_diff <= 1e-5 * max_grad);
  }
}

TEST_CASE("dropout masks are a pure function of (seed, peer, step) and differ between them") {
  const Net net{"dropout", {8, 1, 1, false}, 2, {L("dense", 16), Dropout(0.5), L("dense", 2)}};
  auto a = Build(net, 4);
  auto b = Build(net, 4);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  (*a)->InitParams(2);
  (*b)->InitParams(2);
  const Data d = MakeData(net, 4, 9);
  const Batch batch{d.x.data(), 4, 8, d.labels.data(), d.targets.data()};
  (*a)->SetNoiseKey(NoiseKey(1, 0, 5));
  (*b)->SetNoiseKey(NoiseKey(1, 0, 5));
  CHECK((*a)->ForwardBackward(batch) == (*b)->ForwardBackward(batch));
  CHECK(std::equal((*a)->grads().begin(), (*a)->grads().end(), (*b)->grads().begin()));
  CHECK(NoiseKey(1, 0, 5) != NoiseKey(1, 0, 6));
  CHECK(NoiseKey(1, 0, 5) != NoiseKey(1, 1, 5));
  CHECK(NoiseKey(1, 0, 5) != NoiseKey(2, 0, 5));
  int kept = 0;
  for (int e = 0; e < 10000; ++e) kept += DropoutKeeps(NoiseKey(1, 0, 5), 1, 0, e, 0.25) ? 1 : 0;
  CHECK(kept > 7300);
  CHECK(kept < 7700);
}

TEST_CASE("the layer list and description name every layer with its output shape") {
  const Net net{"lenet", {1, 28, 28, true}, 10,
                {L("conv2d", 16, 5, 1, 2), L("relu"), L("maxpool2d", 2), L("conv2d", 32, 5, 1, 2), L("relu"),
                 L("maxpool2d", 2), L("flatten"), L("dense", 128), L("relu"), L("dense", 10)}};
  auto model = Build(net, 64);
  REQUIRE(model.ok());
  CHECK((*model)->num_params() == 416 + 12832 + 200832 + 1290);
  CHECK((*model)->Describe() ==
        "layers 1x28x28 conv2d(16,5x5,s1,p2) relu maxpool2d(2) conv2d(32,5x5,s1,p2) relu maxpool2d(2) flatten "
        "dense(128) relu dense(10)");
  const std::vector<std::string> list = (*model)->LayerList();
  REQUIRE(list.size() == 11);
  CHECK(list[0] == "input 1x28x28");
  CHECK(list[1] == "conv2d filters=16 kernel=5 stride=1 padding=2 -> 16x28x28, 416 params");
  CHECK(list[3] == "maxpool2d kernel=2 stride=2 -> 16x14x14");
  CHECK(list[7] == "flatten -> 1568");
  CHECK(list[10] == "dense units=10 -> 10, 1290 params");
}

TEST_CASE("shapes that do not fit are errors naming the entry") {
  auto error = [](const Shape& input, int classes, std::vector<LayerConfig> layers) {
    for (size_t i = 0; i < layers.size(); ++i) layers[i].where = "net.toml:" + std::to_string(10 + i) + ":1";
    const Net net{"bad", input, classes, layers};
    auto model = Build(net, 4);
    REQUIRE_FALSE(model.ok());
    CHECK(model.status().code() == Status::Code::kInvalidArgument);
    return model.status().message();
  };
  const Shape flat{7, 1, 1, false};
  CHECK(error(flat, 3, {L("conv2d", 2, 3), L("flatten"), L("dense", 3)}) ==
        "net.toml:10:1: model.layers[0] (conv2d): needs an image input but gets a flat vector of 7 features (the "
        "data are flat rows, not images)");
  CHECK(error(kImage, 3, {L("dense", 3)}) ==
        "net.toml:10:1: model.layers[0] (dense): gets a 2x6x5 image (channels x height x width); put a flatten "
        "layer before it");
  CHECK(error(kImage, 3, {L("conv2d", 2, 7), L("flatten"), L("dense", 3)}) ==
        "net.toml:10:1: model.layers[0] (conv2d): kernel 7 with padding 0 does not fit its input: gets a 2x6x5 "
        "image (channels x height x width)");
  CHECK(error(kImage, 3, {L("maxpool2d", 2), L("maxpool2d", 2), L("maxpool2d", 2), L("flatten"), L("dense", 3)}) ==
        "net.toml:12:1: model.layers[2] (maxpool2d): kernel 2 does not fit its input: gets a 2x1x1 image (channels "
        "x height x width)");
  CHECK(error(kImage, 3, {L("flatten"), L("dense", 4)}) ==
        "net.toml:11:1: model.layers[1] (dense): the last layer gives 4 outputs but the data has 3 classes; end "
        "with a dense layer of 3 units");
  CHECK(error(kImage, 3, {L("conv2d", 3, 3)}) ==
        "net.toml:10:1: model.layers[0] (conv2d): the last layer gives a 3x4x3 image but the data has 3 classes; "
        "end with a dense layer of 3 units after a flatten");
  CHECK(error(flat, 0, {L("dense", 2)}).find("the data is regression (one target)") != std::string::npos);
  CHECK(error(kImage, 3, {L("conv2d", 4096, 1, 1, 1024), L("flatten"), L("dense", 3)})
            .find("net.toml:10:1: model.layers[0] (conv2d): too large: 4096 filters of 1x1") != std::string::npos);
}

}  // namespace
}  // namespace meshtrain
