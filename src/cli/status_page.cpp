#include "cli/status_page.h"

#include <charconv>
#include <cmath>
#include <map>

#include "meshtrain/metric_names.h"
#include "meshtrain/metrics.h"

namespace meshtrain {
namespace {

// A peer with no line for this long, and not known to be done, is "silent".
constexpr double kSilentAfterS = 15;

void AppendNumber(std::string* out, double v) {
  if (!std::isfinite(v)) {
    *out += "null";
    return;
  }
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out->append(buf, ec == std::errc() ? end : buf);
}

std::string SeriesJson(const std::vector<SeriesPoint>& series) {
  std::string out = "[";
  for (size_t i = 0; i < series.size(); ++i) {
    if (i) out += ',';
    out += '[';
    AppendNumber(&out, series[i].t);
    out += ',';
    AppendNumber(&out, series[i].value);
    out += ']';
  }
  return out + "]";
}

std::string MarksJson(const std::vector<EventMark>& marks) {
  std::string out = "[";
  for (size_t i = 0; i < marks.size(); ++i) {
    if (i) out += ',';
    out += '[';
    AppendNumber(&out, marks[i].t);
    out += ",\"" + JsonEscape(marks[i].name) + "\",\"" + JsonEscape(marks[i].about) + "\"]";
  }
  return out + "]";
}

// {"p1":{"sent":..,"recv":..,"sent_per_s":..,"recv_per_s":..},...}
std::string LinksJson(const std::map<std::string, LinkTraffic>& links) {
  JsonLine out;
  for (const auto& [id, link] : links) {
    JsonLine one;
    one.Add("sent", link.sent).Add("recv", link.recv).Add("sent_per_s", link.sent_per_s);
    one.Add("recv_per_s", link.recv_per_s);
    out.AddRaw(JsonEscape(id).c_str(), one.str());
  }
  return out.str();
}

// The view of the peer that saw the newest one (the highest view id; without
// membership views, the newest line's).
const PeerRunState* ViewSource(const std::vector<PeerRunState>& peers) {
  const PeerRunState* best = nullptr;
  for (const auto& p : peers) {
    if (p.view.empty()) continue;
    if (!best || p.view_id > best->view_id || (p.view_id == best->view_id && p.last_t > best->last_t)) best = &p;
  }
  return best;
}

}  // namespace

std::string PeerState(const PeerRunState& peer, const std::vector<PeerRunState>& all, double now_unix) {
  if (peer.done) return peer.minority ? "minority" : "done";  // a minority's model (minority_finish, exit 3)
  if (peer.last_event == events::kStopped) return "stopped";
  if (peer.last_event == events::kSyncFailed || peer.last_event == events::kStartFailed ||
      peer.last_event == events::kMinorityStopped) {
    return "failed";
  }
  // Declared dead (or gone) by another peer after its own last line, and not back since.
  double dead_at = -1;
  for (const auto& other : all) {
    if (other.id == peer.id) continue;
    for (const auto& m : other.marks) {
      if (m.about != peer.id) continue;
      if (m.name == events::kPeerDead || m.name == events::kPeerLeft) dead_at = std::max(dead_at, m.t);
      if (m.name == events::kPeerJoined && m.t >= dead_at) dead_at = -1;
    }
  }
  if (dead_at >= 0 && dead_at >= peer.last_t) return "dead";
  if (peer.last_t > 0 && now_unix - peer.last_t > kSilentAfterS) return "silent";
  // No step until a quorum, or the majority, is back (docs/faults.md).
  if (peer.last_event == events::kQuorumLost || peer.last_event == events::kMinorityWait ||
      peer.last_event == events::kMinorityEndWait) {
    return "waiting";
  }
  return "training";
}

std::string StatusJson(const std::vector<PeerRunState>& peers, double now_unix) {
  std::string rows = "[";
  for (size_t i = 0; i < peers.size(); ++i) {
    const PeerRunState& p = peers[i];
    const double busy = p.compute_s + p.comm_s;
    JsonLine row;
    row.Add("id", p.id).Add("state", PeerState(p, peers, now_unix)).Add("run", p.run);
    row.Add("step", p.step).Add("epoch", p.epoch).Add("loss", p.loss);
    row.Add("test_acc", p.test_acc).Add("samples_per_s", p.samples_per_s);
    row.Add("comm_share", busy > 0 ? p.comm_s / busy : 0.0).Add("last_event", p.last_event);
    row.Add("last_t", p.last_t).Add("view", p.view).Add("view_id", p.view_id);
    row.AddRaw("loss_series", SeriesJson(p.loss_series)).AddRaw("acc_series", SeriesJson(p.acc_series));
    row.AddRaw("marks", MarksJson(p.marks)).AddRaw("links", LinksJson(p.links));
    if (i) rows += ',';
    rows += row.str();
  }
  rows += ']';
  JsonLine status;
  status.Add("now", now_unix);
  if (const PeerRunState* source = ViewSource(peers)) {
    JsonLine view;
    view.Add("id", source->view_id).Add("members", source->view).Add("seen_by", source->id);
    status.AddRaw("view", view.str());
  } else {
    status.AddRaw("view", "null");
  }
  // The straggler among the peers still training: a dead one holds nobody up.
  std::vector<PeerRunState> training;
  for (const auto& p : peers) {
    if (PeerState(p, peers, now_unix) == "training") training.push_back(p);
  }
  // Once none trains (the run is over), the whole run's, as `meshtrain report` names it.
  const PeerRunState* straggler = training.empty() ? Straggler(peers) : Straggler(training);
  status.AddRaw("straggler", straggler ? "\"" + JsonEscape(straggler->id) + "\"" : std::string("null"));
  status.AddRaw("peers", rows);
  return status.str();
}

}  // namespace meshtrain
