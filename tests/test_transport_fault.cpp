// Faults with a real second process: a peer paused with SIGSTOP is noticed
// through ZMTP heartbeats (sends to it fail within their timeout instead of
// queueing), is reached again after SIGCONT, and a peer killed with SIGKILL
// never hangs the sender. Every child is reaped.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>

#include "meshtrain/transport.h"

using namespace meshtrain;
using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

namespace {

TransportConfig FastHeartbeats() {
  TransportConfig cfg;
  cfg.heartbeat_ivl_ms = 100;
  cfg.heartbeat_timeout_ms = 300;
  cfg.reconnect_ivl_ms = 50;
  cfg.reconnect_ivl_max_ms = 200;
  cfg.linger_ms = 0;
  return cfg;
}

// A child process running a Transport "b" that reads and discards messages
// until killed. Its endpoint comes back through a pipe.
class ChildPeer {
 public:
  ChildPeer() {
    int fds[2];
    REQUIRE(pipe(fds) == 0);
    pid_ = fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      close(fds[0]);
      prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the test
      RunChild(fds[1]);
    }
    close(fds[1]);
    char buf[256] = {};
    size_t got = 0;
    while (got < sizeof(buf) - 1) {
      const ssize_t n = read(fds[0], buf + got, sizeof(buf) - 1 - got);
      if (n <= 0) break;
      got += static_cast<size_t>(n);
      if (buf[got - 1] == '\n') break;
    }
    close(fds[0]);
    endpoint_.assign(buf, got > 0 ? got - 1 : 0);
  }
  ~ChildPeer() { Kill(); }

  const std::string& endpoint() const { return endpoint_; }
  void Signal(int sig) { kill(pid_, sig); }
  void Kill() {
    if (pid_ <= 0) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }

 private:
  [[noreturn]] static void RunChild(int out_fd) {
    Result<std::unique_ptr<Transport>> t = Transport::Create(FastHeartbeats(), "b", "tcp://127.0.0.1:0");
    if (!t.ok()) _exit(1);
    const std::string line = t.value()->bound_endpoint() + "\n";
    if (write(out_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) _exit(1);
    close(out_fd);
    for (;;) t.value()->Receive(100ms);  // until SIGKILL
  }

  pid_t pid_ = -1;
  std::string endpoint_;
};

OutgoingMessage Text(const std::string& header) {
  OutgoingMessage m;
  m.header = header;
  return m;
}

// Sends small messages every 20 ms until one fails or `limit` passes.
Status SendUntilRefused(Transport& a, Clock::duration limit) {
  const auto end = Clock::now() + limit;
  while (Clock::now() < end) {
    Status st = a.Send("b", Text("tick"), 200ms);
    if (!st.ok()) return st;
    std::this_thread::sleep_for(20ms);
  }
  return Status::OK();
}

}  // namespace

TEST_CASE("a SIGSTOPped peer is noticed by heartbeats, and reached again after SIGCONT") {
  ChildPeer child;
  REQUIRE_FALSE(child.endpoint().empty());
  Result<std::unique_ptr<Transport>> made = Transport::Create(FastHeartbeats(), "a", "tcp://127.0.0.1:0");
  REQUIRE(made.ok());
  Transport& a = *made.value();
  REQUIRE(a.Connect("b", child.endpoint()).ok());
  REQUIRE(a.Send("b", Text("hello"), 10s).ok());

  child.Signal(SIGSTOP);
  // The connection stays open in the kernel, but PINGs go unanswered: after
  // heartbeat_timeout the DEALER drops it, and being IMMEDIATE refuses sends.
  Status refused = SendUntilRefused(a, 20s);
  CHECK(refused.code() == Status::Code::kUnavailable);

  child.Signal(SIGCONT);
  Status back = a.Send("b", Text("welcome back"), 10s);
  CHECK_MESSAGE(back.ok(), back.ToString());
  child.Kill();
}

TEST_CASE("a SIGKILLed peer never hangs the sender") {
  ChildPeer child;
  REQUIRE_FALSE(child.endpoint().empty());
  Result<std::unique_ptr<Transport>> made = Transport::Create(FastHeartbeats(), "a", "tcp://127.0.0.1:0");
  REQUIRE(made.ok());
  Transport& a = *made.value();
  REQUIRE(a.Connect("b", child.endpoint()).ok());
  REQUIRE(a.Send("b", Text("hello"), 10s).ok());
  child.Kill();
  // The kernel resets the connection at once; sends fail within their timeout.
  Status refused = SendUntilRefused(a, 20s);
  CHECK(refused.code() == Status::Code::kUnavailable);
}
