// log.prometheus (docs/observability.md): off by default, "host:port" when
// set, and anything else refused with a message naming the key and the value.
#include <doctest/doctest.h>

#include "config/text_checks.h"
#include "meshtrain/config.h"
#include "support/temp_dir.h"

using meshtrain::LoadConfig;
using meshtrain::config_internal::ListenAddressProblem;
using meshtrain::testing::TempDir;

namespace {

constexpr const char* kTwoPeers = R"(
[[cluster.peers]]
id = "p0"
endpoint = "tcp://127.0.0.1:7101"

[[cluster.peers]]
id = "p1"
endpoint = "tcp://127.0.0.1:7102"
)";

}  // namespace

TEST_CASE("log.prometheus is off by default and takes host:port") {
  TempDir dir;
  const std::string path = dir.Write("cfg.toml", kTwoPeers);
  auto plain = LoadConfig(path, "p0", {});
  REQUIRE(plain.ok());
  CHECK(plain->log.prometheus.empty());
  for (const std::string address : {"127.0.0.1:9464", "0.0.0.0:9464", "localhost:1", "[::1]:9464", "board-3:65535"}) {
    auto cfg = LoadConfig(path, "p0", {"log.prometheus=" + address});
    CHECK_MESSAGE(cfg.ok(), address << ": " << cfg.status().message());
    if (cfg.ok()) CHECK(cfg->log.prometheus == address);
  }
}

TEST_CASE("a bad log.prometheus names the key and what is wrong") {
  TempDir dir;
  const std::string path = dir.Write("cfg.toml", std::string("[log]\nprometheus = \"127.0.0.1\"\n") + kTwoPeers);
  auto cfg = LoadConfig(path, "p0", {});
  REQUIRE_FALSE(cfg.ok());
  CHECK(cfg.status().message().find("cfg.toml:2:1: log.prometheus: must be host:port with port 1..65535 "
                                    "(the :port is missing)") != std::string::npos);

  CHECK(ListenAddressProblem("").empty());
  CHECK(ListenAddressProblem("127.0.0.1:0").find("out of range") != std::string::npos);
  CHECK(ListenAddressProblem("127.0.0.1:99999").find("out of range") != std::string::npos);
  CHECK(ListenAddressProblem("127.0.0.1:http").find("not a number") != std::string::npos);
  CHECK(ListenAddressProblem("http://127.0.0.1:9464").find("no http://") != std::string::npos);
  CHECK(ListenAddressProblem("*:9464").find("0.0.0.0") != std::string::npos);
  CHECK(ListenAddressProblem("::1:9464").find("brackets") != std::string::npos);
  CHECK(ListenAddressProblem("[::1:9464").find("the :port is missing") != std::string::npos);
}
