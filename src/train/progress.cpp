#include "meshtrain/progress.h"

#include <unistd.h>

#include <chrono>

namespace meshtrain {
namespace {

double MonotonicSeconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

std::string FormatDuration(double seconds) {
  if (seconds < 0 || seconds > 1e7) return "?";
  long s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%ldh%02ldm", s / 3600, (s / 60) % 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%ldm%02lds", s / 60, s % 60);
  }
  return buf;
}

}  // namespace

ProgressReporter::ProgressReporter(ProgressMode mode, std::FILE* out, int64_t line_every_steps)
    : out_(out), line_every_(line_every_steps > 0 ? line_every_steps : 50) {
  enabled_ = mode != ProgressMode::kNone;
  live_ = mode == ProgressMode::kAuto && ::isatty(::fileno(out));
}

std::string ProgressReporter::Format(const ProgressSnapshot& s) const {
  char buf[256];
  const double pct = s.total_steps > 0 ? 100.0 * static_cast<double>(s.step) / static_cast<double>(s.total_steps) : 0;
  std::string acc = s.test_acc >= 0 ? std::to_string(s.test_acc).substr(0, 6) : "-";
  std::snprintf(buf, sizeof(buf), "step %lld/%lld (%.0f%%) epoch %lld  loss %.4f  test_acc %s  %.0f samples/s  peers %d  ETA %s",
                static_cast<long long>(s.step), static_cast<long long>(s.total_steps), pct,
                static_cast<long long>(s.epoch), s.loss, acc.c_str(), s.samples_per_s, s.peers_alive,
                FormatDuration(s.eta_s).c_str());
  return buf;
}

void ProgressReporter::Update(const ProgressSnapshot& s) {
  if (!enabled_) return;
  if (live_) {
    const double now = MonotonicSeconds();
    if (now - last_draw_ < 0.1) return;  // ~10 redraws a second is plenty for a human
    last_draw_ = now;
    std::fprintf(out_, "\r\033[K%s", Format(s).c_str());
    std::fflush(out_);
    line_pending_ = true;
  } else if (s.step % line_every_ == 0) {
    std::fprintf(out_, "%s\n", Format(s).c_str());
    std::fflush(out_);
  }
}

void ProgressReporter::Message(const std::string& text) {
  if (!enabled_) return;
  if (live_ && line_pending_) std::fprintf(out_, "\r\033[K");
  std::fprintf(out_, "%s\n", text.c_str());
  std::fflush(out_);
  line_pending_ = false;
  last_draw_ = 0;  // redraw the live line at the next update
}

void ProgressReporter::Finish(const ProgressSnapshot& s) {
  if (!enabled_) return;
  if (live_) std::fprintf(out_, "\r\033[K");
  std::fprintf(out_, "%s\n", Format(s).c_str());
  std::fflush(out_);
  line_pending_ = false;
}

}  // namespace meshtrain
