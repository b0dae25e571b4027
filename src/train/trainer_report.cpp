// What a peer's run writes about itself (docs/training.md, "Metrics"): step
// lines, evaluations, warnings, and the final `done` line.
#include <cstdio>

#include "meshtrain/membership.h"
#include "train/peer_trainer.h"

namespace meshtrain {
namespace {

// 16 hex digits: a JSON number would lose the low bits of a 64-bit value.
std::string FingerprintHex(uint64_t fingerprint) {
  char text[17];
  std::snprintf(text, sizeof(text), "%016llx", static_cast<unsigned long long>(fingerprint));
  return text;
}

// "bytes_sent_by_peer" and "bytes_recv_by_peer" (docs/training.md); a peer
// without a network has no neighbours and no such fields.
void AddBytesByPeer(const std::map<std::string, LinkBytes>& by_peer, JsonLine* line) {
  if (by_peer.empty()) return;
  JsonLine sent, recv;
  for (const auto& [peer, bytes] : by_peer) {
    const std::string key = JsonEscape(peer);
    sent.Add(key.c_str(), bytes.sent);
    recv.Add(key.c_str(), bytes.recv);
  }
  line->AddRaw("bytes_sent_by_peer", sent.str()).AddRaw("bytes_recv_by_peer", recv.str());
}

std::string DropCountsJson(const std::map<std::string, uint64_t>& counts) {
  JsonLine kinds;
  for (const auto& [kind, count] : counts) kinds.Add(kind.c_str(), count);
  return kinds.str();
}

}  // namespace

Status PeerTrainer::Evaluate() {
  const ShardedData& data = shards_.data();
  Result<EvalTotals> evaluated = EvaluateOn(*parts_.model, data.test, cfg_.train.batch_size);
  if (!evaluated.ok()) return evaluated.status();
  const EvalTotals& totals = *evaluated;
  outcome_.test_acc = totals.accuracy();
  outcome_.test_loss = totals.loss();
  evaluated_ = true;
  JsonLine line;
  line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("epoch", CurrentEpoch());
  line.Add("test_loss", outcome_.test_loss);
  if (data.test.num_classes > 0) line.Add("test_acc", outcome_.test_acc);
  metrics_.Write(line);
  char buf[160];
  std::snprintf(buf, sizeof(buf), "peer %s step %lld: test_loss %.4f test_acc %.4f", cfg_.self_id.c_str(),
                static_cast<long long>(step_), outcome_.test_loss, outcome_.test_acc);
  progress_.Message(buf);
  return Status::OK();
}

void PeerTrainer::LogStep(double loss, double samples_per_s) {
  ReplicaStats rs = strategy_->stats();
  JsonLine line;
  line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("epoch", CurrentEpoch());
  line.Add("loss", loss).Add("lr", last_lr_).Add("view", strategy_->view());
  line.Add("bytes_sent", rs.bytes_sent).Add("bytes_recv", rs.bytes_recv);
  AddBytesByPeer(rs.bytes_by_peer, &line);
  line.Add("comm_s", strategy_->sync_seconds()).Add("compute_s", compute_s_).Add("samples_per_s", samples_per_s);
  if (rs.consensus >= 0) line.Add("consensus", rs.consensus);
  // The counts by kind ride on a step line only when they changed, so an attack
  // shows up while it happens without a clean run paying for it on every line.
  if (!rs.dropped_by_kind.empty() && rs.dropped_by_kind != last_logged_drops_) {
    line.AddRaw("rejected", DropCountsJson(rs.dropped_by_kind));
    last_logged_drops_ = rs.dropped_by_kind;
  }
  metrics_.Write(line);
}

// docs/models.md, "Schedules": a run no longer than optim.warmup_steps never
// reaches optim.lr. It trains (the ramp), but the user should know.
void PeerTrainer::WarnIfWarmupExceedsRun() {
  const int64_t total = total_steps();
  if (optim_.warmup_steps <= 0 || total > optim_.warmup_steps) return;
  const double peak = ScheduledLearningRate(optim_, total - 1, total);
  char lr[32];
  std::snprintf(lr, sizeof(lr), "%.4g", peak);
  Event("warmup_exceeds_run", "optim.warmup_steps = " + std::to_string(optim_.warmup_steps) +
                                  " is not shorter than the run (" + std::to_string(total) +
                                  " steps): the learning rate only ramps up, to " + lr +
                                  " at the last step, and the schedule's decay never starts; lower optim.warmup_steps");
}

void PeerTrainer::WriteSummary(double wall_s) {
  ReplicaStats rs = strategy_->stats();
  const SyncSummary sync = strategy_->summary();
  JsonLine waits;
  for (const auto& [peer, seconds] : rs.wait_seconds_by_peer) waits.Add(peer.c_str(), seconds);
  JsonLine line;
  line.Add("t", UnixSeconds()).Add("peer", cfg_.self_id).Add("step", step_).Add("epoch", CurrentEpoch());
  line.Add("event", "done").Add("test_loss", outcome_.test_loss);
  if (shards_.data().test.num_classes > 0) line.Add("test_acc", outcome_.test_acc);
  line.Add("bytes_sent", rs.bytes_sent).Add("bytes_recv", rs.bytes_recv);
  AddBytesByPeer(rs.bytes_by_peer, &line);
  line.Add("comm_s", strategy_->sync_seconds()).Add("compute_s", compute_s_).Add("wall_s", wall_s);
  line.Add("skipped_steps", skipped_steps_).Add("rejected_msgs", rs.rejected);
  // The final replica's fingerprint (docs/agreement.md): equal on two peers'
  // done lines means the same parameters and optimizer state, bit for bit.
  line.Add("state_fingerprint", FingerprintHex(StateFingerprint(parts_.model->params(), parts_.optimizer->state())));
  if (!rs.dropped_by_kind.empty()) {  // by kind (docs/training.md); local peers and clusters of one have none
    line.AddRaw("rejected", DropCountsJson(rs.dropped_by_kind));
  }
  AddEventFields(sync.membership, &line);
  if (train_s_ > 0) {
    line.Add("train_s", train_s_).Add("steps_per_s", static_cast<double>(step_ - first_step_) / train_s_);
  }
  AddEventFields(sync.strategy, &line);
  line.AddRaw("wait_s_by_peer", waits.str());
  metrics_.Write(line);
}

}  // namespace meshtrain
