// AWS Signature Version 4 (header-based), as S3 and Ceph RGW check it.
//
//   canonical request = METHOD \n canonical URI \n canonical query \n canonical headers \n
//                       \n signed headers \n payload hash
//   string to sign    = "AWS4-HMAC-SHA256" \n x-amz-date \n scope \n hex(SHA-256(canonical request))
//   signing key       = HMAC chain "AWS4"+secret -> date -> region -> service -> "aws4_request"
//   Authorization     = AWS4-HMAC-SHA256 Credential=AKID/scope, SignedHeaders=..., Signature=hex
//
// Pinned by the published AWS SigV4 test suite (tests/testdata/aws-sigv4, see sigv4_test.cc).
// SHA-256 and HMAC come from src/crypto (OpenSSL 3). The secret key lives in SecretBytes and
// never appears in any string this file returns except through the signature.
//
// Thread-safety: a SigV4Signer is immutable after construction; Sign may be called from many
// threads at once.
#ifndef COFFER_STORE_S3_SIGV4_H_
#define COFFER_STORE_S3_SIGV4_H_

#include <chrono>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "crypto/secret.h"

namespace coffer::store::s3 {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

struct SigV4Credentials {
  std::string access_key_id;
  crypto::SecretBytes secret_access_key;
  std::string session_token;  // temporary credentials (STS); empty for long-term keys
};

struct SigV4Request {
  std::string method = {};  // "GET", "PUT", ...
  // The path NOT percent-encoded ("/bucket/a b"); Sign encodes it (S3 style: every byte
  // outside A-Za-z0-9-._~ and '/'). Send exactly EncodedPath(path) on the wire.
  std::string path = {};
  // Query parameters, not percent-encoded, in any order; a parameter without '=' has an
  // empty value. Send exactly CanonicalQueryString(query) on the wire.
  std::vector<std::pair<std::string, std::string>> query = {};
  // Headers to sign, in any order and case; must contain Host. Repeated names are joined
  // with ',' in order; values are trimmed and inner runs of spaces collapse to one.
  HeaderList headers = {};
  // Hex SHA-256 of the body, or "UNSIGNED-PAYLOAD".
  std::string payload_sha256_hex = {};
};

struct SigV4Options {
  std::string region = {};       // "us-east-1"
  std::string service = "s3";
  // Generic AWS services remove "." / ".." segments and empty segments before signing; S3
  // does not (an object key may contain "//"), so this is off for S3.
  bool normalize_path = false;
  // S3 (and RGW: it answers 403 SignatureDoesNotMatch without it) wants the payload hash as
  // the signed header x-amz-content-sha256. The generic test suite does not.
  bool add_content_sha256_header = true;
};

struct SigV4Signature {
  std::string canonical_request;
  std::string string_to_sign;
  std::string authorization;  // the Authorization header's value
  // Everything to add to the request: x-amz-date, x-amz-content-sha256 (if enabled),
  // x-amz-security-token (if a session token), Authorization.
  HeaderList headers_to_add;
};

class SigV4Signer {
 public:
  SigV4Signer(SigV4Credentials credentials, SigV4Options options);

  SigV4Signature Sign(const SigV4Request& request, std::chrono::system_clock::time_point now) const;

  const std::string& access_key_id() const { return credentials_.access_key_id; }

 private:
  SigV4Credentials credentials_;
  SigV4Options options_;
};

// RFC 3986 percent-encoding as SigV4 defines it: A-Za-z0-9 and -._~ stay, every other byte
// becomes %XX (upper-case hex); '/' stays only if keep_slash.
std::string UriEncode(std::string_view s, bool keep_slash);
// The path as it must go on the wire and into the canonical request (no normalisation).
inline std::string EncodedPath(std::string_view path) { return UriEncode(path, true); }
// name=value pairs, encoded, sorted by name then value, joined with '&'.
std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query);
// "20150830T123600Z" for a UTC time.
std::string AmzDate(std::chrono::system_clock::time_point t);

}  // namespace coffer::store::s3

#endif  // COFFER_STORE_S3_SIGV4_H_
