// Small RAII layer over libpq for the PostgreSQL metadata store: connection settings parsed
// from a URL, one connection with a prepared-statement cache, typed parameters and results,
// SQLSTATE -> Status mapping, and a bounded thread-safe pool.
//
// Every statement is parameterized (values never enter SQL text). Parameters and results use
// libpq's binary format, so byte strings travel as raw bytea and integers as 8-byte
// big-endian values, with no escaping and no text parsing of server replies.
#ifndef COFFER_STORE_POSTGRES_PG_CONN_H_
#define COFFER_STORE_POSTGRES_PG_CONN_H_

#include <libpq-fe.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "coffer/status.h"
#include "util/bytes.h"

namespace coffer::store::pg {

// What a metadata URL says, split into what libpq understands and what the store consumes.
//
//   postgresql://user[:password]@host[:port]/db[?param=value&...]   (or postgres://)
//
// Parameters the store consumes (the rest, e.g. sslmode, sslrootcert, connect_timeout,
// application_name, go to libpq unchanged):
//   password_file=PATH  the password is the first line of PATH (instead of the URL or
//                       PGPASSWORD, which libpq reads itself)
//   schema=NAME         keep the tables in schema NAME ([a-z_][a-z0-9_]*, created if missing)
//                       instead of the role's default search_path
//   pool_size=N         at most N connections (1..256, default 8)
struct ConnectionConfig {
  std::string libpq_uri;     // the URL without the store's own parameters
  std::string password;      // from password_file; empty = URL / PGPASSWORD / none
  std::string schema;        // empty = default search_path
  size_t pool_size = 8;
  // For messages: never contains the password.
  std::string redacted_url;
  // The password as written in the URL, only to scrub it from libpq's messages.
  std::string url_password;
};

// kInvalidArgument for a URL that is not postgres(ql)://..., a bad parameter value, or a
// password given twice; kFailedPrecondition if password_file cannot be read.
StatusOr<ConnectionConfig> ParseConnectionUrl(const std::string& url);

// Statement parameters, all sent in binary format with explicit types.
class Params {
 public:
  Params() = default;
  // Not copyable: the value pointers point into owned_.
  Params(const Params&) = delete;
  Params& operator=(const Params&) = delete;

  Params& Text(std::string_view v);  // text (must be valid UTF-8 without NUL bytes)
  Params& Int(int64_t v);            // int8
  Params& U64(uint64_t v) { return Int(static_cast<int64_t>(v)); }  // int8, same bits
  Params& Blob(ByteView v);          // bytea
  Params& Bool(bool v);
  Params& TextArray(const std::vector<std::string>& values);  // text[]

  int size() const { return static_cast<int>(types_.size()); }
  const Oid* types() const { return types_.data(); }
  const char* const* values() const { return values_.data(); }
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }

 private:
  void Add(Oid type, const char* data, size_t length);
  // Owns encoded values (integers, arrays); a deque keeps their addresses stable.
  std::deque<std::string> owned_;
  std::vector<Oid> types_;
  std::vector<const char*> values_;
  std::vector<int> lengths_;
  std::vector<int> formats_;
};

// A query result in binary format. Accessors check row and column bounds and the width of
// integer values: a value of an unexpected shape reads as empty / 0 rather than past a buffer.
class Result {
 public:
  Result() = default;
  explicit Result(PGresult* r) : r_(r) {}

  int rows() const { return r_ ? PQntuples(r_.get()) : 0; }
  // Rows changed by INSERT/UPDATE/DELETE.
  int64_t affected() const;
  bool IsNull(int row, int col) const;
  std::string Text(int row, int col) const;
  Bytes Blob(int row, int col) const;
  int64_t Int(int row, int col) const;  // int2, int4 or int8
  uint64_t U64(int row, int col) const { return static_cast<uint64_t>(Int(row, col)); }
  bool Bool(int row, int col) const;

 private:
  bool Has(int row, int col) const;
  struct Deleter {
    void operator()(PGresult* r) const { PQclear(r); }
  };
  std::unique_ptr<PGresult, Deleter> r_;
};

// One connection. Not thread-safe: the pool hands it to one thread at a time.
class Connection {
 public:
  // Connects and runs the session setup (search_path). kUnavailable names host:port and
  // database, never the password.
  static StatusOr<std::unique_ptr<Connection>> Open(const ConnectionConfig& config);
  ~Connection();

  // Runs one parameterized statement (prepared once per connection and reused).
  StatusOr<Result> Exec(std::string_view sql, const Params& params = Params());
  // Runs SQL text without parameters (may hold several statements: migrations, BEGIN).
  Status ExecScript(std::string_view sql);

  // False once the server connection is gone.
  bool healthy();
  // Reads anything the server sent while the connection was idle (a termination notice), so
  // that a connection killed in the pool is noticed before it is used.
  bool CheckIdleConnection();
  bool in_transaction() const;
  // Whether a statement that could have committed was sent since ResetCommitTracking(): then
  // retrying the operation on another connection might apply it twice.
  bool may_have_committed() const { return may_have_committed_; }
  void ResetCommitTracking() { may_have_committed_ = false; }
  // True if the last failure was a serialization failure or deadlock (the transaction was
  // rolled back and may simply be run again).
  bool last_error_retryable() const { return last_error_retryable_; }
  PGconn* raw() { return conn_; }

 private:
  explicit Connection(PGconn* conn, std::string where) : conn_(conn), where_(std::move(where)) {}
  Status ErrorFrom(const PGresult* r, std::string_view sql);
  Status ConnectionLost();
  void NoteSent(std::string_view sql);

  PGconn* conn_;
  std::string where_;  // "host:port/db", for messages
  std::unordered_map<std::string, std::string> prepared_;  // SQL -> statement name
  bool may_have_committed_ = false;
  bool last_error_retryable_ = false;
  bool broken_ = false;  // the server ended the session
};

// Opens a transaction on construction's Begin() and rolls it back on destruction unless
// committed.
class Transaction {
 public:
  explicit Transaction(Connection& conn) : conn_(conn) {}
  ~Transaction();
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  Status Begin(std::string_view begin_sql = "BEGIN");
  Status Commit();

 private:
  Connection& conn_;
  bool open_ = false;
};

// A bounded pool. Acquire() reuses an idle connection, opens a new one while fewer than
// pool_size exist, or waits for one to be released (up to a deadline, then kUnavailable).
class Pool {
 public:
  explicit Pool(ConnectionConfig config);
  ~Pool();

  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept = default;
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }
    // Closes the connection instead of returning it to the pool.
    void Discard();

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  StatusOr<Lease> Acquire();
  const ConnectionConfig& config() const { return config_; }
  // Closes every idle connection (the next Acquire opens new ones).
  void CloseIdle();
  size_t open_connections();

 private:
  void Release(std::unique_ptr<Connection> conn);

  const ConnectionConfig config_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;  // guarded by mu_
  size_t open_ = 0;                                // guarded by mu_: idle + leased + connecting
};

// Whether `name` is a schema name the store accepts: [a-z_][a-z0-9_]{0,62}.
bool IsValidSchemaName(std::string_view name);

}  // namespace coffer::store::pg

#endif  // COFFER_STORE_POSTGRES_PG_CONN_H_
