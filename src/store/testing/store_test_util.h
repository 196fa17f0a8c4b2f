// Test helpers shared by the store's test binaries: Status assertions and temp directories.
#ifndef COFFER_STORE_TESTING_STORE_TEST_UTIL_H_
#define COFFER_STORE_TESTING_STORE_TEST_UTIL_H_

#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "coffer/status.h"
#include "util/bytes.h"

namespace coffer::store::testing {

inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
Status StatusOf(const StatusOr<T>& s) {
  return s.status();
}

// A fresh, empty directory under one per-process root ($TEST_TMPDIR or /tmp). The root and
// everything in it are removed when the process exits normally, so tests need no cleanup;
// `label` only makes the directory name readable.
std::string NewTempDir(const std::string& label);

// Deterministic test bytes: `n` bytes derived from `seed`, different for different seeds.
Bytes TestBytes(size_t n, uint64_t seed);

}  // namespace coffer::store::testing

#define STORE_CONCAT_INNER_(a, b) a##b
#define STORE_CONCAT_(a, b) STORE_CONCAT_INNER_(a, b)

// ASSERT/EXPECT that a Status or StatusOr is OK, printing the status otherwise.
#define STORE_ASSERT_OK(expr)                                                   \
  do {                                                                          \
    const ::coffer::Status store_s_ = ::coffer::store::testing::StatusOf(expr); \
    ASSERT_TRUE(store_s_.ok()) << #expr << " -> " << store_s_.ToString();       \
  } while (0)
#define STORE_EXPECT_OK(expr)                                                   \
  do {                                                                          \
    const ::coffer::Status store_s_ = ::coffer::store::testing::StatusOf(expr); \
    EXPECT_TRUE(store_s_.ok()) << #expr << " -> " << store_s_.ToString();       \
  } while (0)

// ASSERT/EXPECT that a Status or StatusOr failed with `want_code` (a StatusCode enumerator name,
// e.g. kNotFound).
#define STORE_EXPECT_CODE(expr, want_code)                                      \
  do {                                                                          \
    const ::coffer::Status store_s_ = ::coffer::store::testing::StatusOf(expr); \
    EXPECT_EQ(::coffer::StatusCodeName(store_s_.code()),                        \
              ::coffer::StatusCodeName(::coffer::StatusCode::want_code))        \
        << #expr << " -> " << store_s_.ToString();                              \
  } while (0)
#define STORE_ASSERT_CODE(expr, want_code)                                      \
  do {                                                                          \
    const ::coffer::Status store_s_ = ::coffer::store::testing::StatusOf(expr); \
    ASSERT_EQ(::coffer::StatusCodeName(store_s_.code()),                        \
              ::coffer::StatusCodeName(::coffer::StatusCode::want_code))        \
        << #expr << " -> " << store_s_.ToString();                              \
  } while (0)

// STORE_ASSERT_OK_AND_ASSIGN(auto x, Foo()); fails the test if Foo() is not OK.
#define STORE_ASSERT_OK_AND_ASSIGN(lhs, expr) \
  STORE_ASSERT_OK_AND_ASSIGN_IMPL_(STORE_CONCAT_(store_statusor_, __LINE__), lhs, expr)
#define STORE_ASSERT_OK_AND_ASSIGN_IMPL_(tmp, lhs, expr)               \
  auto tmp = (expr);                                                   \
  ASSERT_TRUE(tmp.ok()) << #expr << " -> " << tmp.status().ToString(); \
  lhs = std::move(tmp).value()

#endif  // COFFER_STORE_TESTING_STORE_TEST_UTIL_H_
