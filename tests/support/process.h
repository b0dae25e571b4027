// Child processes for integration tests: started with fork/exec, output to a
// log file, waited for with a bound, and always reaped (killed if still running
// when the handle goes away). Tests only ever signal the pids they started.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace meshtrain::testing {

class ChildProcess {
 public:
  ChildProcess(const std::vector<std::string>& argv, const std::string& log_path) {
    pid_ = ::fork();
    if (pid_ == 0) {
      int fd = ::open(log_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
        ::close(fd);
      }
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      ::_exit(127);
    }
  }
  ~ChildProcess() {
    if (pid_ > 0 && !exit_code_) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  // The child's peak resident set in KB (Linux ru_maxrss), once Wait saw it exit.
  std::optional<long> peak_rss_kb() const { return peak_rss_kb_; }
  void Signal(int sig) const {
    if (pid_ > 0 && !exit_code_) ::kill(pid_, sig);
  }

  // The exit code (128 + signal if killed), or nullopt if still running after `timeout`.
  std::optional<int> Wait(std::chrono::milliseconds timeout) {
    if (exit_code_) return exit_code_;
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      int status = 0;
      rusage usage{};
      pid_t r = ::wait4(pid_, &status, WNOHANG, &usage);
      if (r == pid_) {
        exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        peak_rss_kb_ = usage.ru_maxrss;
        return exit_code_;
      }
      if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::optional<long> peak_rss_kb_;
};

// Claims `port` for this process against the other test and benchmark processes
// that run at the same time (ctest -j): an flock on a file named after it, held
// until this process exits. False if another process holds it.
inline bool ClaimPortForThisProcess(int port) {
  const std::string dir = "/tmp/meshtrain-ports";
  ::mkdir(dir.c_str(), 01777);  // sticky and open to all, like /tmp: any user's tests may claim ports
  const std::string path = dir + "/" + std::to_string(port);
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
  if (fd < 0) return true;  // cannot coordinate (read-only /tmp): fall back to the OS's word alone
  if (::flock(fd, LOCK_EX | LOCK_NB) != 0) {
    ::close(fd);
    return false;
  }
  return true;  // the descriptor stays open on purpose: the claim lasts as long as the process
}

// A TCP port on 127.0.0.1 that the OS says is free right now, that this process
// has not handed out before and that no other test process has claimed: the OS
// may offer a port again as soon as the probe socket closes, and two peers must
// never be told to bind the same one.
inline int FreeLoopbackPort() {
  static std::mutex mutex;
  static std::set<int> handed_out;
  std::lock_guard<std::mutex> lock(mutex);
  for (;;) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    socklen_t len = sizeof(addr);
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
    ::close(fd);
    const int port = ntohs(addr.sin_port);
    if (!handed_out.insert(port).second) continue;
    if (ClaimPortForThisProcess(port)) return port;
  }
}

// Polls `predicate` every 20 ms until it holds or `timeout` passes.
template <typename Predicate>
bool WaitUntil(std::chrono::milliseconds timeout, Predicate predicate) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (predicate()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return predicate();
}

}  // namespace meshtrain::testing
