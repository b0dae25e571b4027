// Shared by the fuzz targets: a per-process scratch directory for the parsers
// that take a path (config, data files, checkpoints), and a hard stop for
// broken invariants so libFuzzer records the input as a crash.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>

namespace meshtrain::fuzz {

// A directory made once per process (under $TMPDIR, else /dev/shm when it exists:
// tmpfs keeps millions of small writes off the disk), removed at exit.
class ScratchDir {
 public:
  static ScratchDir& Get() {
    static ScratchDir dir;
    return dir;
  }

  // Writes `bytes` to `name` inside the scratch dir (replacing it) and returns its path.
  std::string Write(const std::string& name, std::string_view bytes) const {
    const std::string path = path_ + "/" + name;
    std::FILE* f = std::fopen(path.c_str(), "wb");
    if (f == nullptr) Die("cannot create scratch file " + path);
    if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
      Die("cannot write scratch file " + path);
    }
    std::fclose(f);
    return path;
  }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

  ~ScratchDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

 private:
  ScratchDir() {
    const char* tmp = std::getenv("TMPDIR");
    std::string base =
        tmp != nullptr && *tmp != '\0' ? tmp : (std::filesystem::is_directory("/dev/shm") ? "/dev/shm" : "/tmp");
    std::string pattern = base + "/meshtrain-fuzz-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) Die("cannot create a scratch directory under " + base);
    path_ = pattern;
  }

  [[noreturn]] static void Die(const std::string& why) {
    std::fprintf(stderr, "fuzz harness: %s\n", why.c_str());
    std::abort();
  }

  std::string path_;
};

// MESHTRAIN_FUZZ_VERBOSE=1 prints what each input parsed to: useful when
// running a target on single files (a crash input, a new seed) to see where it stops.
inline bool Verbose() {
  static const bool verbose = [] {
    const char* v = std::getenv("MESHTRAIN_FUZZ_VERBOSE");
    return v != nullptr && *v != '\0' && *v != '0';
  }();
  return verbose;
}

inline void Note(const std::string& what) {
  if (Verbose()) std::fprintf(stderr, "%s\n", what.c_str());
}

// An invariant of the parser under test does not hold: report and abort, which
// libFuzzer treats as a crash and keeps the input.
#define MESHTRAIN_FUZZ_CHECK(cond)                                                             \
  do {                                                                                         \
    if (!(cond)) {                                                                             \
      std::fprintf(stderr, "fuzz invariant failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                            \
    }                                                                                          \
  } while (0)

}  // namespace meshtrain::fuzz
