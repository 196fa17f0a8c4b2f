// gMock matchers for Status and StatusOr<T>, for the crypto tests (modelled on absl's
// status_matchers.h). Test-only: include from *_test.cc files.
#ifndef COFFER_CRYPTO_TEST_MATCHERS_H_
#define COFFER_CRYPTO_TEST_MATCHERS_H_

#include <gmock/gmock.h>

#include <string>

#include "coffer/status.h"

namespace coffer::crypto::testing {

inline Status ToStatus(const Status& status) { return status; }
template <typename T>
Status ToStatus(const StatusOr<T>& status_or) {
  return status_or.status();
}

MATCHER(IsOk, "is OK") {
  const Status status = ToStatus(arg);
  *result_listener << "whose status is " << status.ToString();
  return status.ok();
}

MATCHER_P(StatusIs, code, "has status code " + std::string(StatusCodeName(code))) {
  const Status status = ToStatus(arg);
  *result_listener << "whose status is " << status.ToString();
  return status.code() == code;
}

MATCHER_P2(StatusIs, code, message,
           "has status " + std::string(StatusCodeName(code)) + ": " + std::string(message)) {
  const Status status = ToStatus(arg);
  *result_listener << "whose status is " << status.ToString();
  return status.code() == code && status.message() == message;
}

}  // namespace coffer::crypto::testing

#endif  // COFFER_CRYPTO_TEST_MATCHERS_H_
