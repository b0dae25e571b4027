// A slow-link lab for integration tests: scripts/netlab.sh builds network
// namespaces (one per peer, plus a hub) joined by tbf-limited veth links, and
// the test runs the delay relay (tests/support/delay_relay.cpp) as its own child
// so that every peer-to-peer connection sees the link delay. The lab is taken
// down when the NetLab goes away; labs left by a test process that died are
// reaped before a new one is built. Needs root: Unavailable() says why not.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <sched.h>
#include <sys/time.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "support/cluster.h"
#include "support/process.h"
#include "support/temp_dir.h"

#ifndef MESHTRAIN_DELAY_RELAY
#define MESHTRAIN_DELAY_RELAY ""
#endif

namespace meshtrain::testing {

class NetLab {
 public:
  static constexpr int kPort = 7000;

  // Why this machine cannot host a lab (not root, namespaces or tbf refused), or "" if it can.
  static std::string Unavailable() {
    TempDir tmp;
    const int code = RunScript(tmp, {"check"});
    if (code == 0) return {};
    std::string why = ReadFile(tmp.File("netlab.log"));
    while (!why.empty() && why.back() == '\n') why.pop_back();
    return why.empty() ? "scripts/netlab.sh check failed (exit " + std::to_string(code) + ")" : why;
  }

  // Builds a lab of `peers` namespaces with `rate` links and `delay_ms` one way, and starts the relay.
  NetLab(int peers, const std::string& rate = "10mbit", int delay_ms = 50) : peers_(peers) {
    static std::atomic<int> counter{0};
    name_ = "mtl" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
    RunScript(tmp_, {"reap"});
    const int code = RunScript(tmp_, {"up", name_, std::to_string(peers), "--rate", rate, "--delay-ms",
                                      std::to_string(delay_ms), "--port", std::to_string(kPort), "--owner",
                                      std::to_string(::getpid())});
    if (code != 0) {
      error_ = "netlab.sh up failed: " + ReadFile(tmp_.File("netlab.log"));
      return;
    }
    up_ = true;
    const std::string relay_log = tmp_.File("relay.log");
    relay_ = std::make_unique<ChildProcess>(
        std::vector<std::string>{"/bin/bash", Script(), "relay", name_, MESHTRAIN_DELAY_RELAY}, relay_log);
    if (!WaitUntil(std::chrono::seconds(10), [&] { return ReadFile(relay_log).find("ready") != std::string::npos; })) {
      error_ = "the delay relay did not start: " + ReadFile(relay_log);
    }
  }

  ~NetLab() {
    if (relay_) {
      relay_->Signal(SIGTERM);
      if (!relay_->Wait(std::chrono::seconds(5))) relay_->Signal(SIGKILL);
      relay_.reset();  // reaps it
    }
    if (up_) RunScript(tmp_, {"down", name_});
  }
  NetLab(const NetLab&) = delete;
  NetLab& operator=(const NetLab&) = delete;

  const std::string& error() const { return error_; }
  const std::string& name() const { return name_; }
  std::string Namespace(int k) const { return name_ + "-p" + std::to_string(k); }
  static std::string Address(int k) { return "10.213." + std::to_string(k + 1) + ".2"; }
  static std::string Endpoint(int k) { return "tcp://" + Address(k) + ":" + std::to_string(kPort); }
  std::string relay_log() const { return ReadFile(tmp_.File("relay.log")); }

  // The [[cluster.peers]] of the lab, ids p0..p<n-1>, then `body`.
  std::string WriteConfig(const TempDir& dir, const std::string& body, const std::string& file = "cluster.toml") const {
    std::ostringstream toml;
    for (int k = 0; k < peers_; ++k) {
      toml << "[[cluster.peers]]\nid = \"p" << k << "\"\nendpoint = \"" << Endpoint(k) << "\"\n\n";
    }
    toml << body << "\n";
    return dir.Write(file, toml.str());
  }

  // `meshtrain run` as peer k, inside its namespace (its only way out is its link).
  PeerRun StartPeer(const TempDir& dir, const std::string& config, int k, std::vector<std::string> extra = {}) const {
    PeerRun run;
    run.id = "p" + std::to_string(k);
    run.dir = dir.File("runs/" + run.id);
    std::filesystem::create_directories(run.dir);
    std::vector<std::string> argv = {IpCommand(), "netns", "exec", Namespace(k), MESHTRAIN_BINARY,
                                     "run", "--config", config, "--id", run.id,
                                     "--set", "log.metrics=" + run.dir + "/metrics.jsonl",
                                     "--set", "checkpoint.dir=" + run.dir + "/checkpoints",
                                     "--set", "log.progress=line"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    run.process = std::make_unique<ChildProcess>(argv, run.dir + "/log.txt");
    return run;
  }

  // Pulls peer k's cable for `seconds`: the relay resets its connections and refuses new ones.
  void DropLink(int k, double seconds) const {
    std::ofstream control(StateDir() + "/control");
    control << "drop " << seconds << " " << Address(k) << "\n";
  }

  // Drops `pct` percent of the packets each peer sends and receives (scripts/netlab.sh loss).
  bool SetLoss(double pct) const {
    std::ostringstream value;
    value << pct;
    TempDir tmp;
    return RunScript(tmp, {"loss", name_, value.str()}) == 0;
  }

  struct LinkFigures {
    double mbit_per_s = 0;  // goodput of one TCP stream from -> to
    double rtt_ms = 0;      // a one-byte ping-pong over the same connection
  };
  // Sends `bytes` from peer `from` to peer `to` over the lab (before peers use the port).
  std::optional<LinkFigures> Measure(int from, int to, size_t bytes) const {
    std::atomic<bool> listening{false};
    std::atomic<bool> sink_ok{false};
    std::thread sink([&] {
      if (!EnterNamespace(Namespace(to))) return;
      const int server = ::socket(AF_INET, SOCK_STREAM, 0);
      const int one = 1;
      ::setsockopt(server, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      sockaddr_in addr = SockAddr(to);
      if (::bind(server, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(server, 1) != 0) {
        ::close(server);
        return;
      }
      SetTimeout(server);
      listening = true;
      const int c = ::accept(server, nullptr, nullptr);
      ::close(server);
      if (c < 0) return;
      SetTimeout(c);
      char buf[64 * 1024];
      size_t got = 0;
      bool pinged = false;
      for (;;) {
        const ssize_t n = ::recv(c, buf, sizeof(buf), 0);
        if (n <= 0) break;
        if (!pinged) {
          pinged = ::send(c, "p", 1, MSG_NOSIGNAL) == 1;
          got += static_cast<size_t>(n) - 1;
        } else {
          got += static_cast<size_t>(n);
        }
      }
      sink_ok = got == bytes && ::send(c, "d", 1, MSG_NOSIGNAL) == 1;
      ::close(c);
    });
    std::optional<LinkFigures> figures;
    std::thread source([&] {
      if (!EnterNamespace(Namespace(from))) return;
      if (!WaitUntil(std::chrono::seconds(5), [&] { return listening.load(); })) return;
      const int c = ::socket(AF_INET, SOCK_STREAM, 0);
      SetTimeout(c);
      sockaddr_in addr = SockAddr(to);
      if (::connect(c, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(c);
        return;
      }
      char b = 0;
      const auto t0 = std::chrono::steady_clock::now();
      if (::send(c, "p", 1, MSG_NOSIGNAL) != 1 || ::recv(c, &b, 1, 0) != 1) {
        ::close(c);
        return;
      }
      const auto t1 = std::chrono::steady_clock::now();
      const std::vector<char> data(bytes, 'x');
      size_t sent = 0;
      while (sent < bytes) {
        const ssize_t n = ::send(c, data.data() + sent, bytes - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      ::shutdown(c, SHUT_WR);
      const bool done = ::recv(c, &b, 1, 0) == 1;
      const auto t2 = std::chrono::steady_clock::now();
      ::close(c);
      if (!done || sent != bytes) return;
      const double rtt = std::chrono::duration<double>(t1 - t0).count();
      // The FIN and the sink's answer take one round trip after the last byte arrived.
      const double transfer = std::chrono::duration<double>(t2 - t1).count() - rtt;
      figures = LinkFigures{static_cast<double>(bytes) * 8 / 1e6 / std::max(transfer, 1e-3), rtt * 1000};
    });
    source.join();
    sink.join();
    if (!sink_ok) return std::nullopt;
    return figures;
  }

 private:
  static std::string Script() { return std::string(MESHTRAIN_SOURCE_DIR) + "/scripts/netlab.sh"; }
  std::string StateDir() const { return "/run/meshtrain-netlab/" + name_; }

  static std::string IpCommand() {
    for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"}) {
      if (::access(p, X_OK) == 0) return p;
    }
    return "ip";
  }

  // Runs scripts/netlab.sh ARGS with output in <tmp>/netlab.log; its exit code.
  static int RunScript(const TempDir& tmp, std::vector<std::string> args) {
    args.insert(args.begin(), {"/bin/bash", Script()});
    ChildProcess script(args, tmp.File("netlab.log"));
    return script.Wait(std::chrono::seconds(60)).value_or(-1);
  }

  // Moves the calling thread (only) into a lab namespace.
  static bool EnterNamespace(const std::string& ns) {
    const int fd = ::open(("/run/netns/" + ns).c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    const bool ok = ::setns(fd, CLONE_NEWNET) == 0;
    ::close(fd);
    return ok;
  }

  static sockaddr_in SockAddr(int k) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(kPort);
    ::inet_pton(AF_INET, Address(k).c_str(), &addr.sin_addr);
    return addr;
  }

  static void SetTimeout(int fd) {
    timeval tv{15, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
  }

  int peers_;
  TempDir tmp_;
  std::string name_;
  std::string error_;
  bool up_ = false;
  std::unique_ptr<ChildProcess> relay_;
};

}  // namespace meshtrain::testing
