// What the status page of `meshtrain watch --http` says about a run directory
// (docs/observability.md): each peer's state, the current view, the straggler,
// the charts' series and marks, and a page that fetches nothing from elsewhere.
#include <doctest/doctest.h>

#include <string>

#include "cli/run_report.h"
#include "cli/status_page.h"
#include "support/temp_dir.h"

using namespace meshtrain;
using meshtrain::testing::TempDir;

namespace {

bool Has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

#define CHECK_HAS(text, part) CHECK_MESSAGE(Has(text, part), "wanted: ", part, "\nin:\n", text)

const PeerRunState& Peer(const RunDirectory& run, const std::string& id) {
  for (const auto& p : run.peers()) {
    if (p.id == id) return p;
  }
  FAIL("no peer " << id);
  return run.peers().front();
}

}  // namespace

TEST_CASE("a peer declared dead after its last line is dead; the view and straggler come from the living") {
  TempDir dir;
  // p0..p2 train on after p3's last line at t=110; p0 says p3 died at t=112.
  for (const std::string id : {"p0", "p1", "p2"}) {
    const double compute = id == "p2" ? 9 : 5;  // p2 computes most: the straggler
    std::string lines;
    lines += R"({"run":"r","t":100,"peer":")" + id + R"(","step":10,"epoch":0,"loss":1.5,"view":["p0","p1","p2","p3"],"comm_s":1,"compute_s":1,"samples_per_s":100})" "\n";
    lines += R"({"run":"r","t":105,"peer":")" + id + R"(","step":20,"epoch":0,"test_loss":0.9,"test_acc":0.7})" "\n";
    if (id == "p0") lines += R"({"run":"r","t":112,"peer":"p0","step":25,"event":"peer_dead","about":"p3","silence_s":2.5,"detail":"x"})" "\n";
    lines += R"({"run":"r","t":113,"peer":")" + id + R"(","step":25,"event":"view_change","view_id":4,"view":["p0","p1","p2"],"detail":"y"})" "\n";
    lines += R"({"run":"r","t":120,"peer":")" + id + R"(","step":40,"epoch":1,"loss":null,"view":["p0","p1","p2"],"comm_s":2,"compute_s":)" +
             std::to_string(compute) + R"(,"samples_per_s":90})" "\n";
    dir.Write("runs/" + id + "/metrics.jsonl", lines);
  }
  dir.Write("runs/p3/metrics.jsonl",
            R"({"run":"r","t":110,"peer":"p3","step":22,"epoch":0,"loss":1.2,"view":["p0","p1","p2","p3"],"comm_s":1,"compute_s":20,"samples_per_s":50})" "\n");
  RunDirectory run(dir.File("runs"));
  run.Refresh();
  REQUIRE(run.peers().size() == 4);
  CHECK(PeerState(Peer(run, "p3"), run.peers(), 121) == "dead");
  CHECK(PeerState(Peer(run, "p0"), run.peers(), 121) == "training");
  CHECK(PeerState(Peer(run, "p0"), run.peers(), 200) == "silent");  // no line for 80 s
  CHECK(Peer(run, "p0").loss_series.size() == 1);                    // the null loss is left out
  CHECK(Peer(run, "p0").acc_series.size() == 1);
  CHECK(Peer(run, "p0").marks.size() == 2);                          // peer_dead, view_change

  const std::string json = StatusJson(run.peers(), 121);
  CHECK_HAS(json, R"("view":{"id":4,"members":["p0","p1","p2"],"seen_by":"p0"})");
  CHECK_HAS(json, R"("straggler":"p2")");  // p3 computed most, but it is dead
  CHECK_HAS(json, R"({"id":"p3","state":"dead")");
  CHECK_HAS(json, R"("marks":[[112,"peer_dead","p3"],[113,"view_change",""]])");
  CHECK_HAS(json, R"("loss_series":[[100,1.5]])");
}

TEST_CASE("each peer's links: bytes per neighbour and their rate between its last two lines") {
  TempDir dir;
  dir.Write("runs/p0/metrics.jsonl",
            R"({"run":"r","t":100,"peer":"p0","step":10,"loss":1,"bytes_sent":300,"bytes_recv":200,)"
            R"("bytes_sent_by_peer":{"p1":100,"p2":200},"bytes_recv_by_peer":{"p1":150,"p2":50}})" "\n"
            R"({"run":"r","t":104,"peer":"p0","step":20,"loss":1,"bytes_sent":700,"bytes_recv":400,)"
            R"j("bytes_sent_by_peer":{"p1":500,"p2":200},"bytes_recv_by_peer":{"(other)":8,"p1":350,"p2":42}})j" "\n");
  RunDirectory run(dir.File("runs"));
  run.Refresh();
  const auto& links = Peer(run, "p0").links;
  REQUIRE(links.size() == 3);
  CHECK(links.at("p1").sent == 500);
  CHECK(links.at("p1").sent_per_s == 100);  // (500 - 100) / 4 s
  CHECK(links.at("p1").recv_per_s == 50);
  CHECK(links.at("p2").sent_per_s == 0);
  CHECK(links.at("p2").recv_per_s == 0);    // a resumed peer counts from 0 again: no negative rate
  CHECK(links.at("(other)").recv == 8);
  const std::string json = StatusJson(run.peers(), 105);
  CHECK_HAS(json, R"j("links":{"(other)":{"sent":0,"recv":8,"sent_per_s":0,"recv_per_s":2},)j"
                  R"("p1":{"sent":500,"recv":350,"sent_per_s":100,"recv_per_s":50},)");
  CHECK_HAS(StatusPageHtml(), "id=\"links\"");
}

TEST_CASE("a long run's series are thinned, keeping the first and the newest points") {
  TempDir dir;
  std::string lines;
  for (int i = 0; i < 5000; ++i) {
    lines += R"({"run":"r","t":)" + std::to_string(1000 + i) + R"(,"peer":"p0","step":)" + std::to_string(i) +
             R"(,"epoch":0,"loss":0.5})" "\n";
  }
  dir.Write("runs/p0/metrics.jsonl", lines);
  RunDirectory run(dir.File("runs"));
  run.Refresh();
  const auto& series = run.peers().at(0).loss_series;
  CHECK(series.size() <= kMaxSeriesPoints);
  CHECK(series.size() >= kMaxSeriesPoints / 2);
  CHECK(series.front().t == 1000);
  CHECK(series.back().t == 5999);
}

TEST_CASE("the page is self-contained: inline script and style, only status.json fetched") {
  const std::string& page = StatusPageHtml();
  CHECK_HAS(page, "<script>");
  CHECK_HAS(page, "fetch(\"status.json\"");
  CHECK_FALSE(Has(page, "src="));
  CHECK_FALSE(Has(page, "href="));
  CHECK_FALSE(Has(page, "@import"));
  CHECK_FALSE(Has(page, "url("));
}
