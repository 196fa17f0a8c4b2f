#include "store/blob_store.h"

#include <algorithm>
#include <string>

namespace coffer::store {
namespace {

constexpr size_t kMaxKeyLength = 200;

bool IsKeyChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '/' || c == '_' || c == '-';
}

// Keys come from requests, so the message shows at most a bounded, printable excerpt.
std::string Quote(std::string_view s) {
  constexpr size_t kMaxShown = 64;
  std::string out = "\"";
  for (size_t i = 0; i < s.size() && i < kMaxShown; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      out += static_cast<char>(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  if (s.size() > kMaxShown) out += "...";
  out += '"';
  return out;
}

// The checks shared by keys and prefixes: length, alphabet, no empty path segment inside.
Status ValidateCommon(std::string_view s, std::string_view what) {
  if (s.size() > kMaxKeyLength) {
    return InvalidArgumentError("invalid blob " + std::string(what) + " " + Quote(s) + ": longer than " +
                                std::to_string(kMaxKeyLength) + " characters");
  }
  for (char c : s) {
    if (!IsKeyChar(c)) {
      return InvalidArgumentError("invalid blob " + std::string(what) + " " + Quote(s) +
                                  ": only a-z, 0-9, '/', '_' and '-' are allowed");
    }
  }
  if (!s.empty() && s.front() == '/') {
    return InvalidArgumentError("invalid blob " + std::string(what) + " " + Quote(s) + ": starts with '/'");
  }
  if (s.find("//") != std::string_view::npos) {
    return InvalidArgumentError("invalid blob " + std::string(what) + " " + Quote(s) + ": contains \"//\"");
  }
  return OkStatus();
}

}  // namespace

// '.' is outside the alphabet, which also excludes "." and ".." segments: a key can never
// name a parent directory, and implementations may use '.' in their own file names.
Status ValidateBlobKey(std::string_view key) {
  if (key.empty()) return InvalidArgumentError("invalid blob key: empty");
  COFFER_RETURN_IF_ERROR(ValidateCommon(key, "key"));
  if (key.back() == '/') return InvalidArgumentError("invalid blob key " + Quote(key) + ": ends with '/'");
  return OkStatus();
}

Status ValidateBlobKeyPrefix(std::string_view prefix) { return ValidateCommon(prefix, "key prefix"); }

StatusOr<Bytes> BlobStore::GetRange(std::string_view key, uint64_t offset, uint64_t length) {
  if (length == 0) return InvalidArgumentError("GetRange of " + std::string(key) + ": length must be at least 1");
  COFFER_ASSIGN_OR_RETURN(Bytes all, Get(key));
  if (offset >= all.size()) return OutOfRangeError("GetRange of " + std::string(key) + ": offset is at or past the end");
  const uint64_t n = std::min<uint64_t>(length, all.size() - offset);
  return Bytes(all.begin() + static_cast<ptrdiff_t>(offset), all.begin() + static_cast<ptrdiff_t>(offset + n));
}

}  // namespace coffer::store
