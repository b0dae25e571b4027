// The names in metrics.jsonl (docs/training.md, "Metrics"): the fields of its
// lines and the events. One list for the code that writes them (the trainer,
// membership) and the code that reads them (`meshtrain report`, `watch`, the
// Prometheus exporter), so that a rename cannot leave a reader behind.
// Names only; no layer below is needed, so every layer may use them.
#pragma once

namespace meshtrain::metric {

// Fields of every line.
inline constexpr char kTime[] = "t";  // unix seconds
inline constexpr char kRun[] = "run";
inline constexpr char kPeer[] = "peer";
inline constexpr char kStep[] = "step";
inline constexpr char kEpoch[] = "epoch";
inline constexpr char kEvent[] = "event";
inline constexpr char kDetail[] = "detail";
inline constexpr char kAbout[] = "about";  // the other peer an event is about

// Step lines and the done line.
inline constexpr char kLoss[] = "loss";
inline constexpr char kLearningRate[] = "lr";
inline constexpr char kView[] = "view";
inline constexpr char kViewId[] = "view_id";
inline constexpr char kBytesSent[] = "bytes_sent";
inline constexpr char kBytesRecv[] = "bytes_recv";
inline constexpr char kBytesSentByPeer[] = "bytes_sent_by_peer";
inline constexpr char kBytesRecvByPeer[] = "bytes_recv_by_peer";
inline constexpr char kCommSeconds[] = "comm_s";
inline constexpr char kComputeSeconds[] = "compute_s";
inline constexpr char kSamplesPerSecond[] = "samples_per_s";
inline constexpr char kConsensus[] = "consensus";
inline constexpr char kRejected[] = "rejected";  // dropped messages by kind
inline constexpr char kTestLoss[] = "test_loss";
inline constexpr char kTestAcc[] = "test_acc";
inline constexpr char kWaitSecondsByPeer[] = "wait_s_by_peer";
inline constexpr char kMinority[] = "minority";

}  // namespace meshtrain::metric

namespace meshtrain::events {

// The run.
inline constexpr char kDone[] = "done";
inline constexpr char kStopped[] = "stopped";
inline constexpr char kResumed[] = "resumed";
inline constexpr char kCheckpoint[] = "checkpoint";
inline constexpr char kStartFailed[] = "start_failed";
inline constexpr char kSyncFailed[] = "sync_failed";

// Membership (docs/membership.md).
inline constexpr char kViewChange[] = "view_change";
inline constexpr char kPeerJoined[] = "peer_joined";
inline constexpr char kPeerLeft[] = "peer_left";
inline constexpr char kPeerDead[] = "peer_dead";
inline constexpr char kRoundAborted[] = "round_aborted";
inline constexpr char kStateSync[] = "state_sync";
inline constexpr char kQuorumLost[] = "quorum_lost";
inline constexpr char kQuorumRegained[] = "quorum_regained";

// A cut-off minority (docs/faults.md, "A cut-off minority waits").
inline constexpr char kMinorityWait[] = "minority_wait";
inline constexpr char kMinorityRejoined[] = "minority_rejoined";
inline constexpr char kMinorityTraining[] = "minority_training";
inline constexpr char kMinorityStopped[] = "minority_stopped";
inline constexpr char kMinorityEndWait[] = "minority_end_wait";
inline constexpr char kMinorityFinish[] = "minority_finish";

}  // namespace meshtrain::events
