// Checkpoints: everything a peer needs to continue exactly where it stopped —
// parameters, optimizer state, step, epoch and the config hash — in one file
// written atomically (temp, fsync, rename) and guarded by a CRC-32.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "meshtrain/status.h"

namespace meshtrain {

struct CheckpointHeader {
  uint32_t format_version = 2;  // what the file said; writing always writes the current version
  int64_t step = 0;          // optimizer steps applied so far
  int64_t epoch = 0;         // epoch the next step belongs to
  uint64_t config_hash = 0;  // Config::Hash() of the run that wrote it
  uint64_t seed = 0;         // train.seed (the samplers' RNG is a pure function of it and the epoch)
  std::string peer_id;
  std::string model;         // Model::Describe()
  std::vector<std::string> layers;  // Model::LayerList(); empty in version 1 files
  uint64_t n_params = 0;
  uint64_t n_optimizer_state = 0;
};

struct Checkpoint {
  CheckpointHeader header;
  std::vector<float> params;
  std::vector<float> optimizer_state;
};

// Writes `checkpoint` to `path` atomically: a crash at any moment leaves either
// the old file or the complete new one, never a torn one.
Status WriteCheckpoint(const std::string& path, const Checkpoint& checkpoint);
// The same from the live buffers: the floats are streamed to the file, never
// copied whole (header.n_params / n_optimizer_state are taken from the spans).
Status WriteCheckpoint(const std::string& path, const CheckpointHeader& header, std::span<const float> params,
                       std::span<const float> optimizer_state);

// Reads and verifies (magic, version, sizes, CRC) a checkpoint.
Result<Checkpoint> ReadCheckpoint(const std::string& path);

// Reads only the header (still verifying the CRC of the whole file).
Result<CheckpointHeader> ReadCheckpointHeader(const std::string& path);

// The files of a checkpoint directory, named ckpt-<step>.bin, newest written
// first (by modification time, then by step): not by step alone, since a rerun
// in the same directory can write lower steps than the run before it.
std::vector<std::string> ListCheckpoints(const std::string& dir);

// Writes ckpt-<step>.bin into `dir` (created if missing) and deletes all but the
// newest `keep` written; the file just written is always kept.
Result<std::string> SaveCheckpoint(const std::string& dir, const Checkpoint& checkpoint, int64_t keep);
Result<std::string> SaveCheckpoint(const std::string& dir, const CheckpointHeader& header, std::span<const float> params,
                                   std::span<const float> optimizer_state, int64_t keep);

// The newest checkpoint in `dir` that reads back valid; each invalid one is
// reported through `skipped` ("path: why") and passed over. NotFound if none.
Result<Checkpoint> LoadNewestCheckpoint(const std::string& dir, std::vector<std::string>* skipped);

}  // namespace meshtrain
