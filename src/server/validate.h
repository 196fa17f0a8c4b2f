// Input validation for the server's handlers: ids, emails, JSON bodies, query parameters.
//
// Every check returns kInvalidArgument with a message that names the field and says what was
// expected, e.g. `field "login.salt": expected base64 of 16 bytes, got 12 bytes`, so a client
// developer can fix the request from the error alone. Nothing here logs or echoes secret
// values (verifiers, tokens): messages carry field names and sizes only.
// Thread-safety: pure functions; a JsonFields object is a read-only view.
#ifndef COFFER_SERVER_VALIDATE_H_
#define COFFER_SERVER_VALIDATE_H_

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/status.h"
#include "util/bytes.h"

namespace coffer::server {

inline constexpr size_t kShortIdHexLen = 32;  // account, device, collection, pairing ids
inline constexpr size_t kChunkIdHexLen = 64;
// Largest integer a JSON number carries exactly in every client (JavaScript included).
inline constexpr uint64_t kMaxJsonInt = (uint64_t{1} << 53) - 1;

// True if `s` is exactly `len` characters of [0-9a-f].
bool IsLowerHex(std::string_view s, size_t len);
// kInvalidArgument("<what> must be N lowercase hex characters") unless IsLowerHex.
Status CheckHexId(std::string_view value, size_t len, std::string_view what);

// Lower-cases ASCII letters and checks the docs/API.md rule: 3..254 bytes, exactly one '@'
// with something on both sides, no spaces or control characters.
StatusOr<std::string> NormalizeEmail(std::string_view email);

// Parses a request body that must be one JSON object. Rejects invalid UTF-8, trailing data
// and nesting deeper than 16 levels (nothing in the API nests deeper than 3).
StatusOr<nlohmann::json> ParseJsonObject(ByteView body);

// Typed, bounded access to the fields of a JSON object. `prefix` ("login.") is prepended to
// field names in error messages. JSON null counts as absent. Unknown fields are ignored
// (forward compatibility); every field that is read is checked.
class JsonFields {
 public:
  JsonFields(const nlohmann::json& object, std::string prefix)
      : object_(object), prefix_(std::move(prefix)) {}

  bool Has(std::string_view name) const;
  StatusOr<JsonFields> Object(std::string_view name) const;
  // A UTF-8 string of min_len..max_len bytes.
  StatusOr<std::string> String(std::string_view name, size_t min_len, size_t max_len) const;
  // Standard base64 (with padding) decoding to min_len..max_len bytes.
  StatusOr<Bytes> Base64(std::string_view name, size_t min_len, size_t max_len) const;
  StatusOr<Bytes> Base64Exact(std::string_view name, size_t len) const { return Base64(name, len, len); }
  // A JSON integer (not a float, not a string) in [min, max].
  StatusOr<uint64_t> Uint(std::string_view name, uint64_t min, uint64_t max) const;
  StatusOr<int64_t> Int(std::string_view name, int64_t min, int64_t max) const;
  StatusOr<std::string> HexId(std::string_view name, size_t len) const;
  // An array of at most max_count lowercase hex ids of length len.
  StatusOr<std::vector<std::string>> HexIdArray(std::string_view name, size_t len, size_t max_count) const;

 private:
  std::string Path(std::string_view name) const { return prefix_ + std::string(name); }
  StatusOr<const nlohmann::json*> Required(std::string_view name) const;
  const nlohmann::json& object_;
  std::string prefix_;
};

// Splits "a=1&b=2" into a map. kInvalidArgument on a parameter outside `allowed`, a repeated
// parameter or an empty name.
StatusOr<std::map<std::string, std::string>> ParseQuery(std::string_view query,
                                                        const std::vector<std::string_view>& allowed);
// A decimal integer in [min, max] without sign, spaces or leading '+'.
StatusOr<uint64_t> ParseUint(std::string_view value, std::string_view what, uint64_t min, uint64_t max);

}  // namespace coffer::server

namespace coffer::server {
// The client address of a request that arrived from `peer`: the last address of
// X-Forwarded-For when `peer` is one of `trusted_proxies` and that address parses, else `peer`
// (a client that is not a trusted balancer cannot choose its own address).
std::string ClientAddress(const std::string& peer, std::string_view forwarded,
                          const std::vector<std::string>& trusted_proxies);
}  // namespace coffer::server

#endif  // COFFER_SERVER_VALIDATE_H_
