#include "chunk/pack_wire.h"

#include <algorithm>
#include <cstring>
#include <set>
#include <string>

namespace coffer::chunk {
namespace {

constexpr uint8_t kPackMagic[4] = {'C', 'F', 'P', 'K'};
constexpr uint8_t kFetchMagic[4] = {'C', 'F', 'F', 'R'};

void PutU32(Bytes& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<uint8_t>(v >> (8 * i)));
}

void PatchU32(Bytes& out, size_t at, uint32_t v) {
  for (int i = 0; i < 4; ++i) out[at + i] = static_cast<uint8_t>(v >> (8 * i));
}

Bytes Header(const uint8_t (&magic)[4]) {
  Bytes b(magic, magic + 4);
  b.push_back(kPackWireVersion);
  PutU32(b, 0);  // count, patched by Finish()
  return b;
}

// Reads from an untrusted body; every accessor checks the remaining length first.
class Reader {
 public:
  explicit Reader(ByteView b) : b_(b) {}
  size_t left() const { return b_.size() - pos_; }
  size_t pos() const { return pos_; }
  bool Take(size_t n, ByteView* out) {
    if (left() < n) return false;
    *out = b_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  bool U32(uint32_t* v) {
    ByteView x;
    if (!Take(4, &x)) return false;
    *v = static_cast<uint32_t>(x[0]) | static_cast<uint32_t>(x[1]) << 8 | static_cast<uint32_t>(x[2]) << 16 |
         static_cast<uint32_t>(x[3]) << 24;
    return true;
  }
  bool Id(RawId* id) {
    ByteView x;
    if (!Take(kPackIdBytes, &x)) return false;
    std::copy(x.begin(), x.end(), id->begin());
    return true;
  }

 private:
  ByteView b_;
  size_t pos_ = 0;
};

// Checks magic and version and returns the count; `what` names the format in errors.
StatusOr<uint32_t> ReadHeader(Reader& r, const uint8_t (&magic)[4], const std::string& what,
                              Status (*err)(std::string)) {
  ByteView m;
  if (!r.Take(4, &m) || std::memcmp(m.data(), magic, 4) != 0) return err(what + ": wrong magic");
  ByteView v;
  if (!r.Take(1, &v)) return err(what + ": truncated header");
  if (v[0] != kPackWireVersion) {
    return err(what + ": unsupported version " + std::to_string(v[0]) + " (this build reads version " +
               std::to_string(kPackWireVersion) + ")");
  }
  uint32_t count = 0;
  if (!r.U32(&count)) return err(what + ": truncated header");
  if (count == 0 || count > kPackMaxChunks) {
    return err(what + ": chunk count " + std::to_string(count) + " is outside 1.." + std::to_string(kPackMaxChunks));
  }
  return count;
}

Status InvalidArg(std::string m) { return InvalidArgumentError(std::move(m)); }
Status Loss(std::string m) { return DataLossError(std::move(m)); }

}  // namespace

PackWriter::PackWriter() : body_(Header(kPackMagic)) {}

void PackWriter::Add(const RawId& id, const RawId& sha256, ByteView container) {
  body_.insert(body_.end(), id.begin(), id.end());
  body_.insert(body_.end(), sha256.begin(), sha256.end());
  PutU32(body_, static_cast<uint32_t>(container.size()));
  body_.insert(body_.end(), container.begin(), container.end());
  ++count_;
}

Bytes PackWriter::Finish() {
  PatchU32(body_, 5, count_);
  Bytes out = std::move(body_);
  body_ = Header(kPackMagic);
  count_ = 0;
  return out;
}

StatusOr<std::vector<PackEntry>> ParsePack(ByteView body) {
  Reader r(body);
  COFFER_ASSIGN_OR_RETURN(uint32_t count, ReadHeader(r, kPackMagic, "chunk pack", InvalidArg));
  // Each entry takes at least kPackEntryOverhead + 1 bytes: a count the body cannot hold is
  // refused before anything is reserved for it.
  if (count > r.left() / (kPackEntryOverhead + 1)) {
    return InvalidArgumentError("chunk pack: " + std::to_string(count) + " chunks cannot fit in " +
                                std::to_string(body.size()) + " bytes");
  }
  std::vector<PackEntry> out;
  out.reserve(count);
  std::set<RawId> seen;
  for (uint32_t i = 0; i < count; ++i) {
    const std::string at = "chunk pack entry " + std::to_string(i);
    PackEntry e;
    uint32_t len = 0;
    if (!r.Id(&e.id) || !r.Id(&e.sha256) || !r.U32(&len)) return InvalidArgumentError(at + ": truncated");
    if (len == 0 || len > kPackMaxChunkBytes) {
      return InvalidArgumentError(at + ": length " + std::to_string(len) + " is outside 1.." +
                                  std::to_string(kPackMaxChunkBytes));
    }
    e.offset = r.pos();
    if (!r.Take(len, &e.data)) {
      return InvalidArgumentError(at + ": says " + std::to_string(len) + " bytes but only " +
                                  std::to_string(r.left()) + " remain");
    }
    if (!seen.insert(e.id).second) return InvalidArgumentError(at + ": the same chunk id appears twice");
    out.push_back(e);
  }
  if (r.left() != 0) {
    return InvalidArgumentError("chunk pack: " + std::to_string(r.left()) + " bytes left over after " +
                                std::to_string(count) + " chunks");
  }
  return out;
}

FetchReplyWriter::FetchReplyWriter() : body_(Header(kFetchMagic)) {}

void FetchReplyWriter::Add(const RawId& id, ByteView container) {
  body_.insert(body_.end(), id.begin(), id.end());
  PutU32(body_, static_cast<uint32_t>(container.size()));
  body_.insert(body_.end(), container.begin(), container.end());
  ++count_;
}

Bytes FetchReplyWriter::Finish() {
  PatchU32(body_, 5, count_);
  Bytes out = std::move(body_);
  body_ = Header(kFetchMagic);
  count_ = 0;
  return out;
}

StatusOr<std::vector<ByteView>> ParseFetchReply(ByteView body, const std::vector<RawId>& expected_ids) {
  Reader r(body);
  COFFER_ASSIGN_OR_RETURN(uint32_t count, ReadHeader(r, kFetchMagic, "chunk fetch reply", Loss));
  if (count != expected_ids.size()) {
    return DataLossError("chunk fetch reply: " + std::to_string(count) + " chunks for " +
                         std::to_string(expected_ids.size()) + " asked");
  }
  std::vector<ByteView> out;
  out.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    const std::string at = "chunk fetch reply entry " + std::to_string(i);
    RawId id;
    uint32_t len = 0;
    if (!r.Id(&id) || !r.U32(&len)) return DataLossError(at + ": truncated");
    if (id != expected_ids[i]) return DataLossError(at + ": names a chunk other than the one asked for");
    if (len == 0 || len > kPackMaxChunkBytes) {
      return DataLossError(at + ": length " + std::to_string(len) + " is outside 1.." +
                           std::to_string(kPackMaxChunkBytes));
    }
    ByteView data;
    if (!r.Take(len, &data)) {
      return DataLossError(at + ": says " + std::to_string(len) + " bytes but only " + std::to_string(r.left()) +
                           " remain");
    }
    out.push_back(data);
  }
  if (r.left() != 0) return DataLossError("chunk fetch reply: " + std::to_string(r.left()) + " bytes left over");
  return out;
}

}  // namespace coffer::chunk
