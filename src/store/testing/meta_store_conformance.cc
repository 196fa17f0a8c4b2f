#include "store/testing/meta_store_conformance.h"

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <ctime>
#include <limits>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/testing/store_test_util.h"

namespace coffer::store::testing {

void PrintTo(const MetaStoreFixture& fixture, std::ostream* os) { *os << fixture.name; }

std::string MetaStoreFixtureName(const ::testing::TestParamInfo<MetaStoreFixture>& info) {
  return info.param.name;
}

void MetaStoreConformance::SetUp() {
  auto store = GetParam().make_empty();
  ASSERT_TRUE(store.ok()) << "make_empty for " << GetParam().name << ": " << store.status().ToString();
  store_ = std::move(*store);
  ASSERT_NE(store_, nullptr);
}

void MetaStoreConformance::TearDown() { store_.reset(); }

// Every test binary of the project links coffer_store_testing, and the linker may pull this
// object into one that instantiates nothing (archive members also get pulled in to resolve
// incidental template instantiations). Without this, gtest would fail such a binary with
// "UninstantiatedParameterizedTestSuite"; an implementation's own binary still instantiates
// the suite through COFFER_INSTANTIATE_..._CONFORMANCE.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(MetaStoreConformance);

namespace {

constexpr int64_t kT0 = 1700000000;  // an arbitrary "now" for tests that pass time in

// A lowercase hex id of `hex_len` characters derived from `n` (distinct n, distinct ids).
std::string HexId(uint64_t n, size_t hex_len = 32) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  uint64_t x = n * 0x9e3779b97f4a7c15ULL + 0x1234567;
  while (out.size() < hex_len) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    for (int i = 0; i < 16 && out.size() < hex_len; ++i) out += kHex[(x >> (i * 4)) & 0xf];
  }
  // The last hex digits spell n so that ids of different n never collide.
  std::string tail;
  for (uint64_t v = n; v != 0 || tail.empty(); v >>= 4) tail.insert(tail.begin(), kHex[v & 0xf]);
  out.replace(out.size() - tail.size(), tail.size(), tail);
  return out;
}

std::string ChunkId(uint64_t n) { return HexId(n, 64); }

AccountRecord TestAccount(uint64_t n) {
  AccountRecord a;
  a.account_id = HexId(n);
  a.email = "user" + std::to_string(n) + "@example.com";
  a.created_at = kT0 + static_cast<int64_t>(n);
  a.login_hash = "$argon2id$v=19$m=65536,t=3,p=1$login" + std::to_string(n);
  a.login_salt = TestBytes(16, n);
  a.kdf_ops = 3;
  a.kdf_mem = 256ULL << 20;
  a.recovery_hash = "$argon2id$v=19$m=65536,t=3,p=1$recovery" + std::to_string(n);
  a.recovery_blob = TestBytes(72, n + 1000);
  a.quota_bytes = 0;
  a.used_bytes = 0;
  a.locked = false;
  a.last_activity = kT0;
  return a;
}

void ExpectAccountEq(const AccountRecord& got, const AccountRecord& want) {
  EXPECT_EQ(got.account_id, want.account_id);
  EXPECT_EQ(got.email, want.email);
  EXPECT_EQ(got.created_at, want.created_at);
  EXPECT_EQ(got.login_hash, want.login_hash);
  EXPECT_EQ(got.login_salt, want.login_salt);
  EXPECT_EQ(got.kdf_ops, want.kdf_ops);
  EXPECT_EQ(got.kdf_mem, want.kdf_mem);
  EXPECT_EQ(got.recovery_hash, want.recovery_hash);
  EXPECT_EQ(got.recovery_blob, want.recovery_blob);
  EXPECT_EQ(got.quota_bytes, want.quota_bytes);
  EXPECT_EQ(got.used_bytes, want.used_bytes);
  EXPECT_EQ(got.locked, want.locked);
  EXPECT_EQ(got.last_activity, want.last_activity);
}

DeviceRecord TestDevice(const std::string& account_id, uint64_t n) {
  DeviceRecord d;
  d.account_id = account_id;
  d.device_id = HexId(n + 5000);
  d.sign_public_key = TestBytes(32, n + 1);
  d.box_public_key = TestBytes(32, n + 2);
  d.name = "laptop " + std::to_string(n);
  d.status = DeviceStatus::kPending;
  d.created_at = kT0 + static_cast<int64_t>(n);
  return d;
}

void ExpectDeviceEq(const DeviceRecord& got, const DeviceRecord& want) {
  EXPECT_EQ(got.account_id, want.account_id);
  EXPECT_EQ(got.device_id, want.device_id);
  EXPECT_EQ(got.sign_public_key, want.sign_public_key);
  EXPECT_EQ(got.box_public_key, want.box_public_key);
  EXPECT_EQ(got.name, want.name);
  EXPECT_EQ(got.status, want.status);
  EXPECT_EQ(got.created_at, want.created_at);
}

SessionRecord TestSession(const std::string& account_id, const std::string& device_id, uint64_t n,
                          SessionKind kind = SessionKind::kDevice) {
  SessionRecord s;
  s.token_hash = TestBytes(32, n + 777);
  s.account_id = account_id;
  s.device_id = device_id;
  s.kind = kind;
  s.created_at = kT0;
  s.expires_at = kT0 + 3600;
  return s;
}

void ExpectSessionEq(const SessionRecord& got, const SessionRecord& want) {
  EXPECT_EQ(got.token_hash, want.token_hash);
  EXPECT_EQ(got.account_id, want.account_id);
  EXPECT_EQ(got.device_id, want.device_id);
  EXPECT_EQ(got.kind, want.kind);
  EXPECT_EQ(got.created_at, want.created_at);
  EXPECT_EQ(got.expires_at, want.expires_at);
}

ChunkRecord TestChunk(uint64_t n, uint64_t size) {
  ChunkRecord c;
  c.chunk_id = ChunkId(n);
  c.size = size;
  c.sha256 = TestBytes(32, n + 31337);
  c.created_at = kT0 + static_cast<int64_t>(n);
  return c;
}

void ExpectChunkEq(const ChunkRecord& got, const ChunkRecord& want) {
  EXPECT_EQ(got.chunk_id, want.chunk_id);
  EXPECT_EQ(got.size, want.size);
  EXPECT_EQ(got.sha256, want.sha256);
  EXPECT_EQ(got.created_at, want.created_at);
  EXPECT_EQ(got.pack_id, want.pack_id);
  EXPECT_EQ(got.pack_offset, want.pack_offset);
}

// Creates account n (with the given quota) and returns its id; fails the test on error.
std::string MakeAccount(MetaStore& store, uint64_t n, uint64_t quota = 0) {
  AccountRecord a = TestAccount(n);
  a.quota_bytes = quota;
  Status s = store.CreateAccount(a);
  EXPECT_TRUE(s.ok()) << s.ToString();
  return a.account_id;
}

uint64_t UsedBytes(MetaStore& store, const std::string& account_id) {
  auto a = store.GetAccount(account_id);
  EXPECT_TRUE(a.ok()) << a.status().ToString();
  return a.ok() ? a->used_bytes : ~uint64_t{0};
}

std::vector<uint64_t> Numbers(const std::vector<RevisionRecord>& revs) {
  std::vector<uint64_t> out;
  for (const auto& r : revs) out.push_back(r.number);
  return out;
}

std::vector<uint64_t> Range(uint64_t first, uint64_t last) {
  std::vector<uint64_t> out;
  for (uint64_t i = first; i <= last; ++i) out.push_back(i);
  return out;
}

const std::string kCollection = HexId(900);
const std::string kCollection2 = HexId(901);

}  // namespace

// ==== accounts ==========================================================================

TEST_P(MetaStoreConformance, CreateAccountRoundTripsEveryField) {
  AccountRecord a = TestAccount(1);
  a.quota_bytes = 123456789;
  a.used_bytes = 4242;
  a.locked = true;
  a.last_activity = kT0 + 99;
  STORE_ASSERT_OK(store().CreateAccount(a));
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord by_id, store().GetAccount(a.account_id));
  ExpectAccountEq(by_id, a);
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord by_email, store().GetAccountByEmail(a.email));
  ExpectAccountEq(by_email, a);
}

TEST_P(MetaStoreConformance, CreateAccountKeepsEmptyBlobsAndExtremeValues) {
  AccountRecord a = TestAccount(2);
  a.login_salt.clear();
  a.recovery_blob.clear();
  a.recovery_hash.clear();
  a.kdf_ops = std::numeric_limits<uint64_t>::max();
  a.kdf_mem = uint64_t{1} << 63;
  a.quota_bytes = std::numeric_limits<uint64_t>::max();
  a.created_at = -1;
  a.last_activity = std::numeric_limits<int64_t>::max();
  STORE_ASSERT_OK(store().CreateAccount(a));
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord got, store().GetAccount(a.account_id));
  ExpectAccountEq(got, a);
}

TEST_P(MetaStoreConformance, DuplicateEmailIsAlreadyExistsAndKeepsOriginal) {
  AccountRecord first = TestAccount(3);
  STORE_ASSERT_OK(store().CreateAccount(first));
  AccountRecord second = TestAccount(4);
  second.email = first.email;
  STORE_EXPECT_CODE(store().CreateAccount(second), kAlreadyExists);
  STORE_EXPECT_CODE(store().GetAccount(second.account_id), kNotFound);
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord got, store().GetAccountByEmail(first.email));
  ExpectAccountEq(got, first);
}

TEST_P(MetaStoreConformance, DuplicateAccountIdIsAlreadyExists) {
  AccountRecord first = TestAccount(5);
  STORE_ASSERT_OK(store().CreateAccount(first));
  AccountRecord second = TestAccount(6);
  second.account_id = first.account_id;
  STORE_EXPECT_CODE(store().CreateAccount(second), kAlreadyExists);
  STORE_EXPECT_CODE(store().GetAccountByEmail(second.email), kNotFound);
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord got, store().GetAccount(first.account_id));
  ExpectAccountEq(got, first);
}

TEST_P(MetaStoreConformance, UnknownAccountIsNotFound) {
  STORE_EXPECT_CODE(store().GetAccount(HexId(7)), kNotFound);
  STORE_EXPECT_CODE(store().GetAccountByEmail("nobody@example.com"), kNotFound);
  MakeAccount(store(), 8);
  STORE_EXPECT_CODE(store().GetAccount(HexId(7)), kNotFound);
  STORE_EXPECT_CODE(store().GetAccountByEmail("nobody@example.com"), kNotFound);
}

TEST_P(MetaStoreConformance, EmailIsStoredAndMatchedExactlyAsGiven) {
  // The server lower-cases emails before calling; the store neither folds case nor trims.
  AccountRecord a = TestAccount(9);
  a.email = "Mixed.Case+tag@Example.COM";
  STORE_ASSERT_OK(store().CreateAccount(a));
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord got, store().GetAccountByEmail("Mixed.Case+tag@Example.COM"));
  EXPECT_EQ(got.email, "Mixed.Case+tag@Example.COM");
  STORE_EXPECT_CODE(store().GetAccountByEmail("mixed.case+tag@example.com"), kNotFound);
}

TEST_P(MetaStoreConformance, UpdateLoginReplacesOnlyLoginFields) {
  AccountRecord a = TestAccount(10);
  STORE_ASSERT_OK(store().CreateAccount(a));
  const Bytes salt = TestBytes(16, 99);
  STORE_ASSERT_OK(store().UpdateLogin(a.account_id, "new-hash", salt, 7, 1ULL << 30));
  AccountRecord want = a;
  want.login_hash = "new-hash";
  want.login_salt = salt;
  want.kdf_ops = 7;
  want.kdf_mem = 1ULL << 30;
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord got, store().GetAccount(a.account_id));
  ExpectAccountEq(got, want);
}

TEST_P(MetaStoreConformance, UpdateRecoveryReplacesOnlyRecoveryFields) {
  AccountRecord a = TestAccount(11);
  STORE_ASSERT_OK(store().CreateAccount(a));
  const Bytes blob = TestBytes(100, 5);
  STORE_ASSERT_OK(store().UpdateRecovery(a.account_id, "new-recovery-hash", blob));
  AccountRecord want = a;
  want.recovery_hash = "new-recovery-hash";
  want.recovery_blob = blob;
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord got, store().GetAccount(a.account_id));
  ExpectAccountEq(got, want);
}

TEST_P(MetaStoreConformance, SetLockedSetQuotaAndTouchActivity) {
  AccountRecord a = TestAccount(12);
  STORE_ASSERT_OK(store().CreateAccount(a));
  STORE_ASSERT_OK(store().SetLocked(a.account_id, true));
  STORE_ASSERT_OK(store().SetQuota(a.account_id, 5000));
  STORE_ASSERT_OK(store().TouchActivity(a.account_id, kT0 + 500));
  AccountRecord want = a;
  want.locked = true;
  want.quota_bytes = 5000;
  want.last_activity = kT0 + 500;
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord got, store().GetAccount(a.account_id));
  ExpectAccountEq(got, want);
  STORE_ASSERT_OK(store().SetLocked(a.account_id, false));
  STORE_ASSERT_OK(store().SetQuota(a.account_id, 0));
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord again, store().GetAccount(a.account_id));
  EXPECT_FALSE(again.locked);
  EXPECT_EQ(again.quota_bytes, 0u);
}

TEST_P(MetaStoreConformance, AccountUpdatesOfUnknownAccountAreNotFound) {
  MakeAccount(store(), 13);
  const std::string ghost = HexId(14);
  STORE_EXPECT_CODE(store().UpdateLogin(ghost, "h", TestBytes(16, 1), 1, 1), kNotFound);
  STORE_EXPECT_CODE(store().UpdateRecovery(ghost, "h", TestBytes(16, 1)), kNotFound);
  STORE_EXPECT_CODE(store().SetLocked(ghost, true), kNotFound);
  STORE_EXPECT_CODE(store().SetQuota(ghost, 1), kNotFound);
  STORE_EXPECT_CODE(store().TouchActivity(ghost, kT0), kNotFound);
  STORE_EXPECT_CODE(store().GetAccount(ghost), kNotFound);
}

// ==== login rate limiting ===============================================================

TEST_P(MetaStoreConformance, LoginFailuresAreCountedPerKeySinceInclusive) {
  STORE_ASSERT_OK_AND_ASSIGN(int none, store().CountLoginFailures("email:a@example.com", 0));
  EXPECT_EQ(none, 0);
  for (int64_t t : {100, 200, 200, 300})
    STORE_ASSERT_OK(store().RecordLoginFailure("email:a@example.com", t));
  STORE_ASSERT_OK(store().RecordLoginFailure("ip:192.0.2.1", 250));
  auto count = [&](const std::string& key, int64_t since) {
    auto n = store().CountLoginFailures(key, since);
    EXPECT_TRUE(n.ok()) << n.status().ToString();
    return n.ok() ? *n : -1;
  };
  EXPECT_EQ(count("email:a@example.com", 0), 4);
  EXPECT_EQ(count("email:a@example.com", 100), 4);  // `since` is inclusive
  EXPECT_EQ(count("email:a@example.com", 101), 3);
  EXPECT_EQ(count("email:a@example.com", 200), 3);
  EXPECT_EQ(count("email:a@example.com", 201), 1);
  EXPECT_EQ(count("email:a@example.com", 301), 0);
  EXPECT_EQ(count("ip:192.0.2.1", 0), 1);
  EXPECT_EQ(count("email:b@example.com", 0), 0);
}

TEST_P(MetaStoreConformance, ClearLoginFailuresClearsOnlyThatKey) {
  STORE_ASSERT_OK(store().RecordLoginFailure("email:a@example.com", 100));
  STORE_ASSERT_OK(store().RecordLoginFailure("email:a@example.com", 101));
  STORE_ASSERT_OK(store().RecordLoginFailure("ip:192.0.2.1", 100));
  STORE_ASSERT_OK(store().ClearLoginFailures("email:a@example.com"));
  STORE_ASSERT_OK(store().ClearLoginFailures("email:never@example.com"));  // nothing to clear is fine
  STORE_ASSERT_OK_AND_ASSIGN(int a, store().CountLoginFailures("email:a@example.com", 0));
  STORE_ASSERT_OK_AND_ASSIGN(int ip, store().CountLoginFailures("ip:192.0.2.1", 0));
  EXPECT_EQ(a, 0);
  EXPECT_EQ(ip, 1);
  STORE_ASSERT_OK(store().RecordLoginFailure("email:a@example.com", 102));  // counting restarts
  STORE_ASSERT_OK_AND_ASSIGN(int again, store().CountLoginFailures("email:a@example.com", 0));
  EXPECT_EQ(again, 1);
}

// ==== sessions ==========================================================================

TEST_P(MetaStoreConformance, SessionRoundTripsEveryKind) {
  const std::string account = MakeAccount(store(), 20);
  const std::string device = HexId(21);
  int n = 0;
  for (SessionKind kind : {SessionKind::kDevice, SessionKind::kPending, SessionKind::kRecovery}) {
    SessionRecord s = TestSession(account, kind == SessionKind::kRecovery ? "" : device, ++n, kind);
    s.created_at = kT0 + n;
    s.expires_at = kT0 + 1000 * n;
    STORE_ASSERT_OK(store().CreateSession(s));
    STORE_ASSERT_OK_AND_ASSIGN(SessionRecord got, store().GetSession(s.token_hash, kT0));
    ExpectSessionEq(got, s);
  }
}

TEST_P(MetaStoreConformance, SessionExpiresAtExpiresAt) {
  const std::string account = MakeAccount(store(), 22);
  SessionRecord s = TestSession(account, HexId(23), 1);
  s.expires_at = kT0 + 100;
  STORE_ASSERT_OK(store().CreateSession(s));
  STORE_EXPECT_OK(store().GetSession(s.token_hash, kT0));
  STORE_EXPECT_OK(store().GetSession(s.token_hash, kT0 + 99));
  STORE_EXPECT_CODE(store().GetSession(s.token_hash, kT0 + 100), kNotFound);
  STORE_EXPECT_CODE(store().GetSession(s.token_hash, kT0 + 1000), kNotFound);
  STORE_EXPECT_CODE(store().GetSession(TestBytes(32, 12345), kT0), kNotFound);
}

TEST_P(MetaStoreConformance, DuplicateSessionTokenIsAlreadyExists) {
  const std::string account = MakeAccount(store(), 24);
  SessionRecord s = TestSession(account, HexId(25), 1);
  STORE_ASSERT_OK(store().CreateSession(s));
  SessionRecord other = s;
  other.device_id = HexId(26);
  STORE_EXPECT_CODE(store().CreateSession(other), kAlreadyExists);
  STORE_ASSERT_OK_AND_ASSIGN(SessionRecord got, store().GetSession(s.token_hash, kT0));
  ExpectSessionEq(got, s);
}

TEST_P(MetaStoreConformance, DeleteSessionIsIdempotent) {
  const std::string account = MakeAccount(store(), 27);
  SessionRecord s1 = TestSession(account, HexId(28), 1);
  SessionRecord s2 = TestSession(account, HexId(28), 2);
  STORE_ASSERT_OK(store().CreateSession(s1));
  STORE_ASSERT_OK(store().CreateSession(s2));
  STORE_ASSERT_OK(store().DeleteSession(s1.token_hash));
  STORE_EXPECT_CODE(store().GetSession(s1.token_hash, kT0), kNotFound);
  STORE_EXPECT_OK(store().GetSession(s2.token_hash, kT0));
  STORE_EXPECT_OK(store().DeleteSession(s1.token_hash));
  STORE_EXPECT_OK(store().DeleteSession(TestBytes(32, 4321)));
}

TEST_P(MetaStoreConformance, DeleteDeviceSessionsDeletesOnlyThatDevice) {
  const std::string account = MakeAccount(store(), 29);
  const std::string other_account = MakeAccount(store(), 30);
  const std::string dev = HexId(31), other_dev = HexId(32);
  SessionRecord a1 = TestSession(account, dev, 1), a2 = TestSession(account, dev, 2, SessionKind::kPending);
  SessionRecord b = TestSession(account, other_dev, 3);
  SessionRecord c = TestSession(other_account, dev, 4);  // same device id, other account
  for (const auto* s : {&a1, &a2, &b, &c}) STORE_ASSERT_OK(store().CreateSession(*s));
  STORE_ASSERT_OK(store().DeleteDeviceSessions(account, dev));
  STORE_EXPECT_CODE(store().GetSession(a1.token_hash, kT0), kNotFound);
  STORE_EXPECT_CODE(store().GetSession(a2.token_hash, kT0), kNotFound);
  STORE_EXPECT_OK(store().GetSession(b.token_hash, kT0));
  STORE_EXPECT_OK(store().GetSession(c.token_hash, kT0));
  STORE_EXPECT_OK(store().DeleteDeviceSessions(account, dev));  // nothing left: still OK
}

TEST_P(MetaStoreConformance, SetDeviceSessionsKindChangesOnlyThatDevice) {
  const std::string account = MakeAccount(store(), 33);
  const std::string other_account = MakeAccount(store(), 34);
  const std::string dev = HexId(35), other_dev = HexId(36);
  SessionRecord a1 = TestSession(account, dev, 1, SessionKind::kPending);
  SessionRecord a2 = TestSession(account, dev, 2, SessionKind::kPending);
  SessionRecord b = TestSession(account, other_dev, 3, SessionKind::kPending);
  SessionRecord c = TestSession(other_account, dev, 4, SessionKind::kPending);
  for (const auto* s : {&a1, &a2, &b, &c}) STORE_ASSERT_OK(store().CreateSession(*s));
  STORE_ASSERT_OK(store().SetDeviceSessionsKind(account, dev, SessionKind::kDevice));
  for (const auto* s : {&a1, &a2}) {
    STORE_ASSERT_OK_AND_ASSIGN(SessionRecord got, store().GetSession(s->token_hash, kT0));
    SessionRecord want = *s;
    want.kind = SessionKind::kDevice;
    ExpectSessionEq(got, want);  // only the kind changed
  }
  for (const auto* s : {&b, &c}) {
    STORE_ASSERT_OK_AND_ASSIGN(SessionRecord got, store().GetSession(s->token_hash, kT0));
    EXPECT_EQ(got.kind, SessionKind::kPending);
  }
  STORE_EXPECT_OK(store().SetDeviceSessionsKind(account, HexId(37), SessionKind::kDevice));  // no sessions
}

// ==== devices ===========================================================================

TEST_P(MetaStoreConformance, PutDeviceRoundTripsEveryField) {
  const std::string account = MakeAccount(store(), 40);
  for (DeviceStatus status : {DeviceStatus::kPending, DeviceStatus::kActive, DeviceStatus::kRevoked}) {
    DeviceRecord d = TestDevice(account, static_cast<uint64_t>(status));
    d.status = status;
    STORE_ASSERT_OK(store().PutDevice(d));
    STORE_ASSERT_OK_AND_ASSIGN(DeviceRecord got, store().GetDevice(account, d.device_id));
    ExpectDeviceEq(got, d);
  }
}

TEST_P(MetaStoreConformance, PutDeviceUpdatesKeysNameStatusAndKeepsCreatedAt) {
  const std::string account = MakeAccount(store(), 41);
  DeviceRecord d = TestDevice(account, 1);
  STORE_ASSERT_OK(store().PutDevice(d));
  DeviceRecord update = d;
  update.sign_public_key = TestBytes(32, 91);
  update.box_public_key = TestBytes(32, 92);
  update.name = "renamed";
  update.status = DeviceStatus::kActive;
  update.created_at = d.created_at + 1000;  // ignored: the device keeps its creation time
  STORE_ASSERT_OK(store().PutDevice(update));
  DeviceRecord want = update;
  want.created_at = d.created_at;
  STORE_ASSERT_OK_AND_ASSIGN(DeviceRecord got, store().GetDevice(account, d.device_id));
  ExpectDeviceEq(got, want);
  STORE_ASSERT_OK_AND_ASSIGN(std::vector<DeviceRecord> all, store().ListDevices(account));
  EXPECT_EQ(all.size(), 1u);
}

TEST_P(MetaStoreConformance, ListDevicesReturnsExactlyTheAccountsDevices) {
  const std::string account = MakeAccount(store(), 42);
  const std::string other = MakeAccount(store(), 43);
  STORE_ASSERT_OK_AND_ASSIGN(std::vector<DeviceRecord> none, store().ListDevices(account));
  EXPECT_TRUE(none.empty());
  std::map<std::string, DeviceRecord> want;
  for (uint64_t i = 0; i < 5; ++i) {
    DeviceRecord d = TestDevice(account, i);
    STORE_ASSERT_OK(store().PutDevice(d));
    want[d.device_id] = d;
  }
  STORE_ASSERT_OK(store().PutDevice(TestDevice(other, 100)));
  STORE_ASSERT_OK_AND_ASSIGN(std::vector<DeviceRecord> got, store().ListDevices(account));
  ASSERT_EQ(got.size(), want.size());
  for (const DeviceRecord& d : got) {
    ASSERT_EQ(want.count(d.device_id), 1u) << d.device_id;
    ExpectDeviceEq(d, want[d.device_id]);
  }
  STORE_ASSERT_OK_AND_ASSIGN(std::vector<DeviceRecord> unknown, store().ListDevices(HexId(44)));
  EXPECT_TRUE(unknown.empty());
}

TEST_P(MetaStoreConformance, GetUnknownDeviceIsNotFound) {
  const std::string account = MakeAccount(store(), 45);
  const std::string other = MakeAccount(store(), 46);
  DeviceRecord d = TestDevice(other, 1);
  STORE_ASSERT_OK(store().PutDevice(d));
  STORE_EXPECT_CODE(store().GetDevice(account, d.device_id), kNotFound);  // other account's device
  STORE_EXPECT_CODE(store().GetDevice(account, HexId(47)), kNotFound);
}

// ==== device chain ======================================================================

TEST_P(MetaStoreConformance, ChainAppendsFromZeroAndReadsFromAnySeq) {
  const std::string account = MakeAccount(store(), 50);
  STORE_ASSERT_OK_AND_ASSIGN(std::vector<Bytes> empty, store().GetChain(account, 0));
  EXPECT_TRUE(empty.empty());
  std::vector<Bytes> entries;
  for (uint64_t seq = 0; seq < 5; ++seq) {
    entries.push_back(TestBytes(100 + seq, seq));
    STORE_ASSERT_OK(store().AppendChainEntry(account, seq, entries.back()));
  }
  for (uint64_t from = 0; from <= 6; ++from) {
    STORE_ASSERT_OK_AND_ASSIGN(std::vector<Bytes> got, store().GetChain(account, from));
    std::vector<Bytes> want(entries.begin() + std::min<uint64_t>(from, entries.size()), entries.end());
    EXPECT_EQ(got, want) << "from " << from;
  }
  STORE_ASSERT_OK_AND_ASSIGN(std::vector<Bytes> far, store().GetChain(account, ~uint64_t{0}));
  EXPECT_TRUE(far.empty());
}

TEST_P(MetaStoreConformance, ChainAppendWithWrongSeqIsAbortedAndChangesNothing) {
  const std::string account = MakeAccount(store(), 51);
  STORE_EXPECT_CODE(store().AppendChainEntry(account, 1, TestBytes(10, 1)), kAborted);  // must start at 0
  STORE_ASSERT_OK(store().AppendChainEntry(account, 0, TestBytes(10, 0)));
  STORE_ASSERT_OK(store().AppendChainEntry(account, 1, TestBytes(10, 1)));
  STORE_EXPECT_CODE(store().AppendChainEntry(account, 1, TestBytes(10, 99)), kAborted);  // taken
  STORE_EXPECT_CODE(store().AppendChainEntry(account, 0, TestBytes(10, 99)), kAborted);
  STORE_EXPECT_CODE(store().AppendChainEntry(account, 3, TestBytes(10, 99)), kAborted);  // gap
  STORE_ASSERT_OK_AND_ASSIGN(std::vector<Bytes> chain, store().GetChain(account, 0));
  EXPECT_EQ(chain, (std::vector<Bytes>{TestBytes(10, 0), TestBytes(10, 1)}));
  // Chains are per account.
  const std::string other = MakeAccount(store(), 52);
  STORE_EXPECT_OK(store().AppendChainEntry(other, 0, TestBytes(10, 5)));
}

// ==== sealed keys =======================================================================

TEST_P(MetaStoreConformance, SealedKeyRoundTripsPerDevice) {
  const std::string account = MakeAccount(store(), 60);
  const std::string d1 = HexId(61), d2 = HexId(62);
  STORE_EXPECT_CODE(store().GetSealedKey(account, d1), kNotFound);
  STORE_ASSERT_OK(store().PutSealedKey(account, d1, 1, TestBytes(80, 1)));
  STORE_ASSERT_OK(store().PutSealedKey(account, d2, 4, TestBytes(80, 2)));
  STORE_ASSERT_OK_AND_ASSIGN(auto k1, store().GetSealedKey(account, d1));
  STORE_ASSERT_OK_AND_ASSIGN(auto k2, store().GetSealedKey(account, d2));
  EXPECT_EQ(k1.first, 1u);
  EXPECT_EQ(k1.second, TestBytes(80, 1));
  EXPECT_EQ(k2.first, 4u);
  EXPECT_EQ(k2.second, TestBytes(80, 2));
  const std::string other = MakeAccount(store(), 63);
  STORE_EXPECT_CODE(store().GetSealedKey(other, d1), kNotFound);
}

TEST_P(MetaStoreConformance, SealedKeyNewestEpochWins) {
  const std::string account = MakeAccount(store(), 64);
  const std::string d = HexId(65);
  STORE_ASSERT_OK(store().PutSealedKey(account, d, 2, TestBytes(80, 2)));
  STORE_ASSERT_OK(store().PutSealedKey(account, d, 3, TestBytes(80, 3)));
  STORE_ASSERT_OK(store().PutSealedKey(account, d, 1, TestBytes(80, 1)));  // late and older: dropped
  STORE_ASSERT_OK_AND_ASSIGN(auto k, store().GetSealedKey(account, d));
  EXPECT_EQ(k.first, 3u);
  EXPECT_EQ(k.second, TestBytes(80, 3));
  STORE_ASSERT_OK(store().PutSealedKey(account, d, 3, TestBytes(80, 33)));  // same epoch replaces
  STORE_ASSERT_OK_AND_ASSIGN(auto again, store().GetSealedKey(account, d));
  EXPECT_EQ(again.first, 3u);
  EXPECT_EQ(again.second, TestBytes(80, 33));
}

// ==== keyring ===========================================================================

TEST_P(MetaStoreConformance, KeyringStartsAtVersionOneAndAdvancesByOne) {
  const std::string account = MakeAccount(store(), 70);
  STORE_EXPECT_CODE(store().GetKeyring(account), kNotFound);
  for (uint64_t v = 1; v <= 3; ++v) {
    STORE_ASSERT_OK(store().PutKeyring(account, v, TestBytes(200, v)));
    STORE_ASSERT_OK_AND_ASSIGN(auto k, store().GetKeyring(account));
    EXPECT_EQ(k.first, v);
    EXPECT_EQ(k.second, TestBytes(200, v));
  }
}

TEST_P(MetaStoreConformance, KeyringWrongVersionIsAbortedAndChangesNothing) {
  const std::string account = MakeAccount(store(), 71);
  STORE_EXPECT_CODE(store().PutKeyring(account, 0, TestBytes(10, 0)), kAborted);
  STORE_EXPECT_CODE(store().PutKeyring(account, 2, TestBytes(10, 0)), kAborted);
  STORE_EXPECT_CODE(store().GetKeyring(account), kNotFound);
  STORE_ASSERT_OK(store().PutKeyring(account, 1, TestBytes(10, 1)));
  for (uint64_t v : {0, 1, 3, 100}) {
    STORE_EXPECT_CODE(store().PutKeyring(account, v, TestBytes(10, 99)), kAborted);
  }
  STORE_ASSERT_OK_AND_ASSIGN(auto k, store().GetKeyring(account));
  EXPECT_EQ(k.first, 1u);
  EXPECT_EQ(k.second, TestBytes(10, 1));
  const std::string other = MakeAccount(store(), 72);  // versions are per account
  STORE_EXPECT_OK(store().PutKeyring(other, 1, TestBytes(10, 2)));
}

// ==== collections and revisions =========================================================

TEST_P(MetaStoreConformance, AppendRevisionBuildsJournalFromOne) {
  const std::string account = MakeAccount(store(), 80);
  STORE_ASSERT_OK_AND_ASSIGN(uint64_t empty_head, store().GetHead(account, kCollection));
  EXPECT_EQ(empty_head, 0u);
  for (uint64_t n = 1; n <= 5; ++n) {
    STORE_ASSERT_OK(store().AppendRevision(account, kCollection, n, TestBytes(50 + n, n)));
    STORE_ASSERT_OK_AND_ASSIGN(uint64_t head, store().GetHead(account, kCollection));
    EXPECT_EQ(head, n);
  }
  STORE_ASSERT_OK_AND_ASSIGN(auto revs, store().GetRevisions(account, kCollection, 1, 100, 1 << 20));
  ASSERT_EQ(revs.size(), 5u);
  for (uint64_t n = 1; n <= 5; ++n) {
    EXPECT_EQ(revs[n - 1].number, n);
    EXPECT_EQ(revs[n - 1].data, TestBytes(50 + n, n));
  }
}

TEST_P(MetaStoreConformance, AppendRevisionWithWrongNumberIsAbortedAndChangesNothing) {
  const std::string account = MakeAccount(store(), 81);
  STORE_EXPECT_CODE(store().AppendRevision(account, kCollection, 0, TestBytes(10, 0)), kAborted);
  STORE_EXPECT_CODE(store().AppendRevision(account, kCollection, 2, TestBytes(10, 0)), kAborted);
  STORE_ASSERT_OK_AND_ASSIGN(auto no_collections, store().ListCollections(account));
  EXPECT_TRUE(no_collections.empty());  // a failed first append does not create the collection
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection, 1, TestBytes(10, 1)));
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection, 2, TestBytes(10, 2)));
  const uint64_t used = UsedBytes(store(), account);
  for (uint64_t n : {0, 1, 2, 4, 1000}) {
    STORE_EXPECT_CODE(store().AppendRevision(account, kCollection, n, TestBytes(10, 99)), kAborted);
  }
  STORE_ASSERT_OK_AND_ASSIGN(uint64_t head, store().GetHead(account, kCollection));
  EXPECT_EQ(head, 2u);
  EXPECT_EQ(UsedBytes(store(), account), used);
  STORE_ASSERT_OK_AND_ASSIGN(auto revs, store().GetRevisions(account, kCollection, 1, 100, 1 << 20));
  ASSERT_EQ(Numbers(revs), Range(1, 2));
  EXPECT_EQ(revs[0].data, TestBytes(10, 1));
  EXPECT_EQ(revs[1].data, TestBytes(10, 2));
}

TEST_P(MetaStoreConformance, CollectionsAreIndependentAndPerAccount) {
  const std::string account = MakeAccount(store(), 82);
  const std::string other = MakeAccount(store(), 83);
  for (uint64_t n = 1; n <= 3; ++n)
    STORE_ASSERT_OK(store().AppendRevision(account, kCollection, n, TestBytes(5, n)));
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection2, 1, TestBytes(5, 10)));
  STORE_ASSERT_OK(store().AppendRevision(other, kCollection, 1, TestBytes(5, 20)));

  STORE_ASSERT_OK_AND_ASSIGN(auto heads, store().ListCollections(account));
  std::map<std::string, uint64_t> got;
  for (const CollectionHead& h : heads) got[h.collection_id] = h.head;
  EXPECT_EQ(heads.size(), 2u);
  EXPECT_EQ(got, (std::map<std::string, uint64_t>{{kCollection, 3}, {kCollection2, 1}}));
  STORE_ASSERT_OK_AND_ASSIGN(auto other_heads, store().ListCollections(other));
  ASSERT_EQ(other_heads.size(), 1u);
  EXPECT_EQ(other_heads[0].collection_id, kCollection);
  EXPECT_EQ(other_heads[0].head, 1u);
  STORE_ASSERT_OK_AND_ASSIGN(auto none, store().ListCollections(HexId(84)));
  EXPECT_TRUE(none.empty());
  STORE_ASSERT_OK_AND_ASSIGN(uint64_t unknown_head, store().GetHead(account, HexId(85)));
  EXPECT_EQ(unknown_head, 0u);
  STORE_ASSERT_OK_AND_ASSIGN(auto other_revs, store().GetRevisions(other, kCollection, 1, 100, 1 << 20));
  ASSERT_EQ(other_revs.size(), 1u);
  EXPECT_EQ(other_revs[0].data, TestBytes(5, 20));
}

TEST_P(MetaStoreConformance, GetRevisionsHonoursFromAndLimit) {
  const std::string account = MakeAccount(store(), 86);
  for (uint64_t n = 1; n <= 10; ++n)
    STORE_ASSERT_OK(store().AppendRevision(account, kCollection, n, TestBytes(7, n)));
  auto numbers = [&](uint64_t from, size_t limit) {
    auto revs = store().GetRevisions(account, kCollection, from, limit, 1 << 20);
    EXPECT_TRUE(revs.ok()) << revs.status().ToString();
    return revs.ok() ? Numbers(*revs) : std::vector<uint64_t>{999};
  };
  EXPECT_EQ(numbers(1, 100), Range(1, 10));
  EXPECT_EQ(numbers(0, 100), Range(1, 10));  // numbers start at 1, so 0 means "all"
  EXPECT_EQ(numbers(4, 100), Range(4, 10));
  EXPECT_EQ(numbers(4, 3), Range(4, 6));
  EXPECT_EQ(numbers(1, 1), Range(1, 1));
  EXPECT_EQ(numbers(10, 5), Range(10, 10));
  EXPECT_EQ(numbers(11, 5), std::vector<uint64_t>{});
  EXPECT_EQ(numbers(~uint64_t{0}, 5), std::vector<uint64_t>{});
  EXPECT_EQ(numbers(1, 0), std::vector<uint64_t>{});  // limit 0 asks for nothing
  STORE_ASSERT_OK_AND_ASSIGN(auto revs, store().GetRevisions(account, kCollection, 9, 100, 1 << 20));
  ASSERT_EQ(revs.size(), 2u);
  EXPECT_EQ(revs[0].data, TestBytes(7, 9));
  EXPECT_EQ(revs[1].data, TestBytes(7, 10));
}

TEST_P(MetaStoreConformance, GetRevisionsHonoursMaxBytesButReturnsAtLeastOne) {
  const std::string account = MakeAccount(store(), 87);
  // Sizes 100, 200, ..., 600.
  for (uint64_t n = 1; n <= 6; ++n) {
    STORE_ASSERT_OK(store().AppendRevision(account, kCollection, n, TestBytes(100 * n, n)));
  }
  auto numbers = [&](uint64_t from, size_t max_bytes) {
    auto revs = store().GetRevisions(account, kCollection, from, 100, max_bytes);
    EXPECT_TRUE(revs.ok()) << revs.status().ToString();
    return revs.ok() ? Numbers(*revs) : std::vector<uint64_t>{999};
  };
  EXPECT_EQ(numbers(1, 300), Range(1, 2));   // exactly fits
  EXPECT_EQ(numbers(1, 299), Range(1, 1));   // the second would pass the budget
  EXPECT_EQ(numbers(1, 2100), Range(1, 6));  // everything
  EXPECT_EQ(numbers(1, 1000), Range(1, 4));
  EXPECT_EQ(numbers(3, 1000), Range(3, 4));  // 300 + 400 fits, + 500 does not
  EXPECT_EQ(numbers(6, 1), Range(6, 6));     // one revision even when it alone is too big
  EXPECT_EQ(numbers(2, 0), Range(2, 2));
  // The oversized one is returned whole.
  STORE_ASSERT_OK_AND_ASSIGN(auto revs, store().GetRevisions(account, kCollection, 5, 100, 10));
  ASSERT_EQ(revs.size(), 1u);
  EXPECT_EQ(revs[0].data, TestBytes(500, 5));
}

TEST_P(MetaStoreConformance, GetRevisionsOfEmptyOrUnknownCollectionIsEmpty) {
  const std::string account = MakeAccount(store(), 88);
  STORE_ASSERT_OK_AND_ASSIGN(auto none, store().GetRevisions(account, kCollection, 1, 100, 1 << 20));
  EXPECT_TRUE(none.empty());
  STORE_ASSERT_OK_AND_ASSIGN(auto ghost, store().GetRevisions(HexId(89), kCollection, 1, 100, 1 << 20));
  EXPECT_TRUE(ghost.empty());
}

TEST_P(MetaStoreConformance, EmptyRevisionIsStored) {
  const std::string account = MakeAccount(store(), 90);
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection, 1, Bytes()));
  STORE_ASSERT_OK_AND_ASSIGN(auto revs, store().GetRevisions(account, kCollection, 1, 10, 0));
  ASSERT_EQ(revs.size(), 1u);
  EXPECT_TRUE(revs[0].data.empty());
  EXPECT_EQ(UsedBytes(store(), account), 0u);
}

TEST_P(MetaStoreConformance, AppendRevisionChargesUsedBytesAndEnforcesQuota) {
  const std::string account = MakeAccount(store(), 91, /*quota=*/1000);
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection, 1, TestBytes(600, 1)));
  EXPECT_EQ(UsedBytes(store(), account), 600u);
  STORE_EXPECT_CODE(store().AppendRevision(account, kCollection, 2, TestBytes(401, 2)), kResourceExhausted);
  STORE_ASSERT_OK_AND_ASSIGN(uint64_t head, store().GetHead(account, kCollection));
  EXPECT_EQ(head, 1u);  // the rejected revision was not appended
  EXPECT_EQ(UsedBytes(store(), account), 600u);
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection, 2, TestBytes(400, 2)));  // exactly full
  EXPECT_EQ(UsedBytes(store(), account), 1000u);
  STORE_EXPECT_CODE(store().AppendRevision(account, kCollection2, 1, TestBytes(1, 3)), kResourceExhausted);
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection2, 1, Bytes()));  // nothing to charge
  STORE_ASSERT_OK(store().SetQuota(account, 0));
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection, 3, TestBytes(5000, 3)));
  EXPECT_EQ(UsedBytes(store(), account), 6000u);
}

// ==== checkpoints =======================================================================

TEST_P(MetaStoreConformance, CheckpointRoundTripsAndNewerReplacesOlder) {
  const std::string account = MakeAccount(store(), 100);
  STORE_EXPECT_CODE(store().GetCheckpoint(account, kCollection), kNotFound);
  for (uint64_t n = 1; n <= 5; ++n)
    STORE_ASSERT_OK(store().AppendRevision(account, kCollection, n, TestBytes(1, n)));
  STORE_ASSERT_OK(store().PutCheckpoint(account, kCollection, 2, TestBytes(300, 2)));
  STORE_ASSERT_OK_AND_ASSIGN(RevisionRecord cp2, store().GetCheckpoint(account, kCollection));
  EXPECT_EQ(cp2.number, 2u);
  EXPECT_EQ(cp2.data, TestBytes(300, 2));
  STORE_ASSERT_OK(store().PutCheckpoint(account, kCollection, 5, TestBytes(400, 5)));
  STORE_ASSERT_OK(store().PutCheckpoint(account, kCollection, 3, TestBytes(350, 3)));  // older: dropped
  STORE_ASSERT_OK_AND_ASSIGN(RevisionRecord cp5, store().GetCheckpoint(account, kCollection));
  EXPECT_EQ(cp5.number, 5u);
  EXPECT_EQ(cp5.data, TestBytes(400, 5));
  STORE_ASSERT_OK(
      store().PutCheckpoint(account, kCollection, 5, TestBytes(410, 55)));  // same number replaces
  STORE_ASSERT_OK_AND_ASSIGN(RevisionRecord again, store().GetCheckpoint(account, kCollection));
  EXPECT_EQ(again.number, 5u);
  EXPECT_EQ(again.data, TestBytes(410, 55));
  // Per collection and per account.
  STORE_EXPECT_CODE(store().GetCheckpoint(account, kCollection2), kNotFound);
  const std::string other = MakeAccount(store(), 101);
  STORE_EXPECT_CODE(store().GetCheckpoint(other, kCollection), kNotFound);
}

TEST_P(MetaStoreConformance, CheckpointMustBeWithinTheJournal) {
  const std::string account = MakeAccount(store(), 102);
  STORE_EXPECT_CODE(store().PutCheckpoint(account, kCollection, 1, TestBytes(10, 1)), kInvalidArgument);
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection, 1, TestBytes(10, 1)));
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection, 2, TestBytes(10, 2)));
  STORE_EXPECT_CODE(store().PutCheckpoint(account, kCollection, 3, TestBytes(10, 3)), kInvalidArgument);
  STORE_EXPECT_CODE(store().PutCheckpoint(account, kCollection, 0, TestBytes(10, 0)), kInvalidArgument);
  STORE_EXPECT_CODE(store().GetCheckpoint(account, kCollection), kNotFound);
  EXPECT_EQ(UsedBytes(store(), account), 20u);
  STORE_EXPECT_OK(store().PutCheckpoint(account, kCollection, 2, TestBytes(10, 2)));  // == head is fine
}

TEST_P(MetaStoreConformance, CheckpointReplacementAdjustsUsedBytesByTheDifference) {
  const std::string account = MakeAccount(store(), 103);
  for (uint64_t n = 1; n <= 4; ++n)
    STORE_ASSERT_OK(store().AppendRevision(account, kCollection, n, TestBytes(10, n)));
  ASSERT_EQ(UsedBytes(store(), account), 40u);
  STORE_ASSERT_OK(store().PutCheckpoint(account, kCollection, 1, TestBytes(500, 1)));
  EXPECT_EQ(UsedBytes(store(), account), 540u);
  STORE_ASSERT_OK(store().PutCheckpoint(account, kCollection, 2, TestBytes(800, 2)));  // grows by 300
  EXPECT_EQ(UsedBytes(store(), account), 840u);
  STORE_ASSERT_OK(store().PutCheckpoint(account, kCollection, 3, TestBytes(100, 3)));  // shrinks by 700
  EXPECT_EQ(UsedBytes(store(), account), 140u);
  STORE_ASSERT_OK(store().PutCheckpoint(account, kCollection, 1, TestBytes(9999, 1)));  // older: no change
  EXPECT_EQ(UsedBytes(store(), account), 140u);
  // A second collection's checkpoint is charged separately.
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection2, 1, TestBytes(10, 9)));
  STORE_ASSERT_OK(store().PutCheckpoint(account, kCollection2, 1, TestBytes(60, 9)));
  EXPECT_EQ(UsedBytes(store(), account), 210u);
}

TEST_P(MetaStoreConformance, CheckpointGrowthIsLimitedByQuotaButShrinkingIsNot) {
  const std::string account = MakeAccount(store(), 104, /*quota=*/1000);
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection, 1, TestBytes(100, 1)));
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection, 2, TestBytes(100, 2)));
  STORE_ASSERT_OK(store().PutCheckpoint(account, kCollection, 1, TestBytes(500, 1)));  // used 700
  STORE_EXPECT_CODE(store().PutCheckpoint(account, kCollection, 2, TestBytes(801, 2)), kResourceExhausted);
  STORE_ASSERT_OK_AND_ASSIGN(RevisionRecord kept, store().GetCheckpoint(account, kCollection));
  EXPECT_EQ(kept.number, 1u);  // the rejected checkpoint left the old one in place
  EXPECT_EQ(UsedBytes(store(), account), 700u);
  STORE_ASSERT_OK(store().PutCheckpoint(account, kCollection, 2, TestBytes(800, 2)));  // exactly full
  EXPECT_EQ(UsedBytes(store(), account), 1000u);
  // Over quota (lowered by staff), a smaller checkpoint is still accepted: it frees space.
  STORE_ASSERT_OK(store().SetQuota(account, 100));
  STORE_ASSERT_OK(store().PutCheckpoint(account, kCollection, 2, TestBytes(50, 2)));
  EXPECT_EQ(UsedBytes(store(), account), 250u);
}

// ==== chunks ============================================================================

TEST_P(MetaStoreConformance, AddChunkRoundTripsAndChargesUsedBytes) {
  const std::string account = MakeAccount(store(), 110);
  const ChunkRecord c = TestChunk(1, 4096);
  STORE_EXPECT_CODE(store().GetChunk(account, c.chunk_id), kNotFound);
  STORE_ASSERT_OK_AND_ASSIGN(bool inserted, store().AddChunk(account, c));
  EXPECT_TRUE(inserted);
  STORE_ASSERT_OK_AND_ASSIGN(ChunkRecord got, store().GetChunk(account, c.chunk_id));
  ExpectChunkEq(got, c);
  EXPECT_EQ(UsedBytes(store(), account), 4096u);
}

TEST_P(MetaStoreConformance, AddChunkTwiceIsANoOp) {
  const std::string account = MakeAccount(store(), 111);
  const ChunkRecord c = TestChunk(1, 4096);
  STORE_ASSERT_OK(store().AddChunk(account, c));
  ChunkRecord changed = c;  // same id, different details: the first record stays
  changed.size = 1;
  changed.sha256 = TestBytes(32, 5);
  changed.created_at = c.created_at + 100;
  STORE_ASSERT_OK_AND_ASSIGN(bool inserted, store().AddChunk(account, changed));
  EXPECT_FALSE(inserted);
  STORE_ASSERT_OK_AND_ASSIGN(ChunkRecord got, store().GetChunk(account, c.chunk_id));
  ExpectChunkEq(got, c);
  EXPECT_EQ(UsedBytes(store(), account), 4096u);
}

TEST_P(MetaStoreConformance, AddChunkOverQuotaIsResourceExhausted) {
  const std::string account = MakeAccount(store(), 112, /*quota=*/10000);
  STORE_ASSERT_OK(store().AddChunk(account, TestChunk(1, 6000)));
  STORE_EXPECT_CODE(store().AddChunk(account, TestChunk(2, 4001)), kResourceExhausted);
  STORE_EXPECT_CODE(store().GetChunk(account, ChunkId(2)), kNotFound);
  EXPECT_EQ(UsedBytes(store(), account), 6000u);
  STORE_ASSERT_OK_AND_ASSIGN(bool fits, store().AddChunk(account, TestChunk(3, 4000)));  // exactly full
  EXPECT_TRUE(fits);
  // When full, re-adding a chunk the account already has is still a successful no-op.
  STORE_ASSERT_OK_AND_ASSIGN(bool again, store().AddChunk(account, TestChunk(1, 6000)));
  EXPECT_FALSE(again);
  STORE_EXPECT_CODE(store().AddChunk(account, TestChunk(4, 1)), kResourceExhausted);
  STORE_ASSERT_OK_AND_ASSIGN(bool empty, store().AddChunk(account, TestChunk(5, 0)));  // costs nothing
  EXPECT_TRUE(empty);
  EXPECT_EQ(UsedBytes(store(), account), 10000u);
}

TEST_P(MetaStoreConformance, AddChunksRecordsPackLocationsInOneGo) {
  const std::string account = MakeAccount(store(), 113);
  STORE_ASSERT_OK(store().AddChunk(account, TestChunk(2, 100)));  // already there: stays as it was
  std::vector<ChunkRecord> pack;
  for (uint64_t n = 1; n <= 3; ++n) {
    ChunkRecord c = TestChunk(n, 1000 * n);
    c.pack_id = "0123456789abcdef0123456789abcdef";
    c.pack_offset = (uint64_t{1} << 40) + n;  // beyond 32 bits
    pack.push_back(c);
  }
  STORE_ASSERT_OK_AND_ASSIGN(std::vector<bool> added, store().AddChunks(account, pack));
  EXPECT_EQ(added, (std::vector<bool>{true, false, true}));
  STORE_ASSERT_OK_AND_ASSIGN(ChunkRecord one, store().GetChunk(account, ChunkId(1)));
  ExpectChunkEq(one, pack[0]);
  STORE_ASSERT_OK_AND_ASSIGN(ChunkRecord two, store().GetChunk(account, ChunkId(2)));
  ExpectChunkEq(two, TestChunk(2, 100));
  EXPECT_EQ(UsedBytes(store(), account), 100u + 1000u + 3000u);
  // ListChunks carries the location too.
  std::map<std::string, ChunkRecord> listed;
  STORE_ASSERT_OK(store().ListChunks(account, [&](const ChunkRecord& c) {
    listed[c.chunk_id] = c;
    return true;
  }));
  ASSERT_EQ(listed.size(), 3u);
  ExpectChunkEq(listed[ChunkId(3)], pack[2]);
  // The same id twice in one call: the first wins, the second is a no-op.
  STORE_ASSERT_OK_AND_ASSIGN(std::vector<bool> twice, store().AddChunks(account, {TestChunk(7, 5), TestChunk(7, 9)}));
  EXPECT_EQ(twice, (std::vector<bool>{true, false}));
  EXPECT_EQ(UsedBytes(store(), account), 4105u);
  STORE_ASSERT_OK_AND_ASSIGN(std::vector<bool> none, store().AddChunks(account, {}));
  EXPECT_TRUE(none.empty());
}

TEST_P(MetaStoreConformance, AddChunksOverQuotaRecordsNothing) {
  const std::string account = MakeAccount(store(), 114, /*quota=*/10000);
  STORE_ASSERT_OK(store().AddChunk(account, TestChunk(1, 4000)));
  // 3000 + 3001 + the existing 4000 is one byte over: none of the new ones is recorded.
  STORE_EXPECT_CODE(store().AddChunks(account, {TestChunk(1, 4000), TestChunk(2, 3000), TestChunk(3, 3001)}),
                    kResourceExhausted);
  STORE_EXPECT_CODE(store().GetChunk(account, ChunkId(2)), kNotFound);
  STORE_EXPECT_CODE(store().GetChunk(account, ChunkId(3)), kNotFound);
  EXPECT_EQ(UsedBytes(store(), account), 4000u);
  STORE_ASSERT_OK_AND_ASSIGN(std::vector<bool> fits,
                             store().AddChunks(account, {TestChunk(2, 3000), TestChunk(3, 3000)}));  // exactly full
  EXPECT_EQ(fits, (std::vector<bool>{true, true}));
  EXPECT_EQ(UsedBytes(store(), account), 10000u);
}

TEST_P(MetaStoreConformance, DeleteChunkRefundsAndIsIdempotent) {
  const std::string account = MakeAccount(store(), 113, /*quota=*/5000);
  STORE_ASSERT_OK(store().AddChunk(account, TestChunk(1, 3000)));
  STORE_ASSERT_OK(store().AddChunk(account, TestChunk(2, 2000)));
  STORE_ASSERT_OK(store().DeleteChunk(account, ChunkId(1)));
  STORE_EXPECT_CODE(store().GetChunk(account, ChunkId(1)), kNotFound);
  EXPECT_EQ(UsedBytes(store(), account), 2000u);
  STORE_EXPECT_OK(store().DeleteChunk(account, ChunkId(1)));  // again: no double refund
  STORE_EXPECT_OK(store().DeleteChunk(account, ChunkId(99)));
  STORE_EXPECT_OK(store().DeleteChunk(HexId(114), ChunkId(2)));  // unknown account
  EXPECT_EQ(UsedBytes(store(), account), 2000u);
  STORE_ASSERT_OK_AND_ASSIGN(bool readded, store().AddChunk(account, TestChunk(1, 3000)));  // space is back
  EXPECT_TRUE(readded);
  EXPECT_EQ(UsedBytes(store(), account), 5000u);
}

TEST_P(MetaStoreConformance, TouchChunksMovesCreatedAtForwardOnly) {
  const std::string account = MakeAccount(store(), 117);
  const std::string other = MakeAccount(store(), 118);
  store::ChunkRecord c1 = TestChunk(1, 100);
  c1.created_at = 1000;
  store::ChunkRecord c2 = TestChunk(2, 100);
  c2.created_at = 5000;
  STORE_ASSERT_OK(store().AddChunk(account, c1));
  STORE_ASSERT_OK(store().AddChunk(account, c2));
  STORE_ASSERT_OK(store().AddChunk(other, c1));
  STORE_ASSERT_OK(store().TouchChunks(account, {ChunkId(1), ChunkId(2), ChunkId(99)}, 3000));
  STORE_ASSERT_OK_AND_ASSIGN(store::ChunkRecord r1, store().GetChunk(account, ChunkId(1)));
  STORE_ASSERT_OK_AND_ASSIGN(store::ChunkRecord r2, store().GetChunk(account, ChunkId(2)));
  STORE_ASSERT_OK_AND_ASSIGN(store::ChunkRecord o1, store().GetChunk(other, ChunkId(1)));
  EXPECT_EQ(r1.created_at, 3000);  // moved forward
  EXPECT_EQ(r2.created_at, 5000);  // never backwards
  EXPECT_EQ(o1.created_at, 1000);  // another account is untouched
  STORE_EXPECT_CODE(store().GetChunk(account, ChunkId(99)), kNotFound);  // touching creates nothing
  STORE_EXPECT_OK(store().TouchChunks(account, {}, 4000));
}

TEST_P(MetaStoreConformance, ChunksArePerAccount) {
  const std::string a = MakeAccount(store(), 115);
  const std::string b = MakeAccount(store(), 116);
  STORE_ASSERT_OK_AND_ASSIGN(bool in_a, store().AddChunk(a, TestChunk(1, 100)));
  STORE_ASSERT_OK_AND_ASSIGN(bool in_b, store().AddChunk(b, TestChunk(1, 100)));  // no cross-account dedup
  EXPECT_TRUE(in_a);
  EXPECT_TRUE(in_b);
  EXPECT_EQ(UsedBytes(store(), a), 100u);
  EXPECT_EQ(UsedBytes(store(), b), 100u);
  STORE_ASSERT_OK(store().DeleteChunk(a, ChunkId(1)));
  STORE_EXPECT_CODE(store().GetChunk(a, ChunkId(1)), kNotFound);
  STORE_EXPECT_OK(store().GetChunk(b, ChunkId(1)));
  EXPECT_EQ(UsedBytes(store(), b), 100u);
}

TEST_P(MetaStoreConformance, HaveChunksAnswersEachIdInOrder) {
  const std::string account = MakeAccount(store(), 117);
  const std::string other = MakeAccount(store(), 118);
  STORE_ASSERT_OK(store().AddChunk(account, TestChunk(1, 10)));
  STORE_ASSERT_OK(store().AddChunk(account, TestChunk(3, 10)));
  STORE_ASSERT_OK(store().AddChunk(other, TestChunk(2, 10)));
  STORE_ASSERT_OK_AND_ASSIGN(
      std::vector<bool> have,
      store().HaveChunks(account, {ChunkId(1), ChunkId(2), ChunkId(3), ChunkId(4), ChunkId(1)}));
  EXPECT_EQ(have, (std::vector<bool>{true, false, true, false, true}));
  STORE_ASSERT_OK_AND_ASSIGN(std::vector<bool> none, store().HaveChunks(account, {}));
  EXPECT_TRUE(none.empty());
  STORE_ASSERT_OK_AND_ASSIGN(std::vector<bool> ghost, store().HaveChunks(HexId(119), {ChunkId(1)}));
  EXPECT_EQ(ghost, std::vector<bool>{false});
}

TEST_P(MetaStoreConformance, ListChunksVisitsEveryChunkOnceAndStopsEarly) {
  const std::string account = MakeAccount(store(), 120);
  const std::string other = MakeAccount(store(), 121);
  constexpr uint64_t kCount = 1100;  // more than one page in a paging implementation
  std::map<std::string, ChunkRecord> want;
  for (uint64_t i = 0; i < kCount; ++i) {
    ChunkRecord c = TestChunk(i, 100 + i);
    STORE_ASSERT_OK(store().AddChunk(account, c));
    want[c.chunk_id] = c;
  }
  STORE_ASSERT_OK(store().AddChunk(other, TestChunk(5000, 1)));
  std::map<std::string, ChunkRecord> seen;
  size_t calls = 0;
  STORE_ASSERT_OK(store().ListChunks(account, [&](const ChunkRecord& c) {
    ++calls;
    seen[c.chunk_id] = c;
    return true;
  }));
  EXPECT_EQ(calls, kCount);  // each chunk exactly once
  ASSERT_EQ(seen.size(), want.size());
  for (const auto& [id, c] : want) ExpectChunkEq(seen[id], c);

  for (size_t stop_after : {size_t{1}, size_t{10}, size_t{600}}) {
    size_t n = 0;
    STORE_EXPECT_OK(store().ListChunks(account, [&](const ChunkRecord&) { return ++n < stop_after; }));
    EXPECT_EQ(n, stop_after);
  }
  size_t ghost_calls = 0;
  STORE_EXPECT_OK(store().ListChunks(HexId(122), [&](const ChunkRecord&) { return ++ghost_calls, true; }));
  EXPECT_EQ(ghost_calls, 0u);
}

TEST_P(MetaStoreConformance, ListChunksCallbackMayUseTheStore) {
  // Garbage collection deletes while it lists; the callback must not deadlock.
  const std::string account = MakeAccount(store(), 123);
  for (uint64_t i = 0; i < 600; ++i) STORE_ASSERT_OK(store().AddChunk(account, TestChunk(i, 10)));
  size_t deleted = 0;
  STORE_ASSERT_OK(store().ListChunks(account, [&](const ChunkRecord& c) {
    if (store().DeleteChunk(account, c.chunk_id).ok()) ++deleted;
    return true;
  }));
  EXPECT_EQ(deleted, 600u);
  EXPECT_EQ(UsedBytes(store(), account), 0u);
  size_t left = 0;
  STORE_EXPECT_OK(store().ListChunks(account, [&](const ChunkRecord&) { return ++left, true; }));
  EXPECT_EQ(left, 0u);
}

// ==== quota and accounting across kinds =================================================

TEST_P(MetaStoreConformance, QuotaZeroIsUnlimited) {
  const std::string account = MakeAccount(store(), 130, /*quota=*/0);
  STORE_ASSERT_OK(store().AddChunk(account, TestChunk(1, uint64_t{1} << 40)));  // a terabyte, on paper
  STORE_ASSERT_OK(store().AddChunk(account, TestChunk(2, uint64_t{1} << 40)));
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection, 1, TestBytes(100, 1)));
  EXPECT_EQ(UsedBytes(store(), account), (uint64_t{2} << 40) + 100);
}

TEST_P(MetaStoreConformance, UsedBytesCountsChunksRevisionsAndCheckpoints) {
  const std::string account = MakeAccount(store(), 131, /*quota=*/1000);
  STORE_ASSERT_OK(store().AddChunk(account, TestChunk(1, 300)));
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection, 1, TestBytes(200, 1)));
  STORE_ASSERT_OK(store().PutCheckpoint(account, kCollection, 1, TestBytes(400, 1)));
  EXPECT_EQ(UsedBytes(store(), account), 900u);
  // The quota covers all three kinds together.
  STORE_EXPECT_CODE(store().AddChunk(account, TestChunk(2, 101)), kResourceExhausted);
  STORE_EXPECT_CODE(store().AppendRevision(account, kCollection, 2, TestBytes(101, 2)), kResourceExhausted);
  STORE_EXPECT_CODE(store().PutCheckpoint(account, kCollection, 1, TestBytes(501, 1)), kResourceExhausted);
  STORE_ASSERT_OK(store().DeleteChunk(account, ChunkId(1)));
  EXPECT_EQ(UsedBytes(store(), account), 600u);
  STORE_ASSERT_OK(store().AppendRevision(account, kCollection, 2, TestBytes(400, 2)));
  EXPECT_EQ(UsedBytes(store(), account), 1000u);
  // Sealed keys, keyrings, chain entries, devices and messages are not counted.
  STORE_ASSERT_OK(store().AppendChainEntry(account, 0, TestBytes(5000, 1)));
  STORE_ASSERT_OK(store().PutKeyring(account, 1, TestBytes(5000, 2)));
  STORE_ASSERT_OK(store().PutSealedKey(account, HexId(132), 1, TestBytes(5000, 3)));
  STORE_ASSERT_OK(store().PutMessageAt(account, "pairing", "k", TestBytes(5000, 4), kT0 + 10, kT0));
  EXPECT_EQ(UsedBytes(store(), account), 1000u);
}

// ==== writes and reads for accounts that do not exist ====================================

TEST_P(MetaStoreConformance, WritesForUnknownAccountAreNotFound) {
  MakeAccount(store(), 140);
  const std::string ghost = HexId(141);
  STORE_EXPECT_CODE(store().CreateSession(TestSession(ghost, HexId(142), 1)), kNotFound);
  STORE_EXPECT_CODE(store().PutDevice(TestDevice(ghost, 1)), kNotFound);
  STORE_EXPECT_CODE(store().AppendChainEntry(ghost, 0, TestBytes(10, 1)), kNotFound);
  STORE_EXPECT_CODE(store().PutSealedKey(ghost, HexId(142), 1, TestBytes(10, 1)), kNotFound);
  STORE_EXPECT_CODE(store().PutKeyring(ghost, 1, TestBytes(10, 1)), kNotFound);
  STORE_EXPECT_CODE(store().AppendRevision(ghost, kCollection, 1, TestBytes(10, 1)), kNotFound);
  STORE_EXPECT_CODE(store().PutCheckpoint(ghost, kCollection, 1, TestBytes(10, 1)), kNotFound);
  STORE_EXPECT_CODE(store().AddChunk(ghost, TestChunk(1, 10)), kNotFound);
  STORE_EXPECT_CODE(store().PutMessageAt(ghost, "box", "key", TestBytes(10, 1), kT0 + 10, kT0), kNotFound);
  // Nothing was created on the way.
  STORE_ASSERT_OK_AND_ASSIGN(auto devices, store().ListDevices(ghost));
  EXPECT_TRUE(devices.empty());
  STORE_ASSERT_OK_AND_ASSIGN(auto chain, store().GetChain(ghost, 0));
  EXPECT_TRUE(chain.empty());
  STORE_ASSERT_OK_AND_ASSIGN(auto collections, store().ListCollections(ghost));
  EXPECT_TRUE(collections.empty());
  STORE_EXPECT_CODE(store().GetChunk(ghost, ChunkId(1)), kNotFound);
  STORE_EXPECT_CODE(store().GetMessage(ghost, "box", "key", kT0), kNotFound);
}

// ==== mailboxes =========================================================================

TEST_P(MetaStoreConformance, MessageRoundTripsUntilItExpires) {
  const std::string account = MakeAccount(store(), 150);
  STORE_EXPECT_CODE(store().GetMessage(account, "pairing", "abc", kT0), kNotFound);
  STORE_ASSERT_OK(store().PutMessageAt(account, "pairing", "abc", TestBytes(300, 1), kT0 + 900, kT0));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store().GetMessage(account, "pairing", "abc", kT0 + 899));
  EXPECT_EQ(got, TestBytes(300, 1));
  STORE_EXPECT_CODE(store().GetMessage(account, "pairing", "abc", kT0 + 900), kNotFound);
  // Box, key and account all address the message.
  STORE_EXPECT_CODE(store().GetMessage(account, "response", "abc", kT0), kNotFound);
  STORE_EXPECT_CODE(store().GetMessage(account, "pairing", "abd", kT0), kNotFound);
  const std::string other = MakeAccount(store(), 151);
  STORE_EXPECT_CODE(store().GetMessage(other, "pairing", "abc", kT0), kNotFound);
  STORE_ASSERT_OK(
      store().PutMessageAt(account, "response", "abc", Bytes(), kT0 + 900, kT0));  // empty is fine
  STORE_ASSERT_OK_AND_ASSIGN(Bytes empty, store().GetMessage(account, "response", "abc", kT0));
  EXPECT_TRUE(empty.empty());
}

TEST_P(MetaStoreConformance, PutMessageOverALiveMessageIsAlreadyExists) {
  const std::string account = MakeAccount(store(), 152);
  STORE_ASSERT_OK(store().PutMessageAt(account, "pairing", "abc", TestBytes(10, 1), kT0 + 900, kT0));
  STORE_EXPECT_CODE(store().PutMessageAt(account, "pairing", "abc", TestBytes(10, 2), kT0 + 1900, kT0 + 899),
                    kAlreadyExists);
  STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store().GetMessage(account, "pairing", "abc", kT0));
  EXPECT_EQ(got, TestBytes(10, 1));
}

TEST_P(MetaStoreConformance, PutMessageReplacesAnExpiredMessage) {
  const std::string account = MakeAccount(store(), 153);
  STORE_ASSERT_OK(store().PutMessageAt(account, "pairing", "abc", TestBytes(10, 1), kT0 + 900, kT0));
  STORE_ASSERT_OK(store().PutMessageAt(account, "pairing", "abc", TestBytes(10, 2), kT0 + 1900, kT0 + 900));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store().GetMessage(account, "pairing", "abc", kT0 + 1000));
  EXPECT_EQ(got, TestBytes(10, 2));
}

TEST_P(MetaStoreConformance, DeleteExpiredMessagesDeletesOnlyExpiredOnes) {
  const std::string account = MakeAccount(store(), 154);
  STORE_ASSERT_OK(store().PutMessageAt(account, "b", "old", TestBytes(10, 1), kT0 + 100, kT0));
  STORE_ASSERT_OK(store().PutMessageAt(account, "b", "edge", TestBytes(10, 2), kT0 + 200, kT0));
  STORE_ASSERT_OK(store().PutMessageAt(account, "b", "new", TestBytes(10, 3), kT0 + 300, kT0));
  STORE_ASSERT_OK(store().DeleteExpiredMessages(kT0 + 200));
  // Deleted rows are gone even for a reader with an earlier clock.
  STORE_EXPECT_CODE(store().GetMessage(account, "b", "old", kT0), kNotFound);
  STORE_EXPECT_CODE(store().GetMessage(account, "b", "edge", kT0), kNotFound);
  STORE_EXPECT_OK(store().GetMessage(account, "b", "new", kT0));
  STORE_EXPECT_OK(store().DeleteExpiredMessages(kT0 + 200));
}

TEST_P(MetaStoreConformance, PutMessageWithoutNowJudgesExpiryByTheWallClock) {
  const std::string account = MakeAccount(store(), 155);
  const int64_t wall = static_cast<int64_t>(std::time(nullptr));
  STORE_ASSERT_OK(store().PutMessage(account, "b", "live", TestBytes(10, 1), wall + 3600));
  STORE_EXPECT_CODE(store().PutMessage(account, "b", "live", TestBytes(10, 2), wall + 7200), kAlreadyExists);
  STORE_ASSERT_OK(store().PutMessage(account, "b", "stale", TestBytes(10, 3), wall - 3600));  // born expired
  STORE_ASSERT_OK(
      store().PutMessage(account, "b", "stale", TestBytes(10, 4), wall + 3600));  // so replaceable
  STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store().GetMessage(account, "b", "stale", wall));
  EXPECT_EQ(got, TestBytes(10, 4));
}

// ==== settings ==========================================================================

TEST_P(MetaStoreConformance, SettingsRoundTripAndOverwrite) {
  STORE_EXPECT_CODE(store().GetSetting("fake_salt_secret"), kNotFound);
  STORE_ASSERT_OK(store().PutSetting("fake_salt_secret", TestBytes(32, 1)));
  STORE_ASSERT_OK(store().PutSetting("other", Bytes()));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes v1, store().GetSetting("fake_salt_secret"));
  EXPECT_EQ(v1, TestBytes(32, 1));
  STORE_ASSERT_OK(store().PutSetting("fake_salt_secret", TestBytes(64, 2)));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes v2, store().GetSetting("fake_salt_secret"));
  EXPECT_EQ(v2, TestBytes(64, 2));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes empty, store().GetSetting("other"));
  EXPECT_TRUE(empty.empty());
}

// ==== concurrency =======================================================================

TEST_P(MetaStoreConformance, ConcurrentAppendRevisionHasExactlyOneWinnerPerNumber) {
  // Eight writers race to extend one journal, each doing what a client does: read the head,
  // try head + 1, and on kAborted read again. Every number must be won exactly once and the
  // journal must end up 1..N without gaps, holding the winners' data.
  const std::string account = MakeAccount(store(), 160);
  constexpr int kThreads = 8;
  constexpr uint64_t kTarget = 120;
  std::mutex mu;
  std::map<uint64_t, std::vector<Bytes>> winners;  // number -> data of every writer told OK
  std::atomic<int> errors{0}, aborts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (uint64_t attempt = 0;; ++attempt) {
        auto head = store().GetHead(account, kCollection);
        if (!head.ok()) {
          ++errors;
          return;
        }
        if (*head >= kTarget) return;
        const uint64_t number = *head + 1;
        Bytes data = TestBytes(16 + t, (static_cast<uint64_t>(t) << 32) | attempt);
        Status s = store().AppendRevision(account, kCollection, number, data);
        if (s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          winners[number].push_back(std::move(data));
        } else if (s.code() == StatusCode::kAborted) {
          ++aborts;
        } else {
          ADD_FAILURE() << s.ToString();
          ++errors;
          return;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  ASSERT_EQ(winners.size(), kTarget);
  uint64_t total = 0;
  for (const auto& [number, data] : winners) {
    EXPECT_EQ(data.size(), 1u) << "revision " << number << " had " << data.size() << " winners";
    total += data[0].size();
  }
  STORE_ASSERT_OK_AND_ASSIGN(uint64_t head, store().GetHead(account, kCollection));
  EXPECT_EQ(head, kTarget);
  STORE_ASSERT_OK_AND_ASSIGN(auto revs, store().GetRevisions(account, kCollection, 1, 1000, 1 << 30));
  ASSERT_EQ(Numbers(revs), Range(1, kTarget));
  for (const RevisionRecord& r : revs) EXPECT_EQ(r.data, winners[r.number][0]) << "revision " << r.number;
  EXPECT_EQ(UsedBytes(store(), account), total);
}

TEST_P(MetaStoreConformance, ConcurrentChainAndKeyringWritersHaveOneWinnerPerSlot) {
  const std::string account = MakeAccount(store(), 161);
  constexpr int kThreads = 8;
  constexpr uint64_t kTarget = 40;
  std::atomic<int> errors{0};
  std::mutex mu;
  std::map<uint64_t, int> chain_wins, keyring_wins;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      bool chain_done = false, keyring_done = false;
      while (!chain_done || !keyring_done) {
        if (!chain_done) {
          auto chain = store().GetChain(account, 0);
          if (!chain.ok()) return void(++errors);
          const uint64_t seq = chain->size();
          if (seq >= kTarget) {
            chain_done = true;
          } else {
            Status s = store().AppendChainEntry(account, seq, TestBytes(8, t));
            if (s.ok()) {
              std::lock_guard<std::mutex> lock(mu);
              ++chain_wins[seq];
            } else if (s.code() != StatusCode::kAborted) {
              return void(++errors);
            }
          }
        }
        if (!keyring_done) {
          auto k = store().GetKeyring(account);
          uint64_t current = 0;
          if (k.ok()) {
            current = k->first;
          } else if (k.status().code() != StatusCode::kNotFound) {
            return void(++errors);
          }
          if (current >= kTarget) {
            keyring_done = true;
          } else {
            Status s = store().PutKeyring(account, current + 1, TestBytes(8, t));
            if (s.ok()) {
              std::lock_guard<std::mutex> lock(mu);
              ++keyring_wins[current + 1];
            } else if (s.code() != StatusCode::kAborted) {
              return void(++errors);
            }
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(chain_wins.size(), kTarget);
  EXPECT_EQ(keyring_wins.size(), kTarget);
  for (const auto& [seq, n] : chain_wins) EXPECT_EQ(n, 1) << "chain seq " << seq;
  for (const auto& [v, n] : keyring_wins) EXPECT_EQ(n, 1) << "keyring version " << v;
  STORE_ASSERT_OK_AND_ASSIGN(auto chain, store().GetChain(account, 0));
  EXPECT_EQ(chain.size(), kTarget);
}

TEST_P(MetaStoreConformance, ConcurrentAddChunkOfOneChunkChargesOnce) {
  const std::string account = MakeAccount(store(), 162);
  constexpr int kThreads = 8;
  std::atomic<int> inserted{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (uint64_t i = 0; i < 20; ++i) {
        auto r = store().AddChunk(account, TestChunk(i, 1000));
        if (!r.ok()) {
          ++errors;
        } else if (*r) {
          ++inserted;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(inserted.load(), 20);  // each chunk inserted by exactly one thread
  EXPECT_EQ(UsedBytes(store(), account), 20000u);
}

TEST_P(MetaStoreConformance, ConcurrentWritersNeverExceedTheQuota) {
  // Room for exactly 25 of 80 chunks; the quota check and the charge must be one step.
  const std::string account = MakeAccount(store(), 163, /*quota=*/25 * 100);
  constexpr int kThreads = 8, kPerThread = 10;
  std::atomic<int> ok{0}, exhausted{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        auto r = store().AddChunk(account, TestChunk(static_cast<uint64_t>(t * kPerThread + i), 100));
        if (r.ok()) {
          ++ok;
        } else if (r.status().code() == StatusCode::kResourceExhausted) {
          ++exhausted;
        } else {
          ++errors;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(ok.load(), 25);
  EXPECT_EQ(exhausted.load(), kThreads * kPerThread - 25);
  EXPECT_EQ(UsedBytes(store(), account), 2500u);
}

}  // namespace coffer::store::testing
