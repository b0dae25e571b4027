// One state transfer into this peer (the ZeroMQ guide's "clone" pattern): the
// reference state is cut into pieces, and with k holders, holder i sends
// pieces i, i+k, i+2k, ... so the transfer is striped over all of them. The
// pieces are checked against what was asked (view, step, sizes, checksum) and
// assembled; the whole is verified against the checksum the holders reported
// before anyone adopts it. Not thread-safe: the membership thread guards it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "membership/membership_messages.h"
#include "meshtrain/membership.h"

namespace meshtrain::membership_internal {

class StateFetch {
 public:
  enum class Accept { kTaken, kNotOurs, kBad, kDuplicate };

  StateFetch(uint64_t view_id, const ReconcilePlan& plan, uint64_t n_values, uint64_t piece_floats);

  uint64_t view_id() const { return view_id_; }
  uint64_t step() const { return plan_.target_step; }
  uint32_t n_pieces() const { return n_pieces_; }
  const std::vector<std::string>& sources() const { return plan_.sources; }
  // The request for source number `i` of sources() (every k-th piece from i on).
  StateRequest RequestFor() const;
  uint32_t FirstPieceOf(size_t source_index) const { return static_cast<uint32_t>(source_index); }
  uint32_t stride() const { return static_cast<uint32_t>(plan_.sources.size()); }

  // A kState piece from `from`; `data` holds h.n_elems floats (may be null when 0).
  Accept Add(const std::string& from, const Header& h, const float* data, const StatePieceInfo& info,
             std::string* why);
  bool complete() const { return received_count_ == n_pieces_; }
  // Sources that still owe pieces, for a timeout message.
  std::vector<std::string> Owing() const;
  // After complete(): the assembled state, if it matches the checksum.
  Result<StateSnapshot> Finish();

 private:
  uint64_t view_id_;
  ReconcilePlan plan_;
  uint64_t n_values_;
  uint64_t piece_floats_;
  uint32_t n_pieces_;
  std::vector<float> values_;
  std::vector<bool> received_;
  uint32_t received_count_ = 0;
  std::string meta_;
  bool have_meta_ = false;
};

}  // namespace meshtrain::membership_internal
