// The hand-off between a caller thread (waiting, with a deadline) and the
// communication thread (doing the work). Both sides act under one mutex, so
// an operation is either done before the caller gives up, or never: a Send
// that returned Unavailable is guaranteed not to reach the wire later.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>

#include "meshtrain/status.h"

namespace meshtrain::transport_internal {

using Clock = std::chrono::steady_clock;

class Completion {
 public:
  // Comm thread: runs `attempt` (returning std::optional<Status>: nullopt =
  // "try again later") under the lock unless the caller gave up. Returns true
  // when the operation is over (finished now, earlier, or abandoned).
  template <typename Attempt>
  bool TryFinish(Attempt&& attempt) {
    std::lock_guard<std::mutex> lock(mu_);
    if (done_ || abandoned_) return true;
    std::optional<Status> result = attempt();
    if (!result) return false;
    FinishLocked(std::move(*result));
    return true;
  }

  // Comm thread: finishes with `status` unless already over.
  void Finish(Status status) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!done_ && !abandoned_) FinishLocked(std::move(status));
  }

  bool over() const {
    std::lock_guard<std::mutex> lock(mu_);
    return done_ || abandoned_;
  }

  // Caller: the result, or nullopt if `deadline` passed first; the operation
  // is then abandoned and will never be performed.
  std::optional<Status> Wait(Clock::time_point deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    if (!cv_.wait_until(lock, deadline, [this] { return done_; })) {
      abandoned_ = true;
      return std::nullopt;
    }
    return status_;
  }

 private:
  void FinishLocked(Status status) {
    status_ = std::move(status);
    done_ = true;
    cv_.notify_all();
  }

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool abandoned_ = false;
  Status status_;
};

}  // namespace meshtrain::transport_internal
