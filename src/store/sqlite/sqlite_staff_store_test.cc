#include "store/sqlite/sqlite_staff_store.h"

#include <gtest/gtest.h>

#include "store/sqlite/sqlite_meta_store.h"
#include "store/testing/staff_store_conformance.h"
#include "store/testing/store_test_util.h"

namespace coffer::store {
namespace {

using testing::NewTempDir;

StatusOr<std::unique_ptr<StaffStore>> MakeEmptySqliteStaffStore() {
  COFFER_ASSIGN_OR_RETURN(std::unique_ptr<SqliteStaffStore> store,
                          SqliteStaffStore::Open(NewTempDir("sqlite-staff") + "/meta.sqlite"));
  return std::unique_ptr<StaffStore>(std::move(store));
}

COFFER_INSTANTIATE_STAFF_STORE_CONFORMANCE(Sqlite,
                                           testing::StaffStoreFixture{"Sqlite", MakeEmptySqliteStaffStore});

TEST(SqliteStaffStore, SharesTheFileWithTheMetadataStore) {
  const std::string path = NewTempDir("sqlite-staff-shared") + "/meta.sqlite";
  auto meta = SqliteMetaStore::Open(path);
  ASSERT_TRUE(meta.ok()) << meta.status().ToString();
  auto staff = SqliteStaffStore::Open(path);
  ASSERT_TRUE(staff.ok()) << staff.status().ToString();
  STORE_ASSERT_OK((*meta)->PutSetting("x", Bytes{1}));
  STORE_ASSERT_OK((*staff)->PutResetCode(std::string(32, 'a'), Bytes(32, 7), 100));
  // Reopening both in the other order applies no migration twice.
  staff->reset();
  meta->reset();
  auto staff2 = SqliteStaffStore::Open(path);
  ASSERT_TRUE(staff2.ok()) << staff2.status().ToString();
  auto meta2 = SqliteMetaStore::Open(path);
  ASSERT_TRUE(meta2.ok()) << meta2.status().ToString();
  STORE_ASSERT_OK_AND_ASSIGN(Bytes code, (*staff2)->GetResetCode(std::string(32, 'a'), 50));
  EXPECT_EQ(code, Bytes(32, 7));
}

}  // namespace
}  // namespace coffer::store
