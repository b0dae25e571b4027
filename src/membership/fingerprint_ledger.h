// The fingerprints of replicas that must be bit-identical (ring), as each
// member published them, and the verdict once every member of a view has one
// for the same step (docs/agreement.md, "Replica fingerprints").
//
// Only fingerprints taken in the same reconciled view are compared: after a
// view change every member starts from one reconciled state, so a difference
// inside a view is a real divergence, while a state a cut-off minority
// trained on its own (an earlier view) is not one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace meshtrain::membership_internal {

struct ReplicaFingerprint {
  uint64_t view_id = 0;  // 0: none published yet
  uint64_t step = 0;
  uint64_t value = 0;
  bool operator==(const ReplicaFingerprint&) const = default;
};

struct FingerprintVerdict {
  uint64_t view_id = 0;
  uint64_t step = 0;
  bool agree = true;
  std::vector<std::string> majority;   // the holders of a fingerprint a strict majority shares; empty: no majority
  std::vector<std::string> differing;  // the members outside it (with no majority: every member)
};

class FingerprintLedger {
 public:
  // Keeps the newest `keep` steps per peer: enough for peers a few checks apart.
  explicit FingerprintLedger(size_t keep = 8) : keep_(keep) {}

  void Record(const std::string& peer, const ReplicaFingerprint& fp);

  // The verdict on the newest step of `view_id` not judged yet for which every
  // one of `members` has a fingerprint; nullopt while some are missing.
  std::optional<FingerprintVerdict> Judge(uint64_t view_id, const std::vector<std::string>& members);

  uint64_t checks() const { return checks_; }

 private:
  struct Key {
    uint64_t view_id;
    uint64_t step;
    auto operator<=>(const Key&) const = default;
  };
  size_t keep_;
  std::map<std::string, std::map<Key, uint64_t>> by_peer_;
  Key judged_{0, 0};  // the newest (view, step) judged so far
  uint64_t checks_ = 0;
};

}  // namespace meshtrain::membership_internal
