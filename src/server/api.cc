// Routing (as data), the checks every route shares, and Api construction.
#include "server/api.h"

#include <sodium.h>

#include <chrono>
#include <exception>
#include <vector>

#include "crypto/password.h"
#include "server/handlers.h"
#include "server/log.h"
#include "server/staff_api.h"
#include "server/validate.h"

namespace coffer::server {
namespace {

constexpr std::string_view kServerSecretSetting = "login_salt_secret";
constexpr size_t kServerSecretBytes = 32;

enum class Access {
  kPublic,       // no session
  kAnySession,   // pending sessions too (the short list in docs/API.md)
  kFullSession,  // device or recovery sessions
};

struct Route {
  std::string_view method;
  std::string_view pattern;  // literal segments and {name} captures; see kParamRules
  Access access;
  uint64_t body_limit;
  std::vector<std::string_view> query;  // allowed query parameters
  HandlerFn handler;
};

// The endpoints of docs/API.md. Bodiless requests get a limit of 0: a GET with a body is a
// client bug, and refusing it costs nothing.
const std::vector<Route>& Routes() {
  static const auto* routes = new std::vector<Route>{
      {"GET", "/v1/health", Access::kPublic, 0, {}, HandleHealth},
      {"POST", "/v1/login/params", Access::kPublic, kJsonBodyLimit, {}, HandleLoginParams},
      {"POST", "/v1/accounts", Access::kPublic, kJsonBodyLimit, {}, HandleCreateAccount},
      {"POST", "/v1/sessions", Access::kPublic, kJsonBodyLimit, {}, HandleLogin},
      {"DELETE", "/v1/sessions/current", Access::kAnySession, 0, {}, HandleLogout},

      {"GET", "/v1/account", Access::kAnySession, 0, {}, HandleGetAccount},
      {"GET", "/v1/account/recovery", Access::kFullSession, 0, {}, HandleGetRecovery},
      {"PUT", "/v1/account/login", Access::kFullSession, kJsonBodyLimit, {}, HandlePutLogin},
      {"PUT", "/v1/account/recovery", Access::kFullSession, kJsonBodyLimit, {}, HandlePutRecovery},

      {"GET", "/v1/devices", Access::kFullSession, 0, {}, HandleListDevices},
      {"GET", "/v1/chain", Access::kFullSession, 0, {"from"}, HandleGetChain},
      {"POST", "/v1/chain", Access::kFullSession, kJsonBodyLimit, {}, HandleAppendChain},
      {"PUT", "/v1/keys/sealed/{device_id}", Access::kFullSession, kJsonBodyLimit, {}, HandlePutSealedKey},
      {"GET", "/v1/keys/sealed/{device_id}", Access::kFullSession, 0, {}, HandleGetSealedKey},
      {"GET", "/v1/keyring", Access::kFullSession, 0, {}, HandleGetKeyring},
      {"PUT", "/v1/keyring", Access::kFullSession, kJsonBodyLimit, {}, HandlePutKeyring},

      {"GET", "/v1/collections", Access::kFullSession, 0, {"since", "wait"}, HandleListCollections},
      {"GET",
       "/v1/collections/{collection_id}/revisions",
       Access::kFullSession,
       0,
       {"from", "limit"},
       HandleGetRevisions},
      {"PUT",
       "/v1/collections/{collection_id}/revisions/{n}",
       Access::kFullSession,
       kRevisionBodyLimit,
       {},
       HandlePutRevision},
      {"GET", "/v1/collections/{collection_id}/checkpoint", Access::kFullSession, 0, {}, HandleGetCheckpoint},
      {"PUT",
       "/v1/collections/{collection_id}/checkpoint/{n}",
       Access::kFullSession,
       kCheckpointBodyLimit,
       {},
       HandlePutCheckpoint},

      {"PUT", "/v1/chunks/{chunk_id}", Access::kFullSession, kChunkBodyLimit, {}, HandlePutChunk},
      {"HEAD", "/v1/chunks/{chunk_id}", Access::kFullSession, 0, {}, HandleHeadChunk},
      {"GET", "/v1/chunks/{chunk_id}", Access::kFullSession, 0, {}, HandleGetChunk},
      {"POST", "/v1/chunks/missing", Access::kFullSession, kIdListBodyLimit, {}, HandleMissingChunks},
      {"POST", "/v1/chunks/pack", Access::kFullSession, kPackBodyLimit, {}, HandlePutChunkPack},
      {"POST", "/v1/chunks/fetch", Access::kFullSession, kJsonBodyLimit, {}, HandleFetchChunks},
      {"GET", "/v1/chunks", Access::kFullSession, 0, {}, HandleListChunks},
      {"POST", "/v1/gc", Access::kFullSession, kIdListBodyLimit, {}, HandleGc},

      {"PUT", "/v1/pairing/{pairing_id}", Access::kAnySession, kPairingBodyLimit, {}, HandlePutPairing},
      {"GET", "/v1/pairing/{pairing_id}", Access::kFullSession, 0, {}, HandleGetPairing},
      {"PUT",
       "/v1/pairing/{pairing_id}/response",
       Access::kFullSession,
       kPairingBodyLimit,
       {},
       HandlePutPairingResponse},
      {"GET", "/v1/pairing/{pairing_id}/response", Access::kAnySession, 0, {}, HandleGetPairingResponse},
  };
  return *routes;
}

// How each {capture} is validated, so that every handler sees well-formed ids.
Status CheckPathParam(std::string_view name, std::string_view value) {
  if (name == "device_id") return CheckHexId(value, kShortIdHexLen, "device id in the path");
  if (name == "collection_id") return CheckHexId(value, kShortIdHexLen, "collection id in the path");
  if (name == "pairing_id") return CheckHexId(value, kShortIdHexLen, "pairing id in the path");
  if (name == "chunk_id") return CheckHexId(value, kChunkIdHexLen, "chunk id in the path");
  if (name == "n") return ParseUint(value, "revision number in the path", 1, kMaxJsonInt).status();
  return InternalError("route pattern uses an unknown capture {" + std::string(name) + "}");
}

std::vector<std::string_view> SplitPath(std::string_view path) {
  std::vector<std::string_view> out;
  // The leading '/' was checked by the caller; an empty segment ("//", trailing "/") stays in
  // the list and then matches no route.
  path.remove_prefix(1);
  while (true) {
    size_t slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos) break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

struct Match {
  const Route* route = nullptr;
  std::map<std::string, std::string> path;
  std::string_view query;
  std::optional<Response> error;  // 400/404/405
};

// Finds the route for (method, target). Among patterns that fit the path, the one with the
// earliest literal segment wins ("/v1/chunks/missing" beats "/v1/chunks/{chunk_id}"); if that
// pattern has no route for the method the answer is 405 with Allow.
Match MatchRoute(std::string_view method, std::string_view target) {
  Match m;
  size_t qpos = target.find('?');
  std::string_view path = target.substr(0, qpos);
  m.query = qpos == std::string_view::npos ? std::string_view() : target.substr(qpos + 1);
  if (path.empty() || path.front() != '/' || path.size() > 512) {
    m.error =
        ErrorResponse(400, "INVALID_ARGUMENT", "request target must be an absolute path like /v1/health");
    return m;
  }
  const std::vector<std::string_view> segs = SplitPath(path);

  std::string_view best_pattern;
  uint64_t best_score = 0;  // bit i set = segment i is literal; higher bits for earlier segments
  for (const Route& r : Routes()) {
    const std::vector<std::string_view> pat = SplitPath(r.pattern);
    if (pat.size() != segs.size()) continue;
    uint64_t score = 0;
    bool fits = true;
    for (size_t i = 0; i < pat.size() && fits; ++i) {
      const bool capture = pat[i].size() > 2 && pat[i].front() == '{' && pat[i].back() == '}';
      if (capture) {
        fits = !segs[i].empty();
      } else {
        fits = pat[i] == segs[i];
        score |= uint64_t{1} << (63 - i);
      }
    }
    if (!fits) continue;
    if (best_pattern.empty() || score > best_score) {
      best_pattern = r.pattern;
      best_score = score;
    }
  }
  if (best_pattern.empty()) {
    m.error = ErrorResponse(404, "NOT_FOUND",
                            "no such endpoint: " + std::string(path.substr(0, 200)) + " (see docs/API.md)");
    return m;
  }
  std::string allow;
  for (const Route& r : Routes()) {
    if (r.pattern != best_pattern) continue;
    if (r.method == method) {
      m.route = &r;
      break;
    }
    allow += (allow.empty() ? "" : ", ") + std::string(r.method);
  }
  if (m.route == nullptr) {
    m.error = ErrorResponse(405, "INVALID_ARGUMENT",
                            std::string(method.substr(0, 16)) + " is not allowed on " +
                                std::string(best_pattern) + "; use " + allow);
    m.error->headers.emplace_back("Allow", allow);
    return m;
  }
  const std::vector<std::string_view> pat = SplitPath(m.route->pattern);
  for (size_t i = 0; i < pat.size(); ++i) {
    if (pat[i].front() != '{') continue;
    std::string_view name = pat[i].substr(1, pat[i].size() - 2);
    Status st = CheckPathParam(name, segs[i]);
    if (!st.ok()) {
      m.error = ErrorResponse(st);
      m.route = nullptr;
      return m;
    }
    m.path.emplace(std::string(name), std::string(segs[i]));
  }
  return m;
}

Response TooLarge(const Route& route, uint64_t size) {
  return ErrorResponse(413, "INVALID_ARGUMENT",
                       "request body is " + std::to_string(size) + " bytes; " + std::string(route.method) +
                           " " + std::string(route.pattern) + " accepts at most " +
                           std::to_string(route.body_limit) + " bytes");
}

// Session checks shared by Check() and Handle(). Returns an error response, or nullopt when
// the caller may proceed.
std::optional<Response> CheckAccess(const Services& s, const Route& route, std::string_view authorization,
                                    int64_t now, Caller* caller) {
  if (route.access == Access::kPublic) return std::nullopt;
  auto authed = Authenticate(s, authorization, now);
  if (!authed.ok()) return ErrorResponse(authed.status());
  *caller = std::move(authed).value();
  if (caller->account.locked) {
    return ErrorResponse(423, "PERMISSION_DENIED",
                         "this account is locked by the operator's staff; contact support to unlock it");
  }
  if (route.access == Access::kFullSession && caller->session.kind == store::SessionKind::kPending) {
    return ErrorResponse(403, "PERMISSION_DENIED",
                         "this device is not approved yet; approve it from one of your enrolled devices");
  }
  return std::nullopt;
}

int64_t SystemNow() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Reads the server secret, creating it on first start. Two instances starting at once on an
// empty database could each write one; reading back after the write makes both use
// whichever landed last (at worst the fake salts of unknown emails change once).
StatusOr<crypto::SecretBytes> LoadServerSecret(store::MetaStore& meta) {
  const std::string name(kServerSecretSetting);
  auto stored = meta.GetSetting(name);
  if (!stored.ok() && stored.status().code() != StatusCode::kNotFound) {
    return stored.status().WithContext("reading the server secret");
  }
  if (!stored.ok()) {
    Bytes fresh = crypto::RandomBytes(kServerSecretBytes);
    Status put = meta.PutSetting(name, fresh);
    sodium_memzero(fresh.data(), fresh.size());
    COFFER_RETURN_IF_ERROR(put.WithContext("storing the server secret"));
    stored = meta.GetSetting(name);
    if (!stored.ok()) return stored.status().WithContext("reading back the server secret");
  }
  if (stored->size() != kServerSecretBytes) {
    return DataLossError("server secret setting has " + std::to_string(stored->size()) + " bytes, expected " +
                         std::to_string(kServerSecretBytes));
  }
  crypto::SecretBytes secret = crypto::SecretBytes::FromBytes(*stored);
  sodium_memzero(stored->data(), stored->size());
  return secret;
}

}  // namespace

struct Api::Impl {
  Services services;
  std::unique_ptr<StaffApi> staff_api;  // routes of server/staff_api.h; null when not configured
  int64_t Now() const { return services.options.clock ? services.options.clock() : SystemNow(); }
  Response Dispatch(const Request& request) const;
};

std::vector<RouteInfo> Api::RouteTable() {
  std::vector<RouteInfo> out;
  for (const Route& r : Routes()) {
    const std::string_view access = r.access == Access::kPublic       ? "public"
                                    : r.access == Access::kAnySession ? "any-session"
                                                                      : "full-session";
    out.push_back(RouteInfo{r.method, r.pattern, access});
  }
  return out;
}

Api::Api(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Api::~Api() = default;

StatusOr<std::unique_ptr<Api>> Api::Create(store::MetaStore& meta, store::BlobStore& blobs,
                                           ApiOptions options) {
  COFFER_RETURN_IF_ERROR(crypto::Init());
  if (options.gc_grace_seconds < 0) return InvalidArgumentError("gc grace period must not be negative");
  COFFER_ASSIGN_OR_RETURN(crypto::SecretBytes secret, LoadServerSecret(meta));
  // A hash of a random verifier nobody knows: verifying against it costs what verifying a
  // real account does, so unknown emails answer as slowly as known ones.
  Bytes random_verifier = crypto::RandomBytes(32);
  COFFER_ASSIGN_OR_RETURN(std::string dummy, crypto::HashForStorage(random_verifier));
  auto impl = std::unique_ptr<Impl>(
      new Impl{Services{meta, blobs, std::move(options), std::move(secret), std::move(dummy)}});
  if (impl->services.options.staff != nullptr) {
    if (impl->services.options.log_key_file.empty()) return InvalidArgumentError("the staff API needs a log key file");
    COFFER_ASSIGN_OR_RETURN(crypto::SigningKey log_key, LoadOrCreateLogKey(impl->services.options.log_key_file));
    impl->staff_api =
        std::make_unique<StaffApi>(impl->services, *impl->services.options.staff, std::move(log_key));
  }
  return std::unique_ptr<Api>(new Api(std::move(impl)));
}

Preflight Api::Check(std::string_view method, std::string_view target, std::string_view authorization,
                     std::optional<uint64_t> content_length) const {
  Preflight out;
  try {
    if (impl_->staff_api && StaffApi::Owns(target)) {
      return impl_->staff_api->Check(method, target, authorization, content_length, impl_->Now());
    }
    Match m = MatchRoute(method, target);
    if (m.error) {
      out.reject = std::move(m.error);
      return out;
    }
    out.body_limit = m.route->body_limit;
    if (content_length && *content_length > m.route->body_limit) {
      out.reject = TooLarge(*m.route, *content_length);
      return out;
    }
    Caller caller;
    if (auto denied = CheckAccess(impl_->services, *m.route, authorization, impl_->Now(), &caller)) {
      out.reject = std::move(denied);
    }
  } catch (const std::exception& e) {
    LogLine(std::string("internal error in request check: ") + e.what());
    out.reject = ErrorResponse(500, "INTERNAL", "internal server error");
  }
  return out;
}

Response Api::Handle(const Request& request) const {
  try {
    return impl_->Dispatch(request);
  } catch (const std::exception& e) {
    // A handler bug (or bad_alloc) must not take the server down; the message goes to the
    // operator's log, the client gets a generic 500.
    LogLine("internal error handling " + request.method + " " +
            request.target.substr(0, request.target.find('?')) + ": " + e.what());
    return ErrorResponse(500, "INTERNAL", "internal server error; the server log has details");
  }
}

Response Api::Impl::Dispatch(const Request& request) const {
  if (staff_api && StaffApi::Owns(request.target)) return staff_api->Handle(request, Now());
  Match m = MatchRoute(request.method, request.target);
  if (m.error) return std::move(*m.error);
  const Route& route = *m.route;
  if (request.body.size() > route.body_limit) return TooLarge(route, request.body.size());

  auto query = ParseQuery(m.query, route.query);
  if (!query.ok()) return ErrorResponse(query.status());

  const int64_t now = Now();
  Caller caller;
  if (auto denied = CheckAccess(services, route, request.authorization, now, &caller))
    return std::move(*denied);

  Call call{request, std::move(m.path), std::move(query).value(), now,
            route.access == Access::kPublic ? nullptr : &caller};
  StatusOr<Response> result = route.handler(services, call);

  if (call.caller != nullptr && now - caller.account.last_activity >= kActivityGranularity) {
    Status touched = services.meta.TouchActivity(caller.account.account_id, now);
    if (!touched.ok()) LogLine("could not record account activity: " + touched.ToString());
  }
  if (!result.ok()) {
    const Status& st = result.status();
    if (st.code() == StatusCode::kInternal || st.code() == StatusCode::kUnavailable ||
        st.code() == StatusCode::kDataLoss) {
      LogLine(request.method + " " + std::string(route.pattern) + ": " + st.ToString());
    }
    return ErrorResponse(st);
  }
  return std::move(result).value();
}

}  // namespace coffer::server
