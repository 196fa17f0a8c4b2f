// ApiClient: typed calls for every endpoint of docs/API.md, over libcurl.
//
// The server is untrusted: this layer only moves bytes and maps HTTP errors to Status. It
// bounds every reply (size limits below), never trusts Content-Length, and applies
// timeouts, so a hostile or hung server yields an error, never a crash or a hang. All
// cryptographic checks happen in the layers above.
//
// Error mapping: connection failures/timeouts -> kUnavailable ("cannot reach server at URL:
// ..."); HTTP errors -> the Status code of the JSON error body (docs/API.md table) with the
// server's message; a reply that does not parse -> kDataLoss ("malformed reply from server
// to GET /v1/..."). 429 and 507 -> kResourceExhausted; 423 -> kPermissionDenied ("account
// locked").
// Thread-safety: one ApiClient per thread (it owns a curl easy handle).
#ifndef COFFER_CLIENT_API_CLIENT_H_
#define COFFER_CLIENT_API_CLIENT_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "coffer/status.h"
#include "util/bytes.h"

namespace coffer::client {

struct DeviceInfo {
  std::string id;  // 32 hex
  Bytes sign_pk;
  Bytes box_pk;
  std::string name;
  std::string status;  // "active" | "pending" | "revoked" (server's claim; informational)
  int64_t created_at = 0;
};

struct LoginParams {
  Bytes salt;
  uint64_t ops = 0;
  uint64_t mem = 0;
};

struct SessionInfo {
  std::string token;
  int64_t expires_at = 0;
  std::string account_id;
  std::string session_kind;   // "device" | "pending" | "recovery"
  std::string device_status;  // "active" | "pending" | "revoked"
};

struct AccountInfo {
  std::string account_id;
  std::string email;
  int64_t created_at = 0;
  uint64_t used_bytes = 0;
  uint64_t quota_bytes = 0;
  uint64_t device_count = 0;
  bool locked = false;
};

struct CreateAccountRequest {
  std::string account_id;
  std::string email;
  Bytes login_salt;
  uint64_t login_ops = 0;
  uint64_t login_mem = 0;
  Bytes login_verifier;
  Bytes recovery_verifier;
  Bytes recovery_blob;
  DeviceInfo device;
  Bytes chain_entry;
  uint64_t sealed_key_epoch = 0;
  Bytes sealed_key;
  Bytes keyring;
  int64_t time = 0;
  Bytes signature;
};

struct LoginRequest {
  std::string email;
  DeviceInfo device;
  int64_t time = 0;
  Bytes signature;
  std::optional<Bytes> verifier;           // password login
  std::optional<Bytes> recovery_verifier;  // recovery login
};

struct ChainEffect {
  std::string action;  // "add" | "revoke"
  DeviceInfo device;   // for add
  std::string device_id;  // for revoke
};

struct Revision {
  uint64_t number = 0;
  Bytes data;
};

struct PackResult {
  uint64_t stored = 0;    // chunks the server did not have and now stores
  uint64_t existing = 0;  // chunks it already had
};

struct ChunkListEntry {
  std::string id;
  uint64_t size = 0;
};

struct GcResult {
  uint64_t deleted = 0;
  uint64_t freed_bytes = 0;
};

struct TransferStats {
  uint64_t bytes_sent = 0;      // request bodies
  uint64_t bytes_received = 0;  // response bodies
  uint64_t requests = 0;
};

class ApiClient {
 public:
  // base_url like "http://127.0.0.1:8080" or "https://host:port" (no trailing /v1).
  // ca_file: optional PEM bundle to trust (for self-signed test servers).
  static StatusOr<std::unique_ptr<ApiClient>> Create(const std::string& base_url,
                                                     const std::string& ca_file = "");
  ~ApiClient();

  void set_token(const std::string& token) { token_ = token; }
  const std::string& token() const { return token_; }
  // Adds another client's counters (parallel transfers report one total).
  void MergeStats(const TransferStats& other) {
    stats_.bytes_sent += other.bytes_sent;
    stats_.bytes_received += other.bytes_received;
    stats_.requests += other.requests;
  }
  const std::string& base_url() const { return base_url_; }
  const TransferStats& stats() const { return stats_; }

  Status Health();
  StatusOr<LoginParams> GetLoginParams(const std::string& email);
  StatusOr<SessionInfo> CreateAccount(const CreateAccountRequest& req);
  StatusOr<SessionInfo> Login(const LoginRequest& req);
  Status Logout();

  StatusOr<AccountInfo> GetAccount();
  StatusOr<Bytes> GetRecoveryBlob();
  Status SetLogin(ByteView salt, uint64_t ops, uint64_t mem, ByteView verifier);
  Status SetRecovery(ByteView verifier, ByteView blob);

  StatusOr<std::vector<DeviceInfo>> ListDevices();
  StatusOr<std::vector<Bytes>> GetChain(uint64_t from);
  // kAborted if seq is not the chain length.
  Status AppendChain(uint64_t seq, ByteView entry, const ChainEffect& effect);
  Status PutSealedKey(const std::string& device_id, uint64_t epoch, ByteView blob);
  StatusOr<std::pair<uint64_t, Bytes>> GetSealedKey(const std::string& device_id);

  StatusOr<std::pair<uint64_t, Bytes>> GetKeyring();  // kNotFound if none
  Status PutKeyring(uint64_t version, ByteView blob);  // kAborted on version conflict

  StatusOr<std::vector<std::pair<std::string, uint64_t>>> ListCollections();
  // Long poll: returns the server's token of all collection heads as soon as it differs from
  // `since` ("" = answer at once), or after about `wait_seconds` (<= 25) with the same token.
  // The token only tells "something changed": the journals are then refreshed and verified.
  StatusOr<std::string> WaitForCollectionChange(const std::string& since, uint32_t wait_seconds);
  // Revisions from `from` ascending (the server may return fewer than limit); also the head.
  StatusOr<std::pair<uint64_t, std::vector<Revision>>> GetRevisions(const std::string& collection_id,
                                                                    uint64_t from, uint64_t limit);
  // kAborted when the head moved (another device appended first).
  Status PutRevision(const std::string& collection_id, uint64_t number, ByteView data);
  StatusOr<Revision> GetCheckpoint(const std::string& collection_id);  // kNotFound if none
  Status PutCheckpoint(const std::string& collection_id, uint64_t number, ByteView data);

  // Returns true if created, false if the server already had it.
  StatusOr<bool> PutChunk(const std::string& chunk_id, ByteView data);
  StatusOr<bool> HasChunk(const std::string& chunk_id);
  StatusOr<Bytes> GetChunk(const std::string& chunk_id);  // reply capped at 16 MiB
  StatusOr<std::vector<std::string>> MissingChunks(const std::vector<std::string>& ids);
  // Uploads a CFPK body (chunk/pack_wire.h) holding several chunk containers at once.
  StatusOr<PackResult> PutChunkPack(ByteView body);
  // Up to kMaxFetchIdsPerRequest chunks in one CFFR reply, in the order asked; the caller
  // splits it with chunk::ParseFetchReply (which checks every id) and decrypts each.
  static constexpr size_t kMaxFetchIdsPerRequest = 1024;
  StatusOr<std::string> FetchChunks(const std::vector<std::string>& ids);  // the raw CFFR body
  StatusOr<std::vector<ChunkListEntry>> ListChunks();
  // `heads`: collection id -> head the live set was computed from; kAborted if any moved.
  StatusOr<GcResult> CollectGarbage(const std::vector<std::string>& live_ids,
                                    const std::vector<std::pair<std::string, uint64_t>>& heads = {});

  Status PutPairingRequest(const std::string& id, ByteView data);
  StatusOr<Bytes> GetPairingRequest(const std::string& id);
  Status PutPairingResponse(const std::string& id, ByteView data);
  StatusOr<Bytes> GetPairingResponse(const std::string& id);  // kNotFound while unanswered

 private:
  ApiClient() = default;
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string base_url_;
  std::string token_;
  TransferStats stats_;
};

}  // namespace coffer::client

#endif  // COFFER_CLIENT_API_CLIENT_H_
