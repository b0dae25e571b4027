#include "cli/prometheus_exporter.h"

#include <cstdio>

#include "transport/exposure_warning.h"

namespace meshtrain {

std::string MetricsExposureWarning(const std::string& peer_id, const std::string& address) {
  if (transport_internal::IsLoopbackEndpoint(address)) return "";
  // Like the plaintext transport's warning (src/transport/exposure_warning.cpp).
  const std::string p = "meshtrain[" + peer_id + "]: ";
  const std::string rule = p + "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n";
  return rule +                                                                                        //
         p + "WARNING: log.prometheus serves this peer's metrics on " + address + ",\n" +              //
         p + "which is not a loopback address. Plain HTTP, no authentication: anyone who\n" +          //
         p + "can reach this port reads the run's figures (steps, loss, peers, traffic).\n" +         //
         p + "Bind 127.0.0.1 and scrape through a tunnel, or firewall the port to the\n" +             //
         p + "Prometheus server (docs/observability.md).\n" +                                          //
         rule;
}

Result<std::unique_ptr<PrometheusExporter>> PrometheusExporter::Start(const std::string& peer_id,
                                                                      const std::string& address) {
  std::unique_ptr<PrometheusExporter> exporter(new PrometheusExporter(peer_id));
  PeerMetrics* metrics = &exporter->metrics_;
  exporter->http_.Handle("/metrics", [metrics] { return HttpReply{metrics->Exposition(), PeerMetrics::kContentType}; });
  exporter->http_.Handle("/", [peer_id] {
    return HttpReply{"meshtrain peer " + peer_id + ": Prometheus metrics at /metrics\n", "text/plain; charset=utf-8"};
  });
  Status st = exporter->http_.Start(address);
  if (!st.ok()) return st;
  const std::string warning = MetricsExposureWarning(peer_id, address);
  if (!warning.empty()) std::fputs(warning.c_str(), stderr);
  return exporter;
}

MetricsObserver PrometheusExporter::Observer() {
  return [this](const std::string& line) { metrics_.Observe(line); };
}

}  // namespace meshtrain
