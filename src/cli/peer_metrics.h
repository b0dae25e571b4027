// The live figures of one peer for `log.prometheus` (docs/observability.md),
// fed by every metrics line the trainer writes (a MetricsObserver) and read by
// the HTTP thread as Prometheus text. Observe() parses one line and updates a
// few fields under a mutex; Exposition() renders again only after a new line,
// so a flood of scrapes costs the trainer at most a copy of these figures.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace meshtrain {

class PeerMetrics {
 public:
  explicit PeerMetrics(std::string peer_id);

  // One metrics line as written (a JSON object); other text is ignored.
  void Observe(const std::string& line);
  // The text exposition format (version 0.0.4) of everything observed so far.
  std::string Exposition();

  static constexpr const char* kContentType = "text/plain; version=0.0.4; charset=utf-8";

 private:
  // Everything a scrape shows; values < 0 (or NaN) are not known yet and not shown.
  struct Figures {
    std::string run;
    double step = -1;
    double epoch = -1;
    double loss = -1;
    bool has_loss = false;
    double test_loss = -1;
    double test_acc = -1;
    double samples_per_s = -1;
    double compute_s = 0;
    double comm_s = 0;
    double bytes_sent = 0;
    double bytes_recv = 0;
    std::map<std::string, double> sent_by_neighbour, recv_by_neighbour;
    double consensus = -1;
    double view_members = -1;
    double view_id = -1;
    double last_line_t = -1;
    int64_t view_changes = 0;
    int64_t rounds_aborted = 0;
    int64_t state_syncs = 0;
    int64_t peers_dead = 0;
    std::map<std::string, double> rejected_by_kind;
    std::map<std::string, int64_t> events;
  };
  static std::string Render(const std::string& peer, const Figures& f);

  const std::string peer_;
  std::mutex mu_;  // guards figures_ and version_: held by the trainer for a parse's updates, by a scrape for a copy
  Figures figures_;
  uint64_t version_ = 0;
  std::mutex cache_mu_;  // guards the text of the last render (scrapes only)
  uint64_t rendered_version_ = UINT64_MAX;
  std::string rendered_;
};

}  // namespace meshtrain
