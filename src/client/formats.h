// Client-side object formats (docs/FORMAT.md is the normative description).
//
// Every object starts with a 4-byte magic and a version byte; decoders refuse unknown
// versions (no downgrade, R9) and are bounds-checked (ByteReader). Decoders only parse:
// signatures, hashes and AEAD are checked by the callers in device_chain.cc, keyring.cc and
// journal.cc, which know the keys.
#ifndef COFFER_CLIENT_FORMATS_H_
#define COFFER_CLIENT_FORMATS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "coffer/status.h"
#include "util/bytes.h"

namespace coffer::client {

inline constexpr uint8_t kFormatVersion = 1;
inline constexpr size_t kIdBytes = 16;    // account, device, collection, item ids
inline constexpr size_t kHashBytes = 32;  // BLAKE2b-256
inline constexpr size_t kMaxNameBytes = 1024;
inline constexpr size_t kMaxInlineBytes = 4096;  // larger contents are chunked

using Id = std::array<uint8_t, kIdBytes>;
using Hash32 = std::array<uint8_t, kHashBytes>;

Id RandomId();
std::string IdHex(const Id& id);
StatusOr<Id> IdFromHex(std::string_view hex);
bool IsZero(ByteView b);

// ---- Device chain entry (FORMAT.md §3) ----
enum class ChainAction : uint8_t { kGenesis = 1, kAdd = 2, kRevoke = 3 };

struct ChainEntry {
  uint64_t seq = 0;
  Hash32 prev_hash{};  // zero for seq 0
  Id account_id{};
  ChainAction action = ChainAction::kAdd;
  int64_t time = 0;
  Id device_id{};
  Bytes device_sign_pk;  // 32 (zeros for revoke)
  Bytes device_box_pk;   // 32 (zeros for revoke)
  // Device names are not here: the chain is readable by the server; names live in the
  // encrypted keyring.
  Bytes identity_sign_pk;  // identity in force AFTER this entry
  Bytes identity_box_pk;
  Bytes sig_prev_identity;  // by the identity in force before (genesis: the new identity)
  Bytes sig_new_identity;   // by identity_sign_pk (proves possession)

  Bytes SignedPart() const;  // everything except the two signatures, with a domain prefix
  Bytes Encode() const;
  static StatusOr<ChainEntry> Decode(ByteView data);
};

// ---- Sealed account key envelope (§4) ----
struct SealedKeyEnvelope {
  Id account_id{};
  Id device_id{};
  uint64_t epoch = 0;      // account key epoch
  uint64_t chain_len = 0;  // chain length when sealed
  Bytes sealed;            // crypto_box_seal(AK) to the device's box key
  Bytes signature;         // by the current identity

  Bytes SignedPart() const;
  Bytes Encode() const;
  static StatusOr<SealedKeyEnvelope> Decode(ByteView data);
};

// ---- Keyring (§5) ----
struct ContentKeys {
  uint32_t epoch = 0;
  Bytes chunk_id_key;   // 32, secret (wiped by owner)
  Bytes chunk_enc_key;  // 32
  Bytes gear_key;       // 32
};

struct CollectionKeys {
  Id collection_id{};
  std::string name;
  std::string kind;  // "drive", "photos", ...
  std::vector<std::pair<uint32_t, Bytes>> keys;  // epoch -> 32-byte key
};

struct KeyringContents {
  Bytes identity_sign_seed;  // 32
  Bytes identity_box_sk;     // 32
  Hash32 genesis_hash{};
  // X25519 public key derived from the recovery key. Only the public half is here, so a
  // device that is later revoked cannot open recovery blobs written after its revocation.
  Bytes recovery_public_key;  // 32
  std::vector<ContentKeys> content;
  std::vector<CollectionKeys> collections;
  std::vector<std::pair<Id, std::string>> device_names;  // shown in `device list`

  Bytes Encode() const;
  static StatusOr<KeyringContents> Decode(ByteView data);
  void Wipe();  // zeroes every secret field
};

struct KeyringHeader {
  Id account_id{};
  uint64_t version = 0;
  uint64_t ak_epoch = 0;
  uint64_t chain_len = 0;
  Bytes Encode() const;
};

struct KeyringBlob {
  KeyringHeader header;
  Bytes ciphertext;  // AeadSeal(DeriveKey(AK, "keyring"), contents, aad = header)
  Bytes signature;   // identity over SignedPart()
  Bytes SignedPart() const;
  Bytes Encode() const;
  static StatusOr<KeyringBlob> Decode(ByteView data);
};

// ---- Recovery blob (§6) ----
struct RecoveryBlob {
  Id account_id{};
  uint64_t ak_epoch = 0;
  Bytes ciphertext;  // crypto_box_seal(recovery public key, AK || genesis_hash)
  Bytes signature;   // by the account identity over SignedPart()
  Bytes Header() const;
  Bytes SignedPart() const;
  Bytes Encode() const;
  static StatusOr<RecoveryBlob> Decode(ByteView data);
};

// ---- Content of a file version (§7) ----
struct ChunkRef {
  Hash32 id{};
  uint32_t size = 0;  // plaintext bytes
};

struct Content {
  enum class Kind : uint8_t { kEmpty = 0, kInline = 1, kChunks = 2 };
  Kind kind = Kind::kEmpty;
  Bytes inline_data;
  uint32_t content_epoch = 0;
  std::vector<ChunkRef> chunks;
  Hash32 content_hash{};  // keyed hash of the whole plaintext (content epoch's chunk-id key)

  uint64_t Size() const;
  void EncodeTo(ByteWriter& w) const;
  static StatusOr<Content> DecodeFrom(ByteReader& r);
  Bytes Encode() const;
  static StatusOr<Content> Decode(ByteView data);
};

// ---- Journal operations (§8) ----
enum class ItemKind : uint8_t { kFile = 1, kDir = 2 };
enum class OpType : uint8_t { kPut = 1, kMove = 2, kTrash = 3, kRestore = 4, kPurge = 5, kRotate = 6 };

struct Op {
  OpType type = OpType::kPut;
  Id item_id{};
  Id parent_id{};  // kPut, kMove (zero = collection root)
  std::string name;  // kPut, kMove
  ItemKind kind = ItemKind::kFile;  // kPut
  uint64_t version = 0;             // kPut: new version number (1 for a new item)
  int64_t mtime_ns = 0;             // kPut
  uint32_t mode = 0;                // kPut: permission bits
  Content content;                  // kPut
  uint32_t new_epoch = 0;           // kRotate
};

Bytes EncodeOps(const std::vector<Op>& ops);
StatusOr<std::vector<Op>> DecodeOps(ByteView data);

// ---- Revision (§9) ----
struct RevisionHeader {
  Id account_id{};
  Id collection_id{};
  uint64_t number = 0;
  Hash32 prev_hash{};
  Id author_device{};
  uint64_t chain_len = 0;  // device chain length the author had verified
  uint32_t key_epoch = 0;  // collection key epoch
  int64_t time = 0;
  Bytes Encode() const;
};

struct RevisionBlob {
  RevisionHeader header;
  Bytes ciphertext;  // AeadSeal(DeriveKey(CK, "revision"), ops, aad = header)
  Bytes signature;   // author device over SignedPart()
  Bytes SignedPart() const;
  Bytes Encode() const;
  static StatusOr<RevisionBlob> Decode(ByteView data);
};

// ---- Checkpoint (§10): snapshot of a collection at a revision ----
struct CheckpointHeader {
  Id account_id{};
  Id collection_id{};
  uint64_t number = 0;   // revision the snapshot reflects
  Hash32 head_hash{};    // hash of that revision
  Id author_device{};
  uint64_t chain_len = 0;
  uint32_t key_epoch = 0;
  int64_t time = 0;
  Bytes Encode() const;
};

struct CheckpointBlob {
  CheckpointHeader header;
  Bytes ciphertext;  // AeadSeal(DeriveKey(CK, "checkpoint"), snapshot, aad = header)
  Bytes signature;
  Bytes SignedPart() const;
  Bytes Encode() const;
  static StatusOr<CheckpointBlob> Decode(ByteView data);
};

// ---- Encrypted chunk container (§11) ----
inline constexpr uint8_t kChunkSuiteXChaCha = 1;  // XChaCha20-Poly1305 (libsodium), 24-byte nonce
inline constexpr uint8_t kChunkSuiteIetf = 2;     // ChaCha20-Poly1305-IETF (OpenSSL), 12-byte nonce

struct ChunkContainer {
  uint8_t suite = kChunkSuiteIetf;  // written since issue 3; suite 1 is still read
  uint32_t content_epoch = 0;
  Bytes sealed;  // AeadSeal(chunk key, u32 len || plain || zero padding, aad = Aad(id))
  Bytes Aad(const Hash32& chunk_id) const;
  Bytes Encode() const;
  static StatusOr<ChunkContainer> Decode(ByteView data);
};

// ---- Device pairing (§12) ----
struct PairingRequest {
  Id device_id{};
  Bytes sign_pk;
  Bytes box_pk;
  Bytes sealed_name;  // AeadSeal(DeriveKey(pairing secret, "pairing-name"), name, aad = device_id)
  int64_t time = 0;
  Bytes mac;  // HMAC-SHA256(DeriveKey(pairing secret, "pairing-mac"), MacPart())
  Bytes MacPart() const;
  Bytes Encode() const;
  static StatusOr<PairingRequest> Decode(ByteView data);
};

struct PairingResponse {  // the plaintext inside the AEAD
  Id account_id{};
  Hash32 genesis_hash{};
  uint64_t chain_len = 0;
  Hash32 chain_head{};
  Bytes Encode() const;
  static StatusOr<PairingResponse> Decode(ByteView data);
};

}  // namespace coffer::client

#endif  // COFFER_CLIENT_FORMATS_H_
