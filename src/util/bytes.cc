#include "util/bytes.h"

#include <sodium.h>

#include <cstring>

namespace coffer {

std::string HexEncode(ByteView b) {
  std::string out(b.size() * 2 + 1, '\0');
  sodium_bin2hex(out.data(), out.size(), b.data(), b.size());
  out.pop_back();
  return out;
}

StatusOr<Bytes> HexDecode(std::string_view hex) {
  for (char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) {
      return InvalidArgumentError("not a hex string");
    }
  }
  if (hex.size() % 2 != 0) return InvalidArgumentError("hex string has odd length");
  // An empty vector's data() may be null, which sodium_hex2bin's nonnull contract forbids.
  if (hex.empty()) return Bytes();
  Bytes out(hex.size() / 2);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_hex2bin(out.data(), out.size(), hex.data(), hex.size(), nullptr, &len, &end) != 0 ||
      len != out.size() || end != hex.data() + hex.size()) {
    return InvalidArgumentError("not a hex string");
  }
  return out;
}

std::string Base64Encode(ByteView b) {
  const size_t n = sodium_base64_ENCODED_LEN(b.size(), sodium_base64_VARIANT_ORIGINAL);
  std::string out(n, '\0');
  sodium_bin2base64(out.data(), n, b.data(), b.size(), sodium_base64_VARIANT_ORIGINAL);
  out.resize(n - 1);
  return out;
}

StatusOr<Bytes> Base64Decode(std::string_view b64) {
  // libsodium 1.0.18 maps bytes >= 0x80 onto base64 digits, so "Q\xC1JD" would decode like
  // "QUJD": check the alphabet first, so that exactly one text decodes to given bytes.
  for (char c : b64) {
    const bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' ||
                    c == '/' || c == '=';
    if (!ok) return InvalidArgumentError("not a base64 string");
  }
  Bytes out(b64.size() / 4 * 3 + 3);
  size_t len = 0;
  const char* end = nullptr;
  if (sodium_base642bin(out.data(), out.size(), b64.data(), b64.size(), nullptr, &len, &end,
                        sodium_base64_VARIANT_ORIGINAL) != 0 ||
      end != b64.data() + b64.size()) {
    return InvalidArgumentError("not a base64 string");
  }
  out.resize(len);
  return out;
}

void ByteWriter::U16(uint16_t v) {
  for (int i = 0; i < 2; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void ByteWriter::U32(uint32_t v) {
  for (int i = 0; i < 4; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void ByteWriter::U64(uint64_t v) {
  for (int i = 0; i < 8; ++i) out_.push_back(static_cast<uint8_t>(v >> (8 * i)));
}
void ByteWriter::Blob(ByteView b) {
  U32(static_cast<uint32_t>(b.size()));
  Raw(b);
}

Status ByteReader::Truncated(size_t want) const {
  return DataLossError(what_ + " is truncated or malformed (needed " + std::to_string(want) +
                       " bytes at offset " + std::to_string(pos_) + ", " +
                       std::to_string(remaining()) + " left)");
}

StatusOr<uint8_t> ByteReader::U8() {
  if (remaining() < 1) return Truncated(1);
  return data_[pos_++];
}
StatusOr<uint16_t> ByteReader::U16() {
  if (remaining() < 2) return Truncated(2);
  uint16_t v = 0;
  for (int i = 0; i < 2; ++i) v |= static_cast<uint16_t>(data_[pos_ + i]) << (8 * i);
  pos_ += 2;
  return v;
}
StatusOr<uint32_t> ByteReader::U32() {
  if (remaining() < 4) return Truncated(4);
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(data_[pos_ + i]) << (8 * i);
  pos_ += 4;
  return v;
}
StatusOr<uint64_t> ByteReader::U64() {
  if (remaining() < 8) return Truncated(8);
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(data_[pos_ + i]) << (8 * i);
  pos_ += 8;
  return v;
}
StatusOr<ByteView> ByteReader::Raw(size_t n) {
  if (remaining() < n) return Truncated(n);
  ByteView v = data_.subspan(pos_, n);
  pos_ += n;
  return v;
}
StatusOr<ByteView> ByteReader::Blob(size_t max_len) {
  COFFER_ASSIGN_OR_RETURN(uint32_t n, U32());
  if (n > max_len) {
    return DataLossError(what_ + " has a field of " + std::to_string(n) + " bytes, over the limit of " +
                         std::to_string(max_len));
  }
  return Raw(n);
}
StatusOr<std::string> ByteReader::Str(size_t max_len) {
  COFFER_ASSIGN_OR_RETURN(ByteView v, Blob(max_len));
  return std::string(AsChars(v));
}
Status ByteReader::ExpectEnd() const {
  if (remaining() != 0) {
    return DataLossError(what_ + " has " + std::to_string(remaining()) + " unexpected trailing bytes");
  }
  return OkStatus();
}

}  // namespace coffer
