#include "client/http_transport.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <climits>
#include <mutex>
#include <string_view>

#include "client/api_client.h"

namespace coffer::client::internal {
namespace {

// Reply headers are tiny in this protocol; the cap stops a server that streams headers (or
// endless 1xx responses) forever. libcurl has its own per-header limit as well.
constexpr size_t kMaxReplyHeaderBytes = 64 * 1024;

std::mutex g_options_mu;
TransportOptions& MutableOptions() {
  static TransportOptions* options = new TransportOptions();
  return *options;
}

// curl_global_init is not thread-safe and must run once before any other libcurl call.
Status GlobalInit() {
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) {
    return InternalError(std::string("libcurl initialisation failed: ") + curl_easy_strerror(result));
  }
  return OkStatus();
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// Collects one reply. Everything here is filled by libcurl callbacks.
struct ReplySink {
  std::string body;
  size_t cap = 0;
  bool body_overflow = false;
  uint64_t body_bytes = 0;  // delivered to us, for the statistics
  size_t header_bytes = 0;
  bool header_overflow = false;
  std::optional<std::string> retry_after;
};

size_t WriteBody(char* data, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<ReplySink*>(user);
  const size_t n = size * nmemb;
  sink->body_bytes += n;
  // Checked as bytes arrive: Content-Length is the server's claim and may be absent or false.
  if (n > sink->cap - sink->body.size()) {
    sink->body_overflow = true;
    return 0;  // makes libcurl abort the transfer with CURLE_WRITE_ERROR
  }
  sink->body.append(data, n);
  return n;
}

size_t WriteHeader(char* data, size_t size, size_t nmemb, void* user) {
  auto* sink = static_cast<ReplySink*>(user);
  const size_t n = size * nmemb;
  sink->header_bytes += n;
  if (sink->header_bytes > kMaxReplyHeaderBytes) {
    sink->header_overflow = true;
    return 0;
  }
  std::string_view line(data, n);
  // A status line starts a new response (after a 1xx); forget headers of the previous one.
  if (line.starts_with("HTTP/")) {
    sink->retry_after.reset();
    return n;
  }
  const size_t colon = line.find(':');
  if (colon == std::string_view::npos) return n;
  if (!EqualsIgnoreCase(line.substr(0, colon), "retry-after")) return n;
  std::string_view value = line.substr(colon + 1);
  while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
  while (!value.empty() && (value.back() == '\r' || value.back() == '\n' || value.back() == ' ')) {
    value.remove_suffix(1);
  }
  sink->retry_after = std::string(value);
  return n;
}

struct SlistDeleter {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
struct UrlDeleter {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlStrDeleter {
  void operator()(char* s) const { curl_free(s); }
};
using CurlStr = std::unique_ptr<char, CurlStrDeleter>;

// Returns the URL part, or nullopt when it is absent.
std::optional<std::string> UrlPart(CURLU* u, CURLUPart part) {
  char* raw = nullptr;
  if (curl_url_get(u, part, &raw, 0) != CURLUE_OK || raw == nullptr) return std::nullopt;
  CurlStr owned(raw);
  return std::string(raw);
}

bool IsPrintableHeaderValue(std::string_view v) {
  return std::all_of(v.begin(), v.end(), [](char c) { return c >= 0x21 && c <= 0x7e; });
}

}  // namespace

TransportOptions CurrentTransportOptions() {
  std::lock_guard<std::mutex> lock(g_options_mu);
  return MutableOptions();
}

ScopedTransportOptionsForTesting::ScopedTransportOptionsForTesting(const TransportOptions& options) {
  std::lock_guard<std::mutex> lock(g_options_mu);
  saved_ = MutableOptions();
  MutableOptions() = options;
}

ScopedTransportOptionsForTesting::~ScopedTransportOptionsForTesting() {
  std::lock_guard<std::mutex> lock(g_options_mu);
  MutableOptions() = saved_;
}

bool IsLoopbackHost(const std::string& host_in) {
  std::string host = host_in;
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
    in6_addr a6{};
    if (inet_pton(AF_INET6, host.c_str(), &a6) != 1) return false;
    if (IN6_IS_ADDR_LOOPBACK(&a6)) return true;
    return IN6_IS_ADDR_V4MAPPED(&a6) && a6.s6_addr[12] == 127;
  }
  // libcurl resolves "localhost" to the loopback addresses itself, without DNS.
  if (EqualsIgnoreCase(host, "localhost")) return true;
  in_addr a4{};
  if (inet_pton(AF_INET, host.c_str(), &a4) != 1) return false;  // names are not loopback
  return (ntohl(a4.s_addr) >> 24) == 127;
}

StatusOr<std::unique_ptr<HttpTransport>> HttpTransport::Create(const std::string& base_url,
                                                               const std::string& ca_file) {
  COFFER_RETURN_IF_ERROR(GlobalInit());

  // The URL itself is not echoed in errors: it may carry credentials.
  std::unique_ptr<CURLU, UrlDeleter> u(curl_url());
  if (!u) return InternalError("out of memory parsing the server URL");
  if (curl_url_set(u.get(), CURLUPART_URL, base_url.c_str(), 0) != CURLUE_OK) {
    return InvalidArgumentError("not a valid server URL (expected https://host[:port])");
  }
  const std::string scheme = UrlPart(u.get(), CURLUPART_SCHEME).value_or("");
  if (scheme != "http" && scheme != "https") {
    return InvalidArgumentError("the server URL must start with https:// (or http:// for loopback)");
  }
  if (UrlPart(u.get(), CURLUPART_USER) || UrlPart(u.get(), CURLUPART_PASSWORD) ||
      UrlPart(u.get(), CURLUPART_OPTIONS)) {
    return InvalidArgumentError("the server URL must not contain credentials");
  }
  if (UrlPart(u.get(), CURLUPART_QUERY) || UrlPart(u.get(), CURLUPART_FRAGMENT)) {
    return InvalidArgumentError("the server URL must not contain a query or fragment");
  }
  const std::string host = UrlPart(u.get(), CURLUPART_HOST).value_or("");
  if (host.empty()) return InvalidArgumentError("the server URL has no host");
  // The bearer token and all metadata would travel in clear text; loopback is the only
  // place where that is acceptable (local tests, an ssh tunnel).
  if (scheme == "http" && !IsLoopbackHost(host)) {
    return InvalidArgumentError("refusing plain HTTP to a non-loopback server; use https://");
  }
  std::optional<std::string> normalised = UrlPart(u.get(), CURLUPART_URL);
  if (!normalised) return InvalidArgumentError("not a valid server URL");
  std::string url = *normalised;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.ends_with("/v1")) {
    return InvalidArgumentError("the server URL must not end with /v1 (give https://host[:port])");
  }

  if (!ca_file.empty() && access(ca_file.c_str(), R_OK) != 0) {
    return InvalidArgumentError("cannot read the CA file " + ca_file);
  }

  std::unique_ptr<HttpTransport> t(new HttpTransport());
  t->curl_ = curl_easy_init();
  if (t->curl_ == nullptr) return InternalError("curl_easy_init failed");
  t->base_url_ = std::move(url);
  t->scheme_ = scheme;
  t->ca_file_ = ca_file;
  t->options_ = CurrentTransportOptions();
  return t;
}

HttpTransport::~HttpTransport() {
  if (curl_ != nullptr) curl_easy_cleanup(static_cast<CURL*>(curl_));
}

StatusOr<HttpResponse> HttpTransport::Perform(const HttpRequest& req, const std::string& bearer_token,
                                              TransferStats* stats) {
  CURL* h = static_cast<CURL*>(curl_);
  const std::string what = req.method + " " + req.path;
  if (!bearer_token.empty() && !IsPrintableHeaderValue(bearer_token)) {
    // Never echo the token; a stray CR/LF in it would otherwise inject headers.
    return InvalidArgumentError("the session token contains invalid characters");
  }

  // Reset drops the previous request's options but keeps the live connection (keep-alive).
  curl_easy_reset(h);
  ReplySink sink;
  sink.cap = req.max_reply_bytes;
  char errbuf[CURL_ERROR_SIZE] = {0};

  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add_header = [&headers](const std::string& line) -> bool {
    curl_slist* next = curl_slist_append(headers.get(), line.c_str());
    if (next == nullptr) return false;
    headers.release();
    headers.reset(next);
    return true;
  };
  bool headers_ok = true;
  if (!bearer_token.empty()) headers_ok &= add_header("Authorization: Bearer " + bearer_token);
  if (!req.content_type.empty()) headers_ok &= add_header("Content-Type: " + req.content_type);
  // No "Expect: 100-continue": it only adds a round trip (or a 1 s stall) for big bodies.
  headers_ok &= add_header("Expect:");
  for (const std::string& extra : req.extra_headers) headers_ok &= add_header(extra);
  if (!headers_ok) return InternalError("out of memory building request headers");

  // Deadline for the whole attempt, scaled to what may legitimately have to move.
  const uint64_t transfer_bytes = static_cast<uint64_t>(req.body.size()) + req.max_reply_bytes;
  const uint64_t rate = std::max<uint64_t>(options_.min_rate_bytes_per_s, 1);
  const uint64_t timeout_ms = std::min<uint64_t>(options_.base_timeout_ms + transfer_bytes / rate * 1000,
                                                 static_cast<uint64_t>(LONG_MAX));

  const std::string url = base_url_ + req.path;
  CURLcode rc = CURLE_OK;
  auto set = [&rc](CURLcode r) {
    if (rc == CURLE_OK) rc = r;
  };
  set(curl_easy_setopt(h, CURLOPT_URL, url.c_str()));
  set(curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, scheme_.c_str()));
  set(curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L));  // timeouts without SIGALRM (threads)
  set(curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L));
  set(curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, options_.connect_timeout_ms));
  set(curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, options_.low_speed_limit_bytes_per_s));
  set(curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, options_.low_speed_time_s));
  set(curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, static_cast<long>(timeout_ms)));
  // Early refusal when the server announces an oversized body; the write callback enforces
  // the cap regardless of what the header says.
  set(curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(req.max_reply_bytes)));
  set(curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L));
  set(curl_easy_setopt(h, CURLOPT_USERAGENT, "coffer/0.1"));
  set(curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf));
  set(curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, &WriteBody));
  set(curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink));
  set(curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, &WriteHeader));
  set(curl_easy_setopt(h, CURLOPT_HEADERDATA, &sink));
  set(curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers.get()));
  if (scheme_ == "https") {
    set(curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 1L));
    set(curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 2L));
    set(curl_easy_setopt(h, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2)));
    if (!ca_file_.empty()) set(curl_easy_setopt(h, CURLOPT_CAINFO, ca_file_.c_str()));
  } else {
    // Plain HTTP is loopback only; an http_proxy from the environment must not see it.
    set(curl_easy_setopt(h, CURLOPT_PROXY, ""));
  }

  const bool has_body = req.method == "POST" || req.method == "PUT";
  if (req.method == "GET") {
    set(curl_easy_setopt(h, CURLOPT_HTTPGET, 1L));
  } else if (req.method == "HEAD") {
    set(curl_easy_setopt(h, CURLOPT_NOBODY, 1L));
  } else if (req.method == "DELETE") {
    set(curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "DELETE"));
  } else if (has_body) {
    // POSTFIELDS does not copy: req.body outlives the transfer.
    static const char kEmpty[] = "";
    set(curl_easy_setopt(h, CURLOPT_POST, 1L));
    set(curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size())));
    set(curl_easy_setopt(h, CURLOPT_POSTFIELDS,
                         req.body.empty() ? kEmpty : reinterpret_cast<const char*>(req.body.data())));
    if (req.method == "PUT") set(curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, "PUT"));
  } else {
    return InternalError("unsupported HTTP method " + req.method);
  }
  if (rc != CURLE_OK) {
    return InternalError("cannot configure libcurl for " + what + ": " + curl_easy_strerror(rc));
  }

  rc = curl_easy_perform(h);

  if (stats != nullptr) {
    curl_off_t uploaded = 0;
    if (curl_easy_getinfo(h, CURLINFO_SIZE_UPLOAD_T, &uploaded) == CURLE_OK && uploaded > 0) {
      stats->bytes_sent += static_cast<uint64_t>(uploaded);
    }
    stats->bytes_received += sink.body_bytes;
    stats->requests += 1;
  }
  // The options point into this frame; do not leave them dangling in the handle.
  curl_easy_setopt(h, CURLOPT_ERRORBUFFER, nullptr);
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);

  if (sink.body_overflow || rc == CURLE_FILESIZE_EXCEEDED) {
    return DataLossError("reply from server to " + what + " exceeds " + std::to_string(req.max_reply_bytes) +
                         " bytes");
  }
  if (sink.header_overflow) {
    return DataLossError("reply headers from server to " + what + " exceed " +
                         std::to_string(kMaxReplyHeaderBytes) + " bytes");
  }
  if (rc != CURLE_OK) {
    std::string detail = errbuf[0] != '\0' ? std::string(errbuf) : curl_easy_strerror(rc);
    while (!detail.empty() && (detail.back() == '\n' || detail.back() == ' ')) detail.pop_back();
    return UnavailableError("cannot reach the Coffer server at " + base_url_ + ": " + detail + " (" + what +
                            ")");
  }

  HttpResponse resp;
  curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &resp.status);
  resp.body = std::move(sink.body);
  resp.retry_after = std::move(sink.retry_after);
  return resp;
}

}  // namespace coffer::client::internal
