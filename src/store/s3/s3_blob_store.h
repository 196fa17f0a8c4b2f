// S3BlobStore: a BlobStore on an S3-compatible object store (Amazon S3, Ceph RGW, MinIO),
// spoken directly over libcurl with SigV4 signing (no AWS SDK: Debian has none).
//
// URL:  s3://BUCKET[/PREFIX]?endpoint=http(s)://HOST[:PORT]&region=R[&addressing=path|virtual]
//                            [&credentials_file=/abs/path]
//   - Blob key K is stored as the object PREFIX/K (or K without a prefix). PREFIX uses the key
//     alphabet, so several servers (or test runs) can share one bucket.
//   - addressing: path-style (http://host/BUCKET/key) is the default for IP-address and
//     localhost endpoints, virtual-host style (http://BUCKET.host/key) otherwise.
//   - region defaults to us-east-1 (what Ceph RGW accepts unless configured otherwise).
//   - Credentials: credentials_file (AWS shared-credentials format, [default] profile or the
//     only profile) if given, else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY (and optionally
//     AWS_SESSION_TOKEN) from the environment. The secret is held in SecretBytes and never
//     appears in a log line or an error message.
//   - Open creates the bucket if it does not exist, so the key needs s3:CreateBucket once, and
//     then s3:GetObject, PutObject, DeleteObject, ListBucket and the multipart actions.
//
// Semantics against the BlobStore contract:
//   - Put is one PUT (atomic in S3: readers see the old or the new object) or, above
//     multipart_threshold, a multipart upload (up to 4 parts in flight) that becomes visible
//     only on its completion and is aborted on failure. The body's SHA-256 is signed
//     (x-amz-content-sha256), so the server rejects a body damaged in transit. S3 has no create-only PUT we can rely on (RGW 16 ignores
//     If-None-Match: *), so create-only semantics belong to the metadata store.
//   - Durability is the object store's: an acknowledged PUT is stored per its replication.
//   - List uses ListObjectsV2 with continuation tokens; objects under the prefix whose names
//     are not valid blob keys (foreign objects) are skipped.
//
// Errors: 404 -> kNotFound (Get) / false (Exists) / OK (Delete). 403 -> kPermissionDenied
// telling the operator to check the credentials. Other 4xx -> kFailedPrecondition with S3's
// error code (not retried: the request itself is wrong). 5xx, 429 and timeouts are retried
// with exponential backoff and full jitter; when the attempts run out -> kUnavailable.
// Connection refused / unresolvable host -> kUnavailable naming the endpoint.
//
// Thread-safe: requests run on a bounded pool of CURL easy handles (reused, so connections
// are kept alive); a caller waits when all handles are busy. List calls its callback with no
// handle and no lock held, so the callback may call back into the store.
#ifndef COFFER_STORE_S3_S3_BLOB_STORE_H_
#define COFFER_STORE_S3_S3_BLOB_STORE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/status.h"
#include "store/blob_store.h"
#include "store/s3/sigv4.h"
#include "util/bytes.h"

namespace coffer::store::s3 {

struct S3Config {
  std::string bucket;
  std::string key_prefix;  // "" or "some/prefix/" (ends with '/')
  std::string endpoint;    // "http://127.0.0.1:7480": scheme, host, optional port; no path
  std::string region = "us-east-1";
  bool virtual_host_addressing = false;
  std::string access_key_id;
  crypto::SecretBytes secret_access_key;
  std::string session_token;

  bool create_bucket_if_missing = true;  // Open checks the bucket (and creates it if missing)
  size_t multipart_threshold = 16 << 20;  // Put above this size uses a multipart upload
  size_t multipart_part_size = 8 << 20;   // S3 needs >= 5 MiB for every part but the last
  int max_attempts = 6;                   // first try + retries, for 5xx, 429 and timeouts
  std::chrono::milliseconds initial_backoff{100};
  std::chrono::milliseconds max_backoff{5000};
  std::chrono::milliseconds connect_timeout{5000};
  // A transfer slower than 1 KiB/s for this long is a timeout (no fixed total deadline, which
  // would fail large objects on slow links).
  std::chrono::seconds stall_timeout{30};
  size_t max_connections = 32;  // CURL easy handles in the pool
};

// Parses an s3:// URL (see the top of this file) and reads the credentials it names.
// kInvalidArgument with a message naming the problem; never includes the secret.
StatusOr<S3Config> ParseS3Url(const std::string& url);

class S3BlobStore : public BlobStore {
 public:
  static StatusOr<std::unique_ptr<S3BlobStore>> Open(const std::string& url);
  // kInvalidArgument: bad configuration. kPermissionDenied: the credentials were refused.
  // kUnavailable: the endpoint cannot be reached.
  static StatusOr<std::unique_ptr<S3BlobStore>> Open(S3Config config);

  S3BlobStore(const S3BlobStore&) = delete;
  S3BlobStore& operator=(const S3BlobStore&) = delete;
  ~S3BlobStore() override;

  Status Put(std::string_view key, ByteView data) override;
  StatusOr<Bytes> Get(std::string_view key) override;
  StatusOr<bool> Exists(std::string_view key) override;
  Status Delete(std::string_view key) override;
  Status List(std::string_view prefix, const std::function<bool(const std::string&)>& fn) override;

  // Reads `length` bytes from `offset` (fewer if the object ends first). kOutOfRange if
  // offset is at or past the end of a non-empty object; kInvalidArgument if length is 0.
  StatusOr<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override;

  // Requests sent to the endpoint so far, including retries (for tests and metrics).
  uint64_t requests_sent() const { return requests_sent_.load(); }

  const S3Config& config() const { return config_; }

 private:
  struct Request;
  struct Response;
  class HandlePool;

  S3BlobStore(S3Config config, SigV4Signer signer);

  Status EnsureBucket();
  // Sends `request` with retries; returns the final response (any HTTP status) or a
  // transport error (kUnavailable).
  StatusOr<Response> Execute(const Request& request);
  Response ExecuteOnce(const Request& request, const std::string& payload_sha256);
  // Turns a non-2xx response into a Status naming what was attempted.
  Status ErrorFor(const Response& response, std::string_view what) const;
  Status PutMultipart(const std::string& object, ByteView data);

  std::string ObjectName(std::string_view key) const { return config_.key_prefix + std::string(key); }

  const S3Config config_;
  const SigV4Signer signer_;
  const std::string authority_;  // Host header value
  const std::string base_url_;   // scheme://authority, plus "/bucket" for path-style
  const std::string base_path_;  // "" or "/bucket": the signed path's start
  std::unique_ptr<HandlePool> pool_;
  std::atomic<uint64_t> requests_sent_{0};
};

}  // namespace coffer::store::s3

#endif  // COFFER_STORE_S3_S3_BLOB_STORE_H_
