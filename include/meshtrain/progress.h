// The human view of a run: a live, self-overwriting line on a TTY; plain log
// lines when output goes to a file or pipe; nothing at all when asked.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "meshtrain/config.h"

namespace meshtrain {

struct ProgressSnapshot {
  int64_t step = 0;
  int64_t total_steps = 0;
  int64_t epoch = 0;
  double loss = 0;
  double test_acc = -1;  // < 0: not evaluated yet
  double samples_per_s = 0;
  double eta_s = 0;
  int peers_alive = 1;
};

class ProgressReporter {
 public:
  // mode: auto (live line if `out` is a TTY, else plain lines), line, none.
  ProgressReporter(ProgressMode mode, std::FILE* out, int64_t line_every_steps);
  void Update(const ProgressSnapshot& s);
  // A message that must not be overwritten by the live line (events, eval results).
  void Message(const std::string& text);
  void Finish(const ProgressSnapshot& s);

 private:
  std::string Format(const ProgressSnapshot& s) const;
  std::FILE* out_;
  bool live_ = false;
  bool enabled_ = true;
  int64_t line_every_;
  double last_draw_ = 0;
  bool line_pending_ = false;
};

}  // namespace meshtrain
