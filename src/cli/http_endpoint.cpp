#include "cli/http_endpoint.h"

#include <pthread.h>
#include <sched.h>
#include <sys/socket.h>

#include <chrono>
#include <cstdlib>
#include <thread>
#include <utility>

#ifdef MESHTRAIN_HAVE_HTTP
#include <httplib.h>
#endif

namespace meshtrain {

#ifdef MESHTRAIN_HAVE_HTTP
namespace {

// Few workers: each request is a copy of text prepared elsewhere, and the
// training threads share the machine's cores with whoever floods this port.
constexpr size_t kWorkers = 2;

// "host:port" with the brackets of an IPv6 host removed; port 0 if there is none.
std::pair<std::string, int> SplitAddress(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return {address, 0};
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return {host, std::atoi(address.c_str() + colon + 1)};
}

}  // namespace

struct HttpEndpoint::Impl {
  httplib::Server server;
  std::thread thread;
};

HttpEndpoint::HttpEndpoint() : impl_(std::make_unique<Impl>()) {
  httplib::Server& s = impl_->server;
  s.new_task_queue = [] { return new httplib::ThreadPool(kWorkers); };
  // SO_REUSEADDR only: cpp-httplib's default also sets SO_REUSEPORT, which would
  // let a second peer bind the same port instead of being told it is taken.
  s.set_socket_options([](socket_t sock) {
    int yes = 1;
    setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof(yes));
  });
  // Headers and body go out as two writes: with Nagle's algorithm the body
  // waits for the client's delayed ACK (40 ms on Linux) on every request.
  s.set_tcp_nodelay(true);
  s.set_keep_alive_max_count(1000);
  s.set_keep_alive_timeout(2);
  s.set_read_timeout(2, 0);
  s.set_write_timeout(2, 0);
  s.set_payload_max_length(4096);
}

HttpEndpoint::~HttpEndpoint() { Stop(); }

void HttpEndpoint::Handle(const std::string& path, Handler handler) {
  impl_->server.Get(path, [handler = std::move(handler)](const httplib::Request&, httplib::Response& res) {
    HttpReply reply = handler();
    res.set_header("Cache-Control", "no-store");
    res.set_content(reply.body, reply.content_type);
  });
}

Status HttpEndpoint::Start(const std::string& address) {
  const auto [host, port] = SplitAddress(address);
  if (port <= 0) return Status::InvalidArgument("'" + address + "' is not host:port");
  if (!impl_->server.bind_to_port(host, port)) {
    return Status::Unavailable("cannot listen on " + address + " (port in use, or no such local address)");
  }
  impl_->thread = std::thread([this] {
    // SCHED_IDLE: serving runs only on CPU time training leaves over, so a
    // flood of requests slows the answers, not the steps. The workers, which
    // this thread starts, inherit it.
    sched_param idle{};
    pthread_setschedparam(pthread_self(), SCHED_IDLE, &idle);
    impl_->server.listen_after_bind();
  });
  // stop() is a no-op until the server runs: wait for it, so Stop() never
  // leaves the thread blocked in accept (it starts at once; bounded anyway).
  for (int i = 0; i < 2000 && !impl_->server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return Status::OK();
}

void HttpEndpoint::Stop() {
  if (!impl_->thread.joinable()) return;
  impl_->server.stop();
  impl_->thread.join();
}

bool HttpEndpoint::Available() { return true; }

struct HttpClient::Impl {
  explicit Impl(const std::pair<std::string, int>& where) : client(where.first, where.second) {}
  httplib::Client client;
};

HttpClient::HttpClient(const std::string& address) : impl_(std::make_unique<Impl>(SplitAddress(address))) {
  impl_->client.set_keep_alive(true);
  impl_->client.set_tcp_nodelay(true);
  impl_->client.set_connection_timeout(2, 0);
  impl_->client.set_read_timeout(5, 0);
}

HttpClient::~HttpClient() = default;

Result<std::string> HttpClient::Get(const std::string& path) {
  httplib::Result res = impl_->client.Get(path);
  if (!res) return Status::Unavailable("GET " + path + ": " + httplib::to_string(res.error()));
  if (res->status != 200) return Status::Unavailable("GET " + path + ": HTTP " + std::to_string(res->status));
  return res->body;
}

#else  // built without cpp-httplib

struct HttpEndpoint::Impl {};

HttpEndpoint::HttpEndpoint() : impl_(std::make_unique<Impl>()) {}
HttpEndpoint::~HttpEndpoint() = default;
void HttpEndpoint::Handle(const std::string&, Handler) {}
Status HttpEndpoint::Start(const std::string& address) {
  return Status::InvalidArgument("cannot serve " + address +
                                 ": this meshtrain was built without HTTP (Debian's libcpp-httplib-dev; a static "
                                 "build never has it; docs/observability.md)");
}
void HttpEndpoint::Stop() {}
bool HttpEndpoint::Available() { return false; }

struct HttpClient::Impl {};
HttpClient::HttpClient(const std::string&) : impl_(std::make_unique<Impl>()) {}
HttpClient::~HttpClient() = default;
Result<std::string> HttpClient::Get(const std::string& path) {
  return Status::InvalidArgument("GET " + path + ": this meshtrain was built without HTTP (libcpp-httplib-dev)");
}

#endif

}  // namespace meshtrain
