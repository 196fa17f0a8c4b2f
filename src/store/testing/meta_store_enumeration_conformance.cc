#include "store/testing/meta_store_enumeration_conformance.h"

#include <algorithm>
#include <string>
#include <vector>

#include "store/testing/store_test_util.h"

namespace coffer::store::testing {

std::string MetaStoreEnumerationFixtureName(const ::testing::TestParamInfo<MetaStoreFixture>& info) {
  return info.param.name;
}

void MetaStoreEnumerationConformance::SetUp() {
  auto store = GetParam().make_empty();
  ASSERT_TRUE(store.ok()) << "make_empty for " << GetParam().name << ": " << store.status().ToString();
  store_ = std::move(*store);
  ASSERT_NE(store_, nullptr);
}

// See meta_store_conformance.cc: binaries that link the library without instantiating.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(MetaStoreEnumerationConformance);

namespace {

std::string Id(char c) { return std::string(32, c); }

AccountRecord Account(const std::string& id) {
  AccountRecord a;
  a.account_id = id;
  a.email = id + "@example.com";
  a.created_at = 1700000000;
  a.login_hash = "h";
  a.recovery_hash = "r";
  return a;
}

}  // namespace

TEST_P(MetaStoreEnumerationConformance, ListAccountIdsIsEmptyForAnEmptyStore) {
  STORE_ASSERT_OK_AND_ASSIGN(auto ids, store().ListAccountIds("", 100));
  EXPECT_TRUE(ids.empty());
}

TEST_P(MetaStoreEnumerationConformance, ListAccountIdsPagesInAscendingOrder) {
  // Created out of order; listed by id.
  const std::vector<std::string> ids = {Id('7'), Id('0'), Id('f'), Id('3'), Id('a')};
  for (const std::string& id : ids) STORE_ASSERT_OK(store().CreateAccount(Account(id)));
  std::vector<std::string> sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  STORE_ASSERT_OK_AND_ASSIGN(auto all, store().ListAccountIds("", 100));
  EXPECT_EQ(all, sorted);
  // Keyset paging with a page of two visits each id once.
  std::vector<std::string> paged;
  std::string after;
  for (int pages = 0; pages < 10; ++pages) {
    STORE_ASSERT_OK_AND_ASSIGN(auto page, store().ListAccountIds(after, 2));
    EXPECT_LE(page.size(), 2u);
    if (page.empty()) break;
    paged.insert(paged.end(), page.begin(), page.end());
    after = page.back();
  }
  EXPECT_EQ(paged, sorted);
  // `after` need not be an existing id; limit 0 returns nothing.
  STORE_ASSERT_OK_AND_ASSIGN(auto tail, store().ListAccountIds(Id('5'), 100));
  EXPECT_EQ(tail, (std::vector<std::string>{Id('7'), Id('a'), Id('f')}));
  STORE_ASSERT_OK_AND_ASSIGN(auto none, store().ListAccountIds("", 0));
  EXPECT_TRUE(none.empty());
}

TEST_P(MetaStoreEnumerationConformance, ListSettingNamesListsEveryNameAscendingOnce) {
  STORE_ASSERT_OK_AND_ASSIGN(auto empty, store().ListSettingNames());
  EXPECT_TRUE(empty.empty());
  STORE_ASSERT_OK(store().PutSetting("zeta", TestBytes(4, 1)));
  STORE_ASSERT_OK(store().PutSetting("alpha", Bytes()));
  STORE_ASSERT_OK(store().PutSetting("server_secret", TestBytes(32, 2)));
  STORE_ASSERT_OK(store().PutSetting("alpha", TestBytes(8, 3)));  // overwrite: still one name
  STORE_ASSERT_OK_AND_ASSIGN(auto names, store().ListSettingNames());
  EXPECT_EQ(names, (std::vector<std::string>{"alpha", "server_secret", "zeta"}));
}

TEST_P(MetaStoreEnumerationConformance, ListSealedKeysListsTheAccountsKeysByDevice) {
  const std::string a = Id('1'), b = Id('2');
  STORE_ASSERT_OK(store().CreateAccount(Account(a)));
  STORE_ASSERT_OK(store().CreateAccount(Account(b)));
  STORE_ASSERT_OK(store().PutSealedKey(a, Id('d'), 1, TestBytes(48, 1)));
  STORE_ASSERT_OK(store().PutSealedKey(a, Id('c'), 4, TestBytes(48, 2)));
  STORE_ASSERT_OK(store().PutSealedKey(a, Id('d'), 3, TestBytes(48, 3)));  // newer epoch replaces
  STORE_ASSERT_OK(store().PutSealedKey(a, Id('c'), 2, TestBytes(48, 4)));  // older: dropped
  STORE_ASSERT_OK(store().PutSealedKey(b, Id('e'), 1, TestBytes(48, 5)));
  STORE_ASSERT_OK_AND_ASSIGN(auto keys, store().ListSealedKeys(a));
  ASSERT_EQ(keys.size(), 2u);
  EXPECT_EQ(keys[0].device_id, Id('c'));
  EXPECT_EQ(keys[0].epoch, 4u);
  EXPECT_EQ(keys[0].blob, TestBytes(48, 2));
  EXPECT_EQ(keys[1].device_id, Id('d'));
  EXPECT_EQ(keys[1].epoch, 3u);
  EXPECT_EQ(keys[1].blob, TestBytes(48, 3));
  STORE_ASSERT_OK_AND_ASSIGN(auto other, store().ListSealedKeys(b));
  ASSERT_EQ(other.size(), 1u);
  EXPECT_EQ(other[0].device_id, Id('e'));
  STORE_ASSERT_OK_AND_ASSIGN(auto unknown, store().ListSealedKeys(Id('9')));
  EXPECT_TRUE(unknown.empty());
}

}  // namespace coffer::store::testing
