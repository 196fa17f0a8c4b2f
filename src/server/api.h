// Api: the whole of docs/API.md as plain functions from Request to Response.
//
// No sockets here: http_server.h parses HTTP and calls Check() after the headers and Handle()
// after the body; tests call the same two functions directly on real stores.
//
// The server is an untrusted, dumb store (DESIGN.md): it never interprets the opaque blobs it
// keeps. What it does enforce is authentication, per-account scoping (every store call takes
// the session's account id, so one account cannot name another's objects), compare-and-set on
// journals, quotas, body limits and login rate limits.
//
// Thread-safety: Check() and Handle() may be called from many threads at once; the stores
// must be thread-safe (their interfaces promise it).
#ifndef COFFER_SERVER_API_H_
#define COFFER_SERVER_API_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/status.h"
#include "server/response.h"
#include "store/blob_store.h"
#include "store/meta_store.h"
#include "store/staff_store.h"

namespace coffer::server {

inline constexpr std::string_view kServerVersion = "0.1.0";

struct ApiOptions {
  // Quota given to accounts created from now on; 0 = unlimited.
  uint64_t default_quota_bytes = 0;
  // POST /v1/gc keeps unreferenced chunks younger than this, so that the chunks of an upload
  // still in progress (not yet referenced by any revision) survive.
  int64_t gc_grace_seconds = 3600;
  // Unix seconds. Empty = the system clock. Tests inject a fake clock to cover expiry.
  std::function<int64_t()> clock;
  // The support console (issue 5, server/staff_api.h): its store (outlives the Api) and the
  // file of the access log's signing key (created 0600 on first start). Null = no staff API.
  store::StaffStore* staff = nullptr;
  std::string log_key_file;
};

// What the HTTP layer needs to know before it reads a request body.
struct Preflight {
  // Set when the request is refused on its headers alone (unknown route, wrong method, bad
  // id, body too large, missing/expired session, locked account, pending device). The HTTP
  // layer sends it without reading the body.
  std::optional<Response> reject;
  // The most body bytes this route accepts (docs/API.md "Body limits").
  uint64_t body_limit = 0;
};

// One row of a route table, read-only, so that tests can prove they cover every endpoint.
struct RouteInfo {
  std::string_view method;
  std::string_view pattern;  // {name} captures as in docs/API.md
  // User routes: "public", "any-session" (pending sessions too), "full-session".
  // Staff module: "public", "staff", "owner", "owner-even-if-locked".
  std::string_view access;
};

class Api {
 public:
  // The user routes, in table order (the staff module's: StaffApi::RouteTable).
  static std::vector<RouteInfo> RouteTable();

  // Loads (or, on first start, creates and stores) the server secret that keys the fake
  // login salts. `meta` and `blobs` must outlive the Api.
  static StatusOr<std::unique_ptr<Api>> Create(store::MetaStore& meta, store::BlobStore& blobs,
                                               ApiOptions options);
  ~Api();
  Api(const Api&) = delete;
  Api& operator=(const Api&) = delete;

  // Decides on the request line and headers alone. `content_length` is the declared body
  // size (nullopt when unknown, e.g. chunked). Runs the session check too, so that an
  // anonymous client cannot make the server buffer a large body.
  Preflight Check(std::string_view method, std::string_view target, std::string_view authorization,
                  std::optional<uint64_t> content_length) const;

  // Handles one complete request. Never throws: exceptions become 500 INTERNAL.
  Response Handle(const Request& request) const;

  struct Impl;

 private:
  explicit Api(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::server

#endif  // COFFER_SERVER_API_H_
