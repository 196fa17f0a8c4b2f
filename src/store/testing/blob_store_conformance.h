// The BlobStore conformance suite: one set of tests that every BlobStore implementation must
// pass (restic's backend test Suite, arrow's GenericFileSystemTest).
//
// Use from an implementation's test file, with a factory that returns a new, empty store
// each time it is called:
//
//   COFFER_INSTANTIATE_BLOB_STORE_CONFORMANCE(
//       Local, BlobStoreFixture{"Local", [] { return OpenMyStore(NewTempDir("blobs")); }});
//
// The macro (rather than a bare INSTANTIATE_TEST_SUITE_P) matters: it names each test after
// the fixture, and its reference to BlobStoreFixtureName pulls blob_store_conformance.cc,
// and with it every TEST_P, out of the static library into the test binary. Without such a
// reference the linker would drop the object and the suite would silently run zero tests.
#ifndef COFFER_STORE_TESTING_BLOB_STORE_CONFORMANCE_H_
#define COFFER_STORE_TESTING_BLOB_STORE_CONFORMANCE_H_

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <ostream>
#include <string>

#include "coffer/status.h"
#include "store/blob_store.h"

namespace coffer::store::testing {

struct BlobStoreFixture {
  std::string name;  // test name suffix: letters, digits and '_' only
  std::function<StatusOr<std::unique_ptr<BlobStore>>()> make_empty;
};

// Keeps gtest from dumping the struct's bytes in test names and failure messages.
void PrintTo(const BlobStoreFixture& fixture, std::ostream* os);
std::string BlobStoreFixtureName(const ::testing::TestParamInfo<BlobStoreFixture>& info);

class BlobStoreConformance : public ::testing::TestWithParam<BlobStoreFixture> {
 protected:
  // Creates store_ with the fixture's make_empty (fails the test if that fails).
  void SetUp() override;
  void TearDown() override;

  BlobStore& store() { return *store_; }

  std::unique_ptr<BlobStore> store_;
};

}  // namespace coffer::store::testing

// gtest pastes the suite name into identifiers, so it must be unqualified here; the
// using-declaration makes it so in the caller's namespace.
#define COFFER_INSTANTIATE_BLOB_STORE_CONFORMANCE(prefix, ...)                           \
  using ::coffer::store::testing::BlobStoreConformance;                                  \
  INSTANTIATE_TEST_SUITE_P(prefix, BlobStoreConformance, ::testing::Values(__VA_ARGS__), \
                           ::coffer::store::testing::BlobStoreFixtureName)

#endif  // COFFER_STORE_TESTING_BLOB_STORE_CONFORMANCE_H_
