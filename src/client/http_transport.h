// HttpTransport: one libcurl easy handle that performs bounded HTTP requests against one
// Coffer server. Internal to the client library; ApiClient is the only user.
//
// The transport moves bytes and enforces the limits that make an untrusted server harmless:
// connect timeout, a low-speed abort (a hung or trickling server becomes kUnavailable), an
// overall deadline scaled to the transfer size, a cap on the reply body (checked as bytes
// arrive, never from Content-Length) and on the reply headers, no redirects, peer
// verification for https. It does not interpret HTTP statuses: that is ApiClient's job.
//
// Thread-safety: an HttpTransport is used by one thread at a time. The testing options are
// process-global and meant to be set by tests before creating clients.
#ifndef COFFER_CLIENT_HTTP_TRANSPORT_H_
#define COFFER_CLIENT_HTTP_TRANSPORT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coffer/status.h"
#include "util/bytes.h"

namespace coffer::client {

struct TransferStats;

namespace internal {

// Timeouts and retry schedule. The defaults are the production values; tests shrink them so
// that hang and retry cases finish in a few seconds.
struct TransportOptions {
  long connect_timeout_ms = 10'000;
  // Abort when fewer than low_speed_limit bytes/s move for low_speed_time_s seconds. This
  // also bounds how long the server may think before answering.
  long low_speed_limit_bytes_per_s = 1024;
  long low_speed_time_s = 30;
  // Overall deadline per attempt: base + (request body + reply cap) / min_rate. Generous for
  // the largest bodies on a slow link, but finite even against a server that trickles just
  // above the low-speed limit.
  uint64_t base_timeout_ms = 300'000;
  uint64_t min_rate_bytes_per_s = 32 * 1024;
  // Sleep before retry i of an idempotent request; the number of entries is the number of
  // retries.
  std::vector<uint32_t> retry_backoff_ms = {100, 400, 1600};
};

// The options a new transport picks up (a copy is taken at creation).
TransportOptions CurrentTransportOptions();

// Overrides the options for transports created during the object's lifetime. Tests only.
class ScopedTransportOptionsForTesting {
 public:
  explicit ScopedTransportOptionsForTesting(const TransportOptions& options);
  ~ScopedTransportOptionsForTesting();
  ScopedTransportOptionsForTesting(const ScopedTransportOptionsForTesting&) = delete;
  ScopedTransportOptionsForTesting& operator=(const ScopedTransportOptionsForTesting&) = delete;

 private:
  TransportOptions saved_;
};

struct HttpRequest {
  std::string method;        // GET, HEAD, POST, PUT or DELETE
  std::string path;          // "/v1/...", with the query string if any; already validated
  std::string content_type;  // set when there is a body
  ByteView body;
  std::vector<std::string> extra_headers;  // "Name: value"
  size_t max_reply_bytes = 0;              // reply body cap
};

struct HttpResponse {
  long status = 0;
  std::string body;
  std::optional<std::string> retry_after;  // raw Retry-After header value
};

class HttpTransport {
 public:
  // `base_url` is scheme://host[:port][/prefix]. Fails with kInvalidArgument for anything
  // else, for credentials in the URL, and for plain http to a host that is not loopback.
  static StatusOr<std::unique_ptr<HttpTransport>> Create(const std::string& base_url,
                                                         const std::string& ca_file);
  ~HttpTransport();
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  // The normalised base URL (no trailing slash).
  const std::string& base_url() const { return base_url_; }
  const TransportOptions& options() const { return options_; }

  // One attempt, no retries. Any HTTP status is returned as a response. Errors:
  // kUnavailable when the server cannot be reached or stops answering, kDataLoss when the
  // reply exceeds req.max_reply_bytes. `stats` (optional) is updated even on failure.
  StatusOr<HttpResponse> Perform(const HttpRequest& req, const std::string& bearer_token,
                                 TransferStats* stats);

 private:
  HttpTransport() = default;

  void* curl_ = nullptr;  // CURL*, kept out of the header
  std::string base_url_;
  std::string scheme_;
  std::string ca_file_;
  TransportOptions options_;
};

// Exposed for tests: whether `host` (as in a URL, IPv6 in brackets) is a loopback address.
bool IsLoopbackHost(const std::string& host);

}  // namespace internal
}  // namespace coffer::client

#endif  // COFFER_CLIENT_HTTP_TRANSPORT_H_
