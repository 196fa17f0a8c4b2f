#include "client/api_client.h"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_set>
#include <utility>

#include "client/http_transport.h"
#include "crypto/hash.h"

namespace coffer::client {

using internal::HttpRequest;
using internal::HttpResponse;
using internal::HttpTransport;
using nlohmann::json;

namespace {

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * 1024;

// Request body limits of docs/API.md. Checked before sending so that an oversized body fails
// at once instead of after an upload the server will refuse with 413.
constexpr size_t kMaxJsonRequest = 1 * kMiB;
constexpr size_t kMaxBulkJsonRequest = 16 * kMiB;  // /v1/chunks/missing and /v1/gc
constexpr size_t kMaxChunkBytes = 16 * kMiB;
constexpr size_t kMaxRevisionBytes = 32 * kMiB;
constexpr size_t kMaxCheckpointBytes = 256 * kMiB;
constexpr size_t kMaxPairingBytes = 64 * kKiB;
constexpr size_t kMaxMissingIdsPerRequest = 100'000;
constexpr uint64_t kMaxRevisionsPerRequest = 10'000;

// Reply caps. A server may not make the client buffer more than what a valid reply can be.
// Binary data inside JSON is base64 (4/3 of the raw size), hence the Base64Len terms.
constexpr size_t Base64Len(size_t raw) { return (raw + 2) / 3 * 4; }
// Small JSON replies (account, keys, errors). Objects that were stored through a 1 MiB
// JSON request come back with a few more bytes of framing.
constexpr size_t kSmallReplyCap = kMaxJsonRequest + 64 * kKiB;
constexpr size_t kChunkReplyCap = kMaxChunkBytes + 64 * kKiB;
// "capped at 64 MiB of revision data (at least one revision)": 64 MiB of base64-encoded
// data plus per-revision framing for up to 10000 revisions.
constexpr size_t kRevisionsReplyCap = Base64Len(64 * kMiB) + 4 * kMiB;
constexpr size_t kCheckpointReplyCap = Base64Len(kMaxCheckpointBytes) + 64 * kKiB;
constexpr size_t kChainReplyCap = 16 * kMiB;
constexpr size_t kMissingReplyCap = 16 * kMiB;  // at most the ids we sent
constexpr size_t kMaxPackBytes = 64 * kMiB;     // server limit of POST /v1/chunks/pack
constexpr size_t kFetchReplyCap = 64 * kMiB + 64 * kKiB;
// The chunk list grows with the account (about 85 bytes per chunk): 128 MiB is enough for
// about 1.5 million chunks.
constexpr size_t kChunkListReplyCap = 128 * kMiB;
constexpr size_t kPairingReplyCap = kMaxPairingBytes;

constexpr size_t kIdHexLen = 32;       // account, device, collection, pairing ids
constexpr size_t kChunkIdHexLen = 64;  // chunk ids
constexpr size_t kTokenHexLen = 64;
constexpr size_t kKeyBytes = 32;  // Ed25519 / X25519 public keys, verifiers
constexpr size_t kSaltBytes = 16;
constexpr size_t kMaxNameBytes = 4 * kKiB;
constexpr size_t kMaxEmailBytes = 254;
constexpr int kMaxJsonDepth = 16;  // the deepest valid reply has depth 3

// Text from the server ends up on the user's terminal: keep printable ASCII only (no escape
// sequences) and bound the length.
std::string SanitizeServerText(std::string_view s, size_t max_len = 300) {
  std::string out;
  for (char c : s.substr(0, max_len)) out.push_back(c >= 0x20 && c <= 0x7e ? c : '?');
  if (s.size() > max_len) out += "...";
  return out;
}

bool IsLowerHex(std::string_view s, size_t len) {
  return s.size() == len && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

// Ids go into URL paths: validating them also rules out path or query injection.
Status CheckId(const std::string& id, size_t hex_len, std::string_view what) {
  if (!IsLowerHex(id, hex_len)) {
    return InvalidArgumentError(std::string(what) + " must be " + std::to_string(hex_len) +
                                " lowercase hex characters");
  }
  return OkStatus();
}

Status CheckBodySize(size_t size, size_t limit, std::string_view what) {
  if (size > limit) {
    return InvalidArgumentError(std::string(what) + " of " + std::to_string(size) +
                                " bytes exceeds the server's limit of " + std::to_string(limit) + " bytes");
  }
  return OkStatus();
}

// Parses a reply body. nlohmann's parser is iterative, but the depth limit keeps memory and
// destruction costs of adversarial nesting small.
StatusOr<json> ParseJson(const std::string& what, std::string_view body) {
  try {
    json::parser_callback_t cb = [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth) throw std::runtime_error("JSON nested too deeply");
      return true;
    };
    return json::parse(body, cb);
  } catch (const std::exception& e) {
    return DataLossError("malformed reply from server to " + what + ": " + SanitizeServerText(e.what()));
  }
}

// Typed, bounded access to a parsed reply. Every mismatch is kDataLoss naming the endpoint
// and the field, e.g. "malformed reply from server to GET /v1/devices: field devices[2].sign_pk
// is not 32 bytes".
struct Node {
  const json* j;
  std::string path;  // "" for the root
};

class ReplyParser {
 public:
  explicit ReplyParser(std::string what) : what_(std::move(what)) {}

  const std::string& what() const { return what_; }

  Status Bad(const std::string& field, std::string_view problem) const {
    if (field.empty())
      return DataLossError("malformed reply from server to " + what_ + ": " + std::string(problem));
    return DataLossError("malformed reply from server to " + what_ + ": field " + field + " " +
                         std::string(problem));
  }

  // Parses `body`; the returned Node (and every Node derived from it) points into this
  // parser, which must outlive them.
  StatusOr<Node> Root(const std::string& body) const {
    COFFER_ASSIGN_OR_RETURN(json parsed, ParseJson(what_, body));
    root_ = std::move(parsed);
    if (!root_.is_object()) return Bad("", "is not a JSON object");
    return Node{&root_, ""};
  }

  bool Has(const Node& parent, const char* key) const { return parent.j->contains(key); }

  StatusOr<Node> Child(const Node& parent, const char* key) const {
    const std::string path = parent.path.empty() ? key : parent.path + "." + key;
    auto it = parent.j->find(key);
    if (it == parent.j->end()) return Bad(path, "is missing");
    return Node{&*it, path};
  }

  StatusOr<Node> Object(const Node& parent, const char* key) const {
    COFFER_ASSIGN_OR_RETURN(Node n, Child(parent, key));
    if (!n.j->is_object()) return Bad(n.path, "is not an object");
    return n;
  }
  Status ExpectObject(const Node& n) const {
    return n.j->is_object() ? OkStatus() : Bad(n.path, "is not an object");
  }

  StatusOr<std::vector<Node>> Array(const Node& parent, const char* key) const {
    COFFER_ASSIGN_OR_RETURN(Node n, Child(parent, key));
    if (!n.j->is_array()) return Bad(n.path, "is not an array");
    std::vector<Node> out;
    out.reserve(n.j->size());
    for (size_t i = 0; i < n.j->size(); ++i)
      out.push_back(Node{&(*n.j)[i], n.path + "[" + std::to_string(i) + "]"});
    return out;
  }

  StatusOr<uint64_t> U64(const Node& n) const {
    if (!n.j->is_number_unsigned()) return Bad(n.path, "is not an unsigned integer");
    return n.j->get<uint64_t>();
  }
  StatusOr<int64_t> I64(const Node& n) const {
    if (n.j->is_number_unsigned()) {
      const uint64_t v = n.j->get<uint64_t>();
      if (v > static_cast<uint64_t>(INT64_MAX)) return Bad(n.path, "is out of range");
      return static_cast<int64_t>(v);
    }
    if (!n.j->is_number_integer()) return Bad(n.path, "is not an integer");
    return n.j->get<int64_t>();
  }
  StatusOr<bool> Bool(const Node& n) const {
    if (!n.j->is_boolean()) return Bad(n.path, "is not a boolean");
    return n.j->get<bool>();
  }
  StatusOr<std::string> Str(const Node& n, size_t max_len) const {
    if (!n.j->is_string()) return Bad(n.path, "is not a string");
    const auto& s = n.j->get_ref<const std::string&>();
    if (s.size() > max_len) return Bad(n.path, "is longer than " + std::to_string(max_len) + " bytes");
    return s;
  }
  StatusOr<std::string> Enum(const Node& n, std::initializer_list<std::string_view> allowed) const {
    COFFER_ASSIGN_OR_RETURN(std::string s, Str(n, 64));
    for (std::string_view a : allowed) {
      if (s == a) return s;
    }
    return Bad(n.path, "has an unexpected value \"" + SanitizeServerText(s) + "\"");
  }
  StatusOr<std::string> Id(const Node& n, size_t hex_len) const {
    if (!n.j->is_string() || !IsLowerHex(n.j->get_ref<const std::string&>(), hex_len)) {
      return Bad(n.path, "is not " + std::to_string(hex_len) + " lowercase hex characters");
    }
    return n.j->get<std::string>();
  }
  StatusOr<Bytes> B64(const Node& n, size_t min_len, size_t max_len) const {
    if (!n.j->is_string()) return Bad(n.path, "is not a base64 string");
    const auto& s = n.j->get_ref<const std::string&>();
    if (s.size() > Base64Len(max_len))
      return Bad(n.path, "is longer than " + std::to_string(max_len) + " bytes");
    StatusOr<Bytes> decoded = Base64Decode(s);
    if (!decoded.ok()) return Bad(n.path, "is not valid base64");
    if (decoded->size() < min_len || decoded->size() > max_len) {
      return Bad(n.path, min_len == max_len ? "is not " + std::to_string(min_len) + " bytes"
                                            : "has " + std::to_string(decoded->size()) + " bytes, expected " +
                                                  std::to_string(min_len) + ".." + std::to_string(max_len));
    }
    return decoded;
  }

  // Member shorthands.
  StatusOr<uint64_t> U64(const Node& p, const char* key) const {
    COFFER_ASSIGN_OR_RETURN(Node n, Child(p, key));
    return U64(n);
  }
  StatusOr<int64_t> I64(const Node& p, const char* key) const {
    COFFER_ASSIGN_OR_RETURN(Node n, Child(p, key));
    return I64(n);
  }
  StatusOr<bool> Bool(const Node& p, const char* key) const {
    COFFER_ASSIGN_OR_RETURN(Node n, Child(p, key));
    return Bool(n);
  }
  StatusOr<std::string> Str(const Node& p, const char* key, size_t max_len) const {
    COFFER_ASSIGN_OR_RETURN(Node n, Child(p, key));
    return Str(n, max_len);
  }
  StatusOr<std::string> Enum(const Node& p, const char* key,
                             std::initializer_list<std::string_view> allowed) const {
    COFFER_ASSIGN_OR_RETURN(Node n, Child(p, key));
    return Enum(n, allowed);
  }
  StatusOr<std::string> Id(const Node& p, const char* key, size_t hex_len) const {
    COFFER_ASSIGN_OR_RETURN(Node n, Child(p, key));
    return Id(n, hex_len);
  }
  StatusOr<Bytes> B64(const Node& p, const char* key, size_t min_len, size_t max_len) const {
    COFFER_ASSIGN_OR_RETURN(Node n, Child(p, key));
    return B64(n, min_len, max_len);
  }

 private:
  std::string what_;
  mutable json root_;
};

StatusOr<DeviceInfo> ParseDevice(const ReplyParser& p, const Node& n) {
  COFFER_RETURN_IF_ERROR(p.ExpectObject(n));
  DeviceInfo d;
  COFFER_ASSIGN_OR_RETURN(d.id, p.Id(n, "id", kIdHexLen));
  COFFER_ASSIGN_OR_RETURN(d.sign_pk, p.B64(n, "sign_pk", kKeyBytes, kKeyBytes));
  COFFER_ASSIGN_OR_RETURN(d.box_pk, p.B64(n, "box_pk", kKeyBytes, kKeyBytes));
  COFFER_ASSIGN_OR_RETURN(d.name, p.Str(n, "name", kMaxNameBytes));
  COFFER_ASSIGN_OR_RETURN(d.status, p.Enum(n, "status", {"active", "pending", "revoked"}));
  COFFER_ASSIGN_OR_RETURN(d.created_at, p.I64(n, "created_at"));
  return d;
}

json DeviceJson(const DeviceInfo& d) {
  return json{{"id", d.id},
              {"sign_pk", Base64Encode(d.sign_pk)},
              {"box_pk", Base64Encode(d.box_pk)},
              {"name", d.name}};
}

// Serialises a request body; strings that are not UTF-8 (a device name, an email) make
// nlohmann throw, which must not escape as an exception.
StatusOr<std::string> DumpJson(const json& j, size_t limit, std::string_view what) {
  std::string out;
  try {
    out = j.dump();
  } catch (const std::exception&) {
    return InvalidArgumentError("cannot encode the request for " + std::string(what) +
                                " (text fields must be UTF-8)");
  }
  COFFER_RETURN_IF_ERROR(
      CheckBodySize(out.size(), limit, std::string("request body for ") + std::string(what)));
  return out;
}

std::optional<uint64_t> RetryAfterSeconds(const HttpResponse& r, const json* error_obj, const json* root) {
  for (const json* j : {error_obj, root}) {
    if (j == nullptr || !j->is_object()) continue;
    auto it = j->find("retry_after");
    if (it != j->end() && it->is_number_unsigned())
      return std::min<uint64_t>(it->get<uint64_t>(), 86400 * 365);
  }
  if (r.retry_after && !r.retry_after->empty() && r.retry_after->size() <= 10 &&
      std::all_of(r.retry_after->begin(), r.retry_after->end(),
                  [](char c) { return c >= '0' && c <= '9'; })) {
    return std::stoull(*r.retry_after);
  }
  return std::nullopt;  // absent, or an HTTP-date, which the Coffer server does not send
}

// Maps a non-2xx reply to a Status. The server chooses the code (from the documented set
// only: it must not be able to claim e.g. kSecurity, which is the client's own verdict) and
// the message; without a usable error body the HTTP status decides.
Status ErrorFromReply(const std::string& what, const HttpResponse& r, bool cas) {
  std::optional<std::string> code;
  std::optional<std::string> message;
  json root;
  const json* error_obj = nullptr;
  try {
    json::parser_callback_t cb = [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth) throw std::runtime_error("too deep");
      return true;
    };
    root = json::parse(r.body, cb);
    if (root.is_object()) {
      auto e = root.find("error");
      if (e != root.end() && e->is_object()) {
        error_obj = &*e;
        auto c = e->find("code");
        if (c != e->end() && c->is_string()) code = c->get<std::string>();
        auto m = e->find("message");
        if (m != e->end() && m->is_string() && !m->get_ref<const std::string&>().empty()) {
          message = SanitizeServerText(m->get<std::string>());
        }
      }
    }
  } catch (const std::exception&) {
    // Not JSON (a proxy's HTML page, say): fall back to the HTTP status.
  }

  const long s = r.status;
  std::optional<StatusCode> sc;
  if (code) {
    static const std::pair<std::string_view, StatusCode> kCodes[] = {
        {"INVALID_ARGUMENT", StatusCode::kInvalidArgument},
        {"UNAUTHENTICATED", StatusCode::kUnauthenticated},
        {"PERMISSION_DENIED", StatusCode::kPermissionDenied},
        {"NOT_FOUND", StatusCode::kNotFound},
        {"ALREADY_EXISTS", StatusCode::kAlreadyExists},
        {"ABORTED", StatusCode::kAborted},
        {"FAILED_PRECONDITION", StatusCode::kFailedPrecondition},
        {"OUT_OF_RANGE", StatusCode::kOutOfRange},
        {"RESOURCE_EXHAUSTED", StatusCode::kResourceExhausted},
        {"DATA_LOSS", StatusCode::kDataLoss},
        // A server bug is transient from the client's point of view; kInternal is reserved
        // for bugs in this process.
        {"INTERNAL", StatusCode::kUnavailable},
        {"UNAVAILABLE", StatusCode::kUnavailable},
    };
    for (const auto& [name, value] : kCodes) {
      if (*code == name) sc = value;
    }
  }

  std::string fallback;
  StatusCode by_status = StatusCode::kInvalidArgument;
  if (s >= 300 && s < 400) {
    by_status = StatusCode::kUnavailable;
    fallback = "the server answered with a redirect (HTTP " + std::to_string(s) +
               "), which Coffer does not follow; check the server URL";
  } else if (s == 400) {
    fallback = "the request was rejected as malformed";
  } else if (s == 401) {
    by_status = StatusCode::kUnauthenticated;
    fallback = "not logged in, or the session expired";
  } else if (s == 403) {
    by_status = StatusCode::kPermissionDenied;
    fallback = "permission denied";
  } else if (s == 404) {
    by_status = StatusCode::kNotFound;
    fallback = "not found";
  } else if (s == 408) {
    by_status = StatusCode::kUnavailable;
    fallback = "request timed out";
  } else if (s == 409) {
    by_status = cas ? StatusCode::kAborted : StatusCode::kAlreadyExists;
    fallback = cas ? "conflict: the server's state changed" : "already exists";
  } else if (s == 412) {
    by_status = StatusCode::kFailedPrecondition;
    fallback = "precondition failed";
  } else if (s == 413) {
    fallback = "request too large for the server";
  } else if (s == 416) {
    by_status = StatusCode::kOutOfRange;
    fallback = "out of range";
  } else if (s == 423) {
    by_status = StatusCode::kPermissionDenied;
    fallback = "account locked by the operator";
  } else if (s == 429) {
    by_status = StatusCode::kResourceExhausted;
    fallback = "too many requests";
  } else if (s == 507) {
    by_status = StatusCode::kResourceExhausted;
    fallback = "storage quota exceeded";
  } else if (s >= 500 && s < 600) {
    by_status = StatusCode::kUnavailable;
    fallback = "server error (HTTP " + std::to_string(s) + ")";
  } else if (s >= 400 && s < 500) {
    fallback = "unexpected HTTP status " + std::to_string(s);
  } else {
    // 1xx as a final status, or outside 100..599: not something an HTTP server says.
    by_status = StatusCode::kDataLoss;
    fallback = "unexpected HTTP status " + std::to_string(s);
  }

  std::string text;
  if (s == 413 || s == 423 || s == 507) {
    // These statuses carry a fixed meaning; the server's words are only a detail.
    text = fallback + (message ? " (" + *message + ")" : "");
  } else {
    text = message.value_or(fallback);
  }
  if (s == 429) {
    if (std::optional<uint64_t> after = RetryAfterSeconds(r, error_obj, &root)) {
      text += "; retry after " + std::to_string(*after) + " s";
    }
  }
  return Status(sc.value_or(by_status), "server refused " + what + ": " + text);
}

struct CallSpec {
  std::string method;
  std::string path;
  std::string content_type;
  ByteView body;
  std::vector<std::string> headers;
  size_t max_reply = kSmallReplyCap;
  bool auth = true;         // send the bearer token
  bool idempotent = false;  // safe to repeat after kUnavailable
  bool cas = false;         // compare-and-set write: a bare 409 means kAborted
};

std::string Query(const char* name, uint64_t v) { return std::string(name) + "=" + std::to_string(v); }

}  // namespace

struct ApiClient::Impl {
  std::unique_ptr<HttpTransport> transport;

  // Performs `spec` (with retries when idempotent) and returns the 2xx reply or the error.
  StatusOr<HttpResponse> Call(const CallSpec& spec, const std::string& token, TransferStats* stats) {
    HttpRequest req;
    req.method = spec.method;
    req.path = spec.path;
    req.content_type = spec.content_type;
    req.body = spec.body;
    req.extra_headers = spec.headers;
    req.max_reply_bytes = spec.max_reply;
    const std::string what = spec.method + " " + spec.path;
    const std::vector<uint32_t>& backoff = transport->options().retry_backoff_ms;
    for (size_t attempt = 0;; ++attempt) {
      StatusOr<HttpResponse> r = transport->Perform(req, spec.auth ? token : std::string(), stats);
      Status status = r.status();
      if (status.ok()) {
        if (r->status >= 200 && r->status < 300) return r;
        status = ErrorFromReply(what, *r, spec.cas);
      }
      // Only requests whose repetition cannot change the outcome are retried. CAS writes
      // (revisions, chain, keyring) and create-only writes are not: a lost reply followed
      // by a retry would report a spurious conflict.
      if (status.code() != StatusCode::kUnavailable || !spec.idempotent || attempt >= backoff.size()) {
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(backoff[attempt]));
    }
  }
};

StatusOr<std::unique_ptr<ApiClient>> ApiClient::Create(const std::string& base_url,
                                                       const std::string& ca_file) {
  COFFER_ASSIGN_OR_RETURN(std::unique_ptr<HttpTransport> transport, HttpTransport::Create(base_url, ca_file));
  std::unique_ptr<ApiClient> client(new ApiClient());
  client->impl_ = std::make_unique<Impl>();
  client->base_url_ = transport->base_url();
  client->impl_->transport = std::move(transport);
  return client;
}

ApiClient::~ApiClient() = default;

namespace {

// Builders for the three body kinds.
CallSpec Get(std::string path, size_t max_reply = kSmallReplyCap) {
  CallSpec s;
  s.method = "GET";
  s.path = std::move(path);
  s.max_reply = max_reply;
  s.idempotent = true;
  return s;
}

CallSpec WithJson(std::string method, std::string path, const std::string& body) {
  CallSpec s;
  s.method = std::move(method);
  s.path = std::move(path);
  s.content_type = "application/json";
  s.body = AsBytes(body);
  return s;
}

CallSpec WithRaw(std::string method, std::string path, ByteView body) {
  CallSpec s;
  s.method = std::move(method);
  s.path = std::move(path);
  s.content_type = "application/octet-stream";
  s.body = body;
  return s;
}

std::string What(const CallSpec& s) { return s.method + " " + s.path; }

StatusOr<SessionInfo> ParseSession(const std::string& what, const std::string& body, bool create) {
  ReplyParser p(what);
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(body));
  SessionInfo s;
  COFFER_ASSIGN_OR_RETURN(s.token, p.Id(root, "token", kTokenHexLen));
  COFFER_ASSIGN_OR_RETURN(s.expires_at, p.I64(root, "expires_at"));
  COFFER_ASSIGN_OR_RETURN(s.account_id, p.Id(root, "account_id", kIdHexLen));
  COFFER_ASSIGN_OR_RETURN(s.session_kind, p.Enum(root, "session_kind", {"device", "pending", "recovery"}));
  if (create && !p.Has(root, "device_status")) {
    s.device_status = "active";  // account creation enrols the first device as active
  } else {
    COFFER_ASSIGN_OR_RETURN(s.device_status, p.Enum(root, "device_status", {"active", "pending", "revoked"}));
  }
  return s;
}

}  // namespace

Status ApiClient::Health() {
  CallSpec spec = Get("/v1/health");
  spec.auth = false;
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  COFFER_ASSIGN_OR_RETURN(bool ok, p.Bool(root, "ok"));
  if (p.Has(root, "version")) COFFER_RETURN_IF_ERROR(p.Str(root, "version", 256).status());
  if (!ok) return UnavailableError("the Coffer server at " + base_url_ + " reports that it is not healthy");
  return OkStatus();
}

StatusOr<LoginParams> ApiClient::GetLoginParams(const std::string& email) {
  COFFER_ASSIGN_OR_RETURN(std::string body,
                          DumpJson(json{{"email", email}}, kMaxJsonRequest, "POST /v1/login/params"));
  CallSpec spec = WithJson("POST", "/v1/login/params", body);
  spec.auth = false;
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  LoginParams out;
  COFFER_ASSIGN_OR_RETURN(out.salt, p.B64(root, "salt", kSaltBytes, kSaltBytes));
  // Only the types are checked here; bounding the KDF cost is the caller's job, as it
  // knows what the local machine can afford.
  COFFER_ASSIGN_OR_RETURN(out.ops, p.U64(root, "ops"));
  COFFER_ASSIGN_OR_RETURN(out.mem, p.U64(root, "mem"));
  return out;
}

StatusOr<SessionInfo> ApiClient::CreateAccount(const CreateAccountRequest& req) {
  json j = {
      {"account_id", req.account_id},
      {"email", req.email},
      {"login",
       {{"salt", Base64Encode(req.login_salt)},
        {"ops", req.login_ops},
        {"mem", req.login_mem},
        {"verifier", Base64Encode(req.login_verifier)}}},
      {"recovery",
       {{"verifier", Base64Encode(req.recovery_verifier)}, {"blob", Base64Encode(req.recovery_blob)}}},
      {"device", DeviceJson(req.device)},
      {"chain_entry", Base64Encode(req.chain_entry)},
      {"sealed_key", {{"epoch", req.sealed_key_epoch}, {"blob", Base64Encode(req.sealed_key)}}},
      {"keyring", Base64Encode(req.keyring)},
      {"time", req.time},
      {"signature", Base64Encode(req.signature)},
  };
  COFFER_ASSIGN_OR_RETURN(std::string body, DumpJson(j, kMaxJsonRequest, "POST /v1/accounts"));
  CallSpec spec = WithJson("POST", "/v1/accounts", body);
  spec.auth = false;
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  COFFER_ASSIGN_OR_RETURN(SessionInfo s, ParseSession(What(spec), r.body, /*create=*/true));
  if (s.account_id != req.account_id) {
    return ReplyParser(What(spec)).Bad("account_id", "is not the id of the account being created");
  }
  return s;
}

StatusOr<SessionInfo> ApiClient::Login(const LoginRequest& req) {
  json j = {
      {"email", req.email},
      {"device", DeviceJson(req.device)},
      {"time", req.time},
      {"signature", Base64Encode(req.signature)},
  };
  if (req.verifier) j["verifier"] = Base64Encode(*req.verifier);
  if (req.recovery_verifier) j["recovery_verifier"] = Base64Encode(*req.recovery_verifier);
  COFFER_ASSIGN_OR_RETURN(std::string body, DumpJson(j, kMaxJsonRequest, "POST /v1/sessions"));
  CallSpec spec = WithJson("POST", "/v1/sessions", body);
  spec.auth = false;
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  return ParseSession(What(spec), r.body, /*create=*/false);
}

Status ApiClient::Logout() {
  CallSpec spec;
  spec.method = "DELETE";
  spec.path = "/v1/sessions/current";
  return impl_->Call(spec, token_, &stats_).status();
}

StatusOr<AccountInfo> ApiClient::GetAccount() {
  CallSpec spec = Get("/v1/account");
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  AccountInfo a;
  COFFER_ASSIGN_OR_RETURN(a.account_id, p.Id(root, "account_id", kIdHexLen));
  COFFER_ASSIGN_OR_RETURN(a.email, p.Str(root, "email", kMaxEmailBytes));
  COFFER_ASSIGN_OR_RETURN(a.created_at, p.I64(root, "created_at"));
  COFFER_ASSIGN_OR_RETURN(a.used_bytes, p.U64(root, "used_bytes"));
  COFFER_ASSIGN_OR_RETURN(a.quota_bytes, p.U64(root, "quota_bytes"));
  COFFER_ASSIGN_OR_RETURN(a.device_count, p.U64(root, "device_count"));
  COFFER_ASSIGN_OR_RETURN(a.locked, p.Bool(root, "locked"));
  return a;
}

StatusOr<Bytes> ApiClient::GetRecoveryBlob() {
  CallSpec spec = Get("/v1/account/recovery");
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  return p.B64(root, "blob", 0, kMaxJsonRequest);
}

Status ApiClient::SetLogin(ByteView salt, uint64_t ops, uint64_t mem, ByteView verifier) {
  json j = {{"salt", Base64Encode(salt)}, {"ops", ops}, {"mem", mem}, {"verifier", Base64Encode(verifier)}};
  COFFER_ASSIGN_OR_RETURN(std::string body, DumpJson(j, kMaxJsonRequest, "PUT /v1/account/login"));
  return impl_->Call(WithJson("PUT", "/v1/account/login", body), token_, &stats_).status();
}

Status ApiClient::SetRecovery(ByteView verifier, ByteView blob) {
  // An empty verifier keeps the stored one (a key rotation re-wraps only the blob).
  json j = {{"blob", Base64Encode(blob)}};
  if (!verifier.empty()) j["verifier"] = Base64Encode(verifier);
  COFFER_ASSIGN_OR_RETURN(std::string body, DumpJson(j, kMaxJsonRequest, "PUT /v1/account/recovery"));
  return impl_->Call(WithJson("PUT", "/v1/account/recovery", body), token_, &stats_).status();
}

StatusOr<std::vector<DeviceInfo>> ApiClient::ListDevices() {
  CallSpec spec = Get("/v1/devices");
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  COFFER_ASSIGN_OR_RETURN(std::vector<Node> items, p.Array(root, "devices"));
  std::vector<DeviceInfo> out;
  out.reserve(items.size());
  for (const Node& n : items) {
    COFFER_ASSIGN_OR_RETURN(DeviceInfo d, ParseDevice(p, n));
    out.push_back(std::move(d));
  }
  return out;
}

StatusOr<std::vector<Bytes>> ApiClient::GetChain(uint64_t from) {
  CallSpec spec = Get("/v1/chain?" + Query("from", from), kChainReplyCap);
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  COFFER_ASSIGN_OR_RETURN(uint64_t reply_from, p.U64(root, "from"));
  // The entries are positional: a reply for another offset would shift every entry.
  if (reply_from != from) return p.Bad("from", "is not the requested offset " + std::to_string(from));
  COFFER_ASSIGN_OR_RETURN(std::vector<Node> items, p.Array(root, "entries"));
  std::vector<Bytes> out;
  out.reserve(items.size());
  for (const Node& n : items) {
    COFFER_ASSIGN_OR_RETURN(Bytes e, p.B64(n, 1, kChainReplyCap));
    out.push_back(std::move(e));
  }
  return out;
}

Status ApiClient::AppendChain(uint64_t seq, ByteView entry, const ChainEffect& effect) {
  json eff;
  if (effect.action == "add") {
    eff = {{"action", "add"}, {"device", DeviceJson(effect.device)}};
  } else if (effect.action == "revoke") {
    COFFER_RETURN_IF_ERROR(CheckId(effect.device_id, kIdHexLen, "device id"));
    eff = {{"action", "revoke"}, {"device_id", effect.device_id}};
  } else {
    return InvalidArgumentError("chain effect action must be \"add\" or \"revoke\"");
  }
  json j = {{"seq", seq}, {"entry", Base64Encode(entry)}, {"effect", eff}};
  COFFER_ASSIGN_OR_RETURN(std::string body, DumpJson(j, kMaxJsonRequest, "POST /v1/chain"));
  CallSpec spec = WithJson("POST", "/v1/chain", body);
  spec.cas = true;
  return impl_->Call(spec, token_, &stats_).status();
}

Status ApiClient::PutSealedKey(const std::string& device_id, uint64_t epoch, ByteView blob) {
  COFFER_RETURN_IF_ERROR(CheckId(device_id, kIdHexLen, "device id"));
  const std::string path = "/v1/keys/sealed/" + device_id;
  json j = {{"epoch", epoch}, {"blob", Base64Encode(blob)}};
  COFFER_ASSIGN_OR_RETURN(std::string body, DumpJson(j, kMaxJsonRequest, "PUT " + path));
  return impl_->Call(WithJson("PUT", path, body), token_, &stats_).status();
}

StatusOr<std::pair<uint64_t, Bytes>> ApiClient::GetSealedKey(const std::string& device_id) {
  COFFER_RETURN_IF_ERROR(CheckId(device_id, kIdHexLen, "device id"));
  CallSpec spec = Get("/v1/keys/sealed/" + device_id);
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  COFFER_ASSIGN_OR_RETURN(uint64_t epoch, p.U64(root, "epoch"));
  COFFER_ASSIGN_OR_RETURN(Bytes blob, p.B64(root, "blob", 1, kMaxJsonRequest));
  return std::make_pair(epoch, std::move(blob));
}

StatusOr<std::pair<uint64_t, Bytes>> ApiClient::GetKeyring() {
  CallSpec spec = Get("/v1/keyring");
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  COFFER_ASSIGN_OR_RETURN(uint64_t version, p.U64(root, "version"));
  COFFER_ASSIGN_OR_RETURN(Bytes blob, p.B64(root, "blob", 1, kMaxJsonRequest));
  return std::make_pair(version, std::move(blob));
}

Status ApiClient::PutKeyring(uint64_t version, ByteView blob) {
  json j = {{"version", version}, {"blob", Base64Encode(blob)}};
  COFFER_ASSIGN_OR_RETURN(std::string body, DumpJson(j, kMaxJsonRequest, "PUT /v1/keyring"));
  CallSpec spec = WithJson("PUT", "/v1/keyring", body);
  spec.cas = true;
  return impl_->Call(spec, token_, &stats_).status();
}

StatusOr<std::vector<std::pair<std::string, uint64_t>>> ApiClient::ListCollections() {
  CallSpec spec = Get("/v1/collections");
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  COFFER_ASSIGN_OR_RETURN(std::vector<Node> items, p.Array(root, "collections"));
  std::vector<std::pair<std::string, uint64_t>> out;
  out.reserve(items.size());
  for (const Node& n : items) {
    COFFER_RETURN_IF_ERROR(p.ExpectObject(n));
    COFFER_ASSIGN_OR_RETURN(std::string id, p.Id(n, "id", kIdHexLen));
    COFFER_ASSIGN_OR_RETURN(uint64_t head, p.U64(n, "head"));
    out.emplace_back(std::move(id), head);
  }
  return out;
}

StatusOr<std::string> ApiClient::WaitForCollectionChange(const std::string& since, uint32_t wait_seconds) {
  // The transport aborts a reply that stays silent for 30 s, so the wait stays below that.
  wait_seconds = std::min<uint32_t>(wait_seconds, 25);
  std::string path = "/v1/collections";
  if (!since.empty()) {
    if (since.size() != 32 || since.find_first_not_of("0123456789abcdef") != std::string::npos) {
      return InvalidArgumentError("bad change token");
    }
    path += "?since=" + since + "&" + Query("wait", wait_seconds);
  }
  CallSpec spec = Get(path);
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  COFFER_ASSIGN_OR_RETURN(std::string token, p.Str(root, "token", 64));
  if (token.size() != 32 || token.find_first_not_of("0123456789abcdef") != std::string::npos) {
    return DataLossError("malformed reply from server to " + What(spec) + ": bad change token");
  }
  return token;
}

StatusOr<std::pair<uint64_t, std::vector<Revision>>> ApiClient::GetRevisions(const std::string& collection_id,
                                                                             uint64_t from, uint64_t limit) {
  COFFER_RETURN_IF_ERROR(CheckId(collection_id, kIdHexLen, "collection id"));
  // The server may return fewer than asked, so clamping to its maximum changes nothing for
  // the caller; 0 means "the server's default".
  limit = std::min(limit, kMaxRevisionsPerRequest);
  std::string path = "/v1/collections/" + collection_id + "/revisions?" + Query("from", from);
  if (limit > 0) path += "&" + Query("limit", limit);
  CallSpec spec = Get(path, kRevisionsReplyCap);
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  COFFER_ASSIGN_OR_RETURN(uint64_t head, p.U64(root, "head"));
  COFFER_ASSIGN_OR_RETURN(std::vector<Node> items, p.Array(root, "revisions"));
  const uint64_t max_count = limit > 0 ? limit : kMaxRevisionsPerRequest;
  if (items.size() > max_count) return p.Bad("revisions", "has more entries than requested");
  std::vector<Revision> out;
  out.reserve(items.size());
  for (const Node& n : items) {
    COFFER_RETURN_IF_ERROR(p.ExpectObject(n));
    Revision rev;
    COFFER_ASSIGN_OR_RETURN(rev.number, p.U64(n, "number"));
    // Structural checks only (ascending, consecutive, within the head); the journal layer
    // verifies content and the hash chain.
    // (A number that would follow UINT64_MAX wraps to 0; it is out of sequence, not next.)
    if (out.empty() ? rev.number < from
                    : (out.back().number == UINT64_MAX || rev.number != out.back().number + 1)) {
      return p.Bad(n.path + ".number", "is out of sequence");
    }
    if (rev.number > head) return p.Bad(n.path + ".number", "is beyond the head");
    COFFER_ASSIGN_OR_RETURN(rev.data, p.B64(n, "data", 0, kMaxRevisionBytes));
    out.push_back(std::move(rev));
  }
  return std::make_pair(head, std::move(out));
}

Status ApiClient::PutRevision(const std::string& collection_id, uint64_t number, ByteView data) {
  COFFER_RETURN_IF_ERROR(CheckId(collection_id, kIdHexLen, "collection id"));
  COFFER_RETURN_IF_ERROR(CheckBodySize(data.size(), kMaxRevisionBytes, "revision"));
  CallSpec spec =
      WithRaw("PUT", "/v1/collections/" + collection_id + "/revisions/" + std::to_string(number), data);
  spec.cas = true;
  return impl_->Call(spec, token_, &stats_).status();
}

StatusOr<Revision> ApiClient::GetCheckpoint(const std::string& collection_id) {
  COFFER_RETURN_IF_ERROR(CheckId(collection_id, kIdHexLen, "collection id"));
  CallSpec spec = Get("/v1/collections/" + collection_id + "/checkpoint", kCheckpointReplyCap);
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  Revision rev;
  COFFER_ASSIGN_OR_RETURN(rev.number, p.U64(root, "number"));
  COFFER_ASSIGN_OR_RETURN(rev.data, p.B64(root, "data", 0, kMaxCheckpointBytes));
  return rev;
}

Status ApiClient::PutCheckpoint(const std::string& collection_id, uint64_t number, ByteView data) {
  COFFER_RETURN_IF_ERROR(CheckId(collection_id, kIdHexLen, "collection id"));
  COFFER_RETURN_IF_ERROR(CheckBodySize(data.size(), kMaxCheckpointBytes, "checkpoint"));
  CallSpec spec =
      WithRaw("PUT", "/v1/collections/" + collection_id + "/checkpoint/" + std::to_string(number), data);
  return impl_->Call(spec, token_, &stats_).status();
}

StatusOr<bool> ApiClient::PutChunk(const std::string& chunk_id, ByteView data) {
  COFFER_RETURN_IF_ERROR(CheckId(chunk_id, kChunkIdHexLen, "chunk id"));
  COFFER_RETURN_IF_ERROR(CheckBodySize(data.size(), kMaxChunkBytes, "chunk"));
  CallSpec spec = WithRaw("PUT", "/v1/chunks/" + chunk_id, data);
  // Lets the server detect a body damaged in transit (TLS terminated at a proxy, say).
  spec.headers.push_back("X-Coffer-Sha256: " + HexEncode(crypto::Sha256(data)));
  // Content-addressed and create-or-ignore, so repeating it is harmless. A retry after a
  // lost 201 reports "already stored"; the caller only uses that for statistics.
  spec.idempotent = true;
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  if (r.status == 201) return true;
  if (r.status == 200) return false;
  return DataLossError("malformed reply from server to " + What(spec) + ": unexpected HTTP status " +
                       std::to_string(r.status));
}

StatusOr<bool> ApiClient::HasChunk(const std::string& chunk_id) {
  COFFER_RETURN_IF_ERROR(CheckId(chunk_id, kChunkIdHexLen, "chunk id"));
  CallSpec spec = Get("/v1/chunks/" + chunk_id);
  spec.method = "HEAD";
  StatusOr<HttpResponse> r = impl_->Call(spec, token_, &stats_);
  if (!r.ok()) {
    if (r.status().code() == StatusCode::kNotFound) return false;
    return r.status();
  }
  if (r->status != 200) {
    return DataLossError("malformed reply from server to " + What(spec) + ": unexpected HTTP status " +
                         std::to_string(r->status));
  }
  return true;
}

StatusOr<Bytes> ApiClient::GetChunk(const std::string& chunk_id) {
  COFFER_RETURN_IF_ERROR(CheckId(chunk_id, kChunkIdHexLen, "chunk id"));
  CallSpec spec = Get("/v1/chunks/" + chunk_id, kChunkReplyCap);
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  return ToBytes(r.body);
}

StatusOr<PackResult> ApiClient::PutChunkPack(ByteView body) {
  COFFER_RETURN_IF_ERROR(CheckBodySize(body.size(), kMaxPackBytes, "chunk pack"));
  CallSpec spec = WithRaw("POST", "/v1/chunks/pack", body);
  // Content-addressed and create-or-ignore per chunk, so repeating it is harmless.
  spec.idempotent = true;
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  PackResult out;
  COFFER_ASSIGN_OR_RETURN(out.stored, p.U64(root, "stored"));
  COFFER_ASSIGN_OR_RETURN(out.existing, p.U64(root, "existing"));
  return out;
}

StatusOr<std::string> ApiClient::FetchChunks(const std::vector<std::string>& ids) {
  if (ids.empty() || ids.size() > kMaxFetchIdsPerRequest) {
    return InvalidArgumentError("fetch 1.." + std::to_string(kMaxFetchIdsPerRequest) + " chunks per request");
  }
  for (const std::string& id : ids) COFFER_RETURN_IF_ERROR(CheckId(id, kChunkIdHexLen, "chunk id"));
  COFFER_ASSIGN_OR_RETURN(std::string body, DumpJson(json{{"ids", ids}}, kMaxJsonRequest, "POST /v1/chunks/fetch"));
  CallSpec spec = WithJson("POST", "/v1/chunks/fetch", body);
  spec.max_reply = kFetchReplyCap;
  spec.idempotent = true;  // a read
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  return std::move(r.body);
}

StatusOr<std::vector<std::string>> ApiClient::MissingChunks(const std::vector<std::string>& ids) {
  for (const std::string& id : ids) COFFER_RETURN_IF_ERROR(CheckId(id, kChunkIdHexLen, "chunk id"));
  std::vector<std::string> missing;
  // The server takes at most 100000 ids per request; larger sets go in batches.
  for (size_t start = 0; start < ids.size(); start += kMaxMissingIdsPerRequest) {
    const size_t end = std::min(ids.size(), start + kMaxMissingIdsPerRequest);
    const std::vector<std::string> batch(ids.begin() + start, ids.begin() + end);
    COFFER_ASSIGN_OR_RETURN(std::string body,
                            DumpJson(json{{"ids", batch}}, kMaxBulkJsonRequest, "POST /v1/chunks/missing"));
    CallSpec spec = WithJson("POST", "/v1/chunks/missing", body);
    spec.max_reply = kMissingReplyCap;
    COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
    ReplyParser p(What(spec));
    COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
    COFFER_ASSIGN_OR_RETURN(std::vector<Node> items, p.Array(root, "missing"));
    // An id we did not ask about would make the caller upload something it never meant to.
    std::unordered_set<std::string_view> asked(batch.begin(), batch.end());
    for (const Node& n : items) {
      COFFER_ASSIGN_OR_RETURN(std::string id, p.Id(n, kChunkIdHexLen));
      if (asked.erase(id) == 0) return p.Bad(n.path, "names a chunk that was not asked about or is repeated");
      missing.push_back(std::move(id));
    }
  }
  return missing;
}

StatusOr<std::vector<ChunkListEntry>> ApiClient::ListChunks() {
  CallSpec spec = Get("/v1/chunks", kChunkListReplyCap);
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  COFFER_ASSIGN_OR_RETURN(std::vector<Node> items, p.Array(root, "chunks"));
  std::vector<ChunkListEntry> out;
  out.reserve(items.size());
  for (const Node& n : items) {
    COFFER_RETURN_IF_ERROR(p.ExpectObject(n));
    ChunkListEntry e;
    COFFER_ASSIGN_OR_RETURN(e.id, p.Id(n, "id", kChunkIdHexLen));
    COFFER_ASSIGN_OR_RETURN(e.size, p.U64(n, "size"));
    if (e.size > kMaxChunkBytes) return p.Bad(n.path + ".size", "exceeds the chunk size limit");
    out.push_back(std::move(e));
  }
  return out;
}

StatusOr<GcResult> ApiClient::CollectGarbage(const std::vector<std::string>& live_ids,
                                             const std::vector<std::pair<std::string, uint64_t>>& heads) {
  for (const std::string& id : live_ids) COFFER_RETURN_IF_ERROR(CheckId(id, kChunkIdHexLen, "chunk id"));
  json request = {{"live", live_ids}};
  if (!heads.empty()) {
    json h = json::object();
    for (const auto& [id, head] : heads) {
      COFFER_RETURN_IF_ERROR(CheckId(id, 32, "collection id"));
      h[id] = head;
    }
    request["heads"] = std::move(h);
  }
  // One request by design (the live set must be complete), so it cannot be split.
  COFFER_ASSIGN_OR_RETURN(std::string body, DumpJson(request, kMaxBulkJsonRequest, "POST /v1/gc"));
  CallSpec spec = WithJson("POST", "/v1/gc", body);
  COFFER_ASSIGN_OR_RETURN(HttpResponse r, impl_->Call(spec, token_, &stats_));
  ReplyParser p(What(spec));
  COFFER_ASSIGN_OR_RETURN(Node root, p.Root(r.body));
  GcResult g;
  COFFER_ASSIGN_OR_RETURN(g.deleted, p.U64(root, "deleted"));
  COFFER_ASSIGN_OR_RETURN(g.freed_bytes, p.U64(root, "freed_bytes"));
  return g;
}

Status ApiClient::PutPairingRequest(const std::string& id, ByteView data) {
  COFFER_RETURN_IF_ERROR(CheckId(id, kIdHexLen, "pairing id"));
  COFFER_RETURN_IF_ERROR(CheckBodySize(data.size(), kMaxPairingBytes, "pairing message"));
  return impl_->Call(WithRaw("PUT", "/v1/pairing/" + id, data), token_, &stats_).status();
}

StatusOr<Bytes> ApiClient::GetPairingRequest(const std::string& id) {
  COFFER_RETURN_IF_ERROR(CheckId(id, kIdHexLen, "pairing id"));
  COFFER_ASSIGN_OR_RETURN(HttpResponse r,
                          impl_->Call(Get("/v1/pairing/" + id, kPairingReplyCap), token_, &stats_));
  return ToBytes(r.body);
}

Status ApiClient::PutPairingResponse(const std::string& id, ByteView data) {
  COFFER_RETURN_IF_ERROR(CheckId(id, kIdHexLen, "pairing id"));
  COFFER_RETURN_IF_ERROR(CheckBodySize(data.size(), kMaxPairingBytes, "pairing message"));
  return impl_->Call(WithRaw("PUT", "/v1/pairing/" + id + "/response", data), token_, &stats_).status();
}

StatusOr<Bytes> ApiClient::GetPairingResponse(const std::string& id) {
  COFFER_RETURN_IF_ERROR(CheckId(id, kIdHexLen, "pairing id"));
  COFFER_ASSIGN_OR_RETURN(
      HttpResponse r, impl_->Call(Get("/v1/pairing/" + id + "/response", kPairingReplyCap), token_, &stats_));
  return ToBytes(r.body);
}

}  // namespace coffer::client
