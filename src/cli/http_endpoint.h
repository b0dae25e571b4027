// A small read-only HTTP server for log.prometheus's /metrics and `meshtrain
// watch --http` (docs/observability.md): Debian's cpp-httplib, listening on a
// thread of its own with a few workers, GET only. A handler should do bounded
// work: it runs while training goes on in the same process.
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "meshtrain/status.h"

namespace meshtrain {

struct HttpReply {
  std::string body;
  std::string content_type;
};

class HttpEndpoint {
 public:
  using Handler = std::function<HttpReply()>;

  HttpEndpoint();
  ~HttpEndpoint();  // stops serving and joins its threads
  HttpEndpoint(const HttpEndpoint&) = delete;
  HttpEndpoint& operator=(const HttpEndpoint&) = delete;

  // Serves `path` (exact match) with `handler`; call before Start.
  void Handle(const std::string& path, Handler handler);
  // Binds `address` ("host:port", IPv6 in brackets) and serves from a thread of
  // its own. Unavailable naming the address if it cannot bind (in use, no such
  // interface); InvalidArgument in a build without cpp-httplib.
  Status Start(const std::string& address);
  void Stop();

  // Whether this build has cpp-httplib (static and some cross builds do not).
  static bool Available();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// A keep-alive GET client (cpp-httplib's), for the tests and the scrape
// benchmark (bench/); InvalidArgument in a build without cpp-httplib.
class HttpClient {
 public:
  explicit HttpClient(const std::string& address);  // "host:port"
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;
  // The body of a 200 answer; Unavailable (with the status or the error) otherwise.
  Result<std::string> Get(const std::string& path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace meshtrain
