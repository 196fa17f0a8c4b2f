// Writes the seed corpora of the fuzz targets: valid encodings built by the real encoders,
// one small file per case, under <out>/<target>/.
//
//   coffer_fuzz_make_seeds fuzz/corpus
//
// Keys and ids are random, so every run writes different (equally valid) seeds; the
// committed ones under fuzz/corpus/ come from one run. Keep them small (the whole tree is
// well under 200 KB).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "chunk/pack_wire.h"
#include "client/formats.h"
#include "client/keys.h"
#include "crypto/hash.h"
#include "crypto/secret.h"
#include "fuzz_common.h"
#include "staff/formats/staff_formats.h"
#include "util/bytes.h"

using namespace coffer;
using namespace coffer::client;
using nlohmann::json;

namespace {

std::string g_out;

void Write(const std::string& target, const std::string& name, ByteView data) {
  const std::string dir = g_out + "/" + target;
  std::filesystem::create_directories(dir);
  std::ofstream f(dir + "/" + name, std::ios::binary | std::ios::trunc);
  f.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

Bytes Prefixed(uint8_t selector, ByteView data) {
  Bytes out{selector};
  out.insert(out.end(), data.begin(), data.end());
  return out;
}

Bytes Rand(size_t n) { return crypto::RandomBytes(n); }
template <size_t N>
std::array<uint8_t, N> RandArray() {
  std::array<uint8_t, N> a;
  Bytes b = Rand(N);
  std::copy(b.begin(), b.end(), a.begin());
  return a;
}

// ---- client_formats_fuzz: selector byte (order of the Decoder enum) + encoding ----
void FormatSeeds(const Identity& ident, const Bytes& genesis_entry) {
  const char* t = "client_formats_fuzz";
  Write(t, "chain_entry", Prefixed(0, genesis_entry));

  SealedKeyEnvelope env;
  env.account_id = RandArray<16>();
  env.device_id = RandArray<16>();
  env.epoch = 2;
  env.chain_len = 3;
  env.sealed = Rand(80);
  env.signature = Rand(64);
  Write(t, "sealed_key", Prefixed(1, env.Encode()));

  KeyringContents kc;
  kc.identity_sign_seed = Rand(32);
  kc.identity_box_sk = Rand(32);
  kc.genesis_hash = HashOf(genesis_entry);
  kc.recovery_public_key = Rand(32);
  kc.content.push_back(ContentKeys{1, Rand(32), Rand(32), Rand(32)});
  kc.content.push_back(ContentKeys{2, Rand(32), Rand(32), Rand(32)});
  kc.collections.push_back(CollectionKeys{RandArray<16>(), "Drive", "drive", {{1, Rand(32)}, {2, Rand(32)}}});
  kc.collections.push_back(CollectionKeys{RandArray<16>(), "Photos", "photos", {{1, Rand(32)}}});
  kc.device_names.emplace_back(RandArray<16>(), "laptop");
  kc.device_names.emplace_back(RandArray<16>(), "phone");
  Write(t, "keyring_contents", Prefixed(2, kc.Encode()));

  KeyringBlob kb;
  kb.header.account_id = RandArray<16>();
  kb.header.version = 4;
  kb.header.ak_epoch = 2;
  kb.header.chain_len = 3;
  kb.ciphertext = Rand(120);
  kb.signature = Rand(64);
  Write(t, "keyring_blob", Prefixed(3, kb.Encode()));

  RecoveryBlob rb;
  rb.account_id = RandArray<16>();
  rb.ak_epoch = 1;
  rb.ciphertext = Rand(112);
  rb.signature = Rand(64);
  Write(t, "recovery_blob", Prefixed(4, rb.Encode()));

  Content empty;
  empty.content_hash = RandArray<32>();
  Write(t, "content_empty", Prefixed(5, empty.Encode()));
  Content inl;
  inl.kind = Content::Kind::kInline;
  inl.inline_data = ToBytes("hello, inline file");
  inl.content_hash = RandArray<32>();
  Write(t, "content_inline", Prefixed(5, inl.Encode()));
  Content chunks;
  chunks.kind = Content::Kind::kChunks;
  chunks.content_epoch = 1;
  chunks.chunks = {ChunkRef{RandArray<32>(), 65536}, ChunkRef{RandArray<32>(), 1234}};
  chunks.content_hash = RandArray<32>();
  Write(t, "content_chunks", Prefixed(5, chunks.Encode()));

  std::vector<Op> ops;
  Op put;
  put.type = OpType::kPut;
  put.item_id = RandArray<16>();
  put.name = "report.pdf";
  put.kind = ItemKind::kFile;
  put.version = 1;
  put.mtime_ns = 1'700'000'000'000'000'000;
  put.mode = 0644;
  put.content = chunks;
  ops.push_back(put);
  Op dir = put;
  dir.kind = ItemKind::kDir;
  dir.name = "Photos";
  dir.content = Content{};
  ops.push_back(dir);
  Op mv;
  mv.type = OpType::kMove;
  mv.item_id = put.item_id;
  mv.parent_id = dir.item_id;
  mv.name = "renamed.pdf";
  ops.push_back(mv);
  for (OpType ty : {OpType::kTrash, OpType::kRestore, OpType::kPurge}) {
    Op o;
    o.type = ty;
    o.item_id = put.item_id;
    ops.push_back(o);
  }
  Op rot;
  rot.type = OpType::kRotate;
  rot.new_epoch = 3;
  ops.push_back(rot);
  Write(t, "ops_all_types", Prefixed(6, EncodeOps(ops)));
  Op inline_put = put;
  inline_put.content = inl;
  Write(t, "ops_inline_put", Prefixed(6, EncodeOps({inline_put})));

  RevisionBlob rev;
  rev.header.account_id = RandArray<16>();
  rev.header.collection_id = RandArray<16>();
  rev.header.number = 7;
  rev.header.prev_hash = RandArray<32>();
  rev.header.author_device = RandArray<16>();
  rev.header.chain_len = 3;
  rev.header.key_epoch = 1;
  rev.header.time = 1'700'000'000;
  rev.ciphertext = Rand(200);
  rev.signature = Rand(64);
  Write(t, "revision", Prefixed(7, rev.Encode()));

  CheckpointBlob cp;
  cp.header.account_id = rev.header.account_id;
  cp.header.collection_id = rev.header.collection_id;
  cp.header.number = 500;
  cp.header.head_hash = RandArray<32>();
  cp.header.author_device = rev.header.author_device;
  cp.header.chain_len = 3;
  cp.header.key_epoch = 1;
  cp.header.time = 1'700'000'000;
  cp.ciphertext = Rand(300);
  cp.signature = Rand(64);
  Write(t, "checkpoint", Prefixed(8, cp.Encode()));

  ChunkContainer cc;
  cc.content_epoch = 1;
  cc.sealed = Rand(24 + 64 + 16);
  Write(t, "chunk_container", Prefixed(9, cc.Encode()));

  PairingRequest pq;
  pq.device_id = RandArray<16>();
  pq.sign_pk = Rand(32);
  pq.box_pk = Rand(32);
  pq.sealed_name = Rand(24 + 6 + 16);
  pq.time = 1'700'000'000;
  pq.mac = Rand(32);
  Write(t, "pairing_request", Prefixed(10, pq.Encode()));

  PairingResponse pr;
  pr.account_id = RandArray<16>();
  pr.genesis_hash = HashOf(genesis_entry);
  pr.chain_len = 2;
  pr.chain_head = RandArray<32>();
  Write(t, "pairing_response", Prefixed(11, pr.Encode()));
  (void)ident;
}

// ---- chain_verify_fuzz: u16-framed entries of valid chains for FixedAccountId ----
void ChainSeeds(Identity& ident, Bytes& genesis_out) {
  const char* t = "chain_verify_fuzz";
  const Id account = coffer::fuzz::FixedAccountId();
  DeviceKeys a = DeviceKeys::Generate("a");
  DeviceKeys b = DeviceKeys::Generate("b");
  DeviceKeys c = DeviceKeys::Generate("c");
  const Bytes zero(32, 0);
  std::vector<Bytes> chain;
  chain.push_back(MakeChainEntry(0, Hash32{}, account, ChainAction::kGenesis, a.device_id,
                                 a.sign.public_key(), a.box.public_key(), ident.sign, ident));
  genesis_out = chain[0];
  Write(t, "genesis_only", coffer::fuzz::JoinU16Records(chain));
  chain.push_back(MakeChainEntry(1, HashOf(chain[0]), account, ChainAction::kAdd, b.device_id,
                                 b.sign.public_key(), b.box.public_key(), ident.sign, ident));
  Write(t, "genesis_add", coffer::fuzz::JoinU16Records(chain));
  Identity rotated = Identity::Generate();
  chain.push_back(MakeChainEntry(2, HashOf(chain[1]), account, ChainAction::kRevoke, b.device_id, zero, zero,
                                 ident.sign, rotated));
  chain.push_back(MakeChainEntry(3, HashOf(chain[2]), account, ChainAction::kAdd, c.device_id,
                                 c.sign.public_key(), c.box.public_key(), rotated.sign, rotated));
  Write(t, "genesis_add_revoke_add", coffer::fuzz::JoinU16Records(chain));
}

// ---- keys_codes_fuzz: selector (0 recovery key, 1 pairing code, 2 key file) + input ----
void KeySeeds() {
  const char* t = "keys_codes_fuzz";
  const std::string rk = FormatRecoveryKey(crypto::SecretBytes::Random(32));
  Write(t, "recovery_key", Prefixed(0, AsBytes(rk)));
  std::string lower = rk;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  Write(t, "recovery_key_lower", Prefixed(0, AsBytes(lower)));
  Write(t, "pairing_code", Prefixed(1, AsBytes(FormatPairingCode(crypto::SecretBytes::Random(16)))));
  const std::string path = coffer::fuzz::ScratchDir("seeds") + "/device.key";
  DeviceKeys k = DeviceKeys::Generate("laptop");
  if (k.Save(path).ok()) {
    std::ifstream in(path, std::ios::binary);
    const std::string file((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    Write(t, "device_key_file", Prefixed(2, AsBytes(file)));
  }
  std::filesystem::remove_all(std::filesystem::path(path).parent_path());
}

// ---- util_bytes_fuzz: hex, base64 and reader programs ----
void BytesSeeds() {
  const char* t = "util_bytes_fuzz";
  Write(t, "hex", AsBytes(HexEncode(Rand(16))));
  Write(t, "base64", AsBytes(Base64Encode(Rand(17))));
  ByteWriter w;
  w.U8(1);
  w.U16(0x0203);
  w.U32(0x04050607);
  w.U64(0x08090a0b0c0d0e0f);
  w.Str("a length-prefixed string");
  w.Raw(std::string_view("\x00\x01\x02\x03\x04\x05\x06\x07", 8));
  Write(t, "reader_program", w.bytes());
}

// ---- server_request_fuzz: fuzz_common.h layout ----
void ServerSeeds() {
  const char* t = "server_request_fuzz";
  using coffer::fuzz::ServerRequestSeed;
  auto target_index = [](std::string_view pattern) -> uint8_t {
    for (size_t i = 0; i < coffer::fuzz::kNumServerTargets; ++i)
      if (pattern == coffer::fuzz::kServerTargets[i]) return static_cast<uint8_t>(i);
    std::fprintf(stderr, "no target %s\n", std::string(pattern).c_str());
    std::abort();
  };
  auto method_index = [](std::string_view m) -> uint8_t {
    for (size_t i = 0; i < coffer::fuzz::kNumServerMethods; ++i)
      if (m == coffer::fuzz::kServerMethods[i]) return static_cast<uint8_t>(i);
    std::abort();
  };
  constexpr uint8_t kAuth = 1, kSha = 1 << 2, kQuery = 1 << 4, kResign = 1 << 5;
  int n = 0;
  auto seed = [&](const char* name, const char* method, const char* target, uint8_t flags,
                  std::string body = "", std::string query = "", uint8_t captures = 0, std::string cap1 = "",
                  std::string cap2 = "") {
    ServerRequestSeed s;
    s.method = method_index(method);
    s.target = target_index(target);
    s.flags = flags;
    s.captures = captures;
    s.cap1 = std::move(cap1);
    s.cap2 = std::move(cap2);
    s.query = std::move(query);
    s.body = ToBytes(body);
    Write(t, std::to_string(n++) + "_" + name, s.Encode());
  };
  const std::string b64 = Base64Encode(Rand(32));
  const std::string b64_16 = Base64Encode(Rand(16));
  const std::string dev =
      json{{"id", HexEncode(Rand(16))}, {"sign_pk", b64}, {"box_pk", b64}, {"name", "new phone"}}.dump();
  seed("health", "GET", "/v1/health", 0);
  seed("login_params", "POST", "/v1/login/params", 0, json{{"email", coffer::fuzz::kFuzzEmail}}.dump());
  json acct{{"account_id", HexEncode(Rand(16))},
            {"email", "seed@example.org"},
            {"login", {{"salt", b64_16}, {"ops", 2}, {"mem", 16 << 20}, {"verifier", b64}}},
            {"recovery", {{"verifier", b64}, {"blob", Base64Encode(AsBytes("recovery blob"))}}},
            {"device", json::parse(dev)},
            {"chain_entry", Base64Encode(AsBytes("entry 0"))},
            {"sealed_key", {{"epoch", 1}, {"blob", Base64Encode(AsBytes("sealed"))}}},
            {"keyring", Base64Encode(AsBytes("keyring"))},
            {"time", 0},
            {"signature", Base64Encode(Rand(64))}};
  seed("create_account", "POST", "/v1/accounts", kResign, acct.dump());
  json login{
      {"email", coffer::fuzz::kFuzzEmail},
      {"device", {{"id", coffer::fuzz::kFuzzDeviceId}, {"sign_pk", b64}, {"box_pk", b64}, {"name", "x"}}},
      {"time", 0},
      {"signature", Base64Encode(Rand(64))}};
  seed("device_login", "POST", "/v1/sessions", kResign, login.dump());
  json pw_login = login;
  pw_login["verifier"] = b64;
  pw_login["device"]["id"] = HexEncode(Rand(16));
  seed("password_login", "POST", "/v1/sessions", kResign, pw_login.dump());
  seed("logout", "DELETE", "/v1/sessions/current", kAuth);
  seed("account", "GET", "/v1/account", kAuth);
  seed("recovery", "GET", "/v1/account/recovery", kAuth);
  seed("put_login", "PUT", "/v1/account/login", kAuth,
       json{{"salt", b64_16}, {"ops", 3}, {"mem", 64 << 20}, {"verifier", b64}}.dump());
  seed("put_recovery", "PUT", "/v1/account/recovery", kAuth, json{{"verifier", b64}, {"blob", b64}}.dump());
  seed("devices", "GET", "/v1/devices", kAuth);
  seed("chain", "GET", "/v1/chain", kAuth | kQuery, "", "from=0");
  seed(
      "chain_add", "POST", "/v1/chain", kAuth,
      json{{"seq", 1}, {"entry", b64}, {"effect", {{"action", "add"}, {"device", json::parse(dev)}}}}.dump());
  seed(
      "chain_revoke", "POST", "/v1/chain", kAuth,
      json{{"seq", 2}, {"entry", b64}, {"effect", {{"action", "revoke"}, {"device_id", HexEncode(Rand(16))}}}}
          .dump());
  seed("put_sealed", "PUT", "/v1/keys/sealed/{device_id}", kAuth, json{{"epoch", 2}, {"blob", b64}}.dump());
  seed("get_sealed", "GET", "/v1/keys/sealed/{device_id}", kAuth);
  seed("get_keyring", "GET", "/v1/keyring", kAuth);
  seed("put_keyring", "PUT", "/v1/keyring", kAuth, json{{"version", 2}, {"blob", b64}}.dump());
  seed("collections", "GET", "/v1/collections", kAuth);
  seed("revisions", "GET", "/v1/collections/{collection_id}/revisions", kAuth | kQuery, "",
       "from=1&limit=10");
  seed("put_revision", "PUT", "/v1/collections/{collection_id}/revisions/{n}", kAuth, "revision bytes", "",
       /*captures: collection real, n decimal*/ 0x0c, "", "\x02");
  seed("get_checkpoint", "GET", "/v1/collections/{collection_id}/checkpoint", kAuth);
  seed("put_checkpoint", "PUT", "/v1/collections/{collection_id}/checkpoint/{n}", kAuth, "checkpoint bytes");
  seed("put_chunk", "PUT", "/v1/chunks/{chunk_id}", kAuth | kSha, "new chunk", "", 0x02, HexEncode(Rand(32)));
  seed("head_chunk", "HEAD", "/v1/chunks/{chunk_id}", kAuth);
  seed("get_chunk", "GET", "/v1/chunks/{chunk_id}", kAuth);
  seed("missing", "POST", "/v1/chunks/missing", kAuth,
       json{{"ids", {coffer::fuzz::kFuzzChunkId, HexEncode(Rand(32))}}}.dump());
  seed("list_chunks", "GET", "/v1/chunks", kAuth);
  seed(
      "gc", "POST", "/v1/gc", kAuth,
      json{{"live", {coffer::fuzz::kFuzzChunkId}}, {"heads", {{coffer::fuzz::kFuzzCollectionId, 1}}}}.dump());
  seed("put_pairing", "PUT", "/v1/pairing/{pairing_id}", kAuth, "pairing request bytes");
  seed("get_pairing", "GET", "/v1/pairing/{pairing_id}", kAuth);
  seed("put_pairing_response", "PUT", "/v1/pairing/{pairing_id}/response", kAuth, "pairing response bytes");
  seed("get_pairing_response", "GET", "/v1/pairing/{pairing_id}/response", kAuth);
  seed("raw_target", "GET", "{raw}", kAuth, "", "", 0, "/v1/chunks/../health?x=1");
}

// ---- server_request_fuzz, the routes added after the first seeds: the staff console and
// the chunk packs (same layout, files staff_*) ----
void StaffRequestSeeds() {
  const char* t = "server_request_fuzz";
  using coffer::fuzz::ServerRequestSeed;
  auto target_index = [](std::string_view pattern) -> uint8_t {
    for (size_t i = 0; i < coffer::fuzz::kNumServerTargets; ++i)
      if (pattern == coffer::fuzz::kServerTargets[i]) return static_cast<uint8_t>(i);
    std::fprintf(stderr, "no target %s\n", std::string(pattern).c_str());
    std::abort();
  };
  auto method_index = [](std::string_view m) -> uint8_t {
    for (size_t i = 0; i < coffer::fuzz::kNumServerMethods; ++i)
      if (m == coffer::fuzz::kServerMethods[i]) return static_cast<uint8_t>(i);
    std::abort();
  };
  // Authorization: 1 the user session, 2 with an empty string the staff session.
  constexpr uint8_t kUser = 1, kStaff = 2, kQuery = 1 << 4, kResign = 1 << 5;
  auto seed = [&](const char* name, const char* method, const char* target, uint8_t flags, std::string body = "",
                  std::string query = "", uint8_t captures = 0, std::string cap1 = "") {
    ServerRequestSeed s;
    s.method = method_index(method);
    s.target = target_index(target);
    s.flags = flags;
    s.captures = captures;
    s.cap1 = std::move(cap1);
    s.query = std::move(query);
    s.body = ToBytes(body);
    Write(t, std::string("staff_") + name, s.Encode());
  };
  // A grant of some account; the fuzz target re-signs it for its own account (kResign).
  auto device_key = crypto::SigningKey::Generate();
  staff::Grant grant;
  grant.grant_id = RandArray<staff::kStaffIdBytes>();
  grant.account_id = RandArray<staff::kStaffIdBytes>();
  grant.device_id = RandArray<staff::kStaffIdBytes>();
  grant.scopes = staff::kAllScopes;
  grant.issued_at = 1767225600;
  grant.expires_at = grant.issued_at + 7200;
  grant.note = "ticket 4711";
  staff::SignGrant(grant, device_key);
  const std::string email = coffer::fuzz::kFuzzEmail;
  const json verb{{"email", email}, {"reason", "ticket 4711: customer asked"}};
  json with_grant = verb;
  with_grant["grant"] = staff::FormatGrantCode(grant);
  seed("login", "POST", "/v1/staff/login", 0, json{{"credential", "cs1:fuzz-admin:" + HexEncode(Rand(32))}}.dump());
  seed("logout", "POST", "/v1/staff/logout", kStaff);
  seed("lookup", "POST", "/v1/staff/lookup", kStaff, verb.dump());
  seed("lock", "POST", "/v1/staff/lock", kStaff, verb.dump());
  seed("unlock", "POST", "/v1/staff/unlock", kStaff, verb.dump());
  seed("reset_login", "POST", "/v1/staff/reset-login", kStaff, verb.dump());
  seed("metadata", "POST", "/v1/staff/metadata", kStaff | kResign, with_grant.dump());
  seed("restore_trash", "POST", "/v1/staff/restore-trash", kStaff | kResign, with_grant.dump());
  seed("grant_register", "POST", "/v1/support/grants", kUser | kResign,
       json{{"grant", Base64Encode(grant.Encode())}}.dump());
  seed("grant_list", "GET", "/v1/support/grants", kUser);
  seed("grant_revoke", "DELETE", "/v1/support/grants/{grant_id}", kUser, "", "", /*capture 1: hex*/ 2,
       std::string(reinterpret_cast<const char*>(grant.grant_id.data()), grant.grant_id.size()));
  seed("log", "GET", "/v1/log", kUser | kQuery, "", "from=0");
  seed("log_global", "GET", "/v1/log/global", kUser | kQuery, "", "from=0");
  // Chunk packs: one CFPK body of two containers, and the batched fetch of the fixed chunk.
  chunk::PackWriter pack;
  for (const char* container : {"container one", "container two"}) {
    chunk::RawId id{}, sha{};
    const Bytes rand = Rand(id.size());
    std::copy(rand.begin(), rand.end(), id.begin());
    const auto digest = crypto::Sha256(AsBytes(container));
    std::copy(digest.begin(), digest.end(), sha.begin());
    pack.Add(id, sha, AsBytes(container));
  }
  const Bytes pack_body = pack.Finish();
  seed("pack", "POST", "/v1/chunks/pack", kUser, std::string(AsChars(pack_body)));
  seed("fetch", "POST", "/v1/chunks/fetch", kUser, json{{"ids", {coffer::fuzz::kFuzzChunkId}}}.dump());
  seed("login_reset", "POST", "/v1/account/login-reset", 0,
       json{{"email", email},
            {"code", "0123abcd-0123abcd-0123abcd-0123abcd"},
            {"login", {{"salt", Base64Encode(Rand(16))}, {"ops", 2}, {"mem", 16 << 20}, {"verifier", Base64Encode(Rand(32))}}}}
           .dump());
}

// ---- client_reply_fuzz: call selector, status selector, flags, [retry-after], body ----
void ReplySeeds() {
  const char* t = "client_reply_fuzz";
  // Status selector indices into kStatuses of client_reply_fuzz.cc: 0 = 200, 1 = 201,
  // 2 = 204, 12 = 404, 15 = 409, 22 = 429.
  const std::string id(32, 'a');
  const std::string chunk_a(64, 'a');
  const std::string b64 = Base64Encode(Rand(32));
  auto seed = [&](int call, int status_index, uint8_t flags, const std::string& body, const char* name,
                  const std::string& retry_after = "") {
    Bytes s{static_cast<uint8_t>(call), static_cast<uint8_t>(status_index), flags};
    if (flags & 1) {
      s.push_back(static_cast<uint8_t>(retry_after.size()));
      s.insert(s.end(), retry_after.begin(), retry_after.end());
    }
    s.insert(s.end(), body.begin(), body.end());
    Write(t, name, s);
  };
  const std::string session = json{
      {"token", std::string(64, 'f')},
      {"expires_at", 1'700'000'000},
      {"account_id", id},
      {"session_kind", "device"},
      {"device_status", "active"}}.dump();
  seed(0, 0, 0, json{{"ok", true}, {"version", "0.1.0"}}.dump(), "health");
  seed(1, 0, 0, json{{"salt", Base64Encode(Rand(16))}, {"ops", 2}, {"mem", 67108864}}.dump(), "login_params");
  seed(2, 1, 0, session, "create_account");
  seed(3, 1, 0, session, "login");
  seed(5, 0, 0,
       json{{"account_id", id},
            {"email", "a@example.org"},
            {"created_at", 1},
            {"used_bytes", 10},
            {"quota_bytes", 0},
            {"device_count", 2},
            {"locked", false}}
           .dump(),
       "account");
  seed(6, 0, 0, json{{"blob", b64}}.dump(), "recovery_blob");
  seed(9, 0, 0,
       json{{"devices",
             {{{"id", id},
               {"sign_pk", b64},
               {"box_pk", b64},
               {"name", "laptop"},
               {"status", "active"},
               {"created_at", 5}}}}}
           .dump(),
       "devices");
  seed(10, 0, 0x20, json{{"from", 2}, {"entries", {b64, b64}}}.dump(), "chain");
  seed(13, 0, 0, json{{"epoch", 1}, {"blob", b64}}.dump(), "sealed_key");
  seed(14, 0, 0, json{{"version", 3}, {"blob", b64}}.dump(), "keyring");
  seed(16, 0, 0, json{{"collections", {{{"id", id}, {"head", 4}}}}}.dump(), "collections");
  seed(17, 0, 0x16,  // from 1, limit 3
       json{{"head", 5}, {"revisions", {{{"number", 1}, {"data", b64}}, {{"number", 2}, {"data", b64}}}}}
           .dump(),
       "revisions");
  seed(19, 0, 0, json{{"number", 500}, {"data", b64}}.dump(), "checkpoint");
  seed(21, 1, 0, "", "put_chunk_created");
  seed(22, 12, 0, "", "has_chunk_404");
  seed(23, 0, 0, "chunk bytes", "get_chunk");
  seed(24, 0, 0, json{{"missing", {chunk_a}}}.dump(), "missing");
  seed(25, 0, 0, json{{"chunks", {{{"id", chunk_a}, {"size", 100}}}}}.dump(), "list_chunks");
  seed(26, 0, 0, json{{"deleted", 1}, {"freed_bytes", 100}}.dump(), "gc");
  seed(30, 0, 0, "pairing response bytes", "pairing_response");
  seed(15, 15, 0,
       json{{"error", {{"code", "ABORTED"}, {"message", "keyring version moved"}}}, {"current", 3}}.dump(),
       "cas_conflict");
  seed(
      3, 22, 1,
      json{{"error", {{"code", "RESOURCE_EXHAUSTED"}, {"message", "slow down"}}}, {"retry_after", 30}}.dump(),
      "rate_limited", "30");
}

// ---- staff_formats_fuzz: selector byte (0 grant, 1 log entry, 2 global entry, 3 code) ----
void StaffSeeds() {
  const std::string t = "staff_formats_fuzz";
  auto device_key = crypto::SigningKey::Generate();
  auto log_key = crypto::SigningKey::Generate();
  staff::Grant grant;
  grant.grant_id = RandArray<staff::kStaffIdBytes>();
  grant.account_id = RandArray<staff::kStaffIdBytes>();
  grant.device_id = RandArray<staff::kStaffIdBytes>();
  grant.scopes = staff::kAllScopes;
  grant.issued_at = 1767225600;
  grant.expires_at = grant.issued_at + 7200;
  grant.note = "ticket 4711";
  staff::SignGrant(grant, device_key);
  Write(t, "grant", Prefixed(0, grant.Encode()));
  Write(t, "grant_code", Prefixed(3, AsBytes(staff::FormatGrantCode(grant))));

  staff::LogEntry entry;
  entry.account_id = grant.account_id;
  entry.time = grant.issued_at + 60;
  entry.actor_id = std::string(32, 'a');
  entry.actor_name = "sam";
  entry.role = "support";
  entry.action = "metadata";
  entry.outcome = staff::Outcome::kDone;
  entry.reason = "ticket 4711";
  entry.grant_id = grant.grant_id;
  entry.detail = "3 collections";
  const Bytes first = staff::SignLogEntry(entry, log_key);
  Write(t, "log_entry", Prefixed(1, first));
  entry.seq = 1;
  entry.prev_hash = staff::EntryHash(first);
  entry.actor_kind = staff::ActorKind::kOwner;
  entry.outcome = staff::Outcome::kDenied;
  entry.grant_id = {};
  Write(t, "log_entry_owner_denied", Prefixed(1, staff::SignLogEntry(entry, log_key)));

  staff::GlobalLogEntry head;
  head.seq = 7;
  head.prev_hash = RandArray<staff::kStaffHashBytes>();
  head.account_id = grant.account_id;
  head.account_length = 1;
  head.account_head = staff::EntryHash(first);
  head.time = entry.time;
  Write(t, "global_entry", Prefixed(2, staff::SignGlobalLogEntry(head, log_key)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR   (writes OUT_DIR/<target>/<seed>)\n", argv[0]);
    return 2;
  }
  if (!crypto::Init().ok()) return 1;
  g_out = argv[1];
  Identity ident = Identity::Generate();
  Bytes genesis;
  ChainSeeds(ident, genesis);
  FormatSeeds(ident, genesis);
  KeySeeds();
  BytesSeeds();
  ServerSeeds();
  StaffRequestSeeds();
  ReplySeeds();
  StaffSeeds();
  std::printf("seeds written under %s\n", g_out.c_str());
  return 0;
}
