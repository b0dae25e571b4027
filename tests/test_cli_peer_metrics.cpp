// PeerMetrics: what log.prometheus shows for the metrics lines a trainer
// writes (docs/observability.md), and the warning for a non-loopback address.
#include <doctest/doctest.h>

#include <string>

#include "cli/peer_metrics.h"
#include "cli/prometheus_exporter.h"

using meshtrain::MetricsExposureWarning;
using meshtrain::PeerMetrics;

namespace {

bool Has(const std::string& text, const std::string& line) { return text.find(line + "\n") != std::string::npos; }

#define CHECK_HAS(text, line) CHECK_MESSAGE(Has(text, line), "wanted the line: ", line, "\nin:\n", text)

}  // namespace

TEST_CASE("step lines, evaluations and events become gauges and counters with a peer label") {
  PeerMetrics m("p1");
  m.Observe(R"({"run":"r1","t":100.5,"peer":"p1","step":0,"event":"view_change","view_id":3,"view":["p0","p1","p2"],"detail":"x"})");
  m.Observe(R"({"run":"r1","t":101,"peer":"p1","step":50,"epoch":0,"loss":0.75,"lr":0.1,"view":["p0","p1","p2"],)"
            R"("bytes_sent":1000,"bytes_recv":900,"comm_s":1.5,"compute_s":2.25,"samples_per_s":640,)"
            R"("rejected":{"bad_header":2,"stale_round":0}})");
  m.Observe(R"({"run":"r1","t":102,"peer":"p1","step":50,"epoch":1,"test_loss":0.5,"test_acc":0.875})");
  m.Observe(R"({"run":"r1","t":103,"peer":"p1","step":55,"event":"peer_dead","about":"p2","silence_s":1.2,"detail":"y"})");
  m.Observe(R"({"run":"r1","t":103,"peer":"p1","step":55,"event":"round_aborted","detail":"z"})");
  m.Observe("not json at all");
  const std::string text = m.Exposition();
  CHECK_HAS(text, R"(meshtrain_run_info{peer="p1",run="r1"} 1)");
  CHECK_HAS(text, R"(meshtrain_step{peer="p1"} 55)");
  CHECK_HAS(text, R"(meshtrain_epoch{peer="p1"} 1)");
  CHECK_HAS(text, R"(meshtrain_train_loss{peer="p1"} 0.75)");
  CHECK_HAS(text, R"(meshtrain_test_accuracy_ratio{peer="p1"} 0.875)");
  CHECK_HAS(text, R"(meshtrain_samples_per_second{peer="p1"} 640)");
  CHECK_HAS(text, R"(meshtrain_compute_seconds_total{peer="p1"} 2.25)");
  CHECK_HAS(text, R"(meshtrain_communication_seconds_total{peer="p1"} 1.5)");
  CHECK_HAS(text, R"(meshtrain_sent_bytes_total{peer="p1"} 1000)");
  CHECK_HAS(text, R"(meshtrain_received_bytes_total{peer="p1"} 900)");
  CHECK_HAS(text, R"(meshtrain_rejected_messages_total{peer="p1",kind="bad_header"} 2)");
  CHECK_HAS(text, R"(meshtrain_rejected_messages_total{peer="p1",kind="stale_round"} 0)");
  CHECK_HAS(text, R"(meshtrain_view_members{peer="p1"} 3)");
  CHECK_HAS(text, R"(meshtrain_view_id{peer="p1"} 3)");
  CHECK_HAS(text, R"(meshtrain_view_changes_total{peer="p1"} 1)");
  CHECK_HAS(text, R"(meshtrain_peer_deaths_total{peer="p1"} 1)");
  CHECK_HAS(text, R"(meshtrain_rounds_aborted_total{peer="p1"} 1)");
  CHECK_HAS(text, R"(meshtrain_state_syncs_total{peer="p1"} 0)");
  CHECK_HAS(text, R"(meshtrain_events_total{peer="p1",event="peer_dead"} 1)");
  CHECK_HAS(text, R"(meshtrain_last_metrics_line_timestamp_seconds{peer="p1"} 103)");
  CHECK_HAS(text, "# TYPE meshtrain_sent_bytes_total counter");
  CHECK_HAS(text, "# TYPE meshtrain_step gauge");
  CHECK(text.find("consensus") == std::string::npos);  // a ring has none
}

TEST_CASE("figures not known yet are left out, and a later line never moves a counter back") {
  PeerMetrics m("p0");
  const std::string empty = m.Exposition();
  CHECK(empty.find("meshtrain_step{") == std::string::npos);
  CHECK(empty.find("meshtrain_test_accuracy_ratio") == std::string::npos);
  CHECK_HAS(empty, R"(meshtrain_sent_bytes_total{peer="p0"} 0)");
  m.Observe(R"({"run":"r","t":1,"step":10,"bytes_sent":500,"consensus":0.25})");
  m.Observe(R"({"run":"r","t":2,"step":5,"event":"checkpoint"})");  // an event line of an older step
  const std::string text = m.Exposition();
  CHECK_HAS(text, R"(meshtrain_step{peer="p0"} 10)");
  CHECK_HAS(text, R"(meshtrain_sent_bytes_total{peer="p0"} 500)");
  CHECK_HAS(text, R"(meshtrain_gossip_consensus_distance{peer="p0"} 0.25)");
  CHECK(m.Exposition() == text);  // unchanged without a new line
}

TEST_CASE("bytes per neighbour are counters with a neighbour label") {
  PeerMetrics m("p0");
  CHECK(m.Exposition().find("meshtrain_neighbour_") == std::string::npos);  // no network line yet
  m.Observe(R"({"run":"r","t":1,"step":5,"bytes_sent":300,"bytes_recv":250,)"
            R"j("bytes_sent_by_peer":{"p1":200,"p3":100},"bytes_recv_by_peer":{"(other)":10,"p1":40,"p3":200}})j");
  m.Observe(R"({"run":"r","t":2,"step":10,"bytes_sent":650,"bytes_recv":600,)"
            R"j("bytes_sent_by_peer":{"p1":500,"p3":150},"bytes_recv_by_peer":{"(other)":10,"p1":90,"p3":500}})j");
  const std::string text = m.Exposition();
  CHECK_HAS(text, "# TYPE meshtrain_neighbour_sent_bytes_total counter");
  CHECK_HAS(text, "# TYPE meshtrain_neighbour_received_bytes_total counter");
  CHECK_HAS(text, R"(meshtrain_neighbour_sent_bytes_total{peer="p0",neighbour="p1"} 500)");
  CHECK_HAS(text, R"(meshtrain_neighbour_sent_bytes_total{peer="p0",neighbour="p3"} 150)");
  CHECK_HAS(text, R"j(meshtrain_neighbour_received_bytes_total{peer="p0",neighbour="(other)"} 10)j");
  CHECK_HAS(text, R"(meshtrain_neighbour_received_bytes_total{peer="p0",neighbour="p1"} 90)");
  CHECK_HAS(text, R"(meshtrain_neighbour_received_bytes_total{peer="p0",neighbour="p3"} 500)");
}

TEST_CASE("label values are escaped") {
  PeerMetrics m("p\"0");
  m.Observe(R"({"run":"a\\b","t":1,"step":1})");
  const std::string text = m.Exposition();
  CHECK_HAS(text, R"(meshtrain_run_info{peer="p\"0",run="a\\b"} 1)");
}

TEST_CASE("serving metrics beyond loopback warns, like the plaintext transport") {
  CHECK(MetricsExposureWarning("p0", "127.0.0.1:9464").empty());
  CHECK(MetricsExposureWarning("p0", "localhost:9464").empty());
  CHECK(MetricsExposureWarning("p0", "[::1]:9464").empty());
  const std::string warning = MetricsExposureWarning("p0", "0.0.0.0:9464");
  CHECK(warning.find("meshtrain[p0]: WARNING: log.prometheus serves this peer's metrics on 0.0.0.0:9464") !=
        std::string::npos);
  CHECK_FALSE(MetricsExposureWarning("p0", "192.168.1.7:9464").empty());
}
