#include "store/testing/staff_store_conformance.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "store/testing/store_test_util.h"

namespace coffer::store::testing {

void PrintTo(const StaffStoreFixture& fixture, std::ostream* os) { *os << fixture.name; }

std::string StaffStoreFixtureName(const ::testing::TestParamInfo<StaffStoreFixture>& info) {
  return info.param.name;
}

void StaffStoreConformance::SetUp() {
  auto store = GetParam().make_empty();
  ASSERT_TRUE(store.ok()) << "make_empty for " << GetParam().name << ": " << store.status().ToString();
  store_ = std::move(*store);
  ASSERT_NE(store_, nullptr);
}

void StaffStoreConformance::TearDown() { store_.reset(); }

GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(StaffStoreConformance);

namespace {

constexpr int64_t kT0 = 1700000000;
const std::string kAccountA = "a0000000000000000000000000000001";
const std::string kAccountB = "b0000000000000000000000000000002";
const std::string kDevice = "d0000000000000000000000000000003";

StaffRecord Staff(const std::string& id_tail, const std::string& name, const std::string& role = "support") {
  StaffRecord s;
  s.staff_id = std::string(32 - id_tail.size(), '0') + id_tail;
  s.name = name;
  s.role = role;
  s.secret_hash = "$argon2id$v=19$hash-of-" + name;
  s.created_at = kT0;
  return s;
}

GrantRecord Grant(const std::string& id_tail, const std::string& account, int64_t issued) {
  GrantRecord g;
  g.grant_id = std::string(32 - id_tail.size(), 'e') + id_tail;
  g.account_id = account;
  g.device_id = kDevice;
  g.scopes = 3;
  g.issued_at = issued;
  g.expires_at = issued + 7200;
  g.encoded = TestBytes(180, issued);
  return g;
}

Bytes Hash(uint64_t seed) { return TestBytes(32, seed); }

}  // namespace

TEST_P(StaffStoreConformance, StaffRoundTripAndUniqueness) {
  StaffRecord alice = Staff("1", "alice", "support");
  STORE_ASSERT_OK(store().CreateStaff(alice));
  STORE_EXPECT_CODE(store().CreateStaff(Staff("2", "alice")), kAlreadyExists);
  STORE_EXPECT_CODE(store().CreateStaff(Staff("1", "bob")), kAlreadyExists);
  STORE_ASSERT_OK(store().CreateStaff(Staff("3", "carol", "admin")));

  STORE_ASSERT_OK_AND_ASSIGN(StaffRecord got, store().GetStaffByName("alice"));
  EXPECT_EQ(got.staff_id, alice.staff_id);
  EXPECT_EQ(got.role, "support");
  EXPECT_EQ(got.secret_hash, alice.secret_hash);
  EXPECT_EQ(got.created_at, kT0);
  EXPECT_FALSE(got.disabled);
  STORE_ASSERT_OK_AND_ASSIGN(StaffRecord by_id, store().GetStaff(alice.staff_id));
  EXPECT_EQ(by_id.name, "alice");
  STORE_EXPECT_CODE(store().GetStaffByName("nobody"), kNotFound);
  STORE_EXPECT_CODE(store().GetStaff(std::string(32, 'f')), kNotFound);

  STORE_ASSERT_OK_AND_ASSIGN(auto all, store().ListStaff());
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].name, "alice");
  EXPECT_EQ(all[1].name, "carol");
  EXPECT_EQ(all[1].role, "admin");
}

TEST_P(StaffStoreConformance, SessionsExpireAndDisablingEndsThem) {
  StaffRecord alice = Staff("1", "alice");
  STORE_ASSERT_OK(store().CreateStaff(alice));
  StaffSessionRecord s{Hash(1), alice.staff_id, kT0, kT0 + 100};
  STORE_ASSERT_OK(store().CreateStaffSession(s));
  STORE_ASSERT_OK_AND_ASSIGN(StaffSessionRecord got, store().GetStaffSession(Hash(1), kT0 + 99));
  EXPECT_EQ(got.staff_id, alice.staff_id);
  EXPECT_EQ(got.expires_at, kT0 + 100);
  STORE_EXPECT_CODE(store().GetStaffSession(Hash(1), kT0 + 100), kNotFound);
  STORE_EXPECT_CODE(store().GetStaffSession(Hash(2), kT0), kNotFound);

  STORE_ASSERT_OK(store().DeleteStaffSession(Hash(1)));
  STORE_EXPECT_CODE(store().GetStaffSession(Hash(1), kT0), kNotFound);
  STORE_EXPECT_OK(store().DeleteStaffSession(Hash(1)));  // absent is OK

  STORE_ASSERT_OK(store().CreateStaffSession({Hash(3), alice.staff_id, kT0, kT0 + 100}));
  STORE_ASSERT_OK(store().SetStaffDisabled(alice.staff_id, true));
  STORE_EXPECT_CODE(store().GetStaffSession(Hash(3), kT0), kNotFound);
  STORE_ASSERT_OK_AND_ASSIGN(StaffRecord disabled, store().GetStaff(alice.staff_id));
  EXPECT_TRUE(disabled.disabled);
  STORE_ASSERT_OK(store().SetStaffDisabled(alice.staff_id, false));
  STORE_ASSERT_OK_AND_ASSIGN(StaffRecord enabled, store().GetStaff(alice.staff_id));
  EXPECT_FALSE(enabled.disabled);
  STORE_EXPECT_CODE(store().SetStaffDisabled(std::string(32, 'f'), true), kNotFound);
}

TEST_P(StaffStoreConformance, GrantsAreScopedToTheirAccount) {
  GrantRecord g1 = Grant("1", kAccountA, kT0);
  GrantRecord g2 = Grant("2", kAccountA, kT0 + 10);
  GrantRecord g3 = Grant("3", kAccountB, kT0 + 5);
  STORE_ASSERT_OK(store().PutGrant(g1));
  STORE_ASSERT_OK(store().PutGrant(g2));
  STORE_ASSERT_OK(store().PutGrant(g3));
  GrantRecord clash = Grant("1", kAccountB, kT0);
  STORE_EXPECT_CODE(store().PutGrant(clash), kAlreadyExists);

  STORE_ASSERT_OK_AND_ASSIGN(GrantRecord got, store().GetGrant(g1.grant_id));
  EXPECT_EQ(got.account_id, kAccountA);
  EXPECT_EQ(got.device_id, kDevice);
  EXPECT_EQ(got.scopes, 3u);
  EXPECT_EQ(got.issued_at, kT0);
  EXPECT_EQ(got.expires_at, kT0 + 7200);
  EXPECT_EQ(got.revoked_at, 0);
  EXPECT_EQ(got.encoded, g1.encoded);
  STORE_EXPECT_CODE(store().GetGrant(std::string(32, '9')), kNotFound);

  STORE_ASSERT_OK_AND_ASSIGN(auto list_a, store().ListGrants(kAccountA));
  ASSERT_EQ(list_a.size(), 2u);
  EXPECT_EQ(list_a[0].grant_id, g2.grant_id);  // newest first
  EXPECT_EQ(list_a[1].grant_id, g1.grant_id);
  STORE_ASSERT_OK_AND_ASSIGN(auto list_none, store().ListGrants(std::string(32, '7')));
  EXPECT_TRUE(list_none.empty());

  // Another account cannot revoke it.
  STORE_EXPECT_CODE(store().RevokeGrant(kAccountB, g1.grant_id, kT0 + 50), kNotFound);
  STORE_ASSERT_OK_AND_ASSIGN(GrantRecord still, store().GetGrant(g1.grant_id));
  EXPECT_EQ(still.revoked_at, 0);
  STORE_ASSERT_OK(store().RevokeGrant(kAccountA, g1.grant_id, kT0 + 60));
  STORE_ASSERT_OK(store().RevokeGrant(kAccountA, g1.grant_id, kT0 + 90));  // keeps the first time
  STORE_ASSERT_OK_AND_ASSIGN(GrantRecord revoked, store().GetGrant(g1.grant_id));
  EXPECT_EQ(revoked.revoked_at, kT0 + 60);
  STORE_EXPECT_CODE(store().RevokeGrant(kAccountA, std::string(32, '9'), kT0), kNotFound);
}

TEST_P(StaffStoreConformance, ResetCodesReplaceAndExpire) {
  STORE_EXPECT_CODE(store().GetResetCode(kAccountA, kT0), kNotFound);
  STORE_ASSERT_OK(store().PutResetCode(kAccountA, Hash(1), kT0 + 100));
  STORE_ASSERT_OK(store().PutResetCode(kAccountA, Hash(2), kT0 + 100));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store().GetResetCode(kAccountA, kT0 + 99));
  EXPECT_EQ(got, Hash(2));
  STORE_EXPECT_CODE(store().GetResetCode(kAccountA, kT0 + 100), kNotFound);
  STORE_EXPECT_CODE(store().GetResetCode(kAccountB, kT0), kNotFound);
  STORE_ASSERT_OK(store().DeleteResetCode(kAccountA));
  STORE_EXPECT_CODE(store().GetResetCode(kAccountA, kT0), kNotFound);
  STORE_EXPECT_OK(store().DeleteResetCode(kAccountA));
}

TEST_P(StaffStoreConformance, LogAppendsWithCompareAndSetOnBothLogs) {
  STORE_ASSERT_OK_AND_ASSIGN(LogHead empty, store().GetLogHead(kAccountA));
  EXPECT_EQ(empty.length, 0u);
  EXPECT_TRUE(empty.head_hash.empty());
  STORE_ASSERT_OK_AND_ASSIGN(LogHead gempty, store().GetGlobalLogHead());
  EXPECT_EQ(gempty.length, 0u);

  STORE_ASSERT_OK(store().AppendLogEntry(kAccountA, 0, TestBytes(90, 1), Hash(10), 0, TestBytes(80, 2), Hash(20)));
  STORE_ASSERT_OK(store().AppendLogEntry(kAccountB, 0, TestBytes(90, 3), Hash(11), 1, TestBytes(80, 4), Hash(21)));
  STORE_ASSERT_OK(store().AppendLogEntry(kAccountA, 1, TestBytes(91, 5), Hash(12), 2, TestBytes(80, 6), Hash(22)));

  // Stale account seq, stale global seq, future seqs: all refused, nothing written.
  STORE_EXPECT_CODE(store().AppendLogEntry(kAccountA, 1, TestBytes(9, 7), Hash(13), 3, TestBytes(8, 8), Hash(23)),
                    kAborted);
  STORE_EXPECT_CODE(store().AppendLogEntry(kAccountA, 2, TestBytes(9, 7), Hash(13), 2, TestBytes(8, 8), Hash(23)),
                    kAborted);
  STORE_EXPECT_CODE(store().AppendLogEntry(kAccountA, 3, TestBytes(9, 7), Hash(13), 3, TestBytes(8, 8), Hash(23)),
                    kAborted);
  STORE_EXPECT_CODE(store().AppendLogEntry(kAccountB, 1, TestBytes(9, 7), Hash(13), 4, TestBytes(8, 8), Hash(23)),
                    kAborted);

  STORE_ASSERT_OK_AND_ASSIGN(LogHead head_a, store().GetLogHead(kAccountA));
  EXPECT_EQ(head_a.length, 2u);
  EXPECT_EQ(head_a.head_hash, Hash(12));
  STORE_ASSERT_OK_AND_ASSIGN(LogHead head_b, store().GetLogHead(kAccountB));
  EXPECT_EQ(head_b.length, 1u);
  EXPECT_EQ(head_b.head_hash, Hash(11));
  STORE_ASSERT_OK_AND_ASSIGN(LogHead global, store().GetGlobalLogHead());
  EXPECT_EQ(global.length, 3u);
  EXPECT_EQ(global.head_hash, Hash(22));

  STORE_ASSERT_OK_AND_ASSIGN(auto entries, store().GetLogEntries(kAccountA, 0, 100));
  ASSERT_EQ(entries.size(), 2u);
  EXPECT_EQ(entries[0].seq, 0u);
  EXPECT_EQ(entries[0].data, TestBytes(90, 1));
  EXPECT_EQ(entries[1].seq, 1u);
  EXPECT_EQ(entries[1].data, TestBytes(91, 5));
  STORE_ASSERT_OK_AND_ASSIGN(auto from1, store().GetLogEntries(kAccountA, 1, 100));
  ASSERT_EQ(from1.size(), 1u);
  EXPECT_EQ(from1[0].seq, 1u);
  STORE_ASSERT_OK_AND_ASSIGN(auto limited, store().GetLogEntries(kAccountA, 0, 1));
  EXPECT_EQ(limited.size(), 1u);
  STORE_ASSERT_OK_AND_ASSIGN(auto none, store().GetLogEntries(kAccountA, 0, 0));
  EXPECT_TRUE(none.empty());
  STORE_ASSERT_OK_AND_ASSIGN(auto other, store().GetLogEntries(std::string(32, '7'), 0, 100));
  EXPECT_TRUE(other.empty());

  STORE_ASSERT_OK_AND_ASSIGN(auto gentries, store().GetGlobalLogEntries(1, 100));
  ASSERT_EQ(gentries.size(), 2u);
  EXPECT_EQ(gentries[0].seq, 1u);
  EXPECT_EQ(gentries[0].data, TestBytes(80, 4));
  EXPECT_EQ(gentries[1].data, TestBytes(80, 6));
}

TEST_P(StaffStoreConformance, ConcurrentAppendsNeverLoseOrDuplicateEntries) {
  // Writers race on the compare-and-set and retry from the new heads, as the server does.
  constexpr int kThreads = 4;
  constexpr int kPerThread = 10;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      const std::string account = t % 2 == 0 ? kAccountA : kAccountB;
      for (int i = 0; i < kPerThread; ++i) {
        for (int attempt = 0;; ++attempt) {
          auto head = store().GetLogHead(account);
          auto global = store().GetGlobalLogHead();
          if (!head.ok() || !global.ok()) {
            ++failures;
            break;
          }
          Status st = store().AppendLogEntry(account, head->length, TestBytes(40, t * 100 + i),
                                             TestBytes(32, t * 100 + i), global->length, TestBytes(40, i),
                                             TestBytes(32, 5000 + t * 100 + i));
          if (st.ok()) break;
          if (st.code() != StatusCode::kAborted && st.code() != StatusCode::kUnavailable) {
            ++failures;
            break;
          }
          if (attempt > 1000) {
            ++failures;
            break;
          }
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  STORE_ASSERT_OK_AND_ASSIGN(LogHead a, store().GetLogHead(kAccountA));
  STORE_ASSERT_OK_AND_ASSIGN(LogHead b, store().GetLogHead(kAccountB));
  STORE_ASSERT_OK_AND_ASSIGN(LogHead g, store().GetGlobalLogHead());
  EXPECT_EQ(a.length, uint64_t{kThreads / 2 * kPerThread});
  EXPECT_EQ(b.length, uint64_t{kThreads / 2 * kPerThread});
  EXPECT_EQ(g.length, uint64_t{kThreads * kPerThread});
  STORE_ASSERT_OK_AND_ASSIGN(auto all, store().GetGlobalLogEntries(0, 1000));
  ASSERT_EQ(all.size(), size_t{kThreads * kPerThread});
  for (size_t i = 0; i < all.size(); ++i) EXPECT_EQ(all[i].seq, i);
}

}  // namespace coffer::store::testing
