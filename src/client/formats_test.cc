// Test vectors and decoder hardening for the client formats (docs/FORMAT.md).
//
// 1. Vectors. Every object of FORMAT.md is built here from fixed inputs (fixed keys, fixed
//    Ed25519 seeds — Ed25519 signatures are deterministic —, fixed times and, where the code
//    draws a random AEAD nonce, a fixed nonce), and the bytes are pinned three times: in
//    kPinned below, in the "Test vectors" appendix of docs/FORMAT.md and in
//    tests/testdata/vectors/format_vectors.txt. The tests fail if any of the four disagree, so
//    the document cannot drift from the code. Where the production code has a public entry
//    point (SealKeyring, MakeChainEntry, ChunkContainer::Aad, FormatRecoveryKey, ...) the
//    vector is cross-checked against it; where the construction is private (chunk encryption
//    in transfer.cc, the recovery blob in vault.cc, revision padding and the checkpoint
//    snapshot in journal.cc) the test mirrors it and checks that the production decoder,
//    AeadOpen and OpenSealed accept the result. The recovery blob's sealed box is
//    crypto_box_seal with a fixed ephemeral key in place of the random one (libsodium's
//    construction, rebuilt here from crypto_box_easy).
//    To print fresh values after an intentional format change:
//      COFFER_PRINT_VECTORS=1 ./client_tests --gtest_filter='FormatVectors.*'
// 2. Decoders. Every Decode rejects each truncation, a wrong magic, a wrong version byte,
//    trailing bytes and oversized counts with kDataLoss, and survives arbitrary mutations.
// 3. Semantics that FORMAT.md states as verification rules: the device chain, the chunker
//    (re-implemented from the text of FORMAT.md and compared cut for cut), Padmé, the
//    human-typed codes.
#include "client/formats.h"

#include <gtest/gtest.h>
#include <sodium.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "chunk/chunker.h"
#include "client/keys.h"
#include "client/vault.h"
#include "crypto/aead.h"
#include "crypto/box.h"
#include "crypto/hash.h"
#include "crypto/secret.h"
#include "crypto/sign.h"

namespace coffer::client {
namespace {

namespace fs = std::filesystem;
using crypto::SecretAccess;
using crypto::SecretBytes;

// ---------------------------------------------------------------------------------------
// Fixed inputs (FORMAT.md, appendix "Test vectors", lists the same).

// Seq(start, n): the bytes start, start+1, ... (mod 256).
Bytes Seq(uint8_t start, size_t n) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(start + i);
  return b;
}
template <size_t N>
std::array<uint8_t, N> SeqArray(uint8_t start) {
  std::array<uint8_t, N> a{};
  for (size_t i = 0; i < N; ++i) a[i] = static_cast<uint8_t>(start + i);
  return a;
}
SecretBytes Secret(ByteView b) { return SecretBytes::FromBytes(b); }
Bytes Reveal(const SecretBytes& s) { return ToBytes(s.Reveal(SecretAccess::Get())); }
std::string Hex(ByteView b) { return HexEncode(b); }
Bytes Cat(std::initializer_list<ByteView> parts) {
  Bytes out;
  for (ByteView p : parts) out.insert(out.end(), p.begin(), p.end());
  return out;
}
Hash32 ToHash32(ByteView b) {
  Hash32 h{};
  EXPECT_EQ(b.size(), h.size());
  std::copy(b.begin(), b.begin() + std::min(b.size(), h.size()), h.begin());
  return h;
}

constexpr int64_t kT0 = 1767225600;  // 2026-01-01T00:00:00Z
constexpr int64_t kT1 = kT0 + 60;
constexpr int64_t kT2 = kT0 + 120;

const std::vector<std::string>& AllLabels() {
  static const std::vector<std::string> labels = {"keyring",     "revision",   "checkpoint",       "recovery-box",
                                                  "recovery-login", "pairing-id", "pairing-mac", "pairing-response",
                                                  "pairing-name"};
  return labels;
}
// Labels of earlier builds: never to be used again for any purpose (R3, FORMAT.md §2).
const std::vector<std::string>& RetiredLabels() {
  static const std::vector<std::string> labels = {"recovery-wrap"};
  return labels;
}
const std::vector<std::string>& PairingLabels() {
  static const std::vector<std::string> labels = {"pairing-id", "pairing-mac", "pairing-response", "pairing-name"};
  return labels;
}

// Everything the vectors are built from.
struct Fixture {
  Bytes root = Seq(0x00, 32);            // R: used as AK, RK and CK
  Bytes pairing_secret = Seq(0x00, 16);  // S
  Id account_id = SeqArray<16>(0x00);
  Id device_a = SeqArray<16>(0x10);
  Id device_b = SeqArray<16>(0x20);
  Id collection_id = SeqArray<16>(0x30);
  Bytes nonce = Seq(0x80, 24);           // N: stands in for AeadSeal's random nonce
  Bytes ephemeral_sk = Seq(0x90, 32);    // E: stands in for crypto_box_seal's random key pair
  Bytes chunk_id_key = Seq(0x20, 32);
  Bytes chunk_enc_key = Seq(0x40, 32);
  Bytes gear_key = Seq(0x60, 32);
  Bytes chunk_plain = ToBytes("The quick brown fox jumps over the lazy dog");
  Identity identity0 = MakeIdentity(0x40, 0x60);
  Identity identity1 = MakeIdentity(0x80, 0xa0);
  crypto::SigningKey a_sign = *crypto::SigningKey::FromSeed(Secret(Seq(0xc0, 32)));
  crypto::BoxKeyPair a_box = *crypto::BoxKeyPair::FromSecretKey(Secret(Seq(0xe0, 32)));
  crypto::SigningKey b_sign = *crypto::SigningKey::FromSeed(Secret(Seq(0x50, 32)));
  crypto::BoxKeyPair b_box = *crypto::BoxKeyPair::FromSecretKey(Secret(Seq(0x70, 32)));

  static Identity MakeIdentity(uint8_t sign_seed, uint8_t box_sk) {
    return Identity{*crypto::SigningKey::FromSeed(Secret(Seq(sign_seed, 32))),
                    *crypto::BoxKeyPair::FromSecretKey(Secret(Seq(box_sk, 32)))};
  }

  // sealed = N || XChaCha20-Poly1305(key, N, aad, plain): what AeadSeal returns when its
  // random nonce happens to be N.
  Bytes Seal(ByteView key, ByteView plain, ByteView aad) const {
    auto ct = crypto::raw::XChaCha20Poly1305Encrypt(key, nonce, aad, plain);
    EXPECT_TRUE(ct.ok()) << ct.status().ToString();
    return Cat({nonce, *ct});
  }

  // crypto_box_seal(pk, plain) when its random ephemeral secret key happens to be E:
  // epk || crypto_box_easy(plain, nonce = BLAKE2b-192(epk || pk), pk, E) — 48 bytes longer
  // than `plain`. OpenSealed (crypto_box_seal_open) must accept it.
  Bytes SealToPublicKey(ByteView pk, ByteView plain) const {
    Bytes epk(crypto_box_PUBLICKEYBYTES);
    EXPECT_EQ(crypto_scalarmult_base(epk.data(), ephemeral_sk.data()), 0);
    const Bytes both = Cat({epk, pk});
    Bytes box_nonce(crypto_box_NONCEBYTES);
    crypto_generichash(box_nonce.data(), box_nonce.size(), both.data(), both.size(), nullptr, 0);
    Bytes ct(plain.size() + crypto_box_MACBYTES);
    EXPECT_EQ(crypto_box_easy(ct.data(), plain.data(), plain.size(), box_nonce.data(), pk.data(),
                              ephemeral_sk.data()),
              0);
    return Cat({epk, ct});
  }

  // u32 n || plain || zero bytes, Padmé(4 + n) bytes in all: chunk plaintexts (transfer.cc)
  // and revision plaintexts (journal.cc PadPlaintext) are padded the same way.
  static Bytes Pad(ByteView plain) {
    Bytes padded(chunk::PadmeLength(4 + plain.size()), 0);
    const uint32_t n = static_cast<uint32_t>(plain.size());
    for (int i = 0; i < 4; ++i) padded[i] = static_cast<uint8_t>(n >> (8 * i));
    std::copy(plain.begin(), plain.end(), padded.begin() + 4);
    return padded;
  }

  ChainEntry Entry(uint64_t seq, const Hash32& prev, ChainAction action, int64_t time, const Id& device,
                   ByteView sign_pk, ByteView box_pk, const crypto::SigningKey& before, const Identity& after) const {
    ChainEntry e;
    e.seq = seq;
    e.prev_hash = prev;
    e.account_id = account_id;
    e.action = action;
    e.time = time;
    e.device_id = device;
    e.device_sign_pk = ToBytes(sign_pk);
    e.device_box_pk = ToBytes(box_pk);
    e.identity_sign_pk = after.sign.public_key();
    e.identity_box_pk = after.box.public_key();
    const Bytes signed_part = e.SignedPart();
    e.sig_prev_identity = before.Sign(signed_part);
    e.sig_new_identity = after.sign.Sign(signed_part);
    return e;
  }
  ChainEntry Genesis() const {
    return Entry(0, Hash32{}, ChainAction::kGenesis, kT0, device_a, a_sign.public_key(), a_box.public_key(),
                 identity0.sign, identity0);
  }
  ChainEntry AddB() const {
    return Entry(1, HashOf(Genesis().Encode()), ChainAction::kAdd, kT1, device_b, b_sign.public_key(),
                 b_box.public_key(), identity0.sign, identity0);
  }
  ChainEntry RevokeB() const {
    return Entry(2, HashOf(AddB().Encode()), ChainAction::kRevoke, kT2, device_b, Bytes(32, 0), Bytes(32, 0),
                 identity0.sign, identity1);
  }
  std::vector<Bytes> Chain() const { return {Genesis().Encode(), AddB().Encode(), RevokeB().Encode()}; }
  Hash32 GenesisHash() const { return HashOf(Genesis().Encode()); }

  // The recovery box key pair: X25519 secret key DeriveKey(RK, "recovery-box").
  crypto::BoxKeyPair RecoveryBox() const {
    return *crypto::BoxKeyPair::FromSecretKey(crypto::DeriveKey(Secret(root), "recovery-box"));
  }
  Bytes RecoveryPublicKey() const { return RecoveryBox().public_key(); }

  KeyringContents Contents() const {
    KeyringContents k;
    k.identity_sign_seed = Seq(0x40, 32);
    k.identity_box_sk = Seq(0x60, 32);
    k.genesis_hash = GenesisHash();
    k.recovery_public_key = RecoveryPublicKey();
    k.content.push_back(ContentKeys{1, chunk_id_key, chunk_enc_key, gear_key});
    CollectionKeys c;
    c.collection_id = collection_id;
    c.name = "drive";
    c.kind = "drive";
    c.keys.emplace_back(1, root);
    k.collections.push_back(std::move(c));
    k.device_names.emplace_back(device_a, "laptop");
    return k;
  }
  KeyringHeader KrHeader() const { return KeyringHeader{account_id, 1, 1, 1}; }
  KeyringBlob Keyring() const {
    KeyringBlob b;
    b.header = KrHeader();
    b.ciphertext = Seal(Reveal(crypto::DeriveKey(Secret(root), "keyring")), Contents().Encode(), b.header.Encode());
    b.signature = identity0.sign.Sign(b.SignedPart());
    return b;
  }

  SealedKeyEnvelope Envelope() const {
    SealedKeyEnvelope e;
    e.account_id = account_id;
    e.device_id = device_a;
    e.epoch = 1;
    e.chain_len = 1;
    e.sealed = Seq(0x00, 80);  // a real crypto_box_seal output is randomised; any 80 bytes here
    e.signature = identity0.sign.Sign(e.SignedPart());
    return e;
  }

  // As RecoveryBlobFor (vault.cc): AK || genesis hash sealed to the recovery public key,
  // signed by the identity (identity 0: the blob of AK epoch 1).
  RecoveryBlob Recovery() const {
    RecoveryBlob b;
    b.account_id = account_id;
    b.ak_epoch = 1;
    const Hash32 g = GenesisHash();
    b.ciphertext = SealToPublicKey(RecoveryPublicKey(), Cat({root, g}));
    b.signature = identity0.sign.Sign(b.SignedPart());
    return b;
  }

  Hash32 ChunkId() const { return ToHash32(crypto::KeyedHash(Secret(chunk_id_key), chunk_plain)); }
  Bytes ChunkKey() const { return crypto::KeyedHash(Secret(chunk_enc_key), ChunkId()); }
  Bytes PaddedChunk() const { return Pad(chunk_plain); }
  ChunkContainer Chunk() const {
    ChunkContainer c;
    c.suite = 1;
    c.content_epoch = 1;
    c.sealed = Seal(ChunkKey(), PaddedChunk(), c.Aad(ChunkId()));
    return c;
  }

  Content EmptyContent() const {
    Content c;
    c.kind = Content::Kind::kEmpty;
    c.content_hash = ToHash32(crypto::KeyedHash(Secret(chunk_id_key), {}));
    return c;
  }
  Content InlineContent() const {
    Content c;
    c.kind = Content::Kind::kInline;
    c.inline_data = ToBytes("hello\n");
    c.content_hash = ToHash32(crypto::KeyedHash(Secret(chunk_id_key), c.inline_data));
    return c;
  }
  Content ChunkedContent() const {
    Content c;
    c.kind = Content::Kind::kChunks;
    c.content_epoch = 1;
    c.chunks.push_back(ChunkRef{ChunkId(), static_cast<uint32_t>(chunk_plain.size())});
    c.content_hash = ChunkId();  // one chunk: the whole-file hash equals the chunk id
    return c;
  }

  std::vector<Op> Ops() const {
    const Id dir = SeqArray<16>(0x50);
    const Id file1 = SeqArray<16>(0x60);
    const Id file2 = SeqArray<16>(0x70);
    const Id file3 = SeqArray<16>(0x90);
    std::vector<Op> ops(8);
    ops[0].type = OpType::kPut;  // folder "docs" at the root
    ops[0].item_id = dir;
    ops[0].name = "docs";
    ops[0].kind = ItemKind::kDir;
    ops[0].version = 1;
    ops[0].mtime_ns = kT0 * 1'000'000'000;
    ops[0].mode = 0755;
    ops[0].content = Content{};
    ops[1].type = OpType::kPut;  // inline file in it
    ops[1].item_id = file1;
    ops[1].parent_id = dir;
    ops[1].name = "a.txt";
    ops[1].kind = ItemKind::kFile;
    ops[1].version = 1;
    ops[1].mtime_ns = kT0 * 1'000'000'000 + 1;
    ops[1].mode = 0644;
    ops[1].content = InlineContent();
    ops[2].type = OpType::kPut;  // chunked file at the root
    ops[2].item_id = file2;
    ops[2].name = "fox.bin";
    ops[2].kind = ItemKind::kFile;
    ops[2].version = 1;
    ops[2].mtime_ns = kT0 * 1'000'000'000 + 2;
    ops[2].mode = 0600;
    ops[2].content = ChunkedContent();
    ops[3].type = OpType::kMove;
    ops[3].item_id = file2;
    ops[3].parent_id = dir;
    ops[3].name = "fox2.bin";
    ops[4].type = OpType::kTrash;
    ops[4].item_id = file1;
    ops[5].type = OpType::kRestore;
    ops[5].item_id = file1;
    ops[6].type = OpType::kPurge;
    ops[6].item_id = file3;
    ops[7].type = OpType::kRotate;
    ops[7].item_id = Id{};
    ops[7].new_epoch = 1;
    return ops;
  }

  RevisionHeader RevHeader() const {
    RevisionHeader h;
    h.account_id = account_id;
    h.collection_id = collection_id;
    h.number = 1;
    h.prev_hash = Hash32{};
    h.author_device = device_a;
    h.chain_len = 1;
    h.key_epoch = 1;
    h.time = kT0;
    return h;
  }
  RevisionBlob Revision() const {
    RevisionBlob b;
    b.header = RevHeader();
    // journal.cc BuildRevision: the operations are padded (PadPlaintext) before encryption.
    b.ciphertext =
        Seal(Reveal(crypto::DeriveKey(Secret(root), "revision")), Pad(EncodeOps(Ops())), b.header.Encode());
    b.signature = a_sign.Sign(b.SignedPart());
    return b;
  }

  CheckpointHeader CpHeader() const {
    CheckpointHeader h;
    h.account_id = account_id;
    h.collection_id = collection_id;
    h.number = 1;
    h.head_hash = HashOf(Revision().Encode());
    h.author_device = device_a;
    h.chain_len = 1;
    h.key_epoch = 1;
    h.time = kT0;
    return h;
  }
  // The CFSN snapshot of FORMAT.md §10, written field by field as journal.cc EncodeSnapshot
  // writes it (that function is private, so the test mirrors it): the items folder `docs` and
  // file `a.txt` (ops[0] and ops[1]), each with its version 1, by device A at revision 1, T0.
  Bytes Snapshot() const {
    const std::vector<Op> ops = Ops();
    ByteWriter w;
    w.Raw(std::string_view("CFSN", 4));
    w.U8(kFormatVersion);
    w.U32(2);  // items, ordered by item id
    for (int i : {0, 1}) {
      const Op& op = ops[i];
      w.Raw(op.item_id);
      w.Raw(op.parent_id);
      w.Str(op.name);
      w.U8(static_cast<uint8_t>(op.kind));
      w.U64(op.version);
      w.U64(static_cast<uint64_t>(op.mtime_ns));
      w.U32(op.mode);
      w.Blob(op.content.Encode());
      w.U8(0);   // trashed
      w.U64(0);  // trashed_at
      w.U64(1);  // revision that last changed the item
    }
    w.U32(2);  // versions, ordered by item id, version
    for (int i : {0, 1}) {
      const Op& op = ops[i];
      w.Raw(op.item_id);
      w.U64(op.version);
      w.U64(1);  // revision that wrote the version
      w.Raw(device_a);
      w.U64(static_cast<uint64_t>(kT0));
      w.U64(static_cast<uint64_t>(op.mtime_ns));
      w.U32(op.mode);
      w.Blob(op.content.Encode());
    }
    return w.Take();
  }
  // journal.cc MaybeWriteCheckpoint: the snapshot is padded (PadPlaintext) like a revision.
  Bytes PaddedSnapshot() const { return Pad(Snapshot()); }
  CheckpointBlob Checkpoint() const {
    CheckpointBlob b;
    b.header = CpHeader();
    b.ciphertext = Seal(Reveal(crypto::DeriveKey(Secret(root), "checkpoint")), PaddedSnapshot(), b.header.Encode());
    b.signature = a_sign.Sign(b.SignedPart());
    return b;
  }

  std::string PairingId() const {
    return Hex(Reveal(crypto::DeriveKey(Secret(pairing_secret), "pairing-id", 16)));
  }
  PairingRequest Request() const {
    PairingRequest p;
    p.device_id = device_b;
    p.sign_pk = b_sign.public_key();
    p.box_pk = b_box.public_key();
    p.sealed_name = Seal(Reveal(crypto::DeriveKey(Secret(pairing_secret), "pairing-name")), ToBytes("phone"), device_b);
    p.time = kT1;
    p.mac = crypto::HmacSha256(Reveal(crypto::DeriveKey(Secret(pairing_secret), "pairing-mac")), p.MacPart());
    return p;
  }
  PairingResponse Response() const {
    PairingResponse r;
    r.account_id = account_id;
    r.genesis_hash = GenesisHash();
    r.chain_len = 2;
    r.chain_head = HashOf(AddB().Encode());
    return r;
  }
  Bytes SealedResponse() const {
    return Seal(Reveal(crypto::DeriveKey(Secret(pairing_secret), "pairing-response")), Response().Encode(),
                AsBytes(PairingId()));
  }

  DeviceKeys DeviceA() const {
    return DeviceKeys{device_a, "laptop", *crypto::SigningKey::FromSeed(Secret(Seq(0xc0, 32))),
                      *crypto::BoxKeyPair::FromSecretKey(Secret(Seq(0xe0, 32)))};
  }
};

const Fixture& F() {
  static const Fixture* f = [] {
    EXPECT_TRUE(crypto::Init().ok());
    return new Fixture();
  }();
  return *f;
}

// Deterministic pseudo-random test data: libsodium's ChaCha20 DRBG from a fixed seed.
Bytes DeterministicBytes(size_t n, uint8_t seed_start) {
  Bytes seed = Seq(seed_start, randombytes_SEEDBYTES);
  Bytes out(n);
  randombytes_buf_deterministic(out.data(), out.size(), seed.data());
  return out;
}

std::vector<size_t> CutAll(const chunk::Chunker& c, ByteView data) {
  std::vector<size_t> cuts;
  size_t pos = 0;
  while (pos < data.size()) {
    ByteView rest = data.subspan(pos);
    const bool eof = rest.size() <= c.params().max_size;
    const size_t n = c.Cut(eof ? rest : rest.first(c.params().max_size), eof);
    cuts.push_back(n);
    pos += n;
  }
  return cuts;
}

std::string JoinSizes(const std::vector<size_t>& v) {
  std::string s;
  for (size_t i = 0; i < v.size(); ++i) s += (i ? "," : "") + std::to_string(v[i]);
  return s;
}

std::string U64Hex(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(v));
  return buf;
}

// ---------------------------------------------------------------------------------------
// The vectors, in the order of FORMAT.md's appendix.

constexpr uint64_t kPadmeInputs[] = {0,     1,      2,      3,       4,        5,        7,         8,
                                     9,     15,     16,     17,      47,       100,      1000,      4096,
                                     4100,  65536,  65540,  100000,  262144,   262148,   1048576,   1048580,
                                     16777220, 1000000007, 4294967296ull};

const size_t kChunkerDataBytes = (3u << 20) + 12345;
const chunk::ChunkerParams kSmallParams{.min_size = 64, .avg_size = 256, .max_size = 1024};

std::vector<std::pair<std::string, std::string>> ComputeVectors() {
  const Fixture& f = F();
  std::vector<std::pair<std::string, std::string>> v;
  auto add = [&](const std::string& name, const std::string& hex) { v.emplace_back(name, hex); };

  // §2 key derivation.
  for (const auto& label : AllLabels()) {
    add("derive/" + label, Hex(Reveal(crypto::DeriveKey(Secret(f.root), label))));
  }
  add("derive16/pairing-id", Hex(Reveal(crypto::DeriveKey(Secret(f.pairing_secret), "pairing-id", 16))));
  for (const auto& label : PairingLabels()) {
    if (label == "pairing-id") continue;
    add("derive16/" + label, Hex(Reveal(crypto::DeriveKey(Secret(f.pairing_secret), label))));
  }
  add("hash/empty", Hex(crypto::Hash({})));
  add("hash/abc", Hex(crypto::Hash(ToBytes("abc"))));
  add("chunk/id", Hex(f.ChunkId()));
  add("chunk/key", Hex(f.ChunkKey()));
  add("content/hash-empty", Hex(f.EmptyContent().content_hash));
  add("content/hash-inline", Hex(f.InlineContent().content_hash));

  // §3 device chain.
  add("chain/0-genesis", Hex(f.Genesis().Encode()));
  add("chain/0-genesis.hash", Hex(HashOf(f.Genesis().Encode())));
  add("chain/1-add", Hex(f.AddB().Encode()));
  add("chain/1-add.hash", Hex(HashOf(f.AddB().Encode())));
  add("chain/2-revoke", Hex(f.RevokeB().Encode()));
  add("chain/2-revoke.hash", Hex(HashOf(f.RevokeB().Encode())));

  // §4 sealed key envelope.
  add("sealed-key", Hex(f.Envelope().Encode()));

  // §5 keyring.
  add("keyring/header", Hex(f.KrHeader().Encode()));
  add("keyring/contents", Hex(f.Contents().Encode()));
  add("keyring/blob", Hex(f.Keyring().Encode()));

  // §6 recovery.
  add("recovery/public-key", Hex(f.RecoveryPublicKey()));
  add("recovery/blob", Hex(f.Recovery().Encode()));
  add("recovery/key-text", Hex(AsBytes(FormatRecoveryKey(Secret(f.root)))));

  // §7 content.
  add("content/empty", Hex(f.EmptyContent().Encode()));
  add("content/inline", Hex(f.InlineContent().Encode()));
  add("content/chunks", Hex(f.ChunkedContent().Encode()));

  // §8 ops, §9 revision, §10 checkpoint.
  add("ops", Hex(EncodeOps(f.Ops())));
  add("revision/header", Hex(f.RevHeader().Encode()));
  add("revision/blob", Hex(f.Revision().Encode()));
  add("revision/blob.hash", Hex(HashOf(f.Revision().Encode())));
  add("checkpoint/header", Hex(f.CpHeader().Encode()));
  add("checkpoint/padded-snapshot", Hex(f.PaddedSnapshot()));
  add("checkpoint/blob", Hex(f.Checkpoint().Encode()));

  // §11 chunk container.
  add("chunk/aad", Hex(f.Chunk().Aad(f.ChunkId())));
  add("chunk/padded-plaintext", Hex(f.PaddedChunk()));
  add("chunk/container", Hex(f.Chunk().Encode()));

  // §12 pairing.
  add("pairing/code-text", Hex(AsBytes(FormatPairingCode(Secret(f.pairing_secret)))));
  add("pairing/id-text", Hex(AsBytes(f.PairingId())));
  add("pairing/request", Hex(f.Request().Encode()));
  add("pairing/response-plaintext", Hex(f.Response().Encode()));
  add("pairing/response-sealed", Hex(f.SealedResponse()));

  // §13 device key file.
  {
    const fs::path dir = fs::temp_directory_path() / ("coffer-formats-test-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    const fs::path path = dir / "device.key";
    EXPECT_TRUE(f.DeviceA().Save(path.string()).ok());
    std::ifstream in(path, std::ios::binary);
    std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    add("device-key-file", Hex(AsBytes(bytes)));
    fs::remove_all(dir);
  }

  // §14 chunking.
  {
    Bytes stream(2048);
    randombytes_buf_deterministic(stream.data(), stream.size(), f.gear_key.data());
    std::string gear;
    for (int i = 0; i < 4; ++i) {
      uint64_t g = 0;
      for (int b = 7; b >= 0; --b) g = (g << 8) | stream[i * 8 + b];
      gear += (i ? "," : "") + U64Hex(g);
    }
    add("chunker/gear-0-3", Hex(AsBytes(gear)));
    auto big = *chunk::Chunker::Create(Secret(f.gear_key), chunk::DefaultChunkerParams());
    add("chunker/default-cuts", Hex(AsBytes(JoinSizes(CutAll(big, DeterministicBytes(kChunkerDataBytes, 0x00))))));
    auto small = *chunk::Chunker::Create(Secret(f.gear_key), kSmallParams);
    add("chunker/small-cuts", Hex(AsBytes(JoinSizes(CutAll(small, DeterministicBytes(8192, 0x00))))));
  }

  // Padmé.
  {
    std::string padme;
    for (size_t i = 0; i < std::size(kPadmeInputs); ++i) {
      padme += (i ? "," : "") + std::to_string(chunk::PadmeLength(kPadmeInputs[i]));
    }
    add("padme", Hex(AsBytes(padme)));
  }
  return v;
}

// Text-valued vectors are stored as hex above (one format for every line of the vector
// file); these are shown as text in FORMAT.md.
bool IsTextVector(const std::string& name) {
  return name == "recovery/key-text" || name == "pairing/code-text" || name == "pairing/id-text" ||
         name.rfind("chunker/", 0) == 0 || name == "padme";
}

std::string FromHexText(const std::string& hex) {
  auto b = HexDecode(hex);
  return b.ok() ? std::string(AsChars(*b)) : "<bad hex>";
}

// The values pinned by this test. Printed by COFFER_PRINT_VECTORS=1.
// BEGIN PINNED VECTORS
const std::vector<std::pair<std::string, std::string>> kPinned = {
    {"derive/keyring", "c3a2c1f8745cacbfdd091cd941bdf5125789dedc49741284ac81aed1cb0d84ac"},
    {"derive/revision", "cb6ba29caa2d68d0b0fc6ec5994ce6453487d02f1c73de04703b6635337b88be"},
    {"derive/checkpoint", "5839f7b349c660c5352f66266a4089e49587a0f4fbe959c3e7ed9597166d162e"},
    {"derive/recovery-box", "2fe189f4a2581316295e2c67fb34c3cf9e220a9f766b05bd60926134f1a8265d"},
    {"derive/recovery-login", "eb0d783118c09e4eae89bdc52d9f80b280ba4a832b44ed0e30732e2d2e88e08f"},
    {"derive/pairing-id", "028dd471a2bc364e7c918b7961017b899aa05bdbbe0635f33eb28fea1f163ab2"},
    {"derive/pairing-mac", "e1be6c1b670874f81334935fca127a68a890d755fb473b5d1e8b74c7d0809dd8"},
    {"derive/pairing-response", "52b0cb2a6e8f3833e1434750e6e36bbc682467fcf5d75242d59e88ef73a8496e"},
    {"derive/pairing-name", "2d14e9688059ad9caa6c6c304ba5cd52199cdf0c256260b0ee1edadfaed1d5e8"},
    {"derive16/pairing-id", "470c85157c4c2a4ce0ab73a9eb44830a"},
    {"derive16/pairing-mac", "d7a42a0f8b0273e7d7c68a8469fdfc1f911ad60ffa330bde9928276a620fd9d6"},
    {"derive16/pairing-response", "ac37858536b6a6721064c906b924ac14ff3d7949039538a13b96be3c9d9163ef"},
    {"derive16/pairing-name", "c1bbf72f7e9e6f8d3ff8cb2108688178469561650d3a7012262b62e1ae9eb81b"},
    {"hash/empty", "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8"},
    {"hash/abc", "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319"},
    {"chunk/id", "e39fcb1658ffc7b01f67abee800ee46ee3d9e6c70450c17a4ac526119a78578d"},
    {"chunk/key", "dcb2d4049e57253599e54b51d59ad16cc48040f33b8ee5ab6d970942e28be5dd"},
    {"content/hash-empty", "27366ff238c0cfa5f69df1f7a3c5b9b4b624478571ec2dd33368a5fcb803a667"},
    {"content/hash-inline", "8d57f4926017cbadd69cf676d07d86772242e7e86c261ae0eccc5d532a637c5a"},
    {"chain/0-genesis",
     "434643450100000000000000000000000000000000000000000000000000000000000000000000000000000000000102"
     "030405060708090a0b0c0d0e0f0100b9556900000000101112131415161718191a1b1c1d1e1fdde3bccec7f3a66a1115"
     "f45d720f4dc135c3ae7c4e22dca38fdb1efd6a495ff8736845d54e87de09d6bb114aa7042c50a4a015bd9901d1a0026f"
     "5956533a15192543b92ff1095511476adc8369db6ddc933665a11978dda1404ee1066ca9559d675dd574ed7789310b3d"
     "2e7681f3790b466c773b1521fecf36577958371ea52fa81d8f842e17d2bdaf2635035f031349b0bd6e49a03f53df52a2"
     "ce5aa6a4460fd6af10a83e03e5b42f7e0b691659c68036d8bf30f16d5d71950665b933bd310aa81d8f842e17d2bdaf26"
     "35035f031349b0bd6e49a03f53df52a2ce5aa6a4460fd6af10a83e03e5b42f7e0b691659c68036d8bf30f16d5d719506"
     "65b933bd310a"},
    {"chain/0-genesis.hash", "b69b4a260b86f76307d89f082e7c5070316f1e809f66dca78936daecb432fff1"},
    {"chain/1-add",
     "43464345010100000000000000b69b4a260b86f76307d89f082e7c5070316f1e809f66dca78936daecb432fff1000102"
     "030405060708090a0b0c0d0e0f023cb9556900000000202122232425262728292a2b2c2d2e2f3f7708d5f5cc2bc633b5"
     "9d2b3a2ed92e7479220c6f08ade208bebcd8580ab93b23b7bb8c91ae008711fb12846780bcdf1e065f821bdfec49f57e"
     "7c7dcd4c48232543b92ff1095511476adc8369db6ddc933665a11978dda1404ee1066ca9559d675dd574ed7789310b3d"
     "2e7681f3790b466c773b1521fecf36577958371ea52fe6ceab2e9d9edbdaff94cded26e717a504c675ad863733127f6f"
     "a809e1b84cd101df2c134f5b7618e77d1f63aef1c019b3d50c05cf2e7f5cf2ff99ff08b46a02e6ceab2e9d9edbdaff94"
     "cded26e717a504c675ad863733127f6fa809e1b84cd101df2c134f5b7618e77d1f63aef1c019b3d50c05cf2e7f5cf2ff"
     "99ff08b46a02"},
    {"chain/1-add.hash", "9e01f6ddd04d03ac3ba633619b0eba928974695ad32765ce72395d16a8c84294"},
    {"chain/2-revoke",
     "434643450102000000000000009e01f6ddd04d03ac3ba633619b0eba928974695ad32765ce72395d16a8c84294000102"
     "030405060708090a0b0c0d0e0f0378b9556900000000202122232425262728292a2b2c2d2e2f00000000000000000000"
     "000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
     "000000000000cd14b37f956e953194ff7fb73b3d81dcc561d61a7538094b7c3e1a643ee5f3aa605a725d2a4adfeeb1a2"
     "9e17edd621c1b7593ee8cdbc44ac6c4ab6e2f805d23cf72b81a14615a9fcbb69ba40b104c27dbb543b157597812f3a75"
     "9838e9bf6ffc7f46ef7733fc5a8c84ca64d3c5d01a2e227955a7cb926ba049084ee33ec4ad050a500a052dddc2dc698d"
     "26582c31afbe538cef4f0e9c19f998ec1193ecabfb4bc15bd54f5da00caad4d0880d9c3e8ae67eea4e8e89e2424b2eef"
     "7739a679a90c"},
    {"chain/2-revoke.hash", "005d13b9eaa33cca80e867e124a6abc36b9b2ee86ef4fae0a2f8024a56b79388"},
    {"sealed-key",
     "4346534b01000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f0100000000000000010000"
     "000000000050000000000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f20212223242526"
     "2728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f2e9e006cc52b18"
     "b0fdd7c5c603083bb8bd7c1c5d61f289301ec4946a7108ac00895dc5accfb043732dc432f9633c08edd8b91c05ba4390"
     "7efe9b1f3cdfb1ae08"},
    {"keyring/header",
     "43464b5201000102030405060708090a0b0c0d0e0f010000000000000001000000000000000100000000000000"},
    {"keyring/contents",
     "43464b4301404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f606162636465666768696a"
     "6b6c6d6e6f707172737475767778797a7b7c7d7e7fb69b4a260b86f76307d89f082e7c5070316f1e809f66dca78936da"
     "ecb432fff11fc60481899c7776b00040c141a191abfa62a1f630c3193c4a275f4c753275630100000001000000202122"
     "232425262728292a2b2c2d2e2f303132333435363738393a3b3c3d3e3f404142434445464748494a4b4c4d4e4f505152"
     "535455565758595a5b5c5d5e5f606162636465666768696a6b6c6d6e6f707172737475767778797a7b7c7d7e7f010000"
     "00303132333435363738393a3b3c3d3e3f05000000647269766505000000647269766501000000010000000001020304"
     "05060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f01000000101112131415161718191a1b1c1d1e1f06"
     "0000006c6170746f70"},
    {"keyring/blob",
     "43464b5201000102030405060708090a0b0c0d0e0f010000000000000001000000000000000100000000000000810100"
     "00808182838485868788898a8b8c8d8e8f90919293949596975f81b405b8b093ba0c78e3da3f3403b922d85b7ebd1d1b"
     "fc93627b346c6f92991eb43290f524b13f70bb629b4338394620361b1cf7fbce028276401bea4ddd671a5db12bcc889e"
     "9e97bac05e0d7a701eb79fb09cf0ba4a08180986c723656737dc8381baf859d1a03eedd4748c57cb91cf5b0ceffea540"
     "e071826f04d1aafb06e36a78307e8353d5a00c29ae030749d0a4cb66b501d0a99230d38dad3319995ff31f1c02fe4214"
     "8adbb47abb829cf7005ac5b2ebd2c952731254abd2ac9d7870654ac3ee216e407f9773cf294cc97239df9e116cbde7a9"
     "db4c64c87ba25af4a2292bb13c5fb3b7148a7096e7989f3053e1d3e1d034088c6ceba48e68a92a6bf9f98a55baea2aa3"
     "5fb260d86355cfd43a960bd3786fd45d5e5070ac08f33587c20b3cf907ce0a1ab5d952899982987b385bde739ee23db8"
     "c68de31ffa5027f80b50449dff8e49be9a9cadad6512740459c95c46565ca728d545736590e0a34d9a7cf69890651672"
     "4a8471d4384b0efd27975119ec7fe81fd14027fabbb689db74dff0421e1b239459e9424222fd7108f01e5da460c568d8"
     "f69ca8ec539af47ba83c9cf36b4ba3edea05"},
    {"recovery/public-key", "1fc60481899c7776b00040c141a191abfa62a1f630c3193c4a275f4c75327563"},
    {"recovery/blob",
     "4346524201000102030405060708090a0b0c0d0e0f0100000000000000700000009fd7ad6dcff4298dd3f96d5b1b2af9"
     "10a0535b1488d7f8fabb349a982880b6150e43a3740c725403e438aef4307f8cf96821f7dac22af6160953b457857c9b"
     "10f3f1e035029eac76fd10218b916aa2ec64cd2027ffa69e596cec7a94d5b5b4e801c4d4d90df716376f1c4b81380b8c"
     "23ab9cef4746cf1d1cba9bd44aca6b5d62b9b10d0d440d2f20cf1e52475a1d4eec8e6f873323d220f5b580ac3223ce9a"
     "ab064e29bdcaf75d2e39f1c4bb3a04a00b"},
    {"recovery/key-text",
     "41414151452d41594541552d44414f43412d4a424946512d5944494f422d34494243452d515443514b2d524d4659592d"
     "44454e42572d48413544592d5034574c59"},
    {"content/empty",
     "0027366ff238c0cfa5f69df1f7a3c5b9b4b624478571ec2dd33368a5fcb803a667"},
    {"content/inline",
     "010600000068656c6c6f0a8d57f4926017cbadd69cf676d07d86772242e7e86c261ae0eccc5d532a637c5a"},
    {"content/chunks",
     "020100000001000000e39fcb1658ffc7b01f67abee800ee46ee3d9e6c70450c17a4ac526119a78578d2b000000e39fcb"
     "1658ffc7b01f67abee800ee46ee3d9e6c70450c17a4ac526119a78578d"},
    {"ops",
     "43464f50010800000001505152535455565758595a5b5c5d5e5f0000000000000000000000000000000004000000646f"
     "63730201000000000000000000faed51728618ed01000000000000000000000000000000000000000000000000000000"
     "000000000000000001606162636465666768696a6b6c6d6e6f505152535455565758595a5b5c5d5e5f05000000612e74"
     "78740101000000000000000100faed51728618a4010000010600000068656c6c6f0a8d57f4926017cbadd69cf676d07d"
     "86772242e7e86c261ae0eccc5d532a637c5a01707172737475767778797a7b7c7d7e7f00000000000000000000000000"
     "00000007000000666f782e62696e0101000000000000000200faed5172861880010000020100000001000000e39fcb16"
     "58ffc7b01f67abee800ee46ee3d9e6c70450c17a4ac526119a78578d2b000000e39fcb1658ffc7b01f67abee800ee46e"
     "e3d9e6c70450c17a4ac526119a78578d02707172737475767778797a7b7c7d7e7f505152535455565758595a5b5c5d5e"
     "5f08000000666f78322e62696e03606162636465666768696a6b6c6d6e6f04606162636465666768696a6b6c6d6e6f05"
     "909192939495969798999a9b9c9d9e9f060000000000000000000000000000000001000000"},
    {"revision/header",
     "4346525601000102030405060708090a0b0c0d0e0f303132333435363738393a3b3c3d3e3f0100000000000000000000"
     "0000000000000000000000000000000000000000000000000000000000101112131415161718191a1b1c1d1e1f010000"
     "00000000000100000000b9556900000000"},
    {"revision/blob",
     "4346525601000102030405060708090a0b0c0d0e0f303132333435363738393a3b3c3d3e3f0100000000000000000000"
     "0000000000000000000000000000000000000000000000000000000000101112131415161718191a1b1c1d1e1f010000"
     "00000000000100000000b955690000000008020000808182838485868788898a8b8c8d8e8f909192939495969731082a"
     "51a14f0263505d48ad835c72ab5655d1c54447dc1749f9f3e556ab23304a4299aa9b9cfe66018c4f1f8e545e00f560aa"
     "a69623ef776636906089d4ccf9166ce4492dbddcd0768179049ac4fd41aeee160ba2e33dc200e39e2d5fc80868b241c6"
     "ba8bffcae6c5c75514995c6366b0262d40fbc9757cc19ec83c4490d68d2614c6cfaee76a84a83806996f31bdbc4867a5"
     "578505ff691d84f7c3a2a3bda7263244fc84855de0909765823217942aeb76d1e419507c5a24054cefd0210c0639c7c0"
     "a0cc34e594d271bd8cf05682f19cd58a9aeae73f05c186e2044f7b7466cabaea0316ccca0bc675c24f1988d7649d9f82"
     "62c89504dcfa461eb27f9483582a542a29c037f2fa0b125acbf025c17f8bea1d996e147a680eba1e9a20278986da00fe"
     "4638f2cd0bae87a73f5945f5ae9ee23b3d4cefebdbcf76565fdcf421e4ca795dcb1a6f6d98807ad3e45c52e7c3603c5d"
     "6408ee97bacdda78862c7a63d4e8c88b6af949e0dee9f7d0107699c715fa2d433967a2c6f40ed492ea084fe33b3400fa"
     "9ba86597cc0bc7d7bd3796041756787f281b488ddf83fe507490e9efb4c8ea2284c2347e5a2e6cd0fbdbb48902a39cc0"
     "076fd24181f8c422f3f4ef88e75137454c9a3489ff683f3c866156b4e3ebd21285b249d8c54dda8796ad6349c9156560"
     "e0f5b8457b3738e128434228edbcafb9e746c489dda5be3c5c55c5b3845dfd522e405e6399244283ed466dc79311f226"
     "34a75b8f070b9a67f4e3a458752ffe0362e90f3f1c5da6d58e2f63cd0a"},
    {"revision/blob.hash", "7cac8b0fd994a6d34dda46432273bd1fc083d12d49c69f65d064d80f64197fc0"},
    {"checkpoint/header",
     "4346435001000102030405060708090a0b0c0d0e0f303132333435363738393a3b3c3d3e3f01000000000000007cac8b"
     "0fd994a6d34dda46432273bd1fc083d12d49c69f65d064d80f64197fc0101112131415161718191a1b1c1d1e1f010000"
     "00000000000100000000b9556900000000"},
    {"checkpoint/padded-snapshot",
     "da0100004346534e0102000000505152535455565758595a5b5c5d5e5f00000000000000000000000000000000040000"
     "00646f63730201000000000000000000faed51728618ed01000021000000000000000000000000000000000000000000"
     "0000000000000000000000000000000000000000000000000100000000000000606162636465666768696a6b6c6d6e6f"
     "505152535455565758595a5b5c5d5e5f05000000612e7478740101000000000000000100faed51728618a40100002b00"
     "0000010600000068656c6c6f0a8d57f4926017cbadd69cf676d07d86772242e7e86c261ae0eccc5d532a637c5a000000"
     "000000000000010000000000000002000000505152535455565758595a5b5c5d5e5f0100000000000000010000000000"
     "0000101112131415161718191a1b1c1d1e1f00b95569000000000000faed51728618ed01000021000000000000000000"
     "000000000000000000000000000000000000000000000000000000606162636465666768696a6b6c6d6e6f0100000000"
     "0000000100000000000000101112131415161718191a1b1c1d1e1f00b95569000000000100faed51728618a40100002b"
     "000000010600000068656c6c6f0a8d57f4926017cbadd69cf676d07d86772242e7e86c261ae0eccc5d532a637c5a0000"},
    {"checkpoint/blob",
     "4346435001000102030405060708090a0b0c0d0e0f303132333435363738393a3b3c3d3e3f01000000000000007cac8b"
     "0fd994a6d34dda46432273bd1fc083d12d49c69f65d064d80f64197fc0101112131415161718191a1b1c1d1e1f010000"
     "00000000000100000000b955690000000008020000808182838485868788898a8b8c8d8e8f9091929394959697ca4931"
     "fb77dccc07c52ecb1e7ee4685c1400ad78e3882b8b4500e4f137e770b3ea2dbf331122fd4a5419b5f584d4e9ab75f6c2"
     "ad47a6020d31c0df83c8d15b65bf01bf37db060020ecf10acd2689ae535f7c0e00173e045fd92639e9314b200dafb33d"
     "50f25a2b3c948ece20bbe1e9f0f857354cc0075c2cbb3e6819a18e8760a13edbf82aeb76a84b4f0c6659258e0c740eb7"
     "77a1b92f1177311c37cc832ee4adaad8d8be48d0bfb864a5e4a72b97f749205017fe9c07a94bbf129ff2a083f9be6563"
     "7334699f94896e97378537a3956428fec9662dc9335807cd9e6708903f4e46acfbc915731f87bd19430246b5ce12f6e9"
     "a5b8fedf17efb0c130e5c92250faea0b94c7bcd2fa533a1361ba63af2ec916e5d3cd9629eaa19576c6997d86e12bb3d0"
     "9f9e3caf5145ce18c246fb411d7f5dd08a51489201859efd773373a118f08783abfe1ff11276d9d9fa25d0d8b51c35f8"
     "125af5d157fb57c2e97da5977d98dab4c15555a97caf2085cf4cbff70d4c40a75c3a765bf89b19586223929aa857e563"
     "d19193d344dd54f65d80d45fa7d70717f07dcec3c27482e863a9cda48c526ef3948450136499ae5f972315eda1727167"
     "33c2bce3c2d2ec7435de08202db975c0a14b683847e269d4a760ca2272ae90af8a0674c0139d9d4dd469628b77b5912a"
     "3c8ced2d71e3257f453a38736a6b3b49b251ede7014478e7bb0c47a9c274ed76c0a41fd7dc856052bbdd015d53fef5bd"
     "a5c6122c76903516a96b13e61da8717837e75e9d019818484ba405c102"},
    {"chunk/aad",
     "43464348010101000000e39fcb1658ffc7b01f67abee800ee46ee3d9e6c70450c17a4ac526119a78578d"},
    {"chunk/padded-plaintext",
     "2b00000054686520717569636b2062726f776e20666f78206a756d7073206f76657220746865206c617a7920646f6700"},
    {"chunk/container",
     "43464348010101000000808182838485868788898a8b8c8d8e8f9091929394959697e840fb179e759f4ed997ad56e1ac"
     "1fe8869fd401cbfa43c6627e546286aab0925a2839f15a35828e3e9c6a8d912c40578dcdca24c7fe3204e82a66605064"
     "f7f6"},
    {"pairing/code-text", "414141512d454159452d415544412d4f43414a2d424946512d5944494f2d4234"},
    {"pairing/id-text", "3437306338353135376334633261346365306162373361396562343438333061"},
    {"pairing/request",
     "4346505101202122232425262728292a2b2c2d2e2f3f7708d5f5cc2bc633b59d2b3a2ed92e7479220c6f08ade208bebc"
     "d8580ab93b23b7bb8c91ae008711fb12846780bcdf1e065f821bdfec49f57e7c7dcd4c48232d00000080818283848586"
     "8788898a8b8c8d8e8f9091929394959697e5f6ccc535f293aec2c65e88aab9899d2e6140bf043cb9556900000000fd93"
     "35800ec9b4a57e869f46bafa9810cf8f54875a8e989716928173b56ceeb4"},
    {"pairing/response-plaintext",
     "4346505201000102030405060708090a0b0c0d0e0fb69b4a260b86f76307d89f082e7c5070316f1e809f66dca78936da"
     "ecb432fff102000000000000009e01f6ddd04d03ac3ba633619b0eba928974695ad32765ce72395d16a8c84294"},
    {"pairing/response-sealed",
     "808182838485868788898a8b8c8d8e8f9091929394959697a581aec39ffcd5670017c8ff8c2abc9518741923ace16da8"
     "ddf80ef2ad353829652ad2fd1ea96d6e3e2d4bed858e3ba7eb9f8ddd34d70deb2932a584572c256428161c2b5a5c817a"
     "a87d5875fb20571fee25077e7df579b56b9a04c781ebc785e76d6aabd785b33891ae22a48a"},
    {"device-key-file",
     "4346444b01101112131415161718191a1b1c1d1e1fc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9da"
     "dbdcdddedfe0e1e2e3e4e5e6e7e8e9eaebecedeeeff0f1f2f3f4f5f6f7f8f9fafbfcfdfeff060000006c6170746f70"},
    {"chunker/gear-0-3",
     "343039666331663731393539313638372c653835323132396437643131326133332c6562323362326631396535326534"
     "66392c65636338383338623666336262663033"},
    {"chunker/default-cuts",
     "3238373335392c3331313838352c3336383031392c3331313835332c3330343331382c3331313735372c333533343230"
     "2c3237363930312c3131363237392c3337383031302c313338323732"},
    {"chunker/small-cuts",
     "3330322c3237312c3330302c3331322c3331332c3337302c3334382c3338362c3330392c3333322c3335312c3239312c"
     "3237362c3236302c3332362c3231322c3230312c3238332c3236362c3236302c3430322c3236372c3338382c3235392c"
     "3335302c3334332c323134"},
    {"padme",
     "302c312c322c332c342c352c372c382c31302c31362c31362c31382c34382c3130342c313032342c343039362c343335"
     "322c36353533362c36373538342c3130303335322c3236323134342c3237303333362c313034383537362c3130383133"
     "34342c31373330313530342c313030363633323936302c34323934393637323936"},
};
// END PINNED VECTORS

std::map<std::string, std::string> PinnedMap() {
  std::map<std::string, std::string> m;
  for (const auto& [name, hex] : kPinned) m[name] = hex;
  return m;
}

void MaybePrintVectors(const std::vector<std::pair<std::string, std::string>>& v) {
  const char* env = std::getenv("COFFER_PRINT_VECTORS");
  if (env == nullptr || std::string(env) != "1") return;
  const char* dir_env = std::getenv("COFFER_VECTORS_OUT");
  const fs::path dir = dir_env != nullptr ? fs::path(dir_env) : fs::temp_directory_path();
  std::ofstream cc(dir / "kpinned.inc");
  cc << "const std::vector<std::pair<std::string, std::string>> kPinned = {\n";
  for (const auto& [name, hex] : v) {
    cc << "    {\"" << name << "\",";
    if (hex.size() <= 64) {
      cc << " \"" << hex << "\"},\n";
      continue;
    }
    cc << "\n";
    for (size_t i = 0; i < hex.size(); i += 96) {
      cc << "     \"" << hex.substr(i, 96) << "\"" << (i + 96 >= hex.size() ? "},\n" : "\n");
    }
  }
  cc << "};\n";
  std::ofstream txt(dir / "format_vectors.txt");
  txt << "# Coffer format test vectors (docs/FORMAT.md, appendix). One per line: name hex.\n"
      << "# Text-valued vectors (codes, lists) are the hex of their UTF-8 text.\n"
      << "# Generated and checked by src/client/formats_test.cc.\n";
  for (const auto& [name, hex] : v) txt << name << " " << hex << "\n";
  std::ofstream md(dir / "format_md.txt");
  for (const auto& [name, hex] : v) {
    if (IsTextVector(name)) {
      md << name << " = \"" << FromHexText(hex) << "\"\n";
      continue;
    }
    md << name << " =";
    if (hex.size() <= 64) {
      md << " " << hex << "\n";
    } else {
      md << "\n";
      for (size_t i = 0; i < hex.size(); i += 64) md << "    " << hex.substr(i, 64) << "\n";
    }
  }
  std::printf("vectors written to %s\n", dir.c_str());
}

// Parses the vector block of FORMAT.md: `name = hex` or `name = "text"`, hex possibly
// continued on following lines indented by four spaces.
std::map<std::string, std::string> ParseFormatMd(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  bool in_block = false;
  std::string current;
  while (std::getline(in, line)) {
    if (line == "```vectors") {
      in_block = true;
      continue;
    }
    if (!in_block) continue;
    if (line == "```") {
      in_block = false;
      current.clear();
      continue;
    }
    if (line.rfind("    ", 0) == 0 && !current.empty()) {
      out[current] += line.substr(4);
      continue;
    }
    const size_t eq = line.find(" =");
    if (eq == std::string::npos) {
      current.clear();
      continue;
    }
    current = line.substr(0, eq);
    std::string value = line.substr(eq + 2);
    if (!value.empty() && value[0] == ' ') value = value.substr(1);
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      out[current] = Hex(AsBytes(value.substr(1, value.size() - 2)));
      current.clear();
    } else {
      out[current] = value;
    }
  }
  return out;
}

std::string ReadText(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

TEST(FormatVectors, MatchPinnedValues) {
  const auto computed = ComputeVectors();
  MaybePrintVectors(computed);
  const auto pinned = PinnedMap();
  EXPECT_EQ(computed.size(), kPinned.size());
  for (const auto& [name, hex] : computed) {
    auto it = pinned.find(name);
    ASSERT_NE(it, pinned.end()) << "vector " << name << " is not pinned";
    EXPECT_EQ(hex, it->second) << "vector " << name << " changed: the format changed (bump the version byte "
                               << "and update FORMAT.md) or the test inputs did";
  }
}

TEST(FormatVectors, FormatMdListsTheSameValues) {
  const auto doc = ParseFormatMd(ReadText(fs::path(COFFER_SOURCE_DIR) / "docs" / "FORMAT.md"));
  ASSERT_FALSE(doc.empty()) << "docs/FORMAT.md has no ```vectors block";
  for (const auto& [name, hex] : kPinned) {
    auto it = doc.find(name);
    ASSERT_NE(it, doc.end()) << "FORMAT.md does not list vector " << name;
    EXPECT_EQ(it->second, hex) << "FORMAT.md disagrees on vector " << name;
  }
  EXPECT_EQ(doc.size(), kPinned.size()) << "FORMAT.md lists vectors the test does not pin";
}

TEST(FormatVectors, VectorFileListsTheSameValues) {
  const std::string text =
      ReadText(fs::path(COFFER_SOURCE_DIR) / "tests" / "testdata" / "vectors" / "format_vectors.txt");
  std::map<std::string, std::string> file;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    const size_t sp = line.find(' ');
    ASSERT_NE(sp, std::string::npos) << line;
    file[line.substr(0, sp)] = line.substr(sp + 1);
  }
  EXPECT_EQ(file, PinnedMap());
}

// ---------------------------------------------------------------------------------------
// The vectors are what the production code builds and accepts.

TEST(FormatVectors, DeriveKeyIsKeyedBlake2bOfPrefixedLabel) {
  const Fixture& f = F();
  for (const auto& label : AllLabels()) {
    // 32-byte outputs: BLAKE2b-256(key = root, message = "coffer/v1/" + label).
    EXPECT_EQ(Reveal(crypto::DeriveKey(Secret(f.root), label)),
              crypto::KeyedHash(Secret(f.root), AsBytes("coffer/v1/" + label)))
        << label;
  }
  // A 16-byte output is BLAKE2b with digest length 16, not a truncation of the 32-byte one.
  const Bytes id16 = Reveal(crypto::DeriveKey(Secret(f.pairing_secret), "pairing-id", 16));
  Bytes direct(16);
  crypto_generichash(direct.data(), 16, reinterpret_cast<const uint8_t*>("coffer/v1/pairing-id"), 20,
                     f.pairing_secret.data(), f.pairing_secret.size());
  EXPECT_EQ(id16, direct);
  const Bytes id32 = Reveal(crypto::DeriveKey(Secret(f.pairing_secret), "pairing-id", 32));
  EXPECT_NE(id16, Bytes(id32.begin(), id32.begin() + 16));
}

TEST(FormatVectors, LabelsInTheCodeAreAllDocumented) {
  // Static check (R3): every DeriveKey label used in src/client is in the table above.
  std::set<std::string> used;
  for (const auto& entry : fs::directory_iterator(fs::path(COFFER_SOURCE_DIR) / "src" / "client")) {
    const std::string name = entry.path().filename().string();
    if (name.size() < 3 || name.substr(name.size() - 3) != ".cc" || name.find("_test") != std::string::npos) continue;
    const std::string text = ReadText(entry.path());
    for (size_t pos = text.find("DeriveKey("); pos != std::string::npos; pos = text.find("DeriveKey(", pos + 1)) {
      const size_t close = text.find(')', pos);
      const size_t q1 = text.find('"', pos);
      if (q1 == std::string::npos || q1 > close) continue;  // label not a literal
      const size_t q2 = text.find('"', q1 + 1);
      used.insert(text.substr(q1 + 1, q2 - q1 - 1));
    }
  }
  EXPECT_FALSE(used.empty());
  const std::string doc = ReadText(fs::path(COFFER_SOURCE_DIR) / "docs" / "FORMAT.md");
  for (const auto& label : used) {
    EXPECT_NE(std::find(AllLabels().begin(), AllLabels().end(), label), AllLabels().end())
        << "DeriveKey label \"" << label << "\" has no test vector";
    EXPECT_NE(doc.find("`" + label + "`"), std::string::npos) << "label " << label << " is not in FORMAT.md";
  }
  // Every label with a vector is still used (a label that is no longer used moves to the
  // retired list).
  for (const auto& label : AllLabels()) {
    EXPECT_TRUE(used.count(label)) << "label \"" << label << "\" has a vector but no DeriveKey call uses it";
  }
  // A retired label is never used again, for any purpose, and FORMAT.md says it is retired.
  for (const auto& label : RetiredLabels()) {
    EXPECT_FALSE(used.count(label)) << "retired label \"" << label << "\" is used again";
    EXPECT_EQ(std::find(AllLabels().begin(), AllLabels().end(), label), AllLabels().end()) << label;
    EXPECT_NE(doc.find("`" + label + "`"), std::string::npos) << "retired label " << label << " is not in FORMAT.md";
  }
  // No two purposes share a label.
  std::set<std::string> unique(AllLabels().begin(), AllLabels().end());
  EXPECT_EQ(unique.size(), AllLabels().size());
}

TEST(FormatVectors, ChainVectorsVerify) {
  const Fixture& f = F();
  auto st = VerifyChain(f.Chain(), f.account_id, f.GenesisHash());
  ASSERT_TRUE(st.ok()) << st.status().ToString();
  EXPECT_EQ(st->length, 3u);
  EXPECT_EQ(st->identity_sign_pk, f.identity1.sign.public_key());
  EXPECT_EQ(st->head_hash, HashOf(f.RevokeB().Encode()));
  ASSERT_NE(st->Find(f.device_a), nullptr);
  ASSERT_NE(st->Find(f.device_b), nullptr);
  EXPECT_TRUE(st->Find(f.device_a)->active());
  EXPECT_FALSE(st->Find(f.device_b)->active());
  EXPECT_TRUE(st->Find(f.device_b)->ActiveAt(2));
  EXPECT_FALSE(st->Find(f.device_b)->ActiveAt(3));
  EXPECT_FALSE(st->Find(f.device_b)->ActiveAt(1));
  // MakeChainEntry differs from the vector only in its clock-driven time field.
  Bytes made = MakeChainEntry(0, Hash32{}, f.account_id, ChainAction::kGenesis, f.device_a, f.a_sign.public_key(),
                              f.a_box.public_key(), f.identity0.sign, f.identity0);
  auto decoded = ChainEntry::Decode(made);
  ASSERT_TRUE(decoded.ok());
  decoded->time = kT0;
  EXPECT_EQ(decoded->SignedPart(), f.Genesis().SignedPart());
}

TEST(FormatVectors, KeyringVectorMatchesSealKeyring) {
  const Fixture& f = F();
  // SealKeyring (vault.cc) with the same keys: identical header and plaintext, fresh nonce.
  UnlockedKeys k;
  k.account_key = Secret(f.root);
  k.ak_epoch = 1;
  k.keyring_version = 1;
  k.identity = Fixture::MakeIdentity(0x40, 0x60);
  k.recovery_public_key = f.RecoveryPublicKey();
  k.genesis_hash = f.GenesisHash();
  k.content[1] = ContentEpochKeys{1, Secret(f.chunk_id_key), Secret(f.chunk_enc_key), Secret(f.gear_key)};
  CollectionInfo drive;
  drive.id = f.collection_id;
  drive.name = "drive";
  drive.kind = "drive";
  drive.keys.emplace(1, Secret(f.root));
  k.collections.emplace(f.collection_id, std::move(drive));
  k.device_names[f.device_a] = "laptop";
  const Bytes sealed = SealKeyring(k, f.account_id, 1, 1);
  auto blob = KeyringBlob::Decode(sealed);
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  EXPECT_EQ(blob->header.Encode(), f.KrHeader().Encode());
  EXPECT_TRUE(crypto::VerifySignature(f.identity0.sign.public_key(), blob->SignedPart(), blob->signature).ok());
  auto plain = crypto::AeadOpen(crypto::DeriveKey(Secret(f.root), "keyring"), blob->ciphertext, blob->header.Encode());
  ASSERT_TRUE(plain.ok());
  EXPECT_EQ(*plain, f.Contents().Encode());
  // The pinned blob opens the same way.
  auto pinned = KeyringBlob::Decode(f.Keyring().Encode());
  ASSERT_TRUE(pinned.ok());
  EXPECT_TRUE(crypto::VerifySignature(f.identity0.sign.public_key(), pinned->SignedPart(), pinned->signature).ok());
  auto pinned_plain =
      crypto::AeadOpen(crypto::DeriveKey(Secret(f.root), "keyring"), pinned->ciphertext, pinned->header.Encode());
  ASSERT_TRUE(pinned_plain.ok());
  auto contents = KeyringContents::Decode(*pinned_plain);
  ASSERT_TRUE(contents.ok());
  EXPECT_EQ(contents->Encode(), f.Contents().Encode());
  // A keyring header is not accepted as another header (AAD binds it).
  KeyringHeader other = f.KrHeader();
  other.version = 2;
  EXPECT_FALSE(crypto::AeadOpen(crypto::DeriveKey(Secret(f.root), "keyring"), pinned->ciphertext, other.Encode()).ok());
}

TEST(FormatVectors, SealedEnvelopeSignatureAndRealSealOpen) {
  const Fixture& f = F();
  auto env = SealedKeyEnvelope::Decode(f.Envelope().Encode());
  ASSERT_TRUE(env.ok());
  EXPECT_TRUE(crypto::VerifySignature(f.identity0.sign.public_key(), env->SignedPart(), env->signature).ok());
  // With a real sealed box: 32-byte AK + 48 bytes of crypto_box_seal overhead = 80 bytes.
  SealedKeyEnvelope real = f.Envelope();
  real.sealed = *crypto::SealToPublicKey(f.a_box.public_key(), f.root);
  EXPECT_EQ(real.sealed.size(), 80u);
  auto ak = crypto::OpenSealed(f.a_box, real.sealed);
  ASSERT_TRUE(ak.ok());
  EXPECT_EQ(Reveal(*ak), f.root);
  // The signature covers the device id and epoch: moving the envelope breaks it.
  SealedKeyEnvelope moved = *env;
  moved.device_id = f.device_b;
  EXPECT_FALSE(crypto::VerifySignature(f.identity0.sign.public_key(), moved.SignedPart(), env->signature).ok());
}

TEST(FormatVectors, RecoveryVectorOpensWithTheRecoveryKey) {
  const Fixture& f = F();
  const Bytes encoded = f.Recovery().Encode();
  // 29-byte header + u32 length + 112-byte sealed box (64 + 48) + 64-byte signature.
  EXPECT_EQ(encoded.size(), 29u + 4 + 112 + 64);
  auto blob = RecoveryBlob::Decode(encoded);
  ASSERT_TRUE(blob.ok()) << blob.status().ToString();
  EXPECT_EQ(blob->Encode(), encoded);
  EXPECT_EQ(blob->ciphertext.size(), 64u + crypto::kSealOverhead);
  // The signed part is everything before the signature.
  EXPECT_EQ(blob->SignedPart(), Bytes(encoded.begin(), encoded.end() - 64));
  EXPECT_EQ(blob->Header(), Bytes(encoded.begin(), encoded.begin() + 29));

  // The typed recovery key gives the recovery box key pair; its public half is the one the
  // keyring holds (keyring contents offset 101) and the one the blob is sealed to.
  auto parsed = ParseRecoveryKey(FormatRecoveryKey(Secret(f.root)));
  ASSERT_TRUE(parsed.ok());
  auto box = crypto::BoxKeyPair::FromSecretKey(crypto::DeriveKey(*parsed, "recovery-box"));
  ASSERT_TRUE(box.ok());
  EXPECT_EQ(box->public_key(), f.RecoveryPublicKey());
  Bytes base(32);
  ASSERT_EQ(crypto_scalarmult_base(base.data(), Reveal(crypto::DeriveKey(*parsed, "recovery-box")).data()), 0);
  EXPECT_EQ(box->public_key(), base);  // X25519(secret, base point), as crypto_box_keypair
  const Bytes contents = f.Contents().Encode();
  EXPECT_EQ(Bytes(contents.begin() + 101, contents.begin() + 133), f.RecoveryPublicKey());

  // crypto_box_seal_open with that key pair gives AK || genesis hash.
  auto plain = crypto::OpenSealed(*box, blob->ciphertext);
  ASSERT_TRUE(plain.ok());
  const Hash32 g = f.GenesisHash();
  EXPECT_EQ(Reveal(*plain), Cat({f.root, g}));
  // Signed by the identity in force (identity 0 for the chain of length 1).
  EXPECT_TRUE(crypto::VerifySignature(f.identity0.sign.public_key(), blob->SignedPart(), blob->signature).ok());

  // A real (randomised) crypto_box_seal, as RecoveryBlobFor writes it, opens the same way;
  // the public key alone cannot open it (the keyring holds nothing that opens the blob).
  auto real = crypto::SealToPublicKey(f.RecoveryPublicKey(), Cat({f.root, g}));
  ASSERT_TRUE(real.ok());
  EXPECT_EQ(real->size(), 112u);
  auto real_plain = crypto::OpenSealed(*box, *real);
  ASSERT_TRUE(real_plain.ok());
  EXPECT_EQ(Reveal(*real_plain), Cat({f.root, g}));
  // Another recovery key does not open it.
  auto other = crypto::BoxKeyPair::FromSecretKey(crypto::DeriveKey(Secret(Seq(0x01, 32)), "recovery-box"));
  ASSERT_TRUE(other.ok());
  EXPECT_FALSE(crypto::OpenSealed(*other, blob->ciphertext).ok());
}

TEST(FormatVectors, RecoveryBlobWithABadSignatureIsDetected) {
  // Vault::Recover verifies the blob's signature over SignedPart() = header || u32 len ||
  // sealed box under the current identity of the chain it verified from the blob's genesis.
  const Fixture& f = F();
  const Bytes good = f.Recovery().Encode();
  const Bytes identity0 = f.identity0.sign.public_key();
  auto verifies = [](ByteView pk, const RecoveryBlob& b) {
    return crypto::VerifySignature(pk, b.SignedPart(), b.signature).ok();
  };
  ASSERT_TRUE(verifies(identity0, *RecoveryBlob::Decode(good)));
  // Any flipped bit, in the header (account, AK epoch), the length, the sealed box or the
  // signature, is refused by the decoder or by the signature check.
  for (size_t i = 0; i < good.size(); ++i) {
    Bytes bad = good;
    bad[i] ^= 0x01;
    auto d = RecoveryBlob::Decode(bad);
    if (!d.ok()) {
      EXPECT_EQ(d.status().code(), StatusCode::kDataLoss) << i;
      continue;
    }
    EXPECT_FALSE(verifies(identity0, *d)) << "byte " << i;
  }
  // A stale blob re-labelled with another AK epoch or account fails.
  RecoveryBlob relabelled = f.Recovery();
  relabelled.ak_epoch = 2;
  EXPECT_FALSE(verifies(identity0, relabelled));
  relabelled = f.Recovery();
  relabelled.account_id = f.device_a;
  EXPECT_FALSE(verifies(identity0, relabelled));
  // A blob without a signature (the unsigned layout of earlier builds) does not decode.
  EXPECT_EQ(RecoveryBlob::Decode(ByteView(good).first(good.size() - 64)).status().code(), StatusCode::kDataLoss);

  // The case the signature exists for: a revoked device knows the recovery public key (it was
  // in every keyring it opened) and the identity before its revocation. It can seal an account
  // key of its choice so that the blob opens with the real recovery key, and sign it with the
  // old identity — but after the revocation the chain's current identity is a new one.
  auto chain = VerifyChain(f.Chain(), f.account_id, f.GenesisHash());  // genesis, add B, revoke B
  ASSERT_TRUE(chain.ok());
  ASSERT_EQ(chain->identity_sign_pk, f.identity1.sign.public_key());
  RecoveryBlob forged;
  forged.account_id = f.account_id;
  forged.ak_epoch = 2;
  const Hash32 g = f.GenesisHash();
  forged.ciphertext = *crypto::SealToPublicKey(f.RecoveryPublicKey(), Cat({Seq(0xee, 32), g}));
  forged.signature = f.identity0.sign.Sign(forged.SignedPart());
  auto forged_plain = crypto::OpenSealed(f.RecoveryBox(), forged.ciphertext);
  ASSERT_TRUE(forged_plain.ok());  // opening proves nothing about who wrote it
  EXPECT_FALSE(verifies(chain->identity_sign_pk, forged));
  // The same blob signed by the identity in force verifies.
  RecoveryBlob honest = forged;
  honest.signature = f.identity1.sign.Sign(honest.SignedPart());
  EXPECT_TRUE(verifies(chain->identity_sign_pk, honest));
  // A signature by another key over the same bytes (e.g. a device key) is refused.
  honest.signature = f.a_sign.Sign(honest.SignedPart());
  EXPECT_FALSE(verifies(chain->identity_sign_pk, honest));
}

TEST(FormatVectors, RevisionVectorVerifiesAndDecodes) {
  const Fixture& f = F();
  auto blob = RevisionBlob::Decode(f.Revision().Encode());
  ASSERT_TRUE(blob.ok());
  EXPECT_TRUE(crypto::VerifySignature(f.a_sign.public_key(), blob->SignedPart(), blob->signature).ok());
  auto plain = crypto::AeadOpen(crypto::DeriveKey(Secret(f.root), "revision"), blob->ciphertext, blob->header.Encode());
  ASSERT_TRUE(plain.ok());
  // The plaintext is padded (FORMAT.md §9): u32 n || CFOP operations (n bytes) || zero bytes,
  // Padmé(4 + n) bytes in all; 469 bytes of operations -> 480 bytes.
  const Bytes encoded_ops = EncodeOps(f.Ops());
  ASSERT_EQ(encoded_ops.size(), 469u);
  ASSERT_EQ(plain->size(), chunk::PadmeLength(4 + encoded_ops.size()));
  EXPECT_EQ(plain->size(), 480u);
  EXPECT_EQ(blob->ciphertext.size(), 480u + 40);
  ByteReader r(*plain, "padded revision");
  auto n = r.U32();
  ASSERT_TRUE(n.ok());
  ASSERT_EQ(*n, encoded_ops.size());
  auto body = r.Raw(*n);
  ASSERT_TRUE(body.ok());
  auto rest = r.Raw(r.remaining());
  ASSERT_TRUE(rest.ok());
  EXPECT_TRUE(IsZero(*rest));
  EXPECT_EQ(rest->size(), 7u);
  auto ops = DecodeOps(*body);
  ASSERT_TRUE(ops.ok()) << ops.status().ToString();
  ASSERT_EQ(ops->size(), 8u);
  EXPECT_EQ(EncodeOps(*ops), EncodeOps(f.Ops()));
  EXPECT_EQ((*ops)[1].content.inline_data, ToBytes("hello\n"));
  EXPECT_EQ((*ops)[2].content.chunks.at(0).id, f.ChunkId());
  // A revision moved to another collection or renumbered fails authentication.
  RevisionHeader moved = blob->header;
  moved.collection_id = f.device_b;
  EXPECT_FALSE(crypto::AeadOpen(crypto::DeriveKey(Secret(f.root), "revision"), blob->ciphertext, moved.Encode()).ok());
  RevisionHeader renumbered = blob->header;
  renumbered.number = 2;
  EXPECT_FALSE(
      crypto::AeadOpen(crypto::DeriveKey(Secret(f.root), "revision"), blob->ciphertext, renumbered.Encode()).ok());
  // The checkpoint key is a different key.
  EXPECT_FALSE(
      crypto::AeadOpen(crypto::DeriveKey(Secret(f.root), "checkpoint"), blob->ciphertext, blob->header.Encode()).ok());
}

TEST(FormatVectors, CheckpointVectorVerifiesAndDecodes) {
  const Fixture& f = F();
  auto blob = CheckpointBlob::Decode(f.Checkpoint().Encode());
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(blob->header.head_hash, HashOf(f.Revision().Encode()));
  EXPECT_TRUE(crypto::VerifySignature(f.a_sign.public_key(), blob->SignedPart(), blob->signature).ok());
  auto plain =
      crypto::AeadOpen(crypto::DeriveKey(Secret(f.root), "checkpoint"), blob->ciphertext, blob->header.Encode());
  ASSERT_TRUE(plain.ok());
  // Padded as a revision (FORMAT.md §10): u32 n || CFSN snapshot (n bytes) || zero bytes,
  // Padmé(4 + n) bytes in all; 474 bytes of snapshot -> 480 bytes.
  EXPECT_EQ(*plain, f.PaddedSnapshot());
  const Bytes snapshot = f.Snapshot();
  ASSERT_EQ(snapshot.size(), 474u);
  ASSERT_EQ(plain->size(), chunk::PadmeLength(4 + snapshot.size()));
  EXPECT_EQ(blob->ciphertext.size(), 480u + 40);
  ByteReader pr(*plain, "padded snapshot");
  ASSERT_EQ(*pr.U32(), snapshot.size());
  ASSERT_EQ(ToBytes(*pr.Raw(snapshot.size())), snapshot);
  EXPECT_TRUE(IsZero(*pr.Raw(pr.remaining())));
  // The snapshot read as the table of FORMAT.md §10 describes it.
  ByteReader r(snapshot, "snapshot");
  EXPECT_EQ(ToBytes(*r.Raw(4)), ToBytes("CFSN"));
  EXPECT_EQ(*r.U8(), 1);
  ASSERT_EQ(*r.U32(), 2u);
  const std::vector<Op> ops = f.Ops();
  for (int i : {0, 1}) {
    EXPECT_EQ(ToBytes(*r.Raw(kIdBytes)), ToBytes(ops[i].item_id));
    EXPECT_EQ(ToBytes(*r.Raw(kIdBytes)), ToBytes(ops[i].parent_id));
    EXPECT_EQ(*r.Str(kMaxNameBytes), ops[i].name);
    EXPECT_EQ(*r.U8(), static_cast<uint8_t>(ops[i].kind));
    EXPECT_EQ(*r.U64(), 1u);  // version
    EXPECT_EQ(static_cast<int64_t>(*r.U64()), ops[i].mtime_ns);
    EXPECT_EQ(*r.U32(), ops[i].mode);
    auto content = Content::Decode(*r.Blob(64u << 20));
    ASSERT_TRUE(content.ok());
    EXPECT_EQ(content->Encode(), ops[i].content.Encode());
    EXPECT_EQ(*r.U8(), 0);   // trashed
    EXPECT_EQ(*r.U64(), 0u);  // trashed_at
    EXPECT_EQ(*r.U64(), 1u);  // revision
  }
  ASSERT_EQ(*r.U32(), 2u);
  for (int i : {0, 1}) {
    EXPECT_EQ(ToBytes(*r.Raw(kIdBytes)), ToBytes(ops[i].item_id));
    EXPECT_EQ(*r.U64(), 1u);  // version
    EXPECT_EQ(*r.U64(), 1u);  // revision
    EXPECT_EQ(ToBytes(*r.Raw(kIdBytes)), ToBytes(f.device_a));
    EXPECT_EQ(static_cast<int64_t>(*r.U64()), kT0);
    EXPECT_EQ(static_cast<int64_t>(*r.U64()), ops[i].mtime_ns);
    EXPECT_EQ(*r.U32(), ops[i].mode);
    EXPECT_TRUE(Content::Decode(*r.Blob(64u << 20)).ok());
  }
  EXPECT_TRUE(r.ExpectEnd().ok());
  // The revision key is a different key.
  EXPECT_FALSE(
      crypto::AeadOpen(crypto::DeriveKey(Secret(f.root), "revision"), blob->ciphertext, blob->header.Encode()).ok());
}

TEST(FormatVectors, ChunkVectorDecryptsLikeTransfer) {
  const Fixture& f = F();
  auto c = ChunkContainer::Decode(f.Chunk().Encode());
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->suite, 1);
  EXPECT_EQ(c->content_epoch, 1u);
  // The stored size: 10-byte header + 24 nonce + Padmé(4 + 43) + 16 tag.
  EXPECT_EQ(f.Chunk().Encode().size(), 10u + 24 + chunk::PadmeLength(4 + 43) + 16);
  auto padded = crypto::AeadOpen(Secret(f.ChunkKey()), c->sealed, c->Aad(f.ChunkId()));
  ASSERT_TRUE(padded.ok());
  EXPECT_EQ(*padded, f.PaddedChunk());
  // Bound to its id: the same container under another id's AAD fails.
  Hash32 other = f.ChunkId();
  other[0] ^= 1;
  EXPECT_FALSE(crypto::AeadOpen(Secret(f.ChunkKey()), c->sealed, c->Aad(other)).ok());
  // Bound to its epoch.
  ChunkContainer epoch2 = *c;
  epoch2.content_epoch = 2;
  EXPECT_FALSE(crypto::AeadOpen(Secret(f.ChunkKey()), c->sealed, epoch2.Aad(f.ChunkId())).ok());
  // The whole-file hash of a file split anywhere equals the one-shot keyed hash.
  crypto::StreamingHash whole(Secret(f.chunk_id_key));
  whole.Update(ByteView(f.chunk_plain).first(10));
  whole.Update(ByteView(f.chunk_plain).subspan(10));
  EXPECT_EQ(whole.Final(), crypto::KeyedHash(Secret(f.chunk_id_key), f.chunk_plain));
}

TEST(FormatVectors, ChunkSuiteTwoIsNonceThenRfc8439AndBoundToItsSuite) {
  const Fixture& f = F();
  ChunkContainer c;
  c.suite = kChunkSuiteIetf;
  c.content_epoch = 1;
  // sealed = N12 || ChaCha20-Poly1305-IETF(chunk key, N12, AAD, padded): what AeadSealIetf
  // returns when its random nonce happens to be N12.
  const Bytes nonce12(f.nonce.begin(), f.nonce.begin() + 12);
  auto ct = crypto::raw::ChaCha20Poly1305EncryptOpenSsl(f.ChunkKey(), nonce12, c.Aad(f.ChunkId()), f.PaddedChunk());
  ASSERT_TRUE(ct.ok());
  c.sealed = Cat({nonce12, *ct});
  const Bytes encoded = c.Encode();
  // The stored size: 10-byte header + 12 nonce + Padmé(4 + 43) + 16 tag.
  EXPECT_EQ(encoded.size(), 10u + 12 + chunk::PadmeLength(4 + 43) + 16);
  EXPECT_EQ(HexEncode(ByteView(encoded).first(10)), "4346434801020100000" "0");
  auto decoded = ChunkContainer::Decode(encoded);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->suite, 2);
  auto padded = crypto::AeadOpenIetf(Secret(f.ChunkKey()), decoded->sealed, decoded->Aad(f.ChunkId()));
  ASSERT_TRUE(padded.ok());
  EXPECT_EQ(*padded, f.PaddedChunk());
  // libsodium's RFC 8439 implementation agrees byte for byte.
  auto sodium = crypto::raw::ChaCha20Poly1305EncryptSodium(f.ChunkKey(), nonce12, c.Aad(f.ChunkId()), f.PaddedChunk());
  ASSERT_TRUE(sodium.ok());
  EXPECT_EQ(*sodium, *ct);
  // The suite is authenticated: relabelled as suite 1 (or opened with the other envelope) it fails.
  ChunkContainer relabelled = *decoded;
  relabelled.suite = kChunkSuiteXChaCha;
  EXPECT_FALSE(crypto::AeadOpenIetf(Secret(f.ChunkKey()), relabelled.sealed, relabelled.Aad(f.ChunkId())).ok());
  EXPECT_FALSE(crypto::AeadOpen(Secret(f.ChunkKey()), decoded->sealed, relabelled.Aad(f.ChunkId())).ok());
  Hash32 other = f.ChunkId();
  other[0] ^= 1;
  EXPECT_FALSE(crypto::AeadOpenIetf(Secret(f.ChunkKey()), decoded->sealed, decoded->Aad(other)).ok());
}

TEST(FormatVectors, PairingVectorsAuthenticate) {
  const Fixture& f = F();
  const std::string code = FormatPairingCode(Secret(f.pairing_secret));
  auto secret = ParsePairingCode(code);
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(Reveal(*secret), f.pairing_secret);
  auto req = PairingRequest::Decode(f.Request().Encode());
  ASSERT_TRUE(req.ok());
  const Bytes mac_key = Reveal(crypto::DeriveKey(*secret, "pairing-mac"));
  EXPECT_EQ(crypto::HmacSha256(mac_key, req->MacPart()), req->mac);
  auto name = crypto::AeadOpen(crypto::DeriveKey(*secret, "pairing-name"), req->sealed_name, req->device_id);
  ASSERT_TRUE(name.ok());
  EXPECT_EQ(*name, ToBytes("phone"));
  // A substituted key invalidates the MAC.
  PairingRequest swapped = *req;
  swapped.box_pk = f.a_box.public_key();
  EXPECT_NE(crypto::HmacSha256(mac_key, swapped.MacPart()), req->mac);
  auto resp = crypto::AeadOpen(crypto::DeriveKey(*secret, "pairing-response"), f.SealedResponse(),
                               AsBytes(f.PairingId()));
  ASSERT_TRUE(resp.ok());
  auto decoded = PairingResponse::Decode(*resp);
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->genesis_hash, f.GenesisHash());
  EXPECT_EQ(decoded->chain_len, 2u);
}

TEST(FormatVectors, DeviceKeyFileRoundTrips) {
  const Fixture& f = F();
  const fs::path dir = fs::temp_directory_path() / ("coffer-formats-dk-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const fs::path path = dir / "device.key";
  ASSERT_TRUE(f.DeviceA().Save(path.string()).ok());
  EXPECT_EQ(fs::status(path).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);
  auto loaded = DeviceKeys::Load(path.string());
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->device_id, f.device_a);
  EXPECT_EQ(loaded->name, "laptop");
  EXPECT_EQ(loaded->sign.public_key(), f.a_sign.public_key());
  EXPECT_EQ(loaded->box.public_key(), f.a_box.public_key());
  // Every truncation, a wrong magic or version and a trailing byte are refused.
  const std::string good = ReadText(path);
  auto write = [&](const std::string& bytes) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << bytes;
  };
  for (size_t n = 0; n < good.size(); ++n) {
    write(good.substr(0, n));
    EXPECT_FALSE(DeviceKeys::Load(path.string()).ok()) << "truncated to " << n;
  }
  for (size_t i : {0, 3, 4}) {
    std::string bad = good;
    bad[i] ^= 0x01;
    write(bad);
    EXPECT_EQ(DeviceKeys::Load(path.string()).status().code(), StatusCode::kDataLoss) << i;
  }
  write(good + "x");
  EXPECT_FALSE(DeviceKeys::Load(path.string()).ok());
  fs::remove_all(dir);
}

// ---------------------------------------------------------------------------------------
// Decoders: round trip and rejection of malformed input.

struct DecoderCase {
  std::string name;
  Bytes valid;
  std::function<Status(ByteView)> decode;  // OK iff the decoder accepted
  std::function<Bytes(ByteView)> reencode;  // of a successful decode
  bool has_magic = true;
  bool strict_end = true;  // false: the last field runs to the end (chunk container)
};

template <typename T>
std::function<Status(ByteView)> Accepts(StatusOr<T> (*decode)(ByteView)) {
  return [decode](ByteView b) { return decode(b).status(); };
}

std::vector<DecoderCase> Cases() {
  const Fixture& f = F();
  std::vector<DecoderCase> cases;
  cases.push_back({"chain entry", f.AddB().Encode(), Accepts(&ChainEntry::Decode),
                   [](ByteView b) { return ChainEntry::Decode(b)->Encode(); }});
  cases.push_back({"revoke entry", f.RevokeB().Encode(), Accepts(&ChainEntry::Decode),
                   [](ByteView b) { return ChainEntry::Decode(b)->Encode(); }});
  cases.push_back({"sealed key", f.Envelope().Encode(), Accepts(&SealedKeyEnvelope::Decode),
                   [](ByteView b) { return SealedKeyEnvelope::Decode(b)->Encode(); }});
  cases.push_back({"keyring contents", f.Contents().Encode(), Accepts(&KeyringContents::Decode),
                   [](ByteView b) { return KeyringContents::Decode(b)->Encode(); }});
  cases.push_back({"keyring", f.Keyring().Encode(), Accepts(&KeyringBlob::Decode),
                   [](ByteView b) { return KeyringBlob::Decode(b)->Encode(); }});
  cases.push_back({"recovery blob", f.Recovery().Encode(), Accepts(&RecoveryBlob::Decode),
                   [](ByteView b) { return RecoveryBlob::Decode(b)->Encode(); }});
  cases.push_back({"content (chunks)", f.ChunkedContent().Encode(), Accepts(&Content::Decode),
                   [](ByteView b) { return Content::Decode(b)->Encode(); }, false});
  cases.push_back({"content (inline)", f.InlineContent().Encode(), Accepts(&Content::Decode),
                   [](ByteView b) { return Content::Decode(b)->Encode(); }, false});
  cases.push_back({"content (empty)", f.EmptyContent().Encode(), Accepts(&Content::Decode),
                   [](ByteView b) { return Content::Decode(b)->Encode(); }, false});
  cases.push_back({"ops", EncodeOps(f.Ops()), Accepts(&DecodeOps), [](ByteView b) { return EncodeOps(*DecodeOps(b)); }});
  cases.push_back({"revision", f.Revision().Encode(), Accepts(&RevisionBlob::Decode),
                   [](ByteView b) { return RevisionBlob::Decode(b)->Encode(); }});
  cases.push_back({"checkpoint", f.Checkpoint().Encode(), Accepts(&CheckpointBlob::Decode),
                   [](ByteView b) { return CheckpointBlob::Decode(b)->Encode(); }});
  cases.push_back({"chunk", f.Chunk().Encode(), Accepts(&ChunkContainer::Decode),
                   [](ByteView b) { return ChunkContainer::Decode(b)->Encode(); }, true, false});
  cases.push_back({"pairing request", f.Request().Encode(), Accepts(&PairingRequest::Decode),
                   [](ByteView b) { return PairingRequest::Decode(b)->Encode(); }});
  cases.push_back({"pairing response", f.Response().Encode(), Accepts(&PairingResponse::Decode),
                   [](ByteView b) { return PairingResponse::Decode(b)->Encode(); }});
  return cases;
}

TEST(FormatDecode, RoundTripsEveryObject) {
  for (const auto& c : Cases()) {
    ASSERT_TRUE(c.decode(c.valid).ok()) << c.name << ": " << c.decode(c.valid).ToString();
    EXPECT_EQ(c.reencode(c.valid), c.valid) << c.name;
  }
}

TEST(FormatDecode, RejectsEveryTruncation) {
  for (const auto& c : Cases()) {
    // The chunk container's sealed part runs to the end: below its 10-byte header the decoder
    // refuses; past it, AeadOpen does (FormatDecode.ChunkContainerTruncationFailsAuthentication).
    const size_t limit = c.strict_end ? c.valid.size() : 10;
    for (size_t n = 0; n < limit; ++n) {
      Status st = c.decode(ByteView(c.valid).first(n));
      EXPECT_EQ(st.code(), StatusCode::kDataLoss) << c.name << " truncated to " << n << " bytes: " << st.ToString();
    }
  }
}

TEST(FormatDecode, ChunkContainerTruncationFailsAuthentication) {
  const Fixture& f = F();
  const Bytes good = f.Chunk().Encode();
  for (size_t n = 10; n < good.size(); ++n) {
    auto c = ChunkContainer::Decode(ByteView(good).first(n));
    ASSERT_TRUE(c.ok());
    EXPECT_FALSE(crypto::AeadOpen(Secret(f.ChunkKey()), c->sealed, c->Aad(f.ChunkId())).ok()) << n;
  }
  Bytes longer = good;
  longer.push_back(0);
  auto c = ChunkContainer::Decode(longer);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(crypto::AeadOpen(Secret(f.ChunkKey()), c->sealed, c->Aad(f.ChunkId())).ok());
}

TEST(FormatDecode, RejectsWrongMagicAndVersion) {
  for (const auto& c : Cases()) {
    if (!c.has_magic) continue;
    for (size_t i = 0; i < 4; ++i) {
      Bytes bad = c.valid;
      bad[i] ^= 0x20;
      Status st = c.decode(bad);
      EXPECT_EQ(st.code(), StatusCode::kDataLoss) << c.name << " magic byte " << i;
      EXPECT_NE(st.message().find("magic"), std::string::npos) << st.message();
    }
    for (uint8_t version : {0, 2, 0x7f, 0xff}) {
      Bytes bad = c.valid;
      ASSERT_EQ(bad[4], kFormatVersion);
      bad[4] = version;
      Status st = c.decode(bad);
      EXPECT_EQ(st.code(), StatusCode::kDataLoss) << c.name << " version " << int{version};
      EXPECT_NE(st.message().find("format version"), std::string::npos) << st.message();
    }
  }
}

TEST(FormatDecode, RejectsTrailingBytes) {
  for (const auto& c : Cases()) {
    if (!c.strict_end) continue;
    for (size_t extra : {1, 2, 64}) {
      Bytes bad = c.valid;
      bad.insert(bad.end(), extra, 0);
      Status st = c.decode(bad);
      EXPECT_EQ(st.code(), StatusCode::kDataLoss) << c.name << " + " << extra;
    }
  }
}

TEST(FormatDecode, SurvivesEverySingleByteMutation) {
  // No crash, no hang, and a successful decode re-encodes to exactly the mutated input
  // (a decoder never "repairs" or ignores bytes).
  for (const auto& c : Cases()) {
    for (size_t i = 0; i < c.valid.size(); ++i) {
      for (uint8_t x : {0x01, 0x80, 0xff}) {
        Bytes bad = c.valid;
        bad[i] ^= x;
        if (c.decode(bad).ok() && c.strict_end) {
          EXPECT_EQ(c.reencode(bad), bad) << c.name << " byte " << i;
        }
      }
    }
  }
}

TEST(FormatDecode, SurvivesRandomMutations) {
  for (const auto& c : Cases()) {
    Bytes rnd = DeterministicBytes(4096 * 4, 0x33);
    size_t r = 0;
    auto next = [&]() { return rnd[(r++) % rnd.size()]; };
    for (int iter = 0; iter < 2000; ++iter) {
      Bytes bad = c.valid;
      const int edits = 1 + next() % 8;
      for (int e = 0; e < edits && !bad.empty(); ++e) {
        const size_t pos = (static_cast<size_t>(next()) << 8 | next()) % bad.size();
        switch (next() % 4) {
          case 0: bad[pos] = next(); break;
          case 1: bad.erase(bad.begin() + static_cast<std::ptrdiff_t>(pos)); break;
          case 2: bad.insert(bad.begin() + static_cast<std::ptrdiff_t>(pos), next()); break;
          case 3: bad[pos] = 0xff; break;
        }
      }
      Status st = c.decode(bad);
      if (!st.ok()) {
        EXPECT_EQ(st.code(), StatusCode::kDataLoss) << c.name;
      }
    }
  }
}

// Writes a little-endian u32 at `offset`.
void PutU32(Bytes& b, size_t offset, uint32_t v) {
  for (int i = 0; i < 4; ++i) b.at(offset + i) = static_cast<uint8_t>(v >> (8 * i));
}

TEST(FormatDecode, RejectsOversizedCountsAndLengths) {
  const Fixture& f = F();
  auto expect_rejected = [](const Status& st, const std::string& what) {
    EXPECT_EQ(st.code(), StatusCode::kDataLoss) << what << ": " << st.ToString();
  };
  for (uint32_t huge : {0xffffffffu, 0x80000000u, 0x00100000u}) {
    // Ops count (offset 5).
    Bytes ops = EncodeOps(f.Ops());
    PutU32(ops, 5, huge);
    expect_rejected(DecodeOps(ops).status(), "op count");
    // Content chunk count: kind(1) epoch(4) count(4).
    Bytes content = f.ChunkedContent().Encode();
    PutU32(content, 5, huge);
    expect_rejected(Content::Decode(content).status(), "chunk count");
    // Inline length: kind(1) len(4).
    Bytes inl = f.InlineContent().Encode();
    PutU32(inl, 1, huge);
    expect_rejected(Content::Decode(inl).status(), "inline length");
    // Keyring content-epoch count: magic(5) + 4 x 32.
    Bytes kc = f.Contents().Encode();
    PutU32(kc, 5 + 128, huge);
    expect_rejected(KeyringContents::Decode(kc).status(), "content epoch count");
    // Collection count: after one content epoch (4 + 4 + 96 bytes).
    Bytes kc2 = f.Contents().Encode();
    PutU32(kc2, 5 + 128 + 4 + 100, huge);
    expect_rejected(KeyringContents::Decode(kc2).status(), "collection count");
    // Revision/checkpoint/keyring ciphertext lengths, sealed key length, recovery length.
    Bytes rev = f.Revision().Encode();
    PutU32(rev, f.RevHeader().Encode().size(), huge);
    expect_rejected(RevisionBlob::Decode(rev).status(), "revision ciphertext length");
    Bytes cp = f.Checkpoint().Encode();
    PutU32(cp, f.CpHeader().Encode().size(), huge);
    expect_rejected(CheckpointBlob::Decode(cp).status(), "checkpoint ciphertext length");
    Bytes kr = f.Keyring().Encode();
    PutU32(kr, f.KrHeader().Encode().size(), huge);
    expect_rejected(KeyringBlob::Decode(kr).status(), "keyring ciphertext length");
    Bytes env = f.Envelope().Encode();
    PutU32(env, 5 + 16 + 16 + 8 + 8, huge);
    expect_rejected(SealedKeyEnvelope::Decode(env).status(), "sealed key length");
    Bytes rb = f.Recovery().Encode();
    PutU32(rb, 5 + 16 + 8, huge);
    expect_rejected(RecoveryBlob::Decode(rb).status(), "recovery ciphertext length");
    Bytes pr = f.Request().Encode();
    PutU32(pr, 5 + 16 + 32 + 32, huge);
    expect_rejected(PairingRequest::Decode(pr).status(), "pairing name length");
  }
  // Field limits that are below 2^32: one byte over each is refused even with the bytes present.
  {
    Bytes inl;
    ByteWriter w;
    w.U8(1);
    w.Blob(Bytes(kMaxInlineBytes + 1, 'x'));
    w.Raw(Bytes(32, 0));
    expect_rejected(Content::Decode(w.bytes()).status(), "inline over 4096");
    ByteWriter ok;
    ok.U8(1);
    ok.Blob(Bytes(kMaxInlineBytes, 'x'));
    ok.Raw(Bytes(32, 0));
    EXPECT_TRUE(Content::Decode(ok.bytes()).ok());
  }
  {
    std::vector<Op> ops = f.Ops();
    ops[0].name = std::string(kMaxNameBytes + 1, 'n');
    expect_rejected(DecodeOps(EncodeOps(ops)).status(), "name over 1024");
    ops[0].name = std::string(kMaxNameBytes, 'n');
    EXPECT_TRUE(DecodeOps(EncodeOps(ops)).ok());
  }
  {
    Content c = f.ChunkedContent();
    c.chunks[0].size = 0;
    expect_rejected(Content::Decode(c.Encode()).status(), "chunk size 0");
    c.chunks[0].size = (16u << 20) + 1;
    expect_rejected(Content::Decode(c.Encode()).status(), "chunk size over 16 MiB");
  }
  {
    SealedKeyEnvelope e = f.Envelope();
    e.sealed = Bytes(257, 1);
    expect_rejected(SealedKeyEnvelope::Decode(e.Encode()).status(), "sealed key over 256");
  }
  {
    RecoveryBlob b = f.Recovery();
    b.ciphertext = Bytes(1025, 1);
    expect_rejected(RecoveryBlob::Decode(b.Encode()).status(), "recovery ciphertext over 1024");
  }
  {
    PairingRequest p = f.Request();
    p.sealed_name = Bytes(513, 1);
    expect_rejected(PairingRequest::Decode(p.Encode()).status(), "sealed name over 512");
  }
  {
    KeyringContents k = f.Contents();
    k.collections[0].kind = std::string(65, 'k');
    expect_rejected(KeyringContents::Decode(k.Encode()).status(), "collection kind over 64");
    k = f.Contents();
    k.device_names[0].second = std::string(257, 'd');
    expect_rejected(KeyringContents::Decode(k.Encode()).status(), "device name over 256");
  }
}

TEST(FormatDecode, RejectsUnknownEnumValues) {
  const Fixture& f = F();
  // Chain action at offset 5 + 8 + 32 + 16.
  for (uint8_t action : {0, 4, 0xff}) {
    Bytes e = f.AddB().Encode();
    e[5 + 8 + 32 + 16] = action;
    EXPECT_EQ(ChainEntry::Decode(e).status().code(), StatusCode::kDataLoss) << int{action};
  }
  // Op type at offset 9.
  for (uint8_t type : {0, 7, 0xff}) {
    Bytes ops = EncodeOps(f.Ops());
    ops[9] = type;
    EXPECT_EQ(DecodeOps(ops).status().code(), StatusCode::kDataLoss) << int{type};
  }
  // Item kind of the first Put: 9 type + 1 + 16 item + 16 parent + 4 + 4 ("docs").
  for (uint8_t kind : {0, 3}) {
    Bytes ops = EncodeOps(f.Ops());
    ops[9 + 1 + 16 + 16 + 4 + 4] = kind;
    EXPECT_EQ(DecodeOps(ops).status().code(), StatusCode::kDataLoss) << int{kind};
  }
  // Content kind.
  Bytes c = f.EmptyContent().Encode();
  c[0] = 3;
  EXPECT_EQ(Content::Decode(c).status().code(), StatusCode::kDataLoss);
  // Chunk suite (1 and 2 are known).
  for (uint8_t suite : {0, 3, 0xff}) {
    Bytes chunk = f.Chunk().Encode();
    chunk[5] = suite;
    EXPECT_EQ(ChunkContainer::Decode(chunk).status().code(), StatusCode::kDataLoss) << int{suite};
  }
}

// ---------------------------------------------------------------------------------------
// §3 verification rules of the device chain.

TEST(FormatChain, RejectsEveryStructuralTampering) {
  const Fixture& f = F();
  const std::vector<Bytes> good = f.Chain();
  auto verify = [&](const std::vector<Bytes>& entries, const Hash32& pin) {
    return VerifyChain(entries, f.account_id, pin).status();
  };
  EXPECT_TRUE(verify(good, f.GenesisHash()).ok());
  EXPECT_EQ(verify({}, f.GenesisHash()).code(), StatusCode::kSecurity);
  // Another pinned genesis (substituted chain).
  Hash32 other = f.GenesisHash();
  other[31] ^= 1;
  EXPECT_EQ(verify(good, other).code(), StatusCode::kSecurity);
  // Another account.
  EXPECT_EQ(VerifyChain(good, f.device_a, f.GenesisHash()).status().code(), StatusCode::kSecurity);
  // Dropped, re-ordered and duplicated entries.
  EXPECT_EQ(verify({good[0], good[2]}, f.GenesisHash()).code(), StatusCode::kSecurity);
  EXPECT_EQ(verify({good[0], good[2], good[1]}, f.GenesisHash()).code(), StatusCode::kSecurity);
  EXPECT_EQ(verify({good[0], good[1], good[1]}, f.GenesisHash()).code(), StatusCode::kSecurity);
  // Any flipped bit anywhere.
  for (size_t i = 0; i < good.size(); ++i) {
    for (size_t pos = 0; pos < good[i].size(); ++pos) {
      std::vector<Bytes> bad = good;
      bad[i][pos] ^= 0x04;
      EXPECT_EQ(verify(bad, f.GenesisHash()).code(), StatusCode::kSecurity) << "entry " << i << " byte " << pos;
    }
  }
}

TEST(FormatChain, RejectsEntriesNotSignedByTheIdentityInForce) {
  const Fixture& f = F();
  const Hash32 g = f.GenesisHash();
  const Hash32 h1 = HashOf(f.AddB().Encode());
  // A device added by a key that is not the identity (the server's own key): injected.
  Identity rogue = Fixture::MakeIdentity(0x01, 0x02);
  ChainEntry injected = f.Entry(1, g, ChainAction::kAdd, kT1, f.device_b, f.b_sign.public_key(),
                                f.b_box.public_key(), rogue.sign, f.identity0);
  EXPECT_EQ(VerifyChain({f.Genesis().Encode(), injected.Encode()}, f.account_id, g).status().code(),
            StatusCode::kSecurity);
  // An add that switches the identity.
  ChainEntry switching = f.Entry(1, g, ChainAction::kAdd, kT1, f.device_b, f.b_sign.public_key(),
                                 f.b_box.public_key(), f.identity0.sign, f.identity1);
  EXPECT_EQ(VerifyChain({f.Genesis().Encode(), switching.Encode()}, f.account_id, g).status().code(),
            StatusCode::kSecurity);
  // A revocation that keeps the identity.
  ChainEntry keeping = f.Entry(2, h1, ChainAction::kRevoke, kT2, f.device_b, Bytes(32, 0), Bytes(32, 0),
                               f.identity0.sign, f.identity0);
  EXPECT_EQ(VerifyChain({f.Genesis().Encode(), f.AddB().Encode(), keeping.Encode()}, f.account_id, g).status().code(),
            StatusCode::kSecurity);
  // A revocation whose new identity did not sign (no proof of possession).
  ChainEntry unproven = f.RevokeB();
  unproven.sig_new_identity = f.identity0.sign.Sign(unproven.SignedPart());
  EXPECT_EQ(VerifyChain({f.Genesis().Encode(), f.AddB().Encode(), unproven.Encode()}, f.account_id, g)
                .status()
                .code(),
            StatusCode::kSecurity);
  // Revoking an unknown device; adding a device twice; a second genesis.
  ChainEntry unknown = f.Entry(1, g, ChainAction::kRevoke, kT1, f.device_b, Bytes(32, 0), Bytes(32, 0),
                               f.identity0.sign, f.identity1);
  EXPECT_EQ(VerifyChain({f.Genesis().Encode(), unknown.Encode()}, f.account_id, g).status().code(),
            StatusCode::kSecurity);
  ChainEntry twice = f.Entry(1, g, ChainAction::kAdd, kT1, f.device_a, f.a_sign.public_key(), f.a_box.public_key(),
                             f.identity0.sign, f.identity0);
  EXPECT_EQ(VerifyChain({f.Genesis().Encode(), twice.Encode()}, f.account_id, g).status().code(),
            StatusCode::kSecurity);
  ChainEntry genesis2 = f.Entry(1, g, ChainAction::kGenesis, kT1, f.device_b, f.b_sign.public_key(),
                                f.b_box.public_key(), f.identity0.sign, f.identity0);
  EXPECT_EQ(VerifyChain({f.Genesis().Encode(), genesis2.Encode()}, f.account_id, g).status().code(),
            StatusCode::kSecurity);
}

TEST(FormatChain, ExtendsDetectsRollbackAndFork) {
  const Fixture& f = F();
  const std::vector<Bytes> good = f.Chain();
  EXPECT_TRUE(CheckChainExtends(good, 0, Hash32{}).ok());
  EXPECT_TRUE(CheckChainExtends(good, 2, HashOf(good[1])).ok());
  EXPECT_TRUE(CheckChainExtends(good, 3, HashOf(good[2])).ok());
  Status rollback = CheckChainExtends({good[0], good[1]}, 3, HashOf(good[2]));
  EXPECT_EQ(rollback.code(), StatusCode::kSecurity);
  EXPECT_NE(rollback.message().find("rollback"), std::string::npos);
  Status fork = CheckChainExtends(good, 2, HashOf(good[0]));
  EXPECT_EQ(fork.code(), StatusCode::kSecurity);
  EXPECT_NE(fork.message().find("fork"), std::string::npos);
}

// ---------------------------------------------------------------------------------------
// §14 chunking and Padmé, re-implemented from the text of FORMAT.md.

struct ReferenceChunker {
  chunk::ChunkerParams p;
  uint64_t gear[256];
  uint64_t mask_s, mask_l;

  static uint64_t Mask(int bits) {
    uint64_t m = 0;
    for (int k = 0; k < bits; ++k) m |= uint64_t{1} << (63 - (k * 48) / bits);
    return m;
  }
  ReferenceChunker(const Bytes& key, chunk::ChunkerParams params) : p(params) {
    // gear[i] = LE64(ChaCha20-IETF keystream, key = gear_key, nonce = "LibsodiumDRG", bytes 8i..8i+7)
    uint8_t stream[2048];
    crypto_stream_chacha20_ietf(stream, sizeof stream, reinterpret_cast<const uint8_t*>("LibsodiumDRG"), key.data());
    for (int i = 0; i < 256; ++i) {
      uint64_t v = 0;
      for (int b = 7; b >= 0; --b) v = (v << 8) | stream[i * 8 + b];
      gear[i] = v;
    }
    int bits = 0;
    while ((1u << bits) < p.avg_size) ++bits;
    mask_s = Mask(bits + 2);
    mask_l = Mask(std::max(bits - 2, 1));
  }
  size_t Cut(ByteView d) const {
    size_t n = d.size();
    if (n <= p.min_size) return n;
    n = std::min<size_t>(n, p.max_size);
    uint64_t h = 0;
    for (size_t i = p.min_size; i < n; ++i) {
      h = (h << 1) + gear[d[i]];
      if ((h & (i < p.avg_size ? mask_s : mask_l)) == 0) return i + 1;
    }
    return n;
  }
  std::vector<size_t> CutAll(ByteView d) const {
    std::vector<size_t> out;
    for (size_t pos = 0; pos < d.size();) {
      const size_t n = Cut(d.subspan(pos));
      out.push_back(n);
      pos += n;
    }
    return out;
  }
};

TEST(FormatChunking, MatchesTheReferenceDescription) {
  const Fixture& f = F();
  for (const auto& params : {chunk::DefaultChunkerParams(), kSmallParams,
                             chunk::ChunkerParams{.min_size = 2048, .avg_size = 8192, .max_size = 32768}}) {
    auto c = chunk::Chunker::Create(Secret(f.gear_key), params);
    ASSERT_TRUE(c.ok());
    ReferenceChunker ref(f.gear_key, params);
    for (uint8_t seed : {0x00, 0x11, 0x22}) {
      const Bytes data = DeterministicBytes(params.max_size * 6 + 777, seed);
      EXPECT_EQ(CutAll(*c, data), ref.CutAll(data)) << "avg " << params.avg_size << " seed " << int{seed};
    }
    // Low-entropy data hits the forced cut at max_size.
    const Bytes zeros(params.max_size * 2 + 5, 0);
    EXPECT_EQ(CutAll(*c, zeros), ref.CutAll(zeros));
  }
}

TEST(FormatChunking, GearTableIsTheLibsodiumDeterministicStream) {
  const Fixture& f = F();
  Bytes a(2048), b(2048);
  randombytes_buf_deterministic(a.data(), a.size(), f.gear_key.data());
  crypto_stream_chacha20_ietf(b.data(), b.size(), reinterpret_cast<const uint8_t*>("LibsodiumDRG"), f.gear_key.data());
  EXPECT_EQ(a, b);
}

TEST(FormatChunking, DefaultParameters) {
  const auto p = chunk::DefaultChunkerParams();
  EXPECT_EQ(p.min_size, 64u * 1024);
  EXPECT_EQ(p.avg_size, 256u * 1024);
  EXPECT_EQ(p.max_size, 1024u * 1024);
}

TEST(FormatChunking, PadmeMatchesThePaper) {
  // Nikitin et al. 2019, Algorithm 1: E = floor(log2 L), S = floor(log2 E) + 1,
  // lastBits = E - S, mask = 2^lastBits - 1, padded = (L + mask) & ~mask.
  auto reference = [](uint64_t l) -> uint64_t {
    if (l < 2) return l;
    int e = 63 - __builtin_clzll(l);
    int s = (e == 0 ? 0 : 63 - __builtin_clzll(static_cast<uint64_t>(e))) + 1;
    uint64_t mask = (uint64_t{1} << (e - s)) - 1;
    return (l + mask) & ~mask;
  };
  for (uint64_t l = 0; l < 70000; ++l) ASSERT_EQ(chunk::PadmeLength(l), reference(l)) << l;
  for (uint64_t l : kPadmeInputs) EXPECT_EQ(chunk::PadmeLength(l), reference(l)) << l;
  // Overhead: at most 12% for the chunk sizes Coffer stores.
  for (uint64_t l = 64; l < (1u << 20); l = l * 3 / 2 + 1) {
    EXPECT_GE(chunk::PadmeLength(l), l);
    EXPECT_LE(static_cast<double>(chunk::PadmeLength(l)), static_cast<double>(l) * 1.12 + 1) << l;
  }
}

// ---------------------------------------------------------------------------------------
// §6/§12 human-typed codes.

TEST(FormatHumanCodes, RecoveryKeyLayoutAndChecksum) {
  const Fixture& f = F();
  const std::string text = FormatRecoveryKey(Secret(f.root));
  // 34 bytes (key + 2 checksum bytes) -> 55 base32 characters in 11 groups of 5.
  ASSERT_EQ(text.size(), 55u + 10);
  for (size_t i = 0; i < text.size(); ++i) {
    if (i % 6 == 5) {
      EXPECT_EQ(text[i], '-') << i;
    } else {
      EXPECT_NE(std::string("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567").find(text[i]), std::string::npos) << i;
    }
  }
  // Checksum = first two bytes of BLAKE2b-256(key).
  const Bytes h = crypto::Hash(f.root);
  Bytes with_check = f.root;
  with_check.push_back(h[0]);
  with_check.push_back(h[1]);
  std::string plain;
  for (char c : text)
    if (c != '-') plain.push_back(c);
  // Lower case, spaces instead of dashes and the look-alikes 0/1/8 for O/I/B parse the same.
  std::string sloppy;
  for (char c : plain) {
    char d = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (c == 'O') d = '0';
    if (c == 'I') d = '1';
    if (c == 'B') d = '8';
    sloppy.push_back(d);
    if (sloppy.size() % 6 == 5) sloppy.push_back(' ');
  }
  auto parsed = ParseRecoveryKey(sloppy);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(Reveal(*parsed), f.root);
  // Any single-character typo is caught by the checksum or the alphabet, before any network use.
  int caught = 0, total = 0;
  for (size_t i = 0; i < plain.size(); ++i) {
    for (char c : std::string("ACDEFGHJKLMNPQRSTUVWXYZ234567")) {
      if (c == plain[i]) continue;
      std::string typo = plain;
      typo[i] = c;
      auto r = ParseRecoveryKey(typo);
      ++total;
      if (!r.ok()) {
        ++caught;
        EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
      } else {
        // The unused low bits of the last character must be zero, so a typo there is always
        // caught; elsewhere only a checksum collision (2^-16) could get through.
        EXPECT_NE(i, plain.size() - 1);
      }
    }
  }
  EXPECT_GT(caught, total * 9 / 10);
  EXPECT_FALSE(ParseRecoveryKey(plain.substr(0, 54)).ok());
  EXPECT_FALSE(ParseRecoveryKey(plain + "A").ok());
  EXPECT_FALSE(ParseRecoveryKey(plain.substr(0, 54) + "!").ok());
  EXPECT_FALSE(ParseRecoveryKey("").ok());
}

TEST(FormatHumanCodes, PairingCodeLayout) {
  const Fixture& f = F();
  const std::string code = FormatPairingCode(Secret(f.pairing_secret));
  // 16 bytes -> 26 base32 characters in groups of 4: 6 x 4 + 2.
  ASSERT_EQ(code.size(), 26u + 6);
  EXPECT_EQ(code[4], '-');
  EXPECT_EQ(code[29], '-');
  auto round = ParsePairingCode(code);
  ASSERT_TRUE(round.ok());
  EXPECT_EQ(Reveal(*round), f.pairing_secret);
  std::string lower;
  for (char c : code) lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  EXPECT_TRUE(ParsePairingCode(lower).ok());
  EXPECT_FALSE(ParsePairingCode(code.substr(0, code.size() - 2)).ok());
  EXPECT_FALSE(ParsePairingCode("!!!!").ok());
  // Random secrets round-trip.
  for (int i = 0; i < 200; ++i) {
    SecretBytes s = SecretBytes::Random(16);
    auto r = ParsePairingCode(FormatPairingCode(s));
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(*r == s);
    SecretBytes k = SecretBytes::Random(32);
    auto rk = ParseRecoveryKey(FormatRecoveryKey(k));
    ASSERT_TRUE(rk.ok());
    EXPECT_TRUE(*rk == k);
  }
}

TEST(FormatHumanCodes, ParsersAcceptOnlyWhatTheEncoderWrites) {
  // FORMAT.md §12 (and §6): exactly 26 (pairing) or 55 (recovery) base32 characters, the
  // unused low bits of the last character zero; separators, case and look-alikes aside.
  const Fixture& f = F();
  const std::string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
  auto strip = [](const std::string& text) {
    std::string out;
    for (char c : text)
      if (c != '-') out.push_back(c);
    return out;
  };
  // Pairing code: 16 bytes = 128 bits in 26 characters; the last one carries 3 data bits and
  // 2 zero bits.
  const std::string code = strip(FormatPairingCode(Secret(f.pairing_secret)));
  ASSERT_EQ(code.size(), 26u);
  EXPECT_TRUE(ParsePairingCode(code).ok());
  for (char spare : alphabet) {
    EXPECT_FALSE(ParsePairingCode(code + spare).ok()) << "spare character " << spare;
  }
  EXPECT_FALSE(ParsePairingCode(code + "-A").ok());
  EXPECT_FALSE(ParsePairingCode(code.substr(0, 25)).ok());
  for (size_t v = 0; v < alphabet.size(); ++v) {
    std::string last = code;
    last.back() = alphabet[v];
    auto r = ParsePairingCode(last);
    if ((v & 3) != 0) {
      EXPECT_FALSE(r.ok()) << "unused low bits set: " << alphabet[v];
      if (!r.ok()) {
        EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
      }
    } else {
      // Another secret (another pairing id), but a well-formed code.
      ASSERT_TRUE(r.ok()) << alphabet[v];
      EXPECT_EQ(Reveal(*r) == f.pairing_secret, alphabet[v] == code.back());
    }
  }
  // Recovery key: 34 bytes = 272 bits in 55 characters; the last carries 2 data bits and 3
  // zero bits. Non-zero unused bits are refused as malformed, before the checksum.
  const std::string key = strip(FormatRecoveryKey(Secret(f.root)));
  ASSERT_EQ(key.size(), 55u);
  const size_t last_value = alphabet.find(key.back());
  ASSERT_EQ(last_value & 7, 0u);
  for (size_t low = 1; low < 8; ++low) {
    std::string bad = key;
    bad.back() = alphabet[last_value | low];
    auto r = ParseRecoveryKey(bad);
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("not a Coffer recovery key"), std::string::npos) << r.status().message();
  }
  for (char spare : alphabet) {
    EXPECT_FALSE(ParseRecoveryKey(key + spare).ok()) << "spare character " << spare;
  }
}

// §12 device names: what a writer accepts always fits what every reader accepts.
TEST(FormatDeviceNames, WritersAcceptOnlyNamesEveryReaderAccepts) {
  const Fixture& f = F();
  EXPECT_TRUE(ValidateDeviceName("laptop").ok());
  EXPECT_TRUE(ValidateDeviceName("x").ok());
  EXPECT_TRUE(ValidateDeviceName(std::string(kMaxDeviceNameBytes, 'n')).ok());
  EXPECT_TRUE(ValidateDeviceName("Ann\xe2\x80\x99s phone ~").ok());  // UTF-8 and printable ASCII
  EXPECT_EQ(kMaxDeviceNameBytes, 64u);
  EXPECT_EQ(ValidateDeviceName("").code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateDeviceName(std::string(kMaxDeviceNameBytes + 1, 'n')).code(), StatusCode::kInvalidArgument);
  for (int c = 0; c < 0x20; ++c) {
    EXPECT_FALSE(ValidateDeviceName("a" + std::string(1, static_cast<char>(c)) + "b").ok()) << c;
  }
  EXPECT_FALSE(ValidateDeviceName("a\x7f").ok());
  EXPECT_FALSE(ValidateDeviceName("\x1b[2Jevil").ok());  // terminal escape sequences
  // The longest valid name fits the keyring (str <= 256), the device key file (str <= 256)
  // and the pairing request (sealed name blob <= 512: 40 + 64 bytes).
  const std::string longest(kMaxDeviceNameBytes, 'n');
  KeyringContents k = f.Contents();
  k.device_names[0].second = longest;
  auto decoded = KeyringContents::Decode(k.Encode());
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(decoded->device_names.at(0).second, longest);
  PairingRequest p = f.Request();
  p.sealed_name = f.Seal(Reveal(crypto::DeriveKey(Secret(f.pairing_secret), "pairing-name")), AsBytes(longest),
                         f.device_b);
  EXPECT_EQ(p.sealed_name.size(), 104u);
  EXPECT_TRUE(PairingRequest::Decode(p.Encode()).ok());
}

TEST(FormatIds, HexIds) {
  const Fixture& f = F();
  EXPECT_EQ(IdHex(f.account_id), "000102030405060708090a0b0c0d0e0f");
  auto id = IdFromHex("000102030405060708090a0b0c0d0e0f");
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(*id, f.account_id);
  EXPECT_FALSE(IdFromHex("000102030405060708090a0b0c0d0e").ok());
  EXPECT_FALSE(IdFromHex("000102030405060708090a0b0c0d0e0f00").ok());
  EXPECT_FALSE(IdFromHex("zz0102030405060708090a0b0c0d0e0f").ok());
  EXPECT_TRUE(IsZero(Bytes(32, 0)));
  EXPECT_FALSE(IsZero(Seq(0, 2)));
}

}  // namespace
}  // namespace coffer::client
