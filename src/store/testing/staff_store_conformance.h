// The StaffStore conformance suite: the tests every StaffStore implementation must pass
// (SQLite now, PostgreSQL later). Semantics it pins down beyond the header comments:
//   - Expiry: a staff session or reset code with expires_at <= now has expired.
//   - Grants are global by id (kAlreadyExists across accounts); RevokeGrant by the wrong
//     account is kNotFound and changes nothing; revoking twice keeps the first time.
//   - The access log and the global log are append-only with compare-and-set on the
//     length; a failed append (either compare) leaves both logs unchanged.
//   - Disabling a staff member deletes their sessions.
//
//   COFFER_INSTANTIATE_STAFF_STORE_CONFORMANCE(
//       Sqlite, StaffStoreFixture{"Sqlite", [] { return OpenMyStore(NewTempDir("staff")); }});
#ifndef COFFER_STORE_TESTING_STAFF_STORE_CONFORMANCE_H_
#define COFFER_STORE_TESTING_STAFF_STORE_CONFORMANCE_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "coffer/status.h"
#include "store/staff_store.h"

namespace coffer::store::testing {

struct StaffStoreFixture {
  std::string name;  // test name suffix: letters, digits and '_' only
  std::function<StatusOr<std::unique_ptr<StaffStore>>()> make_empty;
};

void PrintTo(const StaffStoreFixture& fixture, std::ostream* os);
std::string StaffStoreFixtureName(const ::testing::TestParamInfo<StaffStoreFixture>& info);

class StaffStoreConformance : public ::testing::TestWithParam<StaffStoreFixture> {
 protected:
  void SetUp() override;
  void TearDown() override;
  StaffStore& store() { return *store_; }
  std::unique_ptr<StaffStore> store_;
};

}  // namespace coffer::store::testing

#define COFFER_INSTANTIATE_STAFF_STORE_CONFORMANCE(prefix, ...)                           \
  using ::coffer::store::testing::StaffStoreConformance;                                  \
  INSTANTIATE_TEST_SUITE_P(prefix, StaffStoreConformance, ::testing::Values(__VA_ARGS__), \
                           ::coffer::store::testing::StaffStoreFixtureName)

#endif  // COFFER_STORE_TESTING_STAFF_STORE_CONFORMANCE_H_
