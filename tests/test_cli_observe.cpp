// Watching a cluster from outside (docs/observability.md): a 4-peer ring with
// log.prometheus on every peer and `meshtrain watch --http` over its run
// directory. While it trains, /metrics is scraped over and over: promtool (or,
// without it, the strict format check here) accepts every peer's text, the
// step and byte counters never go back, the bytes per neighbour add up to the
// totals, and when one peer is killed its neighbours report the view change.
// The status page, opened in headless Chromium, shows four rows, the links,
// both charts and the kill marked.
#include <doctest/doctest.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <regex>
#include <sstream>

#include "cli/http_endpoint.h"
#include "test_cli_faults_support.h"

using namespace meshtrain;
using namespace meshtrain::testing;
using namespace std::chrono_literals;

namespace {

// A ring that runs until stopped (many epochs) and logs often, so the
// scrapes see the figures move.
const std::string kObservedBody = R"(
[data]
dir = "/usr/share/datasets/fashion-mnist"
train_limit = 8000
test_limit = 1000
shard = "strided"

[model]
type = "mlp"
hidden = [32]

[optim]
type = "sgd"
lr = 0.1
momentum = 0.9

[train]
epochs = 1000
batch_size = 32
seed = 5
log_every = 5
eval_every = 25

[sync]
mode = "ring"
timeout_ms = 20000
start_timeout_ms = 30000

# Slower to suspect than the default: on a busy two-core machine a peer starved
# of CPU for a second must not be declared dead (only the killed one is).
[membership]
suspect_ms = 1000
dead_ms = 2500

[debug]
step_delay_ms = 5
)";

// The value of the sample `name{peer="..."...}` (the first one), or -1.
double Sample(const std::string& text, const std::string& name) {
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(name + "{", 0) != 0) continue;
    return std::strtod(line.c_str() + line.rfind(' ') + 1, nullptr);
  }
  return -1;
}

// Every sample of `name` by the value of its second label (`neighbour`, say).
std::map<std::string, double> ByLabel(const std::string& text, const std::string& name, const std::string& label) {
  std::map<std::string, double> out;
  const std::regex sample(name + R"re(\{peer="[^"]*",)re" + label + R"re(="([^"]*)"\} (\S+))re");
  std::istringstream in(text);
  std::string line;
  std::smatch m;
  while (std::getline(in, line)) {
    if (std::regex_match(line, m, sample)) out[m[1]] = std::strtod(m[2].str().c_str(), nullptr);
  }
  return out;
}

double Value(const std::map<std::string, double>& values, const std::string& key) {
  auto it = values.find(key);
  return it == values.end() ? -1 : it->second;
}

double Sum(const std::map<std::string, double>& values) {
  double sum = 0;
  for (const auto& [key, value] : values) sum += value;
  return sum;
}

// The text format as we write it, strictly: HELP and TYPE before each family's
// samples, every sample with its peer label, a known type, a finite number.
// (promtool checks more when it is installed; this runs everywhere.)
std::string FormatProblem(const std::string& text, const std::string& peer) {
  static const std::regex help(R"re(# HELP (meshtrain_[a-z_]+) \S.*)re");
  static const std::regex type(R"re(# TYPE (meshtrain_[a-z_]+) (counter|gauge))re");
  static const std::regex sample(R"re((meshtrain_[a-z_]+)\{peer="([^"]*)"(,[a-z_]+="[^"\\\n]*")?\} (-?[0-9.e+-]+))re");
  std::istringstream in(text);
  std::string line, family, family_type;
  int n = 0;
  while (std::getline(in, line)) {
    ++n;
    std::smatch m;
    if (std::regex_match(line, m, help)) {
      family = m[1];
      family_type.clear();
    } else if (std::regex_match(line, m, type)) {
      if (m[1] != family) return "line " + std::to_string(n) + ": TYPE without its HELP: " + line;
      family_type = m[2];
      if ((family_type == "counter") != (family.size() > 6 && family.substr(family.size() - 6) == "_total")) {
        return "line " + std::to_string(n) + ": counters and only counters end in _total: " + line;
      }
    } else if (std::regex_match(line, m, sample)) {
      if (m[1] != family || family_type.empty()) return "line " + std::to_string(n) + ": sample outside its family";
      if (m[2] != peer) return "line " + std::to_string(n) + ": peer label is not " + peer;
      char* end = nullptr;
      const std::string value = m[4];
      std::strtod(value.c_str(), &end);
      if (*end != '\0') return "line " + std::to_string(n) + ": not a number: " + line;
    } else {
      return "line " + std::to_string(n) + ": not the text format: '" + line + "'";
    }
  }
  return n == 0 ? "empty" : "";
}

std::string FindProgram(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/bin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    const std::string candidate = dir + "/" + name;
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

// scripts/setup.sh --observability installs the tools; scripts/test.sh --full
// (CI) does and sets MESHTRAIN_REQUIRE_OBSERVE_TOOLS, so that there a missing
// one fails instead of skipping quietly.
void MissingTool(const std::string& what) {
  const char* required = std::getenv("MESHTRAIN_REQUIRE_OBSERVE_TOOLS");
  if (required != nullptr && std::string(required) == "1") {
    FAIL_CHECK("not installed: " << what << " (MESHTRAIN_REQUIRE_OBSERVE_TOOLS=1; scripts/setup.sh --observability)");
  } else {
    MESSAGE("not installed: " << what << " (scripts/setup.sh --observability installs it)");
  }
}

// Runs `argv` to the end (bounded) and returns its exit code; output in `log`.
int RunTool(const std::vector<std::string>& argv, const std::string& log, std::chrono::milliseconds timeout) {
  ChildProcess tool(argv, log);
  auto code = tool.Wait(timeout);
  if (!code) {
    tool.Signal(SIGKILL);
    FAIL_CHECK(argv[0] << " still running after " << timeout.count() << " ms; output:\n" << ReadFile(log));
    return -1;
  }
  return *code;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
  return n;
}

// AwaitOrFail, and on a timeout what `explain()` says about the peers.
template <typename Explain, typename Pred>
void AwaitOrExplain(std::chrono::milliseconds timeout, const std::string& what, Explain explain, Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) FAIL("timed out waiting for " << what << "\n" << explain());
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

struct Scraped {
  double step = -1;
  double sent = -1;
  double received = -1;
  std::map<std::string, double> sent_to, received_from;  // by neighbour
};

// Each neighbour's count is there on `now` and not below `before`'s.
void CheckGrows(const std::string& peer, const char* what, const std::map<std::string, double>& before,
                const std::map<std::string, double>& now) {
  for (const auto& [neighbour, bytes] : before) {
    auto it = now.find(neighbour);
    CHECK_MESSAGE(it != now.end(), peer << ": " << what << " " << neighbour << " went missing");
    if (it != now.end()) CHECK_MESSAGE(it->second >= bytes, peer << ": " << what << " " << neighbour << " went back");
  }
}

}  // namespace

TEST_CASE("4 ring peers with log.prometheus and watch --http: scraped while training, one killed") {
  if (!HttpEndpoint::Available()) {
    MESSAGE("skipped: this build has no cpp-httplib (scripts/setup.sh installs libcpp-httplib-dev)");
    return;
  }
  TempDir dir;
  const std::string config = WriteClusterConfig(dir, 4, kObservedBody);
  std::vector<PeerRun> peers;
  std::vector<std::string> addresses;
  for (int i = 0; i < 4; ++i) {
    addresses.push_back("127.0.0.1:" + std::to_string(FreeLoopbackPort()));
    peers.push_back(StartPeer(dir, config, "p" + std::to_string(i), {"--set", "log.prometheus=" + addresses[i]}));
  }
  const std::string page_address = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
  ChildProcess watch({MESHTRAIN_BINARY, "watch", dir.File("runs"), "--http", page_address}, dir.File("watch.txt"));

  // Scrapes every live peer; checks each text and that the counters only grow.
  std::vector<std::unique_ptr<HttpClient>> clients;
  for (const auto& a : addresses) clients.push_back(std::make_unique<HttpClient>(a));
  std::vector<Scraped> last(4);
  std::vector<std::string> texts(4);
  int scrapes = 0;
  auto scrape = [&](int i) {
    auto text = clients[i]->Get("/metrics");
    if (!text.ok()) return false;  // not listening yet
    ++scrapes;
    texts[i] = *text;
    const std::string problem = FormatProblem(*text, peers[i].id);
    CHECK_MESSAGE(problem.empty(), peers[i].id << ": " << problem << "\n" << *text);
    Scraped now{Sample(*text, "meshtrain_step"), Sample(*text, "meshtrain_sent_bytes_total"),
                Sample(*text, "meshtrain_received_bytes_total"),
                ByLabel(*text, "meshtrain_neighbour_sent_bytes_total", "neighbour"),
                ByLabel(*text, "meshtrain_neighbour_received_bytes_total", "neighbour")};
    CHECK_MESSAGE(now.step >= last[i].step, peers[i].id << " step went back: " << last[i].step << " -> " << now.step);
    CHECK_MESSAGE(now.sent >= last[i].sent, peers[i].id << " sent bytes went back");
    CHECK_MESSAGE(now.received >= last[i].received, peers[i].id << " received bytes went back");
    CheckGrows(peers[i].id, "bytes sent to", last[i].sent_to, now.sent_to);
    CheckGrows(peers[i].id, "bytes received from", last[i].received_from, now.received_from);
    // Both come from one transport snapshot per line: the parts add up exactly.
    CHECK_MESSAGE(Sum(now.sent_to) == now.sent, peers[i].id << ": bytes sent by neighbour do not add up\n" << *text);
    CHECK_MESSAGE(Sum(now.received_from) == now.received,
                  peers[i].id << ": bytes received by neighbour do not add up\n" << *text);
    last[i] = std::move(now);
    return true;
  };
  // What the peers said last, for a failure message (evaluated only then).
  auto describe = [&] {
    std::string out;
    for (int i = 0; i < 4; ++i) {
      out += peers[i].id + ": step " + std::to_string(last[i].step) + ", view members " +
             std::to_string(Sample(texts[i], "meshtrain_view_members")) + ", view changes " +
             std::to_string(Sample(texts[i], "meshtrain_view_changes_total")) + ", deaths " +
             std::to_string(Sample(texts[i], "meshtrain_peer_deaths_total")) + "; log tail:\n";
      const std::string log = peers[i].log();
      out += log.substr(log.size() > 1500 ? log.size() - 1500 : 0) + "\n";
    }
    return out;
  };
  AwaitOrExplain(90s, "every peer's /metrics to show step 60 or more", describe, [&] {
    bool all = true;
    for (int i = 0; i < 4; ++i) all = scrape(i) && last[i].step >= 60 && all;
    std::this_thread::sleep_for(50ms);
    return all;
  });
  for (int i = 0; i < 4; ++i) {
    CHECK(last[i].sent > 0);
    CHECK(last[i].received > 0);
    // Every peer holds a link to every other one (membership heartbeats all, the ring its neighbours).
    for (int j = 0; j < 4; ++j) {
      if (j == i) continue;
      CHECK_MESSAGE(Value(last[i].sent_to, peers[j].id) > 0, peers[i].id << " sent nothing to " << peers[j].id);
      CHECK_MESSAGE(Value(last[i].received_from, peers[j].id) > 0,
                    peers[i].id << " received nothing from " << peers[j].id);
    }
    CHECK(Sample(texts[i], "meshtrain_view_members") == 4);
    CHECK(Sample(texts[i], "meshtrain_test_accuracy_ratio") > 0);
  }

  const std::string promtool = FindProgram("promtool");
  if (promtool.empty()) {
    MissingTool("promtool (Debian's prometheus): only the strict format check here ran");
  } else {
    MESSAGE("promtool check metrics on every peer's text: " << promtool);
    for (int i = 0; i < 4; ++i) {
      const std::string file = dir.Write(peers[i].id + ".prom", texts[i]);
      const std::string log = dir.File(peers[i].id + ".promtool.txt");
      const int code = RunTool({"/bin/sh", "-c", "exec \"$0\" check metrics < \"$1\"", promtool, file}, log, 30s);
      CHECK_MESSAGE(code == 0, peers[i].id << ": promtool check metrics said:\n" << ReadFile(log) << "\non:\n" << texts[i]);
    }
  }

  // Each peer's own count: one that started later saw fewer of the views that formed the cluster.
  std::vector<double> changes_before(4);
  for (int i = 0; i < 4; ++i) changes_before[i] = Sample(texts[i], "meshtrain_view_changes_total");
  peers[3].process->Signal(SIGKILL);
  CHECK(peers[3].process->Wait(10s).value_or(-1) == 128 + SIGKILL);
  AwaitOrExplain(60s, "p0, p1 and p2 to report a 3-member view after p3's kill", describe, [&] {
    bool all = true;
    for (int i = 0; i < 3; ++i) {
      all = scrape(i) && Sample(texts[i], "meshtrain_view_members") == 3 &&
            Sample(texts[i], "meshtrain_view_changes_total") > changes_before[i] &&
            Sample(texts[i], "meshtrain_peer_deaths_total") >= 1 && all;
    }
    std::this_thread::sleep_for(50ms);
    return all;
  });
  for (int i = 0; i < 3; ++i) {
    const double view_id = Sample(texts[i], "meshtrain_view_id");
    CHECK_MESSAGE(view_id == Sample(texts[0], "meshtrain_view_id"), peers[i].id << " is in view " << view_id);
  }
  MESSAGE(scrapes << " scrapes of /metrics");

  // The status page: its JSON first (bounded wait for p3 to show as dead), then the page itself.
  HttpClient page(page_address);
  AwaitOrFail(30s, "the status page's JSON to show p3 dead", [&] {
    auto json = page.Get("/status.json");
    std::this_thread::sleep_for(100ms);
    return json.ok() && json->find(R"("id":"p3","state":"dead")") != std::string::npos;
  });
  auto html = page.Get("/");
  REQUIRE(html.ok());
  CHECK(html->find("<script") != std::string::npos);
  CHECK(html->find("src=") == std::string::npos);  // self-contained: nothing fetched but status.json
  CHECK(html->find("@import") == std::string::npos);

  // Debian's headless shell (what setup.sh installs), or a whole Chromium.
  std::string chromium = FindProgram("chromium-headless-shell");
  if (chromium.empty()) chromium = FindProgram("chromium");
  if (chromium.empty()) {
    MissingTool("chromium-headless-shell (or chromium): skipped the browser check");
  } else {
    MESSAGE("the page in " << chromium);
    const std::string url = "http://" + page_address + "/";
    const std::vector<std::string> browser = {chromium, "--headless", "--no-sandbox", "--disable-gpu",
                                              "--user-data-dir=" + dir.File("chromium"),
                                              "--virtual-time-budget=4000", "--window-size=1280,1000"};
    std::vector<std::string> dump = browser;
    dump.push_back("--dump-dom");
    dump.push_back(url);
    const std::string dom_log = dir.File("dom.html");
    REQUIRE(RunTool(dump, dom_log, 90s) == 0);
    {
      const std::string dom = ReadFile(dom_log);
      INFO("the page's DOM (and chromium's messages):\n" << dom);
      CHECK(Count(dom, "class=\"peer-row\"") == 4);
      CHECK(dom.find("data-peer=\"p3\" data-state=\"dead\"") != std::string::npos);
      CHECK(dom.find("id=\"chart-loss\"") != std::string::npos);
      CHECK(dom.find("id=\"chart-acc\"") != std::string::npos);
      CHECK(Count(dom, "class=\"series\"") >= 8);  // loss and accuracy of four peers
      CHECK(dom.find("class=\"mark mark-peer_dead\" data-about=\"p3\"") != std::string::npos);
      for (int i = 0; i < 4; ++i) {  // the links table: a cell per peer and neighbour
        for (int j = 0; j < 4; ++j) {
          const std::string cell = "class=\"link\" data-from=\"p" + std::to_string(i) + "\" data-to=\"p" +
                                   std::to_string(j) + "\"";
          CHECK_MESSAGE((dom.find(cell) != std::string::npos) == (i != j), cell);
        }
      }
    }
    // A screenshot next to the test's working directory, for a person to look at.
    std::vector<std::string> shot = browser;
    const std::string png = (std::filesystem::current_path() / "status_page_test.png").string();
    shot.push_back("--screenshot=" + png);
    shot.push_back(url);
    CHECK(RunTool(shot, dir.File("screenshot.txt"), 90s) == 0);
    CHECK(std::filesystem::exists(png));
    MESSAGE("status page screenshot: " << png);
  }

  for (int i = 0; i < 3; ++i) peers[i].process->Signal(SIGTERM);
  for (int i = 0; i < 3; ++i) CHECK_MESSAGE(FinishPeer(peers[i], 60s) == 128 + SIGTERM, peers[i].log());
  watch.Signal(SIGTERM);
  CHECK_MESSAGE(watch.Wait(10s).value_or(-1) == 128 + SIGTERM, ReadFile(dir.File("watch.txt")));
}

TEST_CASE("a log.prometheus port already taken stops the peer before it loads anything (exit 1)") {
  if (!HttpEndpoint::Available()) {
    MESSAGE("skipped: this build has no cpp-httplib");
    return;
  }
  TempDir dir;
  const int port = FreeLoopbackPort();
  // Someone else listens there.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0);
  REQUIRE(::listen(fd, 4) == 0);
  const std::string config = WriteClusterConfig(dir, 2, kObservedBody);
  const std::string address = "127.0.0.1:" + std::to_string(port);
  PeerRun peer = StartPeer(dir, config, "p0", {"--set", "log.prometheus=" + address});
  CHECK(FinishPeer(peer, 30s) == 1);
  CHECK_MESSAGE(peer.log().find("peer p0: log.prometheus: cannot listen on " + address) != std::string::npos,
                peer.log());
  ::close(fd);
}

TEST_CASE("watch --http with a bad address is a user mistake (exit 2)") {
  TempDir dir;
  std::filesystem::create_directories(dir.File("runs"));
  ChildProcess watch({MESHTRAIN_BINARY, "watch", dir.File("runs"), "--http", "8080"}, dir.File("watch.txt"));
  CHECK(watch.Wait(30s).value_or(-1) == 2);
  CHECK_MESSAGE(ReadFile(dir.File("watch.txt")).find("--http 8080: must be host:port") != std::string::npos,
                ReadFile(dir.File("watch.txt")));
}
