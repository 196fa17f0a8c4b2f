// The MetaStore conformance suite: one set of tests that every MetaStore implementation must
// pass (SQLite now, PostgreSQL later). It pins down the semantics the interface comments
// leave to the implementation, so that backends agree:
//   - Expiry: a session or message with expires_at <= now has expired.
//   - Quota: 0 means unlimited; a write that would take used_bytes past quota_bytes is
//     kResourceExhausted, reaching it exactly is allowed; used_bytes counts chunks, revisions
//     and the current checkpoint of each collection.
//   - Writes for an account that does not exist are kNotFound; reads answer kNotFound or
//     an empty list, as documented per method.
//   - PutSealedKey / PutCheckpoint: the newest epoch / number wins whatever the arrival
//     order; an older one is accepted and dropped, an equal one replaces. A checkpoint number
//     must be 1..head, else kInvalidArgument.
//   - GetRevisions with limit 0 returns nothing; ListChunks' callback may use the store.
//
// Use from an implementation's test file, with a factory that returns a new, empty store
// each time it is called:
//
//   COFFER_INSTANTIATE_META_STORE_CONFORMANCE(
//       Sqlite, MetaStoreFixture{"Sqlite", [] { return OpenMyStore(NewTempDir("meta")); }});
//
// The macro's reference to MetaStoreFixtureName pulls meta_store_conformance.cc, and with it
// every TEST_P, out of the static library into the test binary (see blob_store_conformance.h).
#ifndef COFFER_STORE_TESTING_META_STORE_CONFORMANCE_H_
#define COFFER_STORE_TESTING_META_STORE_CONFORMANCE_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "coffer/status.h"
#include "store/meta_store.h"

namespace coffer::store::testing {

struct MetaStoreFixture {
  std::string name;  // test name suffix: letters, digits and '_' only
  std::function<StatusOr<std::unique_ptr<MetaStore>>()> make_empty;
};

void PrintTo(const MetaStoreFixture& fixture, std::ostream* os);
std::string MetaStoreFixtureName(const ::testing::TestParamInfo<MetaStoreFixture>& info);

class MetaStoreConformance : public ::testing::TestWithParam<MetaStoreFixture> {
 protected:
  // Creates store_ with the fixture's make_empty (fails the test if that fails).
  void SetUp() override;
  void TearDown() override;

  MetaStore& store() { return *store_; }

  std::unique_ptr<MetaStore> store_;
};

}  // namespace coffer::store::testing

// gtest pastes the suite name into identifiers, so it must be unqualified here; the
// using-declaration makes it so in the caller's namespace.
#define COFFER_INSTANTIATE_META_STORE_CONFORMANCE(prefix, ...)                           \
  using ::coffer::store::testing::MetaStoreConformance;                                  \
  INSTANTIATE_TEST_SUITE_P(prefix, MetaStoreConformance, ::testing::Values(__VA_ARGS__), \
                           ::coffer::store::testing::MetaStoreFixtureName)

#endif  // COFFER_STORE_TESTING_META_STORE_CONFORMANCE_H_
