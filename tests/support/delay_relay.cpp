// delay_relay: a TCP relay that adds a fixed one-way delay and can drop links.
//
//   delay_relay [options] LISTEN=TARGET [LISTEN=TARGET ...]      (LISTEN, TARGET: a.b.c.d:port)
//     --delay-ms MS          one-way delay added to every byte, both directions (default 50)
//     --drop-seconds S       how long SIGUSR1 drops every link (default 2)
//     --control FIFO         read commands from this named pipe (made if missing):
//                              drop SECONDS [IP]   close the connections from or to IP (all if
//                                                  omitted) and refuse new ones for SECONDS
//     --transparent          listen with IP_TRANSPARENT: LISTEN may be an address this host does
//                            not own, delivered here by policy routing (scripts/netlab.sh)
//     --max-queue-bytes N    bytes held per direction before reading stops (default 1 MiB)
//
// netem would add delay in the kernel; where it is missing (this CI machine) the slow-link
// rig puts this relay in the path of every peer-to-peer connection instead. Each accepted
// connection gets its own connection to TARGET; whatever one side sends is stamped on
// arrival and written to the other side `delay` later, FIN included, so the far end sees
// a link with that latency. Bandwidth is not limited here (tc tbf on the links does that);
// the queues only bound memory and push back through TCP when the far side is slow.
//
// A dropped link models a cable pulled for S seconds: its connections are reset (RST) and
// new ones are accepted and reset at once, so ZeroMQ peers see a dead link and reconnect
// when it is back. One thread, poll(2), non-blocking sockets; signals come in through a
// signalfd. Prints "delay_relay: ready" on stderr once every listener is bound; exits 0 on
// SIGTERM/SIGINT, 2 on bad arguments, 1 when a listener cannot be set up.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <list>
#include <optional>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

struct Endpoint {
  sockaddr_in addr{};
  std::string text;
};

std::optional<Endpoint> ParseEndpoint(const std::string& text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string::npos) return std::nullopt;
  Endpoint e;
  e.text = text;
  e.addr.sin_family = AF_INET;
  if (::inet_pton(AF_INET, text.substr(0, colon).c_str(), &e.addr.sin_addr) != 1) return std::nullopt;
  char* end = nullptr;
  const long port = std::strtol(text.c_str() + colon + 1, &end, 10);
  if (*end != '\0' || port < 1 || port > 65535) return std::nullopt;
  e.addr.sin_port = htons(static_cast<uint16_t>(port));
  return e;
}

struct Route {
  Endpoint listen, target;
  int fd = -1;
};

// Bytes read at `due - delay`, to be written at `due`. Empty bytes = the sender's FIN.
struct Packet {
  Clock::time_point due;
  std::vector<char> bytes;
  size_t offset = 0;
};

// One direction of a relayed connection.
struct Direction {
  std::deque<Packet> queue;
  size_t queued = 0;        // bytes in `queue` not yet written
  bool read_closed = false;  // the source sent FIN (its marker is queued)
  bool write_closed = false;  // the marker was delivered: the destination got our FIN
  bool Due(Clock::time_point now) const { return !queue.empty() && queue.front().due <= now; }
};

struct Connection {
  int client = -1;
  int server = -1;
  bool connecting = true;
  in_addr_t client_ip = 0;  // the peer that connected
  in_addr_t listen_ip = 0;  // the address it connected to
  Direction up;             // client -> server
  Direction down;           // server -> client
  bool dead = false;
};

struct DropRule {
  in_addr_t ip = 0;  // 0 = every link
  Clock::time_point until;
};

struct Options {
  std::chrono::milliseconds delay{50};
  double drop_seconds = 2.0;
  std::string control;
  bool transparent = false;
  size_t max_queue = 1 << 20;
  std::vector<Route> routes;
};

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "delay_relay: %s\nusage: delay_relay [--delay-ms MS] [--drop-seconds S] [--control FIFO] "
               "[--transparent] [--max-queue-bytes N] LISTEN=TARGET...\n",
               why.c_str());
  std::exit(2);
}

Options ParseArgs(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(arg + " needs a value");
      return argv[++i];
    };
    if (arg == "--delay-ms") {
      const long ms = std::strtol(value().c_str(), nullptr, 10);
      if (ms < 0 || ms > 60000) Usage("--delay-ms must be 0..60000");
      o.delay = std::chrono::milliseconds(ms);
    } else if (arg == "--drop-seconds") {
      o.drop_seconds = std::strtod(value().c_str(), nullptr);
      if (!(o.drop_seconds > 0)) Usage("--drop-seconds must be > 0");
    } else if (arg == "--control") {
      o.control = value();
    } else if (arg == "--transparent") {
      o.transparent = true;
    } else if (arg == "--max-queue-bytes") {
      const long long n = std::strtoll(value().c_str(), nullptr, 10);
      if (n < 4096) Usage("--max-queue-bytes must be at least 4096");
      o.max_queue = static_cast<size_t>(n);
    } else {
      const size_t eq = arg.find('=');
      auto listen = eq == std::string::npos ? std::nullopt : ParseEndpoint(arg.substr(0, eq));
      auto target = eq == std::string::npos ? std::nullopt : ParseEndpoint(arg.substr(eq + 1));
      if (!listen || !target) Usage("'" + arg + "' is not LISTEN=TARGET with a.b.c.d:port on both sides");
      o.routes.push_back(Route{*listen, *target});
    }
  }
  if (o.routes.empty()) Usage("no LISTEN=TARGET given");
  return o;
}

// Close with RST rather than FIN: the far end must see a broken link, not an orderly goodbye.
void Reset(int fd) {
  if (fd < 0) return;
  linger lg{1, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
  ::close(fd);
}

class Relay {
 public:
  explicit Relay(Options o) : opt_(std::move(o)) {}

  bool Setup() {
    for (Route& r : opt_.routes) {
      r.fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      const int one = 1;
      ::setsockopt(r.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
      if (opt_.transparent && ::setsockopt(r.fd, SOL_IP, IP_TRANSPARENT, &one, sizeof(one)) != 0) {
        return Fail("IP_TRANSPARENT on " + r.listen.text);
      }
      if (::bind(r.fd, reinterpret_cast<sockaddr*>(&r.listen.addr), sizeof(r.listen.addr)) != 0 ||
          ::listen(r.fd, 64) != 0) {
        return Fail("listen on " + r.listen.text);
      }
    }
    sigset_t mask;
    sigemptyset(&mask);
    for (int s : {SIGUSR1, SIGTERM, SIGINT}) sigaddset(&mask, s);
    ::sigprocmask(SIG_BLOCK, &mask, nullptr);
    signal_fd_ = ::signalfd(-1, &mask, SFD_NONBLOCK | SFD_CLOEXEC);
    if (signal_fd_ < 0) return Fail("signalfd");
    if (!opt_.control.empty()) {
      if (::mkfifo(opt_.control.c_str(), 0600) != 0 && errno != EEXIST) return Fail("mkfifo " + opt_.control);
      // Read-write, so the pipe never reports hang-up between two writers.
      control_fd_ = ::open(opt_.control.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
      if (control_fd_ < 0) return Fail("open " + opt_.control);
    }
    std::fprintf(stderr, "delay_relay: ready, %zu route(s), delay %lld ms\n", opt_.routes.size(),
                 static_cast<long long>(opt_.delay.count()));
    return true;
  }

  void Run() {
    std::vector<pollfd> fds;
    std::vector<Connection*> owners;  // per pollfd: the connection, or null for listeners/control
    while (!stop_) {
      const Clock::time_point now = Clock::now();
      fds.clear();
      owners.clear();
      for (const Route& r : opt_.routes) Watch(fds, owners, r.fd, POLLIN, nullptr);
      Watch(fds, owners, signal_fd_, POLLIN, nullptr);
      if (control_fd_ >= 0) Watch(fds, owners, control_fd_, POLLIN, nullptr);
      Clock::time_point wake = now + std::chrono::seconds(1);
      for (Connection& c : connections_) {
        short client_events = 0, server_events = 0;
        if (!c.up.read_closed && c.up.queued < opt_.max_queue) client_events |= POLLIN;
        if (!c.connecting && !c.down.read_closed && c.down.queued < opt_.max_queue) server_events |= POLLIN;
        if (c.connecting) server_events |= POLLOUT;
        if (!c.connecting && c.up.Due(now)) server_events |= POLLOUT;
        if (c.down.Due(now)) client_events |= POLLOUT;
        for (const Direction* d : {&c.up, &c.down}) {
          if (!d->queue.empty() && d->queue.front().due > now) wake = std::min(wake, d->queue.front().due);
        }
        Watch(fds, owners, c.client, client_events, &c);
        Watch(fds, owners, c.server, server_events, &c);
      }
      const auto wait = std::chrono::ceil<std::chrono::milliseconds>(wake - now).count();
      if (::poll(fds.data(), fds.size(), static_cast<int>(std::max<long long>(0, wait))) < 0 && errno != EINTR) {
        std::perror("delay_relay: poll");
        return;
      }
      for (size_t i = 0; i < fds.size(); ++i) {
        if (fds[i].revents == 0) continue;
        Connection* c = owners[i];
        if (c == nullptr) {
          OnControlReadable(fds[i].fd);
        } else if (fds[i].fd == c->server && c->connecting) {
          FinishConnect(*c);
        } else if ((fds[i].revents & POLLERR) != 0 && (fds[i].fd == c->client || fds[i].fd == c->server)) {
          Close(*c, true);  // reset by the far end
        }
      }
      for (Connection& c : connections_) Pump(c);
      connections_.remove_if([](const Connection& c) { return c.dead; });
    }
  }

  ~Relay() {
    for (Connection& c : connections_) Close(c, true);
    for (Route& r : opt_.routes) {
      if (r.fd >= 0) ::close(r.fd);
    }
    if (signal_fd_ >= 0) ::close(signal_fd_);
    if (control_fd_ >= 0) ::close(control_fd_);
  }

 private:
  static void Watch(std::vector<pollfd>& fds, std::vector<Connection*>& owners, int fd, short events,
                    Connection* owner) {
    // An fd with nothing to wait for stays out: poll would report its hang-up over and over.
    if (fd < 0 || events == 0) return;
    fds.push_back(pollfd{fd, events, 0});
    owners.push_back(owner);
  }

  bool Fail(const std::string& what) {
    std::fprintf(stderr, "delay_relay: %s: %s\n", what.c_str(), std::strerror(errno));
    return false;
  }

  void OnControlReadable(int fd) {
    if (fd == signal_fd_) {
      signalfd_siginfo info;
      while (::read(signal_fd_, &info, sizeof(info)) == sizeof(info)) {
        if (info.ssi_signo == SIGUSR1) {
          Drop(opt_.drop_seconds, 0);
        } else {
          stop_ = true;
        }
      }
    } else if (fd == control_fd_) {
      char buf[512];
      ssize_t n;
      while ((n = ::read(control_fd_, buf, sizeof(buf))) > 0) control_text_.append(buf, static_cast<size_t>(n));
      size_t nl;
      while ((nl = control_text_.find('\n')) != std::string::npos) {
        RunCommand(control_text_.substr(0, nl));
        control_text_.erase(0, nl + 1);
      }
    } else {
      for (const Route& r : opt_.routes) {
        if (r.fd == fd) Accept(r);
      }
    }
  }

  void RunCommand(const std::string& line) {
    char verb[16] = {0}, ip[64] = {0};
    double seconds = 0;
    const int n = std::sscanf(line.c_str(), "%15s %lf %63s", verb, &seconds, ip);
    in_addr addr{};
    if (n >= 2 && std::strcmp(verb, "drop") == 0 && seconds > 0 && (n == 2 || ::inet_pton(AF_INET, ip, &addr) == 1)) {
      Drop(seconds, n == 2 ? 0 : addr.s_addr);
    } else {
      std::fprintf(stderr, "delay_relay: ignored control line '%s' (expected: drop SECONDS [IP])\n", line.c_str());
    }
  }

  // Pulls the cable of `ip`'s link (every link if 0) for `seconds`.
  void Drop(double seconds, in_addr_t ip) {
    const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(seconds));
    drops_.push_back(DropRule{ip, until});
    int closed = 0;
    for (Connection& c : connections_) {
      if (!c.dead && Matches(c.client_ip, c.listen_ip)) {
        Close(c, true);
        ++closed;
      }
    }
    char text[INET_ADDRSTRLEN] = "all";
    if (ip != 0) ::inet_ntop(AF_INET, &ip, text, sizeof(text));
    std::fprintf(stderr, "delay_relay: link %s dropped for %.2f s (%d connection(s) reset)\n", text, seconds, closed);
  }

  bool Matches(in_addr_t client_ip, in_addr_t listen_ip) {
    const Clock::time_point now = Clock::now();
    drops_.erase(std::remove_if(drops_.begin(), drops_.end(), [&](const DropRule& d) { return d.until <= now; }),
                 drops_.end());
    for (const DropRule& d : drops_) {
      if (d.ip == 0 || d.ip == client_ip || d.ip == listen_ip) return true;
    }
    return false;
  }

  void Accept(const Route& r) {
    for (;;) {
      sockaddr_in from{};
      socklen_t len = sizeof(from);
      const int fd = ::accept4(r.fd, reinterpret_cast<sockaddr*>(&from), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) return;  // EAGAIN, or a connection that died in the backlog
      if (Matches(from.sin_addr.s_addr, r.listen.addr.sin_addr.s_addr)) {
        Reset(fd);  // the link is down: refuse
        continue;
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      Connection c;
      c.client = fd;
      c.client_ip = from.sin_addr.s_addr;
      c.listen_ip = r.listen.addr.sin_addr.s_addr;
      c.server = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      ::setsockopt(c.server, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
      if (::connect(c.server, reinterpret_cast<const sockaddr*>(&r.target.addr), sizeof(r.target.addr)) != 0 &&
          errno != EINPROGRESS) {
        Close(c, true);
        continue;
      }
      connections_.push_back(std::move(c));
    }
  }

  void FinishConnect(Connection& c) {
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(c.server, SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      Close(c, true);  // the target is not there: the client sees a reset, as from a closed port
    } else {
      c.connecting = false;
    }
  }

  // Reads what arrived, writes what is due; closes the connection when both directions are done.
  void Pump(Connection& c) {
    if (c.dead) return;
    const Clock::time_point now = Clock::now();
    if (!ReadInto(c.client, c.up, now) || (!c.connecting && !ReadInto(c.server, c.down, now)) ||
        (!c.connecting && !WriteDue(c.server, c.up, now)) || !WriteDue(c.client, c.down, now)) {
      Close(c, true);
    } else if (c.up.write_closed && c.down.write_closed) {
      Close(c, false);
    }
  }

  // False when the socket failed (reset): the connection is finished.
  bool ReadInto(int fd, Direction& d, Clock::time_point now) {
    static char buf[64 * 1024];
    while (!d.read_closed && d.queued < opt_.max_queue) {
      const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      if (n == 0) d.read_closed = true;  // FIN, delivered `delay` later as an empty packet
      d.queued += static_cast<size_t>(n);
      d.queue.push_back(Packet{now + opt_.delay, std::vector<char>(buf, buf + n), 0});
    }
    return true;
  }

  bool WriteDue(int fd, Direction& d, Clock::time_point now) {
    while (d.Due(now)) {
      Packet& p = d.queue.front();
      if (p.bytes.empty()) {
        ::shutdown(fd, SHUT_WR);
        d.write_closed = true;
        d.queue.pop_front();
        continue;
      }
      const ssize_t n = ::send(fd, p.bytes.data() + p.offset, p.bytes.size() - p.offset, MSG_NOSIGNAL);
      if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
      p.offset += static_cast<size_t>(n);
      d.queued -= static_cast<size_t>(n);
      if (p.offset == p.bytes.size()) d.queue.pop_front();
    }
    return true;
  }

  static void Close(Connection& c, bool reset) {
    if (c.dead) return;
    if (reset) {
      Reset(c.client);
      Reset(c.server);
    } else {
      ::close(c.client);
      ::close(c.server);
    }
    c.client = c.server = -1;
    c.dead = true;
  }

  Options opt_;
  int signal_fd_ = -1;
  int control_fd_ = -1;
  std::string control_text_;
  std::list<Connection> connections_;  // stable addresses: pollfd owners point into it
  std::vector<DropRule> drops_;
  bool stop_ = false;
};

}  // namespace

int main(int argc, char** argv) {
  Relay relay(ParseArgs(argc, argv));
  if (!relay.Setup()) return 1;
  relay.Run();
  return 0;
}
