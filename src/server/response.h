// Request and Response values of the server's handler layer, and the one place where a
// StatusCode becomes an HTTP status (docs/API.md "Errors").
//
// Handlers never touch sockets: the HTTP layer (http_server.h) turns a parsed HTTP request
// into a Request, calls Api::Handle and writes back the Response. Tests do the same without a
// network.
// Thread-safety: plain values.
#ifndef COFFER_SERVER_RESPONSE_H_
#define COFFER_SERVER_RESPONSE_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "coffer/status.h"
#include "util/bytes.h"

namespace coffer::server {

struct Request {
  std::string method;          // "GET", "PUT", ... (upper case, as on the wire)
  std::string target;          // path plus optional "?query", e.g. "/v1/chain?from=3"
  std::string authorization;   // the Authorization header, "" if absent
  std::string content_sha256;  // the X-Coffer-Sha256 header, "" if absent
  std::string content_type;    // informational only; bodies are parsed by route, not by type
  Bytes body;
  std::string peer;  // client IP address (no port); keys the per-address rate limit
};

struct Response {
  int status = 200;
  std::string content_type;  // empty for bodiless replies (204)
  Bytes body;
  // Extra headers (Retry-After, Allow). Never Authorization or tokens.
  std::vector<std::pair<std::string, std::string>> headers;
  // For HEAD: the Content-Length the equivalent GET would carry (the body stays empty).
  std::optional<uint64_t> head_content_length;
  // Long poll: nothing changed yet. The HTTP layer asks Api::Handle again (the store is the
  // only state, so any instance sees a change any other instance committed) until the answer
  // differs or this many seconds have passed, then sends the last answer.
  uint32_t poll_seconds = 0;
};

// docs/API.md table. kResourceExhausted maps to 507 (quota): a rate limit is answered with
// RateLimitedResponse instead, because it also carries Retry-After.
int HttpStatusFor(StatusCode code);

// {"error": {"code": CODE, "message": MESSAGE}} plus any top-level `extra` fields
// (e.g. "current" on a lost compare-and-set, "retry_after" on 429).
Response ErrorResponse(int http_status, std::string_view code, std::string_view message,
                       const nlohmann::json& extra = nlohmann::json::object());
// An error Status as its mapped HTTP error response.
Response ErrorResponse(const Status& status);
// 429 RESOURCE_EXHAUSTED with a Retry-After header and a "retry_after" field.
Response RateLimitedResponse(std::string_view message, int64_t retry_after_seconds);

Response JsonResponse(int http_status, const nlohmann::json& body);
Response RawResponse(int http_status, Bytes body);  // application/octet-stream
Response EmptyResponse(int http_status);            // e.g. 204

}  // namespace coffer::server

#endif  // COFFER_SERVER_RESPONSE_H_
