// What a run directory (runs/<peer>/metrics.jsonl per peer) says about each
// peer: the summary table printed at the end of a run and the live view.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "cli/json_fields.h"

namespace meshtrain {

// A figure at a unix time, and an event another line of the run reported (for charts).
struct SeriesPoint {
  double t = 0;
  double value = 0;
};
struct EventMark {
  double t = 0;
  std::string name;   // peer_dead, view_change, state_sync, ...
  std::string about;  // the peer it is about, if any
};

// One link as a peer's lines report it (bytes_sent_by_peer, bytes_recv_by_peer):
// the totals, and bytes per second between the last two lines that carried them.
struct LinkTraffic {
  double sent = 0;
  double recv = 0;
  double sent_per_s = 0;
  double recv_per_s = 0;
};

struct PeerRunState {
  std::string id;
  std::string metrics_path;
  size_t read_offset = 0;
  std::string run;          // the run the fields below describe: the latest in the file
  int earlier_runs = 0;     // runs before it in the same file (launch.sh appends)
  int64_t step = 0;
  int64_t epoch = 0;
  double loss = 0;
  double test_acc = -1;
  double samples_per_s = 0;
  double bytes_sent = 0;
  double bytes_recv = 0;
  double comm_s = 0;
  double compute_s = 0;
  bool done = false;
  bool minority = false;    // it ended in a minority view (minority_finish, exit 3): its model is a minority's
  std::string last_event;
  std::map<std::string, double> wait_s_by_peer;
  // For the status page (watch --http): where the peer stands and its history,
  // thinned to at most kMaxSeriesPoints points each so a long run stays small.
  double last_t = 0;                 // unix time of its last line
  std::vector<std::string> view;     // the last view it reported
  int64_t view_id = -1;              // of its last view_change
  std::vector<SeriesPoint> loss_series;
  std::vector<SeriesPoint> acc_series;
  std::vector<EventMark> marks;      // the events of kMarkedEvents, oldest first
  std::map<std::string, LinkTraffic> links;  // by neighbour id
  double links_t = -1;                       // t of the line they came from
};

inline constexpr size_t kMaxSeriesPoints = 1000;
inline constexpr size_t kMaxMarks = 400;

// Reads any new lines of every peer's metrics file (incrementally). Each peer's
// state is that of the latest run in its file: a line of another run than the
// one being read starts the peer afresh (docs/training.md, "Metrics").
class RunDirectory {
 public:
  explicit RunDirectory(std::string dir) : dir_(std::move(dir)) {}
  void Refresh();
  const std::vector<PeerRunState>& peers() const { return peers_; }

 private:
  void Apply(PeerRunState* peer, const std::string& line);
  static void RecordHistory(PeerRunState* peer, const JsonFields& fields);
  static void RecordLinks(PeerRunState* peer, const JsonFields& fields);
  std::string dir_;
  std::vector<PeerRunState> peers_;
};

// The peer the others wait for: in a synchronous ring every peer waits for the
// slowest, the one whose own waiting is shortest (most compute over comm).
// nullptr with fewer than two peers.
const PeerRunState* Straggler(const std::vector<PeerRunState>& peers);

// The end-of-run table: accuracy, steps, bytes, compute vs communication, and
// the peer the others waited for most.
std::string FormatRunReport(const std::vector<PeerRunState>& peers);
// One line per peer for the live view.
std::string FormatLiveView(const std::vector<PeerRunState>& peers);

// `meshtrain report DIR` and `meshtrain watch DIR [--pid PID]`. A DIR that does
// not exist or is not a directory is a user mistake (exit 2).
int ReportCommand(const std::string& dir);
// With `http` ("host:port") watch also serves the status page there
// (docs/observability.md) and keeps serving until SIGINT/SIGTERM or --pid's exit.
int WatchCommand(const std::string& dir, int pid, const std::string& http = "");

}  // namespace meshtrain
