// HttpServer: the HTTP/1.1 (optionally TLS) front of coffer-server, on Boost.Beast + Asio
// with C++20 coroutines (STYLE.md §4).
//
// One coroutine per connection, run on a per-connection strand of one io_context that N
// threads run. For each request: the header is read under a deadline, Api::Check decides on
// the headers alone (route, body limit, session) so that an oversized or unauthorised body is
// refused with no byte of it read, then the body is read under a deadline scaled to its size,
// then Api::Handle answers. Keep-alive is honoured. Whatever a connection throws ends that
// connection only (logged). Stop() is graceful: no new connections, idle ones are closed,
// requests in flight finish (up to shutdown_grace), then Wait() returns.
//
// Logs one line per request to stderr: peer, method, path, status, response bytes, time.
// Never bodies, query strings, tokens or Authorization headers.
//
// Thread-safety: Start/Stop/Wait may be called from any thread; Stop is idempotent.
#ifndef COFFER_SERVER_HTTP_SERVER_H_
#define COFFER_SERVER_HTTP_SERVER_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>
#include <string_view>
#include <utility>

#include "coffer/status.h"
#include "server/api.h"

namespace coffer::server {

struct HttpServerOptions {
  std::string host = "127.0.0.1";  // an IP address (or "localhost")
  uint16_t port = 0;               // 0 = let the OS pick; see HttpServer::port()
  int threads = 4;
  // Both or neither. Without them the server refuses to listen on a non-loopback address:
  // plain HTTP would expose bearer tokens to the network.
  std::string tls_cert_file;
  std::string tls_key_file;
  // Deadline for an idle keep-alive connection and for reading a request header; also the
  // base of the body and write deadlines. Slowloris-safe: a client that trickles its header
  // is cut off after this long.
  std::chrono::milliseconds header_timeout{30000};
  // Body reads and response writes get header_timeout + size / min_transfer_rate.
  uint64_t min_transfer_rate = 64 * 1024;  // bytes per second
  size_t max_connections = 1024;
  std::chrono::milliseconds shutdown_grace{30000};
  // Peers (load balancers) whose X-Forwarded-For header is believed: the last address in it
  // becomes the request's client address (the per-address login limit keys on it). From
  // anyone else the header is ignored, so a client cannot choose its own address.
  std::vector<std::string> trusted_proxies;
};

class HttpServer {
 public:
  // Binds, listens and starts the threads. Errors: kInvalidArgument (bad address, TLS files
  // unreadable or not matching), kFailedPrecondition (plain HTTP on a non-loopback address),
  // kUnavailable (address in use or not available). `api` must outlive the server.
  static StatusOr<std::unique_ptr<HttpServer>> Start(const Api& api, HttpServerOptions options);
  ~HttpServer();  // Stop() and Wait()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;    // the bound port (the real one when options.port was 0)
  std::string url() const;  // e.g. "http://127.0.0.1:8420"

  // Begins a graceful shutdown; returns at once.
  void Stop();
  // Blocks until every connection has ended and the threads have exited.
  void Wait();

  struct Impl;

 private:
  explicit HttpServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// "127.0.0.1:8420", "[::1]:8420", "localhost:8420" -> (host, port).
StatusOr<std::pair<std::string, uint16_t>> ParseListenAddress(std::string_view text);

}  // namespace coffer::server

#endif  // COFFER_SERVER_HTTP_SERVER_H_
