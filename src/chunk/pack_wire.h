// Wire formats that carry many chunk containers in one HTTP body (FORMAT.md §17): a pack
// upload (client -> server, "CFPK") and a fetch reply (server -> client, "CFFR").
//
// They exist for speed (issue 3): one request, one fsync and one index transaction per pack
// instead of per chunk. They carry only what single-chunk requests already carry (chunk id,
// SHA-256 of the container, container bytes), so they reveal nothing new to the server, and
// every container still goes through the client's AEAD and keyed-id checks.
//
// Both parsers take bytes from an untrusted peer: every length and count is checked against
// the body and the limits below before it is used, and the whole body must be consumed.
#ifndef COFFER_CHUNK_PACK_WIRE_H_
#define COFFER_CHUNK_PACK_WIRE_H_

#include <array>
#include <cstdint>
#include <vector>

#include "coffer/status.h"
#include "util/bytes.h"

namespace coffer::chunk {

inline constexpr uint8_t kPackWireVersion = 1;
inline constexpr size_t kPackIdBytes = 32;
inline constexpr size_t kPackMaxChunks = 4096;
// A chunk container is at most a little over 16 MiB (server body limit of a single PUT).
inline constexpr uint32_t kPackMaxChunkBytes = 16u << 20;
inline constexpr size_t kPackHeaderBytes = 4 + 1 + 4;           // magic, version, count
inline constexpr size_t kPackEntryOverhead = 32 + 32 + 4;       // id, sha256, length
inline constexpr size_t kFetchEntryOverhead = 32 + 4;           // id, length

using RawId = std::array<uint8_t, kPackIdBytes>;

// One chunk of a parsed pack; `data` points into the parsed body, `offset` is where it starts.
struct PackEntry {
  RawId id{};
  RawId sha256{};
  ByteView data;
  uint64_t offset = 0;
};

// Builds a CFPK body; Add() copies the container once, straight into the body.
class PackWriter {
 public:
  PackWriter();
  void Add(const RawId& id, const RawId& sha256, ByteView container);
  size_t count() const { return count_; }
  size_t size() const { return body_.size(); }
  // The finished body (count patched in). The writer is empty afterwards.
  Bytes Finish();

 private:
  Bytes body_;
  uint32_t count_ = 0;
};

// kInvalidArgument naming the first problem: wrong magic/version, a count of 0 or above
// kPackMaxChunks, a length of 0 or above kPackMaxChunkBytes, a body that ends early or has
// bytes left over, or the same id twice.
StatusOr<std::vector<PackEntry>> ParsePack(ByteView body);

// Builds a CFFR body.
class FetchReplyWriter {
 public:
  FetchReplyWriter();
  void Add(const RawId& id, ByteView container);
  Bytes Finish();

 private:
  Bytes body_;
  uint32_t count_ = 0;
};

// Splits a CFFR reply into one container per expected id, in order. kDataLoss naming what is
// wrong if the reply is malformed, has another count, or names another id at any position
// (a server answering a different question than the one asked).
StatusOr<std::vector<ByteView>> ParseFetchReply(ByteView body, const std::vector<RawId>& expected_ids);

}  // namespace coffer::chunk

#endif  // COFFER_CHUNK_PACK_WIRE_H_
