// Conformance cases for the MetaStore enumeration methods (ListAccountIds, ListSettingNames,
// ListSealedKeys), which `coffer-server migrate` relies on to find everything. Kept apart
// from meta_store_conformance so that file stays as it was; instantiate both:
//
//   COFFER_INSTANTIATE_META_STORE_ENUMERATION_CONFORMANCE(Sqlite, MetaStoreFixture{...});
//
// As with the main suite, the macro's reference to MetaStoreEnumerationFixtureName pulls this
// object (and its TEST_Ps) out of the static library into the test binary.
#ifndef COFFER_STORE_TESTING_META_STORE_ENUMERATION_CONFORMANCE_H_
#define COFFER_STORE_TESTING_META_STORE_ENUMERATION_CONFORMANCE_H_

#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "store/meta_store.h"
#include "store/testing/meta_store_conformance.h"

namespace coffer::store::testing {

std::string MetaStoreEnumerationFixtureName(const ::testing::TestParamInfo<MetaStoreFixture>& info);

class MetaStoreEnumerationConformance : public ::testing::TestWithParam<MetaStoreFixture> {
 protected:
  void SetUp() override;
  void TearDown() override { store_.reset(); }
  MetaStore& store() { return *store_; }
  std::unique_ptr<MetaStore> store_;
};

}  // namespace coffer::store::testing

#define COFFER_INSTANTIATE_META_STORE_ENUMERATION_CONFORMANCE(prefix, ...)                           \
  using ::coffer::store::testing::MetaStoreEnumerationConformance;                                  \
  INSTANTIATE_TEST_SUITE_P(prefix, MetaStoreEnumerationConformance, ::testing::Values(__VA_ARGS__), \
                           ::coffer::store::testing::MetaStoreEnumerationFixtureName)

#endif  // COFFER_STORE_TESTING_META_STORE_ENUMERATION_CONFORMANCE_H_
