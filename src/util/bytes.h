// Byte buffers, views, encodings and bounds-checked binary readers/writers.
//
// Every parse of untrusted bytes (server replies, stored files, requests) goes through
// ByteReader, which never reads past the end: each getter returns an error Status instead.
// Integers are little-endian; see docs/FORMAT.md §1 for the conventions.
#ifndef COFFER_UTIL_BYTES_H_
#define COFFER_UTIL_BYTES_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/status.h"

namespace coffer {

using Bytes = std::vector<uint8_t>;
using ByteView = std::span<const uint8_t>;

inline ByteView AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
inline std::string_view AsChars(ByteView b) {
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}
inline Bytes ToBytes(std::string_view s) { return Bytes(s.begin(), s.end()); }
inline Bytes ToBytes(ByteView b) { return Bytes(b.begin(), b.end()); }

std::string HexEncode(ByteView b);
StatusOr<Bytes> HexDecode(std::string_view hex);
// Standard base64 with padding (RFC 4648 §4).
std::string Base64Encode(ByteView b);
StatusOr<Bytes> Base64Decode(std::string_view b64);

// Appends fixed-width little-endian integers and length-prefixed fields.
class ByteWriter {
 public:
  void U8(uint8_t v) { out_.push_back(v); }
  void U16(uint16_t v);
  void U32(uint32_t v);
  void U64(uint64_t v);
  void Raw(ByteView b) { out_.insert(out_.end(), b.begin(), b.end()); }
  void Raw(std::string_view s) { Raw(AsBytes(s)); }
  // u32 length then the bytes.
  void Blob(ByteView b);
  void Str(std::string_view s) { Blob(AsBytes(s)); }

  const Bytes& bytes() const { return out_; }
  Bytes Take() { return std::move(out_); }
  size_t size() const { return out_.size(); }

 private:
  Bytes out_;
};

// Reads what ByteWriter wrote. Every method checks bounds and returns kDataLoss naming
// `what` (the object being parsed) on truncation or an oversized length.
class ByteReader {
 public:
  ByteReader(ByteView data, std::string what) : data_(data), what_(std::move(what)) {}

  StatusOr<uint8_t> U8();
  StatusOr<uint16_t> U16();
  StatusOr<uint32_t> U32();
  StatusOr<uint64_t> U64();
  StatusOr<ByteView> Raw(size_t n);
  // u32 length (at most max_len) then the bytes.
  StatusOr<ByteView> Blob(size_t max_len);
  StatusOr<std::string> Str(size_t max_len);
  // Fails unless every byte was consumed.
  Status ExpectEnd() const;

  size_t remaining() const { return data_.size() - pos_; }
  size_t position() const { return pos_; }
  ByteView consumed() const { return data_.first(pos_); }

 private:
  Status Truncated(size_t want) const;
  ByteView data_;
  size_t pos_ = 0;
  std::string what_;
};

}  // namespace coffer

#endif  // COFFER_UTIL_BYTES_H_
