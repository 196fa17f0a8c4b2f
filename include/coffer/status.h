// Status and StatusOr<T>: errors as values at every module boundary.
//
// Shaped like absl::Status so that a later switch is mechanical. The code tells the caller
// what to do next (absl's guidance):
//   kInvalidArgument   the request itself is wrong; fix it, do not retry.
//   kNotFound          the named object does not exist.
//   kAlreadyExists     create-only operation found the object.
//   kPermissionDenied  authenticated, but not allowed.
//   kUnauthenticated   no valid credentials.
//   kResourceExhausted quota or rate limit; retry later.
//   kFailedPrecondition the state must be fixed first (e.g. not logged in).
//   kAborted           compare-and-set lost a race; redo the read-modify-write.
//   kOutOfRange        offset/length past the end.
//   kUnavailable       transient (network, server down); retry this call.
//   kDataLoss          stored data failed authentication or is corrupt; never retry.
//   kSecurity          the server lied: rollback, fork, injected key or revision.
//   kInternal          a bug.
//
// Thread-safety: Status and StatusOr are values; distinct objects may be used from distinct
// threads without synchronisation.
#ifndef COFFER_STATUS_H_
#define COFFER_STATUS_H_

#include <cassert>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace coffer {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kPermissionDenied,
  kUnauthenticated,
  kResourceExhausted,
  kFailedPrecondition,
  kAborted,
  kOutOfRange,
  kUnavailable,
  kDataLoss,
  kSecurity,
  kInternal,
};

std::string_view StatusCodeName(StatusCode code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }
  // "CODE: message", for logs and error output.
  std::string ToString() const;

  // Returns a copy whose message is prefixed with `context: `.
  Status WithContext(std::string_view context) const;

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status OkStatus() { return Status(); }
inline Status InvalidArgumentError(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status NotFoundError(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status AlreadyExistsError(std::string m) { return {StatusCode::kAlreadyExists, std::move(m)}; }
inline Status PermissionDeniedError(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status UnauthenticatedError(std::string m) { return {StatusCode::kUnauthenticated, std::move(m)}; }
inline Status ResourceExhaustedError(std::string m) { return {StatusCode::kResourceExhausted, std::move(m)}; }
inline Status FailedPreconditionError(std::string m) { return {StatusCode::kFailedPrecondition, std::move(m)}; }
inline Status AbortedError(std::string m) { return {StatusCode::kAborted, std::move(m)}; }
inline Status OutOfRangeError(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status UnavailableError(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status DataLossError(std::string m) { return {StatusCode::kDataLoss, std::move(m)}; }
inline Status SecurityError(std::string m) { return {StatusCode::kSecurity, std::move(m)}; }
inline Status InternalError(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

template <typename T>
class [[nodiscard]] StatusOr {
 public:
  StatusOr(const Status& status) : v_(status) { assert(!status.ok()); }  // NOLINT: implicit by design
  StatusOr(Status&& status) : v_(std::move(status)) { assert(!std::get<Status>(v_).ok()); }  // NOLINT
  StatusOr(const T& value) : v_(value) {}  // NOLINT
  StatusOr(T&& value) : v_(std::move(value)) {}  // NOLINT

  bool ok() const { return std::holds_alternative<T>(v_); }
  Status status() const { return ok() ? OkStatus() : std::get<Status>(v_); }

  T& value() & { assert(ok()); return std::get<T>(v_); }
  const T& value() const& { assert(ok()); return std::get<T>(v_); }
  T&& value() && { assert(ok()); return std::get<T>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

 private:
  std::variant<Status, T> v_;
};

}  // namespace coffer

#define COFFER_CONCAT_INNER_(a, b) a##b
#define COFFER_CONCAT_(a, b) COFFER_CONCAT_INNER_(a, b)

#define COFFER_RETURN_IF_ERROR(expr)              \
  do {                                            \
    ::coffer::Status coffer_status_ = (expr);     \
    if (!coffer_status_.ok()) return coffer_status_; \
  } while (0)

#define COFFER_ASSIGN_OR_RETURN_IMPL_(tmp, lhs, expr) \
  auto tmp = (expr);                                  \
  if (!tmp.ok()) return tmp.status();                 \
  lhs = std::move(tmp).value()

// COFFER_ASSIGN_OR_RETURN(auto x, Foo());
#define COFFER_ASSIGN_OR_RETURN(lhs, expr) \
  COFFER_ASSIGN_OR_RETURN_IMPL_(COFFER_CONCAT_(coffer_statusor_, __LINE__), lhs, expr)

#endif  // COFFER_STATUS_H_
