// Internal to src/server: what every handler receives, and the handlers grouped by area
// (handlers_auth.cc, handlers_account.cc, handlers_data.cc, handlers_pairing.cc). The route
// table in api.cc maps each endpoint of docs/API.md to one of these functions.
//
// A handler gets a Call whose path ids are already validated by the router, and (for
// authenticated routes) the caller's session and account, already checked for expiry, lock
// and session kind. Every store call a handler makes is scoped to call.account_id(): that is
// what makes cross-account access impossible by construction.
#ifndef COFFER_SERVER_HANDLERS_H_
#define COFFER_SERVER_HANDLERS_H_

#include <cstdint>
#include <map>
#include <string>

#include "coffer/status.h"
#include "crypto/secret.h"
#include "server/api.h"
#include "server/response.h"
#include "store/blob_store.h"
#include "store/meta_store.h"

namespace coffer::server {

// Limits and timings from docs/API.md.
inline constexpr uint64_t kKiB = 1024;
inline constexpr uint64_t kMiB = 1024 * kKiB;
inline constexpr uint64_t kJsonBodyLimit = 1 * kMiB;
inline constexpr uint64_t kIdListBodyLimit = 16 * kMiB;  // /v1/chunks/missing, /v1/gc
inline constexpr uint64_t kChunkBodyLimit = 16 * kMiB;
inline constexpr uint64_t kPackBodyLimit = 64 * kMiB;     // POST /v1/chunks/pack
inline constexpr size_t kMaxFetchIds = 1024;              // POST /v1/chunks/fetch
inline constexpr size_t kMaxFetchReplyBytes = 64 * kMiB;
inline constexpr uint64_t kRevisionBodyLimit = 32 * kMiB;
inline constexpr uint64_t kCheckpointBodyLimit = 256 * kMiB;
inline constexpr uint64_t kPairingBodyLimit = 64 * kKiB;
inline constexpr size_t kMaxIdsPerRequest = 100000;
inline constexpr uint64_t kDefaultRevisionLimit = 1000;
inline constexpr uint64_t kMaxLongPollSeconds = 60;  // GET /v1/collections?since=&wait=
inline constexpr uint64_t kMaxRevisionLimit = 10000;
inline constexpr size_t kMaxRevisionReplyBytes = 64 * kMiB;
inline constexpr int64_t kLoginClockSkew = 300;
inline constexpr int64_t kLoginFailureWindow = 15 * 60;
inline constexpr int kMaxFailuresPerEmail = 5;
inline constexpr int kMaxFailuresPerPeer = 20;
inline constexpr int64_t kDeviceSessionTtl = 7 * 24 * 3600;
inline constexpr int64_t kPendingSessionTtl = 3600;
inline constexpr int64_t kPairingTtl = 15 * 60;
// last_activity is refreshed at most this often, so that reads do not all become writes.
inline constexpr int64_t kActivityGranularity = 60;

// Long-lived state shared by all handlers; immutable after Api::Create.
struct Services {
  store::MetaStore& meta;
  store::BlobStore& blobs;
  ApiOptions options;
  crypto::SecretBytes server_secret;  // keys the fake login salts of unknown emails
  std::string dummy_login_hash;       // verified against for unknown emails (equal timing)
};

struct Caller {
  store::SessionRecord session;
  store::AccountRecord account;
};

struct Call {
  const Request& request;
  std::map<std::string, std::string> path;   // {name} captures of the route pattern, validated
  std::map<std::string, std::string> query;  // only the parameters the route allows
  int64_t now = 0;
  const Caller* caller = nullptr;  // set on authenticated routes
  const std::string& account_id() const { return caller->account.account_id; }
};

using HandlerFn = StatusOr<Response> (*)(const Services&, const Call&);

// Bearer token -> session and account. kUnauthenticated for a missing, malformed, unknown or
// expired token; kPermissionDenied for a revoked device. Does not check the lock or the
// session kind (the router does, because they have their own statuses).
StatusOr<Caller> Authenticate(const Services& s, std::string_view authorization, int64_t now);

// handlers_auth.cc
StatusOr<Response> HandleHealth(const Services& s, const Call& c);
StatusOr<Response> HandleLoginParams(const Services& s, const Call& c);
StatusOr<Response> HandleCreateAccount(const Services& s, const Call& c);
StatusOr<Response> HandleLogin(const Services& s, const Call& c);
StatusOr<Response> HandleLogout(const Services& s, const Call& c);

// handlers_account.cc
StatusOr<Response> HandleGetAccount(const Services& s, const Call& c);
StatusOr<Response> HandleGetRecovery(const Services& s, const Call& c);
StatusOr<Response> HandlePutLogin(const Services& s, const Call& c);
StatusOr<Response> HandlePutRecovery(const Services& s, const Call& c);
StatusOr<Response> HandleListDevices(const Services& s, const Call& c);
StatusOr<Response> HandleGetChain(const Services& s, const Call& c);
StatusOr<Response> HandleAppendChain(const Services& s, const Call& c);
StatusOr<Response> HandlePutSealedKey(const Services& s, const Call& c);
StatusOr<Response> HandleGetSealedKey(const Services& s, const Call& c);
StatusOr<Response> HandleGetKeyring(const Services& s, const Call& c);
StatusOr<Response> HandlePutKeyring(const Services& s, const Call& c);

// handlers_data.cc
StatusOr<Response> HandleListCollections(const Services& s, const Call& c);
StatusOr<Response> HandleGetRevisions(const Services& s, const Call& c);
StatusOr<Response> HandlePutRevision(const Services& s, const Call& c);
StatusOr<Response> HandleGetCheckpoint(const Services& s, const Call& c);
StatusOr<Response> HandlePutCheckpoint(const Services& s, const Call& c);
StatusOr<Response> HandlePutChunk(const Services& s, const Call& c);
StatusOr<Response> HandleHeadChunk(const Services& s, const Call& c);
StatusOr<Response> HandleGetChunk(const Services& s, const Call& c);
StatusOr<Response> HandlePutChunkPack(const Services& s, const Call& c);
StatusOr<Response> HandleFetchChunks(const Services& s, const Call& c);
StatusOr<Response> HandleMissingChunks(const Services& s, const Call& c);
StatusOr<Response> HandleListChunks(const Services& s, const Call& c);
StatusOr<Response> HandleGc(const Services& s, const Call& c);

// handlers_pairing.cc
StatusOr<Response> HandlePutPairing(const Services& s, const Call& c);
StatusOr<Response> HandleGetPairing(const Services& s, const Call& c);
StatusOr<Response> HandlePutPairingResponse(const Services& s, const Call& c);
StatusOr<Response> HandleGetPairingResponse(const Services& s, const Call& c);

// Shared helpers.
std::string DeviceStatusName(store::DeviceStatus status);
std::string SessionKindName(store::SessionKind kind);
// The blob store key of a chunk: "<account_id>/<chunk_id>".
std::string ChunkBlobKey(const std::string& account_id, const std::string& chunk_id);
std::string PackBlobKey(const std::string& account_id, const std::string& pack_id);
// The stored bytes of an indexed chunk, wherever they live (own blob or a range of a pack).
// Not checked against rec.sha256 here: callers that serve or copy the bytes check it.
StatusOr<Bytes> ReadChunkBytes(store::BlobStore& blobs, const std::string& account_id, const store::ChunkRecord& rec);
// 409 ABORTED with one extra top-level field, e.g. {"current": 3} or {"head": 7}.
Response CasConflict(std::string_view message, std::string_view field, uint64_t value);
// crypto::HashForStorage, with its only failure (Argon2id could not allocate memory) mapped to
// kUnavailable: it is the server's trouble, and the client may retry.
StatusOr<std::string> HashVerifier(ByteView verifier);
// 507 for the account's quota.
Response QuotaExceeded(const store::AccountRecord& account, uint64_t adding);

}  // namespace coffer::server

#endif  // COFFER_SERVER_HANDLERS_H_
