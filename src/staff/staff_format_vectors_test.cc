// Test vectors for the support console's formats (docs/FORMAT.md §16), produced and checked
// the way src/client/formats_test.cc does it for §1-§15: every object is built from fixed
// inputs (fixed Ed25519 seeds — Ed25519 signatures are deterministic —, fixed ids and times)
// and its bytes are pinned three times: in kPinned below, in the ```staff-vectors block of
// docs/FORMAT.md §16 and in tests/testdata/vectors/staff_vectors.txt. The tests fail if any
// of the four disagree. (The §16 block has its own fence tag so that the appendix check of
// formats_test.cc, which requires its ```vectors blocks to list exactly its own names, is
// not disturbed.) Each vector is then checked against the production decoders and
// verifiers: the grant verifies under the device key, the entries under the log key, the
// hash chains link, the code parses back to the grant.
//   To print fresh values after an intentional format change:
//     COFFER_PRINT_VECTORS=1 ./staff_tests --gtest_filter='StaffFormatVectors.*'
//   (writes staff_kpinned.inc, staff_vectors.txt, staff_format_md.txt to $COFFER_VECTORS_OUT
//   or the temp dir).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "crypto/hash.h"
#include "crypto/secret.h"
#include "crypto/sign.h"
#include "staff/formats/staff_formats.h"
#include "util/bytes.h"

namespace coffer::staff {
namespace {

namespace fs = std::filesystem;

constexpr int64_t kT0 = 1767225600;  // 2026-01-01T00:00:00Z, as in the FORMAT.md appendix

Bytes Seq(uint8_t first, size_t n) {
  Bytes out(n);
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<uint8_t>(first + i);
  return out;
}

template <size_t N>
std::array<uint8_t, N> SeqArray(uint8_t first) {
  std::array<uint8_t, N> out{};
  for (size_t i = 0; i < N; ++i) out[i] = static_cast<uint8_t>(first + i);
  return out;
}

crypto::SigningKey KeyFromSeed(uint8_t first) {
  auto key = crypto::SigningKey::FromSeed(crypto::SecretBytes::FromBytes(Seq(first, 32)));
  EXPECT_TRUE(key.ok());
  return std::move(*key);
}

// Device A of the FORMAT.md appendix (sign seed Seq(0xc0, 32), id Seq(0x10, 16)) signs the
// grant; the server's log key has seed Seq(0xb0, 32).
crypto::SigningKey DeviceKey() { return KeyFromSeed(0xc0); }
crypto::SigningKey LogKey() { return KeyFromSeed(0xb0); }

Grant VectorGrant() {
  Grant g;
  g.grant_id = SeqArray<kStaffIdBytes>(0x40);
  g.account_id = SeqArray<kStaffIdBytes>(0x00);
  g.device_id = SeqArray<kStaffIdBytes>(0x10);
  g.scopes = kScopeMetadata | kScopeRestoreTrash;
  g.issued_at = kT0;
  g.expires_at = kT0 + 7200;
  g.note = "ticket 4711";
  SignGrant(g, DeviceKey());
  return g;
}

// The account's log: a lookup, a restore-trash refused for want of scope, the owner's revoke.
std::vector<LogEntry> VectorLog() {
  const Grant grant = VectorGrant();
  std::vector<LogEntry> log(3);
  for (size_t i = 0; i < log.size(); ++i) {
    log[i].account_id = grant.account_id;
    log[i].seq = i;
    log[i].time = kT0 + 60 * static_cast<int64_t>(i + 1);
  }
  log[0].actor_kind = ActorKind::kStaff;
  log[0].actor_id = "00112233445566778899aabbccddeeff";
  log[0].actor_name = "sam";
  log[0].role = "support";
  log[0].action = "lookup";
  log[0].outcome = Outcome::kDone;
  log[0].reason = "ticket 4711";
  log[0].detail = "account record";

  log[1] = log[0];
  log[1].seq = 1;
  log[1].time = kT0 + 120;
  log[1].action = "restore-trash";
  log[1].outcome = Outcome::kDenied;
  log[1].grant_id = grant.grant_id;
  log[1].detail = "the grant does not cover restore-trash";

  log[2].actor_kind = ActorKind::kOwner;
  log[2].actor_id = Id16Hex(grant.device_id);
  log[2].actor_name = "owner device";
  log[2].role = "owner";
  log[2].action = "grant-revoke";
  log[2].outcome = Outcome::kDone;
  log[2].reason = "";
  log[2].grant_id = grant.grant_id;
  log[2].detail = "";
  return log;
}

struct SignedLogs {
  std::vector<Bytes> entries;  // complete encodings, prev_hash chained
  std::vector<Bytes> global;   // one global entry per append
};

SignedLogs BuildLogs() {
  const crypto::SigningKey log_key = LogKey();
  SignedLogs out;
  Hash32 prev{};
  Hash32 global_prev{};
  for (LogEntry entry : VectorLog()) {
    entry.prev_hash = prev;
    out.entries.push_back(SignLogEntry(entry, log_key));
    prev = EntryHash(out.entries.back());
    GlobalLogEntry g;
    g.seq = entry.seq;
    g.prev_hash = global_prev;
    g.account_id = entry.account_id;
    g.account_length = entry.seq + 1;
    g.account_head = prev;
    g.time = entry.time;
    out.global.push_back(SignGlobalLogEntry(g, log_key));
    global_prev = EntryHash(out.global.back());
  }
  return out;
}

const char* const kLogNames[] = {"log/0-lookup", "log/1-restore-trash-denied", "log/2-owner-revoke"};

std::string HexOf(ByteView b) { return HexEncode(b); }

std::vector<std::pair<std::string, std::string>> ComputeVectors() {
  std::vector<std::pair<std::string, std::string>> v;
  auto add = [&](const std::string& name, const std::string& hex) { v.emplace_back("staff/" + name, hex); };
  add("device-public-key", HexOf(DeviceKey().public_key()));
  add("log-public-key", HexOf(LogKey().public_key()));
  const Grant grant = VectorGrant();
  add("grant", HexOf(grant.Encode()));
  add("grant-code", HexOf(AsBytes(FormatGrantCode(grant))));
  const SignedLogs logs = BuildLogs();
  for (size_t i = 0; i < logs.entries.size(); ++i) {
    add(kLogNames[i], HexOf(logs.entries[i]));
    add(std::string(kLogNames[i]) + ".hash", HexOf(EntryHash(logs.entries[i])));
  }
  for (size_t i = 0; i < logs.global.size(); ++i) {
    const std::string name = "global/" + std::to_string(i);
    add(name, HexOf(logs.global[i]));
    add(name + ".hash", HexOf(EntryHash(logs.global[i])));
  }
  return v;
}

bool IsTextVector(const std::string& name) { return name == "staff/grant-code"; }

std::string FromHexText(const std::string& hex) {
  auto b = HexDecode(hex);
  return b.ok() ? std::string(AsChars(*b)) : "<bad hex>";
}

// The values pinned by this test. Printed by COFFER_PRINT_VECTORS=1.
// BEGIN PINNED VECTORS
const std::vector<std::pair<std::string, std::string>> kPinned = {
    {"staff/device-public-key", "dde3bccec7f3a66a1115f45d720f4dc135c3ae7c4e22dca38fdb1efd6a495ff8"},
    {"staff/log-public-key", "74fca2a3b389fb1a64d9bf52cc0dd4c2964f3804c0cf7c755e8513c6db8198dc"},
    {"staff/grant",
     "4346475201404142434445464748494a4b4c4d4e4f000102030405060708090a0b0c0d0e0f101112131415161718191a"
     "1b1c1d1e1f0300000000b955690000000020d55569000000000b0000007469636b65742034373131b757ac19e697c290"
     "5c894aa8cadf8a559a51c78dc1a54368f67bedff8ac7a3a090f02db0dd93be3ff24e0242ad7cf3c568239ed8c6fd9006"
     "692ff436fe5c8f00"},
    {"staff/grant-code",
     "4347312d51305a485567464151554a44524556475230684a536b744d5455355041414543417751464267634943516f4c"
     "4441304f4478415245684d554652595847426b61477877644868384441414141414c6c56615141414141416731565670"
     "41414141414173414141423061574e725a5851674e4463784d62645872426e6d6c384b5158496c4b714d7266696c5761"
     "5563654e7761564461505a3737662d4b78364f676b504174734e3254766a5f7954674a4372587a7a7857676a6e746a47"
     "5f5a414761535f304e7635636a774239462d6e46"},
    {"staff/log/0-lookup",
     "43464c4501000102030405060708090a0b0c0d0e0f000000000000000000000000000000000000000000000000000000"
     "000000000000000000000000003cb9556900000000012000000030303131323233333434353536363737383839396161"
     "626263636464656566660300000073616d07000000737570706f7274060000006c6f6f6b7570010b0000007469636b65"
     "742034373131000000000000000000000000000000000e0000006163636f756e74207265636f7264a2eab32c6be5cc10"
     "f8c25f13707b7ae7442b90b1a01caa6b3904ae74ba5c781085dcbf6562e70617d55f41b4662d5e2ff647d59e59985c14"
     "543f92aee0181d03"},
    {"staff/log/0-lookup.hash", "a445371162e9ff5e7626de9ce81282e6d7f0f4530343bf8df36ef3f54a024942"},
    {"staff/log/1-restore-trash-denied",
     "43464c4501000102030405060708090a0b0c0d0e0f0100000000000000a445371162e9ff5e7626de9ce81282e6d7f0f4"
     "530343bf8df36ef3f54a02494278b9556900000000012000000030303131323233333434353536363737383839396161"
     "626263636464656566660300000073616d07000000737570706f72740d000000726573746f72652d7472617368020b00"
     "00007469636b65742034373131404142434445464748494a4b4c4d4e4f26000000746865206772616e7420646f657320"
     "6e6f7420636f76657220726573746f72652d747261736862d712e19747e042ceb4ccd04a0c82f562ef44ff3ce95999e1"
     "a3443d75dd9b5be7b8f9df3108469931510e725a89e21d60c68c423c0670021ae4e0e0de8dcc09"},
    {"staff/log/1-restore-trash-denied.hash", "5fd159dcee445cc893163e417c8c2f2a077e9c52c467ae03d00bed5591d9cc14"},
    {"staff/log/2-owner-revoke",
     "43464c4501000102030405060708090a0b0c0d0e0f02000000000000005fd159dcee445cc893163e417c8c2f2a077e9c"
     "52c467ae03d00bed5591d9cc14b4b9556900000000022000000031303131313231333134313531363137313831393161"
     "316231633164316531660c0000006f776e657220646576696365050000006f776e65720c0000006772616e742d726576"
     "6f6b650100000000404142434445464748494a4b4c4d4e4f00000000af9343b659b03ae46942122687f9a0a22a27e056"
     "3e9494457107a79a189126dc8d6d64838dd7d0bebecaa54d2599ffe4c884339306198da83a1a82a365725d02"},
    {"staff/log/2-owner-revoke.hash", "3e4e81b0af6b8315b1c506e77cc9bd63089c54de81eaf57b7fe2788b0641e04c"},
    {"staff/global/0",
     "43464c480100000000000000000000000000000000000000000000000000000000000000000000000000000000000102"
     "030405060708090a0b0c0d0e0f0100000000000000a445371162e9ff5e7626de9ce81282e6d7f0f4530343bf8df36ef3"
     "f54a0249423cb955690000000005cbc061a9c04cc3dcd992348f681e9c4edfbc728303e74601a014597446d41c6176c6"
     "aee0d55521bf8d41498a5dce03ea7c0d43b82afcbd098b7e3543117709"},
    {"staff/global/0.hash", "6f561c152a7aa25670567f06186178f5a9a19a8b54f3a5db6db4f4e7b3a98e56"},
    {"staff/global/1",
     "43464c480101000000000000006f561c152a7aa25670567f06186178f5a9a19a8b54f3a5db6db4f4e7b3a98e56000102"
     "030405060708090a0b0c0d0e0f02000000000000005fd159dcee445cc893163e417c8c2f2a077e9c52c467ae03d00bed"
     "5591d9cc1478b95569000000009c22b272e645fb6e6201145481bdd97008ede4254e0a54e177a07d3f257ded95688a8c"
     "5b7db9775f54e7ea63355e3177fcbf1a9f21e4e07c2696e62498b38007"},
    {"staff/global/1.hash", "11464911caa615bcf18090d218a4dc3299d54a756ae26951415febb11d6b3e59"},
    {"staff/global/2",
     "43464c4801020000000000000011464911caa615bcf18090d218a4dc3299d54a756ae26951415febb11d6b3e59000102"
     "030405060708090a0b0c0d0e0f03000000000000003e4e81b0af6b8315b1c506e77cc9bd63089c54de81eaf57b7fe278"
     "8b0641e04cb4b95569000000008ebb10a9b9dbebbbd059a1c28490f9417e1ba7465f90fb5233dff3d2529be11d330506"
     "3a8398576996b28474e9f472140507c358061b144a110b2f0710ab6904"},
    {"staff/global/2.hash", "7d9daf1447ee783db1a487af206f8239f5dd3677e7ae4c54646e616ed3c96d8c"},
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
  std::ofstream cc(dir / "staff_kpinned.inc");
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
  std::ofstream txt(dir / "staff_vectors.txt");
  txt << "# Coffer support console format test vectors (docs/FORMAT.md §16). One per line: name hex.\n"
      << "# Text-valued vectors (the grant code) are the hex of their UTF-8 text.\n"
      << "# Generated and checked by src/staff/staff_format_vectors_test.cc.\n";
  for (const auto& [name, hex] : v) txt << name << " " << hex << "\n";
  std::ofstream md(dir / "staff_format_md.txt");
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

// Parses the ```staff-vectors blocks of FORMAT.md: `name = hex` or `name = "text"`, hex
// possibly continued on following lines indented by four spaces (the appendix's layout).
std::map<std::string, std::string> ParseFormatMd(const std::string& text) {
  std::map<std::string, std::string> out;
  std::istringstream in(text);
  std::string line;
  bool in_block = false;
  std::string current;
  while (std::getline(in, line)) {
    if (line == "```staff-vectors") {
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
      out[current] = HexEncode(AsBytes(value.substr(1, value.size() - 2)));
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

Bytes PinnedBytes(const std::string& name) {
  const auto pinned = PinnedMap();
  auto it = pinned.find(name);
  EXPECT_NE(it, pinned.end()) << name;
  if (it == pinned.end()) return {};
  auto bytes = HexDecode(it->second);
  EXPECT_TRUE(bytes.ok()) << name;
  return bytes.ok() ? *bytes : Bytes{};
}

class StaffFormatVectors : public ::testing::Test {
 protected:
  static void SetUpTestSuite() { ASSERT_TRUE(crypto::Init().ok()); }
};

TEST_F(StaffFormatVectors, MatchPinnedValues) {
  const auto computed = ComputeVectors();
  MaybePrintVectors(computed);
  const auto pinned = PinnedMap();
  EXPECT_EQ(computed.size(), kPinned.size());
  for (const auto& [name, hex] : computed) {
    auto it = pinned.find(name);
    ASSERT_NE(it, pinned.end()) << "vector " << name << " is not pinned";
    EXPECT_EQ(hex, it->second) << "vector " << name << " changed: the format changed (bump the version byte "
                               << "and update FORMAT.md §16) or the test inputs did";
  }
}

TEST_F(StaffFormatVectors, FormatMdListsTheSameValues) {
  const auto doc = ParseFormatMd(ReadText(fs::path(COFFER_SOURCE_DIR) / "docs" / "FORMAT.md"));
  ASSERT_FALSE(doc.empty()) << "docs/FORMAT.md has no ```staff-vectors block";
  for (const auto& [name, hex] : kPinned) {
    auto it = doc.find(name);
    ASSERT_NE(it, doc.end()) << "FORMAT.md does not list vector " << name;
    EXPECT_EQ(it->second, hex) << "FORMAT.md disagrees on vector " << name;
  }
  EXPECT_EQ(doc.size(), kPinned.size()) << "FORMAT.md lists staff vectors the test does not pin";
}

TEST_F(StaffFormatVectors, VectorFileListsTheSameValues) {
  const std::string text =
      ReadText(fs::path(COFFER_SOURCE_DIR) / "tests" / "testdata" / "vectors" / "staff_vectors.txt");
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
// The pinned bytes are what the production decoders and verifiers accept.

TEST_F(StaffFormatVectors, GrantVectorDecodesVerifiesAndIsTheCodesPayload) {
  const Bytes device_pk = PinnedBytes("staff/device-public-key");
  const Bytes encoded = PinnedBytes("staff/grant");
  auto grant = Grant::Decode(encoded);
  ASSERT_TRUE(grant.ok()) << grant.status().ToString();
  EXPECT_TRUE(VerifyGrantSignature(*grant, device_pk).ok());
  EXPECT_EQ(grant->scopes, kScopeMetadata | kScopeRestoreTrash);
  EXPECT_EQ(grant->expires_at - grant->issued_at, 7200);
  EXPECT_EQ(grant->note, "ticket 4711");
  EXPECT_EQ(Id16Hex(grant->device_id), "101112131415161718191a1b1c1d1e1f");
  // Any changed byte of the signed part breaks the signature.
  for (size_t i = 5; i < encoded.size() - crypto::kSignatureBytes; i += 7) {
    Bytes bad = encoded;
    bad[i] ^= 0x01;
    auto changed = Grant::Decode(bad);
    if (changed.ok()) EXPECT_EQ(VerifyGrantSignature(*changed, device_pk).code(), StatusCode::kSecurity) << i;
  }

  // The code: "CG1-" + base64url without padding of (grant || first 4 bytes of H(grant)).
  const Bytes code_bytes = PinnedBytes("staff/grant-code");
  const std::string code(AsChars(code_bytes));
  ASSERT_EQ(code.rfind("CG1-", 0), 0u);
  EXPECT_EQ(code.find('='), std::string::npos);
  auto parsed = ParseGrantCode(code);
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->Encode(), encoded);
  std::string b64 = code.substr(4);
  for (char& c : b64) {
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  while (b64.size() % 4 != 0) b64.push_back('=');
  auto payload = Base64Decode(b64);
  ASSERT_TRUE(payload.ok());
  ASSERT_EQ(payload->size(), encoded.size() + 4);
  const Bytes check = crypto::Hash(encoded);
  EXPECT_EQ(Bytes(payload->begin(), payload->begin() + static_cast<long>(encoded.size())), encoded);
  EXPECT_EQ(Bytes(payload->end() - 4, payload->end()), Bytes(check.begin(), check.begin() + 4));
}

TEST_F(StaffFormatVectors, LogVectorsVerifyAndChain) {
  const Bytes log_pk = PinnedBytes("staff/log-public-key");
  Hash32 prev{};
  for (size_t i = 0; i < std::size(kLogNames); ++i) {
    const std::string name = std::string("staff/") + kLogNames[i];
    const Bytes encoded = PinnedBytes(name);
    Bytes signature;
    auto entry = LogEntry::Decode(encoded, &signature);
    ASSERT_TRUE(entry.ok()) << name << ": " << entry.status().ToString();
    EXPECT_TRUE(crypto::VerifySignature(log_pk, entry->SignedPart(), signature).ok()) << name;
    EXPECT_EQ(entry->seq, i);
    EXPECT_EQ(entry->prev_hash, prev) << name << " does not link to the entry before it";
    const Hash32 hash = EntryHash(encoded);
    EXPECT_EQ(HexEncode(hash), HexEncode(PinnedBytes(name + ".hash")));
    EXPECT_EQ(HexEncode(hash), HexEncode(crypto::Hash(encoded)));  // H = BLAKE2b-256 of the whole encoding
    prev = hash;
  }
  auto denied = LogEntry::Decode(PinnedBytes("staff/log/1-restore-trash-denied"), nullptr);
  ASSERT_TRUE(denied.ok());
  EXPECT_EQ(denied->outcome, Outcome::kDenied);
  EXPECT_EQ(Id16Hex(denied->grant_id), "404142434445464748494a4b4c4d4e4f");
  auto owner = LogEntry::Decode(PinnedBytes("staff/log/2-owner-revoke"), nullptr);
  ASSERT_TRUE(owner.ok());
  EXPECT_EQ(owner->actor_kind, ActorKind::kOwner);

  Hash32 global_prev{};
  for (size_t i = 0; i < std::size(kLogNames); ++i) {
    const std::string name = "staff/global/" + std::to_string(i);
    const Bytes encoded = PinnedBytes(name);
    Bytes signature;
    auto g = GlobalLogEntry::Decode(encoded, &signature);
    ASSERT_TRUE(g.ok()) << name << ": " << g.status().ToString();
    EXPECT_TRUE(crypto::VerifySignature(log_pk, g->SignedPart(), signature).ok()) << name;
    EXPECT_EQ(g->seq, i);
    EXPECT_EQ(g->prev_hash, global_prev);
    EXPECT_EQ(g->account_length, i + 1);
    EXPECT_EQ(HexEncode(g->account_head), HexEncode(PinnedBytes(std::string("staff/") + kLogNames[i] + ".hash")));
    global_prev = EntryHash(encoded);
    EXPECT_EQ(HexEncode(global_prev), HexEncode(PinnedBytes(name + ".hash")));
  }
}

}  // namespace
}  // namespace coffer::staff
