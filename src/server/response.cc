#include "server/response.h"

namespace coffer::server {

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kAborted:
      return 409;
    case StatusCode::kFailedPrecondition:
      return 412;
    case StatusCode::kOutOfRange:
      return 416;
    case StatusCode::kResourceExhausted:
      return 507;
    case StatusCode::kUnavailable:
      return 503;
    case StatusCode::kDataLoss:
      return 500;
    // kSecurity is a client-side verdict ("the server lied"); if one ever reaches this
    // layer it is a bug, like kInternal.
    case StatusCode::kSecurity:
      return 500;
    case StatusCode::kInternal:
      return 500;
  }
  return 500;
}

Response ErrorResponse(int http_status, std::string_view code, std::string_view message,
                       const nlohmann::json& extra) {
  nlohmann::json body = extra.is_object() ? extra : nlohmann::json::object();
  body["error"] = {{"code", code}, {"message", message}};
  return JsonResponse(http_status, body);
}

Response ErrorResponse(const Status& status) {
  // A Status that is OK has no business here; answering 500 makes the bug visible.
  if (status.ok()) return ErrorResponse(500, "INTERNAL", "handler returned an error without a code");
  return ErrorResponse(HttpStatusFor(status.code()), StatusCodeName(status.code()), status.message());
}

Response RateLimitedResponse(std::string_view message, int64_t retry_after_seconds) {
  Response r = ErrorResponse(429, "RESOURCE_EXHAUSTED", message, {{"retry_after", retry_after_seconds}});
  r.headers.emplace_back("Retry-After", std::to_string(retry_after_seconds));
  return r;
}

Response JsonResponse(int http_status, const nlohmann::json& body) {
  Response r;
  r.status = http_status;
  r.content_type = "application/json";
  // `replace` keeps a stray invalid UTF-8 byte (e.g. from a store message) from throwing.
  r.body = ToBytes(body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
  return r;
}

Response RawResponse(int http_status, Bytes body) {
  Response r;
  r.status = http_status;
  r.content_type = "application/octet-stream";
  r.body = std::move(body);
  return r;
}

Response EmptyResponse(int http_status) {
  Response r;
  r.status = http_status;
  return r;
}

}  // namespace coffer::server
