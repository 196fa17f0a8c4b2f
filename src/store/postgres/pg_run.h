// The retry policy every PostgreSQL store shares: run one operation on a pooled connection,
// retry it after serialization failures and deadlocks, and retry it once after a lost
// connection, but only when nothing can have committed.
#ifndef COFFER_STORE_POSTGRES_PG_RUN_H_
#define COFFER_STORE_POSTGRES_PG_RUN_H_

#include <string>
#include <utility>

#include "coffer/status.h"
#include "store/postgres/pg_conn.h"

namespace coffer::store::pg {

inline constexpr int kMaxRunAttempts = 4;

namespace internal {
inline const Status& StatusOf(const Status& s) { return s; }
template <typename T>
Status StatusOf(const StatusOr<T>& s) {
  return s.status();
}
// Errors that come from the database or the connection (and so get the operation's name as
// context), as opposed to answers of the operation itself (kNotFound, kAborted, ...).
inline bool IsDbFailure(StatusCode code) {
  return code == StatusCode::kUnavailable || code == StatusCode::kInternal || code == StatusCode::kDataLoss ||
         code == StatusCode::kFailedPrecondition;
}
}  // namespace internal

// `fn(Connection&)` returns Status or StatusOr<T>; so does RunWithRetry. `what` names the
// operation in errors.
template <typename Fn>
auto RunWithRetry(Pool& pool, const std::string& what, Fn&& fn) -> decltype(fn(std::declval<Connection&>())) {
  bool retried_lost_connection = false;
  for (int attempt = 1;; ++attempt) {
    auto lease = pool.Acquire();
    if (!lease.ok()) return lease.status().WithContext(what);
    Connection& conn = **lease;
    auto result = fn(conn);
    if (result.ok()) return result;
    const Status status = internal::StatusOf(result);
    if (!conn.healthy()) {
      const bool safe_to_retry = !conn.may_have_committed() && !retried_lost_connection;
      lease->Discard();
      // Whatever ended this connection (a server restart, a failover) most likely ended the
      // idle ones too; open fresh ones rather than finding out one by one.
      pool.CloseIdle();
      if (safe_to_retry) {
        retried_lost_connection = true;
        continue;
      }
      return status.WithContext(what);
    }
    if (conn.last_error_retryable() && attempt < kMaxRunAttempts) continue;
    if (internal::IsDbFailure(status.code())) return status.WithContext(what);
    return result;
  }
}

}  // namespace coffer::store::pg

#endif  // COFFER_STORE_POSTGRES_PG_RUN_H_
