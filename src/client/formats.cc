#include "client/formats.h"

#include <sodium.h>

#include <algorithm>
#include <cstring>

#include "crypto/secret.h"

namespace coffer::client {
namespace {

constexpr size_t kKey = 32;
constexpr size_t kSig = 64;
constexpr size_t kMaxOps = 1'000'000;
constexpr size_t kMaxChunksPerFile = 1u << 22;  // 4M chunks: far beyond any real file
constexpr size_t kMaxBlob = 256u << 20;

void Magic(ByteWriter& w, const char* magic) {
  w.Raw(std::string_view(magic, 4));
  w.U8(kFormatVersion);
}

Status ExpectMagic(ByteReader& r, const char* magic, const std::string& what) {
  COFFER_ASSIGN_OR_RETURN(ByteView m, r.Raw(4));
  if (std::memcmp(m.data(), magic, 4) != 0) return DataLossError(what + " has a wrong magic number");
  COFFER_ASSIGN_OR_RETURN(uint8_t v, r.U8());
  if (v != kFormatVersion) {
    return DataLossError(what + " has format version " + std::to_string(v) + "; this client reads version " +
                         std::to_string(kFormatVersion) + " only");
  }
  return OkStatus();
}

template <size_t N>
Status ReadArray(ByteReader& r, std::array<uint8_t, N>& out) {
  COFFER_ASSIGN_OR_RETURN(ByteView v, r.Raw(N));
  std::copy(v.begin(), v.end(), out.begin());
  return OkStatus();
}

Status ReadFixed(ByteReader& r, size_t n, Bytes& out) {
  COFFER_ASSIGN_OR_RETURN(ByteView v, r.Raw(n));
  out.assign(v.begin(), v.end());
  return OkStatus();
}

Status ReadBlob(ByteReader& r, size_t max, Bytes& out) {
  COFFER_ASSIGN_OR_RETURN(ByteView v, r.Blob(max));
  out.assign(v.begin(), v.end());
  return OkStatus();
}

// Objects shaped `header || u32-len ciphertext || 64-byte signature` (keyring, revision,
// checkpoint, recovery blob) share these three steps.
Bytes SignedPartOf(const Bytes& header, const Bytes& ciphertext) {
  ByteWriter w;
  w.Raw(header);
  w.Blob(ciphertext);
  return w.Take();
}

Bytes WithSignature(Bytes signed_part, const Bytes& signature) {
  signed_part.insert(signed_part.end(), signature.begin(), signature.end());
  return signed_part;
}

Status ReadSealedTail(ByteReader& r, size_t max_ciphertext, Bytes& ciphertext, Bytes& signature) {
  COFFER_RETURN_IF_ERROR(ReadBlob(r, max_ciphertext, ciphertext));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, kSig, signature));
  return r.ExpectEnd();
}

// Revisions and checkpoints carry the same header fields after their magic.
template <typename Header>
void EncodeJournalHeader(ByteWriter& w, const Header& h, const Hash32& hash) {
  w.Raw(h.account_id);
  w.Raw(h.collection_id);
  w.U64(h.number);
  w.Raw(hash);
  w.Raw(h.author_device);
  w.U64(h.chain_len);
  w.U32(h.key_epoch);
  w.U64(static_cast<uint64_t>(h.time));
}

template <typename Header>
Status DecodeJournalHeader(ByteReader& r, Header& h, Hash32& hash) {
  COFFER_RETURN_IF_ERROR(ReadArray(r, h.account_id));
  COFFER_RETURN_IF_ERROR(ReadArray(r, h.collection_id));
  COFFER_ASSIGN_OR_RETURN(h.number, r.U64());
  COFFER_RETURN_IF_ERROR(ReadArray(r, hash));
  COFFER_RETURN_IF_ERROR(ReadArray(r, h.author_device));
  COFFER_ASSIGN_OR_RETURN(h.chain_len, r.U64());
  COFFER_ASSIGN_OR_RETURN(h.key_epoch, r.U32());
  COFFER_ASSIGN_OR_RETURN(uint64_t t, r.U64());
  h.time = static_cast<int64_t>(t);
  return OkStatus();
}

}  // namespace

Id RandomId() {
  Id id;
  randombytes_buf(id.data(), id.size());
  return id;
}

std::string IdHex(const Id& id) { return HexEncode(id); }

StatusOr<Id> IdFromHex(std::string_view hex) {
  if (hex.size() != kIdBytes * 2) return InvalidArgumentError("id must be 32 hex characters");
  COFFER_ASSIGN_OR_RETURN(Bytes b, HexDecode(hex));
  Id id;
  std::copy(b.begin(), b.end(), id.begin());
  return id;
}

bool IsZero(ByteView b) {
  return std::all_of(b.begin(), b.end(), [](uint8_t x) { return x == 0; });
}

// ---- ChainEntry ----
Bytes ChainEntry::SignedPart() const {
  ByteWriter w;
  Magic(w, "CFCE");
  w.U64(seq);
  w.Raw(prev_hash);
  w.Raw(account_id);
  w.U8(static_cast<uint8_t>(action));
  w.U64(static_cast<uint64_t>(time));
  w.Raw(device_id);
  w.Raw(device_sign_pk);
  w.Raw(device_box_pk);
  w.Raw(identity_sign_pk);
  w.Raw(identity_box_pk);
  return w.Take();
}

Bytes ChainEntry::Encode() const { return WithSignature(WithSignature(SignedPart(), sig_prev_identity), sig_new_identity); }

StatusOr<ChainEntry> ChainEntry::Decode(ByteView data) {
  ByteReader r(data, "device chain entry");
  COFFER_RETURN_IF_ERROR(ExpectMagic(r, "CFCE", "device chain entry"));
  ChainEntry e;
  COFFER_ASSIGN_OR_RETURN(e.seq, r.U64());
  COFFER_RETURN_IF_ERROR(ReadArray(r, e.prev_hash));
  COFFER_RETURN_IF_ERROR(ReadArray(r, e.account_id));
  COFFER_ASSIGN_OR_RETURN(uint8_t action, r.U8());
  if (action < 1 || action > 3) return DataLossError("device chain entry has an unknown action");
  e.action = static_cast<ChainAction>(action);
  COFFER_ASSIGN_OR_RETURN(uint64_t t, r.U64());
  e.time = static_cast<int64_t>(t);
  COFFER_RETURN_IF_ERROR(ReadArray(r, e.device_id));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, kKey, e.device_sign_pk));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, kKey, e.device_box_pk));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, kKey, e.identity_sign_pk));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, kKey, e.identity_box_pk));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, kSig, e.sig_prev_identity));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, kSig, e.sig_new_identity));
  COFFER_RETURN_IF_ERROR(r.ExpectEnd());
  return e;
}

// ---- SealedKeyEnvelope ----
Bytes SealedKeyEnvelope::SignedPart() const {
  ByteWriter w;
  Magic(w, "CFSK");
  w.Raw(account_id);
  w.Raw(device_id);
  w.U64(epoch);
  w.U64(chain_len);
  w.Blob(sealed);
  return w.Take();
}

Bytes SealedKeyEnvelope::Encode() const { return WithSignature(SignedPart(), signature); }

StatusOr<SealedKeyEnvelope> SealedKeyEnvelope::Decode(ByteView data) {
  ByteReader r(data, "sealed account key");
  COFFER_RETURN_IF_ERROR(ExpectMagic(r, "CFSK", "sealed account key"));
  SealedKeyEnvelope e;
  COFFER_RETURN_IF_ERROR(ReadArray(r, e.account_id));
  COFFER_RETURN_IF_ERROR(ReadArray(r, e.device_id));
  COFFER_ASSIGN_OR_RETURN(e.epoch, r.U64());
  COFFER_ASSIGN_OR_RETURN(e.chain_len, r.U64());
  COFFER_RETURN_IF_ERROR(ReadBlob(r, 256, e.sealed));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, kSig, e.signature));
  COFFER_RETURN_IF_ERROR(r.ExpectEnd());
  return e;
}

// ---- Keyring ----
Bytes KeyringContents::Encode() const {
  ByteWriter w;
  Magic(w, "CFKC");
  w.Raw(identity_sign_seed);
  w.Raw(identity_box_sk);
  w.Raw(genesis_hash);
  w.Raw(recovery_public_key);
  w.U32(static_cast<uint32_t>(content.size()));
  for (const auto& c : content) {
    w.U32(c.epoch);
    w.Raw(c.chunk_id_key);
    w.Raw(c.chunk_enc_key);
    w.Raw(c.gear_key);
  }
  w.U32(static_cast<uint32_t>(collections.size()));
  for (const auto& c : collections) {
    w.Raw(c.collection_id);
    w.Str(c.name);
    w.Str(c.kind);
    w.U32(static_cast<uint32_t>(c.keys.size()));
    for (const auto& [epoch, key] : c.keys) {
      w.U32(epoch);
      w.Raw(key);
    }
  }
  w.U32(static_cast<uint32_t>(device_names.size()));
  for (const auto& [id, name] : device_names) {
    w.Raw(id);
    w.Str(name);
  }
  return w.Take();
}

StatusOr<KeyringContents> KeyringContents::Decode(ByteView data) {
  ByteReader r(data, "keyring contents");
  COFFER_RETURN_IF_ERROR(ExpectMagic(r, "CFKC", "keyring contents"));
  KeyringContents k;
  COFFER_RETURN_IF_ERROR(ReadFixed(r, kKey, k.identity_sign_seed));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, kKey, k.identity_box_sk));
  COFFER_RETURN_IF_ERROR(ReadArray(r, k.genesis_hash));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, kKey, k.recovery_public_key));
  COFFER_ASSIGN_OR_RETURN(uint32_t n_content, r.U32());
  if (n_content > 100000) return DataLossError("keyring has too many content epochs");
  for (uint32_t i = 0; i < n_content; ++i) {
    ContentKeys c;
    COFFER_ASSIGN_OR_RETURN(c.epoch, r.U32());
    COFFER_RETURN_IF_ERROR(ReadFixed(r, kKey, c.chunk_id_key));
    COFFER_RETURN_IF_ERROR(ReadFixed(r, kKey, c.chunk_enc_key));
    COFFER_RETURN_IF_ERROR(ReadFixed(r, kKey, c.gear_key));
    k.content.push_back(std::move(c));
  }
  COFFER_ASSIGN_OR_RETURN(uint32_t n_coll, r.U32());
  if (n_coll > 100000) return DataLossError("keyring has too many collections");
  for (uint32_t i = 0; i < n_coll; ++i) {
    CollectionKeys c;
    COFFER_RETURN_IF_ERROR(ReadArray(r, c.collection_id));
    COFFER_ASSIGN_OR_RETURN(c.name, r.Str(kMaxNameBytes));
    COFFER_ASSIGN_OR_RETURN(c.kind, r.Str(64));
    COFFER_ASSIGN_OR_RETURN(uint32_t n_keys, r.U32());
    if (n_keys > 100000) return DataLossError("keyring has too many collection key epochs");
    for (uint32_t j = 0; j < n_keys; ++j) {
      COFFER_ASSIGN_OR_RETURN(uint32_t epoch, r.U32());
      Bytes key;
      COFFER_RETURN_IF_ERROR(ReadFixed(r, kKey, key));
      c.keys.emplace_back(epoch, std::move(key));
    }
    k.collections.push_back(std::move(c));
  }
  COFFER_ASSIGN_OR_RETURN(uint32_t n_names, r.U32());
  if (n_names > 100000) return DataLossError("keyring has too many device names");
  for (uint32_t i = 0; i < n_names; ++i) {
    Id id;
    COFFER_RETURN_IF_ERROR(ReadArray(r, id));
    COFFER_ASSIGN_OR_RETURN(std::string name, r.Str(256));
    k.device_names.emplace_back(id, std::move(name));
  }
  COFFER_RETURN_IF_ERROR(r.ExpectEnd());
  return k;
}

void KeyringContents::Wipe() {
  auto wipe = [](Bytes& b) { sodium_memzero(b.data(), b.size()); };
  wipe(identity_sign_seed);
  wipe(identity_box_sk);
  for (auto& c : content) {
    wipe(c.chunk_id_key);
    wipe(c.chunk_enc_key);
    wipe(c.gear_key);
  }
  for (auto& c : collections)
    for (auto& kv : c.keys) wipe(kv.second);
}

Bytes KeyringHeader::Encode() const {
  ByteWriter w;
  Magic(w, "CFKR");
  w.Raw(account_id);
  w.U64(version);
  w.U64(ak_epoch);
  w.U64(chain_len);
  return w.Take();
}

Bytes KeyringBlob::SignedPart() const { return SignedPartOf(header.Encode(), ciphertext); }
Bytes KeyringBlob::Encode() const { return WithSignature(SignedPart(), signature); }

StatusOr<KeyringBlob> KeyringBlob::Decode(ByteView data) {
  ByteReader r(data, "keyring");
  COFFER_RETURN_IF_ERROR(ExpectMagic(r, "CFKR", "keyring"));
  KeyringBlob k;
  COFFER_RETURN_IF_ERROR(ReadArray(r, k.header.account_id));
  COFFER_ASSIGN_OR_RETURN(k.header.version, r.U64());
  COFFER_ASSIGN_OR_RETURN(k.header.ak_epoch, r.U64());
  COFFER_ASSIGN_OR_RETURN(k.header.chain_len, r.U64());
  COFFER_RETURN_IF_ERROR(ReadSealedTail(r, 64u << 20, k.ciphertext, k.signature));
  return k;
}

// ---- RecoveryBlob ----
Bytes RecoveryBlob::Header() const {
  ByteWriter w;
  Magic(w, "CFRB");
  w.Raw(account_id);
  w.U64(ak_epoch);
  return w.Take();
}

Bytes RecoveryBlob::SignedPart() const { return SignedPartOf(Header(), ciphertext); }
Bytes RecoveryBlob::Encode() const { return WithSignature(SignedPart(), signature); }

StatusOr<RecoveryBlob> RecoveryBlob::Decode(ByteView data) {
  ByteReader r(data, "recovery blob");
  COFFER_RETURN_IF_ERROR(ExpectMagic(r, "CFRB", "recovery blob"));
  RecoveryBlob b;
  COFFER_RETURN_IF_ERROR(ReadArray(r, b.account_id));
  COFFER_ASSIGN_OR_RETURN(b.ak_epoch, r.U64());
  COFFER_RETURN_IF_ERROR(ReadSealedTail(r, 1024, b.ciphertext, b.signature));
  return b;
}

// ---- Content ----
uint64_t Content::Size() const {
  switch (kind) {
    case Kind::kEmpty: return 0;
    case Kind::kInline: return inline_data.size();
    case Kind::kChunks: {
      uint64_t n = 0;
      for (const auto& c : chunks) n += c.size;
      return n;
    }
  }
  return 0;
}

void Content::EncodeTo(ByteWriter& w) const {
  w.U8(static_cast<uint8_t>(kind));
  if (kind == Kind::kInline) w.Blob(inline_data);
  if (kind == Kind::kChunks) {
    w.U32(content_epoch);
    w.U32(static_cast<uint32_t>(chunks.size()));
    for (const auto& c : chunks) {
      w.Raw(c.id);
      w.U32(c.size);
    }
  }
  w.Raw(content_hash);
}

StatusOr<Content> Content::DecodeFrom(ByteReader& r) {
  Content c;
  COFFER_ASSIGN_OR_RETURN(uint8_t kind, r.U8());
  if (kind > 2) return DataLossError("file content has an unknown kind");
  c.kind = static_cast<Kind>(kind);
  if (c.kind == Kind::kInline) COFFER_RETURN_IF_ERROR(ReadBlob(r, kMaxInlineBytes, c.inline_data));
  if (c.kind == Kind::kChunks) {
    COFFER_ASSIGN_OR_RETURN(c.content_epoch, r.U32());
    COFFER_ASSIGN_OR_RETURN(uint32_t n, r.U32());
    if (n > kMaxChunksPerFile || n > r.remaining() / (kHashBytes + 4)) {
      return DataLossError("file content lists more chunks than the data holds");
    }
    c.chunks.resize(n);
    for (auto& ch : c.chunks) {
      COFFER_RETURN_IF_ERROR(ReadArray(r, ch.id));
      COFFER_ASSIGN_OR_RETURN(ch.size, r.U32());
      if (ch.size == 0 || ch.size > (16u << 20)) return DataLossError("file content has a chunk of invalid size");
    }
  }
  COFFER_RETURN_IF_ERROR(ReadArray(r, c.content_hash));
  return c;
}

Bytes Content::Encode() const {
  ByteWriter w;
  EncodeTo(w);
  return w.Take();
}

StatusOr<Content> Content::Decode(ByteView data) {
  ByteReader r(data, "file content");
  COFFER_ASSIGN_OR_RETURN(Content c, DecodeFrom(r));
  COFFER_RETURN_IF_ERROR(r.ExpectEnd());
  return c;
}

// ---- Ops ----
Bytes EncodeOps(const std::vector<Op>& ops) {
  ByteWriter w;
  Magic(w, "CFOP");
  w.U32(static_cast<uint32_t>(ops.size()));
  for (const auto& op : ops) {
    w.U8(static_cast<uint8_t>(op.type));
    w.Raw(op.item_id);
    switch (op.type) {
      case OpType::kPut:
        w.Raw(op.parent_id);
        w.Str(op.name);
        w.U8(static_cast<uint8_t>(op.kind));
        w.U64(op.version);
        w.U64(static_cast<uint64_t>(op.mtime_ns));
        w.U32(op.mode);
        op.content.EncodeTo(w);
        break;
      case OpType::kMove:
        w.Raw(op.parent_id);
        w.Str(op.name);
        break;
      case OpType::kRotate:
        w.U32(op.new_epoch);
        break;
      case OpType::kTrash:
      case OpType::kRestore:
      case OpType::kPurge:
        break;
    }
  }
  return w.Take();
}

StatusOr<std::vector<Op>> DecodeOps(ByteView data) {
  ByteReader r(data, "revision operations");
  COFFER_RETURN_IF_ERROR(ExpectMagic(r, "CFOP", "revision operations"));
  COFFER_ASSIGN_OR_RETURN(uint32_t n, r.U32());
  if (n > kMaxOps || n > r.remaining() / 17) return DataLossError("revision lists more operations than it holds");
  std::vector<Op> ops(n);
  for (auto& op : ops) {
    COFFER_ASSIGN_OR_RETURN(uint8_t type, r.U8());
    if (type < 1 || type > 6) return DataLossError("revision has an unknown operation type");
    op.type = static_cast<OpType>(type);
    COFFER_RETURN_IF_ERROR(ReadArray(r, op.item_id));
    switch (op.type) {
      case OpType::kPut: {
        COFFER_RETURN_IF_ERROR(ReadArray(r, op.parent_id));
        COFFER_ASSIGN_OR_RETURN(op.name, r.Str(kMaxNameBytes));
        COFFER_ASSIGN_OR_RETURN(uint8_t kind, r.U8());
        if (kind != 1 && kind != 2) return DataLossError("revision has an unknown item kind");
        op.kind = static_cast<ItemKind>(kind);
        COFFER_ASSIGN_OR_RETURN(op.version, r.U64());
        COFFER_ASSIGN_OR_RETURN(uint64_t mt, r.U64());
        op.mtime_ns = static_cast<int64_t>(mt);
        COFFER_ASSIGN_OR_RETURN(op.mode, r.U32());
        COFFER_ASSIGN_OR_RETURN(op.content, Content::DecodeFrom(r));
        break;
      }
      case OpType::kMove: {
        COFFER_RETURN_IF_ERROR(ReadArray(r, op.parent_id));
        COFFER_ASSIGN_OR_RETURN(op.name, r.Str(kMaxNameBytes));
        break;
      }
      case OpType::kRotate: {
        COFFER_ASSIGN_OR_RETURN(op.new_epoch, r.U32());
        break;
      }
      default:
        break;
    }
  }
  COFFER_RETURN_IF_ERROR(r.ExpectEnd());
  return ops;
}

// ---- Revision ----
Bytes RevisionHeader::Encode() const {
  ByteWriter w;
  Magic(w, "CFRV");
  EncodeJournalHeader(w, *this, prev_hash);
  return w.Take();
}

Bytes RevisionBlob::SignedPart() const { return SignedPartOf(header.Encode(), ciphertext); }
Bytes RevisionBlob::Encode() const { return WithSignature(SignedPart(), signature); }

StatusOr<RevisionBlob> RevisionBlob::Decode(ByteView data) {
  ByteReader r(data, "revision");
  COFFER_RETURN_IF_ERROR(ExpectMagic(r, "CFRV", "revision"));
  RevisionBlob b;
  COFFER_RETURN_IF_ERROR(DecodeJournalHeader(r, b.header, b.header.prev_hash));
  COFFER_RETURN_IF_ERROR(ReadSealedTail(r, kMaxBlob, b.ciphertext, b.signature));
  return b;
}

// ---- Checkpoint ----
Bytes CheckpointHeader::Encode() const {
  ByteWriter w;
  Magic(w, "CFCP");
  EncodeJournalHeader(w, *this, head_hash);
  return w.Take();
}

Bytes CheckpointBlob::SignedPart() const { return SignedPartOf(header.Encode(), ciphertext); }
Bytes CheckpointBlob::Encode() const { return WithSignature(SignedPart(), signature); }

StatusOr<CheckpointBlob> CheckpointBlob::Decode(ByteView data) {
  ByteReader r(data, "checkpoint");
  COFFER_RETURN_IF_ERROR(ExpectMagic(r, "CFCP", "checkpoint"));
  CheckpointBlob b;
  COFFER_RETURN_IF_ERROR(DecodeJournalHeader(r, b.header, b.header.head_hash));
  COFFER_RETURN_IF_ERROR(ReadSealedTail(r, kMaxBlob, b.ciphertext, b.signature));
  return b;
}

// ---- ChunkContainer ----
Bytes ChunkContainer::Aad(const Hash32& chunk_id) const {
  ByteWriter w;
  Magic(w, "CFCH");
  w.U8(suite);
  w.U32(content_epoch);
  w.Raw(chunk_id);
  return w.Take();
}

Bytes ChunkContainer::Encode() const {
  ByteWriter w;
  Magic(w, "CFCH");
  w.U8(suite);
  w.U32(content_epoch);
  w.Raw(sealed);
  return w.Take();
}

StatusOr<ChunkContainer> ChunkContainer::Decode(ByteView data) {
  ByteReader r(data, "chunk");
  COFFER_RETURN_IF_ERROR(ExpectMagic(r, "CFCH", "chunk"));
  ChunkContainer c;
  COFFER_ASSIGN_OR_RETURN(c.suite, r.U8());
  if (c.suite != kChunkSuiteXChaCha && c.suite != kChunkSuiteIetf) {
    return DataLossError("chunk uses an unknown cipher suite");
  }
  COFFER_ASSIGN_OR_RETURN(c.content_epoch, r.U32());
  COFFER_ASSIGN_OR_RETURN(ByteView rest, r.Raw(r.remaining()));
  c.sealed.assign(rest.begin(), rest.end());
  return c;
}

// ---- Pairing ----
Bytes PairingRequest::MacPart() const {
  ByteWriter w;
  Magic(w, "CFPQ");
  w.Raw(device_id);
  w.Raw(sign_pk);
  w.Raw(box_pk);
  w.Blob(sealed_name);
  w.U64(static_cast<uint64_t>(time));
  return w.Take();
}

Bytes PairingRequest::Encode() const { return WithSignature(MacPart(), mac); }

StatusOr<PairingRequest> PairingRequest::Decode(ByteView data) {
  ByteReader r(data, "pairing request");
  COFFER_RETURN_IF_ERROR(ExpectMagic(r, "CFPQ", "pairing request"));
  PairingRequest p;
  COFFER_RETURN_IF_ERROR(ReadArray(r, p.device_id));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, kKey, p.sign_pk));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, kKey, p.box_pk));
  COFFER_RETURN_IF_ERROR(ReadBlob(r, 512, p.sealed_name));
  COFFER_ASSIGN_OR_RETURN(uint64_t t, r.U64());
  p.time = static_cast<int64_t>(t);
  COFFER_RETURN_IF_ERROR(ReadFixed(r, 32, p.mac));
  COFFER_RETURN_IF_ERROR(r.ExpectEnd());
  return p;
}

Bytes PairingResponse::Encode() const {
  ByteWriter w;
  Magic(w, "CFPR");
  w.Raw(account_id);
  w.Raw(genesis_hash);
  w.U64(chain_len);
  w.Raw(chain_head);
  return w.Take();
}

StatusOr<PairingResponse> PairingResponse::Decode(ByteView data) {
  ByteReader r(data, "pairing response");
  COFFER_RETURN_IF_ERROR(ExpectMagic(r, "CFPR", "pairing response"));
  PairingResponse p;
  COFFER_RETURN_IF_ERROR(ReadArray(r, p.account_id));
  COFFER_RETURN_IF_ERROR(ReadArray(r, p.genesis_hash));
  COFFER_ASSIGN_OR_RETURN(p.chain_len, r.U64());
  COFFER_RETURN_IF_ERROR(ReadArray(r, p.chain_head));
  COFFER_RETURN_IF_ERROR(r.ExpectEnd());
  return p;
}

}  // namespace coffer::client
