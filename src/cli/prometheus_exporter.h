// log.prometheus (docs/observability.md): this peer's live figures on
// http://HOST:PORT/metrics in Prometheus' text format, served by a thread of
// its own from what the trainer's metrics lines said last.
#pragma once

#include <memory>
#include <string>

#include "cli/http_endpoint.h"
#include "cli/peer_metrics.h"
#include "meshtrain/metrics.h"
#include "meshtrain/status.h"

namespace meshtrain {

class PrometheusExporter {
 public:
  // Listens on `address` (log.prometheus) at once, before data loading, so a
  // scrape finds the peer while it starts. Warns on stderr if the address is
  // not loopback. Unavailable if it cannot bind.
  static Result<std::unique_ptr<PrometheusExporter>> Start(const std::string& peer_id, const std::string& address);

  // Hand to Trainer::Create; valid while this exporter lives.
  MetricsObserver Observer();

 private:
  explicit PrometheusExporter(const std::string& peer_id) : metrics_(peer_id) {}
  PeerMetrics metrics_;
  HttpEndpoint http_;  // after metrics_: stops serving before the figures go
};

// The warning for serving metrics on a non-loopback `address`; "" for loopback.
std::string MetricsExposureWarning(const std::string& peer_id, const std::string& address);

}  // namespace meshtrain
