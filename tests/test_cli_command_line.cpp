#include <doctest/doctest.h>

#include <limits>

#include "cli/command_line.h"
#include "cli/json_fields.h"
#include "meshtrain/metrics.h"

using namespace meshtrain;

TEST_CASE("run with config, id, overrides and resume") {
  auto c = ParseCommandLine({"run", "--config", "c.toml", "--id=p1", "--set", "optim.lr=0.1", "--set=train.epochs=2",
                             "--resume"});
  REQUIRE_MESSAGE(c.ok(), c.status().message());
  CHECK(c->verb == "run");
  CHECK(c->config_path == "c.toml");
  CHECK(c->id == "p1");
  CHECK(c->overrides == std::vector<std::string>{"optim.lr=0.1", "train.epochs=2"});
  CHECK(c->resume);
}

TEST_CASE("bad command lines name what is wrong") {
  auto msg = [](std::vector<std::string> args) {
    auto c = ParseCommandLine(args);
    REQUIRE_FALSE(c.ok());
    return c.status().message();
  };
  CHECK(msg({}).find("missing command") != std::string::npos);
  CHECK(msg({"fly"}).find("unknown command 'fly'") != std::string::npos);
  CHECK(msg({"run"}).find("--config") != std::string::npos);
  CHECK(msg({"run", "--config"}).find("--config needs a value") != std::string::npos);
  CHECK(msg({"run", "--config", "c", "--set", "lr=1"}).find("section.key=value") != std::string::npos);
  CHECK(msg({"run", "--config", "c", "--bogus"}).find("unknown option '--bogus'") != std::string::npos);
  CHECK(msg({"eval", "--config", "c"}).find("--checkpoint") != std::string::npos);
  CHECK(msg({"inspect"}).find("one checkpoint") != std::string::npos);
  CHECK(msg({"watch", "d", "--pid", "x"}).find("--pid x") != std::string::npos);
}

TEST_CASE("metrics lines parse back field by field") {
  JsonLine inner;
  inner.Add("p1", 1.5);
  JsonLine line;
  line.Add("t", 12.5).Add("peer", "p\"0").Add("step", int64_t{7}).Add("view", std::vector<std::string>{"a", "b"});
  line.Add("nan", std::numeric_limits<double>::quiet_NaN()).AddRaw("waits", inner.str());
  auto f = ParseJsonFields(line.str());
  REQUIRE(f.has_value());
  CHECK(NumberField(*f, "t", 0) == 12.5);
  CHECK((*f)["peer"] == "p\"0");
  CHECK(NumberField(*f, "step", 0) == 7);
  CHECK((*f)["view"] == "[\"a\",\"b\"]");
  CHECK((*f)["nan"] == "null");
  auto waits = ParseJsonFields((*f)["waits"]);
  REQUIRE(waits.has_value());
  CHECK(NumberField(*waits, "p1", 0) == 1.5);
  CHECK_FALSE(ParseJsonFields("not json").has_value());
  CHECK_FALSE(ParseJsonFields("{\"a\":").has_value());
}
