#include "store/postgres/pg_conn.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <fstream>
#include <utility>

namespace coffer::store::pg {
namespace {

// Type OIDs from PostgreSQL's pg_type.dat (stable across versions).
constexpr Oid kBoolOid = 16;
constexpr Oid kByteaOid = 17;
constexpr Oid kInt8Oid = 20;
constexpr Oid kTextOid = 25;
constexpr Oid kTextArrayOid = 1009;

// How long Acquire waits for a busy pool before answering kUnavailable.
constexpr auto kAcquireTimeout = std::chrono::seconds(15);
// Default connect_timeout, so that an unreachable host fails Open within seconds.
constexpr const char* kDefaultConnectTimeoutSeconds = "10";

void AppendBigEndian64(std::string& out, uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}
void AppendBigEndian32(std::string& out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>((v >> shift) & 0xff));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

StatusOr<std::string> PercentDecode(std::string_view s, std::string_view what) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '%') {
      out.push_back(s[i]);
      continue;
    }
    if (i + 2 >= s.size()) {
      return InvalidArgumentError("metadata URL: bad percent-encoding in " + std::string(what));
    }
    const int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
    if (hi < 0 || lo < 0) return InvalidArgumentError("metadata URL: bad percent-encoding in " + std::string(what));
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return out;
}

bool StartsWithWord(std::string_view sql, std::string_view word) {
  size_t i = 0;
  while (i < sql.size() && std::isspace(static_cast<unsigned char>(sql[i]))) ++i;
  if (sql.size() - i < word.size()) return false;
  for (size_t j = 0; j < word.size(); ++j) {
    if (std::toupper(static_cast<unsigned char>(sql[i + j])) != word[j]) return false;
  }
  return true;
}

// Replaces every occurrence of `secret` in `text` (libpq messages never should contain the
// password, but a malformed URL can be echoed back).
std::string Scrub(std::string text, const std::string& secret) {
  if (secret.empty()) return text;
  for (size_t pos; (pos = text.find(secret)) != std::string::npos;) text.replace(pos, secret.size(), "***");
  return text;
}

std::string TrimTrailingNewlines(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

void IgnoreNotice(void*, const char*) {}

}  // namespace

bool IsValidSchemaName(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!(std::islower(static_cast<unsigned char>(name[0])) || name[0] == '_')) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
  });
}

// ---------------------------------------------------------------------------------------
// URL

StatusOr<ConnectionConfig> ParseConnectionUrl(const std::string& url) {
  std::string_view rest;
  if (url.starts_with("postgresql://")) {
    rest = std::string_view(url).substr(13);
  } else if (url.starts_with("postgres://")) {
    rest = std::string_view(url).substr(11);
  } else {
    return InvalidArgumentError("metadata URL must start with postgresql:// or postgres://");
  }
  if (rest.find('#') != std::string_view::npos) {
    return InvalidArgumentError("metadata URL: fragments (#...) are not supported");
  }
  const size_t query_at = rest.find('?');
  const std::string_view base = rest.substr(0, query_at);
  const std::string_view query = query_at == std::string_view::npos ? "" : rest.substr(query_at + 1);
  const std::string scheme(std::string_view(url).substr(0, url.size() - rest.size()));

  // The authority is everything before the first '/'; a password sits in its userinfo.
  const std::string_view authority = base.substr(0, base.find('/'));
  const size_t at = authority.rfind('@');
  std::string url_password;
  std::string redacted_base(base);
  if (at != std::string_view::npos) {
    const std::string_view userinfo = authority.substr(0, at);
    const size_t colon = userinfo.find(':');
    if (colon != std::string_view::npos) {
      COFFER_ASSIGN_OR_RETURN(url_password, PercentDecode(userinfo.substr(colon + 1), "the password"));
      redacted_base = std::string(userinfo.substr(0, colon)) + ":***" + std::string(base.substr(at));
    }
  }

  ConnectionConfig config;
  std::string password_file;
  std::vector<std::string> kept, kept_redacted;
  bool query_password = false;
  size_t start = 0;
  while (start < query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view item = query.substr(start, end - start);
    start = end + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    const std::string_view key = item.substr(0, eq);
    const std::string_view raw_value = eq == std::string_view::npos ? "" : item.substr(eq + 1);
    if (key == "password_file" || key == "schema" || key == "pool_size") {
      COFFER_ASSIGN_OR_RETURN(std::string value, PercentDecode(raw_value, key));
      if (key == "password_file") {
        password_file = value;
      } else if (key == "schema") {
        if (!IsValidSchemaName(value)) {
          return InvalidArgumentError("metadata URL: schema \"" + value +
                                      "\" must match [a-z_][a-z0-9_]* (at most 63 characters)");
        }
        config.schema = value;
      } else {
        if (value.empty() || value.size() > 3 ||
            !std::all_of(value.begin(), value.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
            std::stoi(value) < 1 || std::stoi(value) > 256) {
          return InvalidArgumentError("metadata URL: pool_size must be a number from 1 to 256");
        }
        config.pool_size = static_cast<size_t>(std::stoi(value));
      }
      continue;
    }
    kept.emplace_back(item);
    if (key == "password" || key == "sslpassword") {
      if (key == "password") {
        query_password = true;
        COFFER_ASSIGN_OR_RETURN(url_password, PercentDecode(raw_value, "the password"));
      }
      kept_redacted.push_back(std::string(key) + "=***");
    } else {
      kept_redacted.emplace_back(item);
    }
  }
  if (!password_file.empty()) {
    if (!url_password.empty() || query_password) {
      return InvalidArgumentError("metadata URL gives a password and a password_file; give only one");
    }
    std::ifstream in(password_file);
    std::string line;
    if (!in || !std::getline(in, line)) {
      return FailedPreconditionError("cannot read the PostgreSQL password from password_file " + password_file);
    }
    config.password = TrimTrailingNewlines(line);
    if (config.password.empty()) {
      return FailedPreconditionError("password_file " + password_file + " starts with an empty line");
    }
  }
  auto join = [](const std::vector<std::string>& items) {
    std::string out;
    for (const std::string& s : items) out += (out.empty() ? "?" : "&") + s;
    return out;
  };
  config.libpq_uri = scheme + std::string(base) + join(kept);
  config.redacted_url = scheme + redacted_base + join(kept_redacted);
  config.url_password = url_password;
  return config;
}

// ---------------------------------------------------------------------------------------
// Params

void Params::Add(Oid type, const char* data, size_t length) {
  types_.push_back(type);
  values_.push_back(data);
  lengths_.push_back(static_cast<int>(length));
  formats_.push_back(1);
}

Params& Params::Text(std::string_view v) {
  // Binary text is the raw bytes; a non-null pointer even for "" (NULL would mean SQL NULL).
  Add(kTextOid, v.empty() ? "" : v.data(), v.size());
  return *this;
}

Params& Params::Int(int64_t v) {
  std::string& s = owned_.emplace_back();
  AppendBigEndian64(s, static_cast<uint64_t>(v));
  Add(kInt8Oid, s.data(), s.size());
  return *this;
}

Params& Params::Blob(ByteView v) {
  Add(kByteaOid, v.empty() ? "" : reinterpret_cast<const char*>(v.data()), v.size());
  return *this;
}

Params& Params::Bool(bool v) {
  Add(kBoolOid, v ? "\1" : "\0", 1);
  return *this;
}

Params& Params::TextArray(const std::vector<std::string>& values) {
  // Binary array: ndim, has-null flag, element type, then (length, lower bound) per
  // dimension and (length, bytes) per element.
  std::string& s = owned_.emplace_back();
  AppendBigEndian32(s, values.empty() ? 0 : 1);
  AppendBigEndian32(s, 0);
  AppendBigEndian32(s, kTextOid);
  if (!values.empty()) {
    AppendBigEndian32(s, static_cast<uint32_t>(values.size()));
    AppendBigEndian32(s, 1);
    for (const std::string& v : values) {
      AppendBigEndian32(s, static_cast<uint32_t>(v.size()));
      s += v;
    }
  }
  Add(kTextArrayOid, s.data(), s.size());
  return *this;
}

// ---------------------------------------------------------------------------------------
// Result

int64_t Result::affected() const {
  if (!r_) return 0;
  const char* n = PQcmdTuples(r_.get());
  if (n == nullptr || *n == '\0') return 0;
  int64_t v = 0;
  for (const char* p = n; *p >= '0' && *p <= '9'; ++p) v = v * 10 + (*p - '0');
  return v;
}

bool Result::Has(int row, int col) const {
  return r_ && row >= 0 && col >= 0 && row < PQntuples(r_.get()) && col < PQnfields(r_.get()) &&
         !PQgetisnull(r_.get(), row, col);
}

bool Result::IsNull(int row, int col) const { return !Has(row, col); }

std::string Result::Text(int row, int col) const {
  if (!Has(row, col)) return "";
  return std::string(PQgetvalue(r_.get(), row, col), static_cast<size_t>(PQgetlength(r_.get(), row, col)));
}

Bytes Result::Blob(int row, int col) const {
  if (!Has(row, col)) return {};
  const auto* p = reinterpret_cast<const uint8_t*>(PQgetvalue(r_.get(), row, col));
  return Bytes(p, p + PQgetlength(r_.get(), row, col));
}

int64_t Result::Int(int row, int col) const {
  if (!Has(row, col)) return 0;
  const auto* p = reinterpret_cast<const uint8_t*>(PQgetvalue(r_.get(), row, col));
  const int len = PQgetlength(r_.get(), row, col);
  if (len != 2 && len != 4 && len != 8) return 0;
  uint64_t v = 0;
  for (int i = 0; i < len; ++i) v = (v << 8) | p[i];
  // Sign-extend the narrower types.
  if (len == 2) return static_cast<int16_t>(v);
  if (len == 4) return static_cast<int32_t>(v);
  return static_cast<int64_t>(v);
}

bool Result::Bool(int row, int col) const {
  if (!Has(row, col) || PQgetlength(r_.get(), row, col) != 1) return false;
  return PQgetvalue(r_.get(), row, col)[0] != 0;
}

// ---------------------------------------------------------------------------------------
// Connection

StatusOr<std::unique_ptr<Connection>> Connection::Open(const ConnectionConfig& config) {
  // Keywords later in the list override earlier ones; the URI (expanded from dbname) may set
  // its own connect_timeout, and a password from password_file comes last.
  std::vector<const char*> keys = {"connect_timeout", "dbname"};
  std::vector<const char*> values = {kDefaultConnectTimeoutSeconds, config.libpq_uri.c_str()};
  if (!config.password.empty()) {
    keys.push_back("password");
    values.push_back(config.password.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = PQconnectdbParams(keys.data(), values.data(), /*expand_dbname=*/1);
  if (conn == nullptr) return UnavailableError("cannot allocate a PostgreSQL connection");
  const char* host = PQhost(conn);
  const char* port = PQport(conn);
  const char* db = PQdb(conn);
  const char* user = PQuser(conn);
  std::string where = std::string(host ? host : "?") + ":" + (port && *port ? port : "5432") + "/" + (db ? db : "");
  if (PQstatus(conn) != CONNECTION_OK) {
    std::string message = TrimTrailingNewlines(PQerrorMessage(conn));
    message = Scrub(Scrub(std::move(message), config.password), config.url_password);
    std::replace(message.begin(), message.end(), '\n', ' ');
    // `user` points into conn: copy it before PQfinish frees it.
    const std::string as = user && *user ? " as " + std::string(user) : "";
    PQfinish(conn);
    return UnavailableError("cannot connect to PostgreSQL at " + where + as + ": " + message);
  }
  PQsetNoticeProcessor(conn, IgnoreNotice, nullptr);
  std::unique_ptr<Connection> c(new Connection(conn, where));
  if (!config.schema.empty()) {
    // The name was validated (lowercase letters, digits, '_'), so quoting it is enough.
    COFFER_RETURN_IF_ERROR(c->ExecScript("SET search_path TO \"" + config.schema + "\""));
  }
  c->ResetCommitTracking();
  return c;
}

Connection::~Connection() { PQfinish(conn_); }

bool Connection::healthy() { return !broken_ && PQstatus(conn_) == CONNECTION_OK; }

bool Connection::CheckIdleConnection() {
  if (!healthy()) return false;
  // Non-blocking: reads whatever already arrived. A backend ended by the server (restart,
  // pg_terminate_backend) has sent its notice and closed the socket; that marks us bad here.
  // The notice and the end of the stream may arrive in separate reads; PQconsumeInput
  // reports the end (and marks the connection bad) only on a read that finds nothing else.
  for (int reads = 0; reads < 3 && healthy(); ++reads) {
    if (PQconsumeInput(conn_) == 0) return false;
  }
  while (PGnotify* n = PQnotifies(conn_)) PQfreemem(n);
  return healthy() && PQtransactionStatus(conn_) == PQTRANS_IDLE;
}

bool Connection::in_transaction() const {
  const PGTransactionStatusType s = PQtransactionStatus(conn_);
  return s == PQTRANS_INTRANS || s == PQTRANS_INERROR || s == PQTRANS_ACTIVE;
}

void Connection::NoteSent(std::string_view sql) {
  if (in_transaction()) {
    if (StartsWithWord(sql, "COMMIT") || StartsWithWord(sql, "END")) may_have_committed_ = true;
    return;
  }
  if (StartsWithWord(sql, "SELECT") || StartsWithWord(sql, "BEGIN") || StartsWithWord(sql, "SET") ||
      StartsWithWord(sql, "ROLLBACK")) {
    return;
  }
  may_have_committed_ = true;  // an autocommitted write
}

Status Connection::ConnectionLost() {
  std::string message = TrimTrailingNewlines(PQerrorMessage(conn_));
  std::replace(message.begin(), message.end(), '\n', ' ');
  return UnavailableError("lost the connection to PostgreSQL at " + where_ + ": " + message);
}

Status Connection::ErrorFrom(const PGresult* r, std::string_view sql) {
  last_error_retryable_ = false;
  const char* state_field = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr;
  if (!healthy() || state_field == nullptr) return ConnectionLost();
  const std::string state = state_field;
  const char* primary = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
  // Only the primary message: the detail can quote row values (an email in a key).
  const std::string message =
      "PostgreSQL at " + where_ + ": " + (primary ? primary : "error") + " (SQLSTATE " + state + ")";
  const std::string_view cls = std::string_view(state).substr(0, 2);
  // The server is ending this session (shutdown, pg_terminate_backend) or the link failed:
  // libpq may not have seen the socket close yet, but the connection is finished.
  if (cls == "08" || state == "57P01" || state == "57P02" || state == "57P03") {
    broken_ = true;
    return UnavailableError(message);
  }
  if (state == "23505") return AlreadyExistsError(message);
  if (state == "23503") return NotFoundError(message);
  if (state == "40001" || state == "40P01") {
    last_error_retryable_ = true;
    return AbortedError(message);
  }
  if (state == "42501") {
    return FailedPreconditionError(message + "; grant the role the privileges listed in README.md");
  }
  if (cls == "22" || state == "23502" || state == "23514") return InvalidArgumentError(message);
  if (cls == "08" || cls == "53" || cls == "57" || state == "55P03") return UnavailableError(message);
  return InternalError(message + " in: " + std::string(sql.substr(0, 120)));
}

StatusOr<Result> Connection::Exec(std::string_view sql, const Params& params) {
  last_error_retryable_ = false;
  if (!healthy()) return ConnectionLost();
  auto it = prepared_.find(std::string(sql));
  if (it == prepared_.end()) {
    std::string name = "coffer_" + std::to_string(prepared_.size());
    PGresult* prep = PQprepare(conn_, name.c_str(), std::string(sql).c_str(), params.size(), params.types());
    if (prep == nullptr) return ConnectionLost();
    if (PQresultStatus(prep) != PGRES_COMMAND_OK) {
      Status error = ErrorFrom(prep, sql);
      PQclear(prep);
      return error;
    }
    PQclear(prep);
    it = prepared_.emplace(std::string(sql), std::move(name)).first;
  }
  NoteSent(sql);
  PGresult* r = PQexecPrepared(conn_, it->second.c_str(), params.size(), params.values(), params.lengths(),
                               params.formats(), /*resultFormat=*/1);
  if (r == nullptr) return ConnectionLost();
  const ExecStatusType st = PQresultStatus(r);
  if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Result(r);
  Status error = ErrorFrom(r, sql);
  PQclear(r);
  return error;
}

Status Connection::ExecScript(std::string_view sql) {
  last_error_retryable_ = false;
  if (!healthy()) return ConnectionLost();
  NoteSent(sql);
  PGresult* r = PQexec(conn_, std::string(sql).c_str());
  if (r == nullptr) return ConnectionLost();
  const ExecStatusType st = PQresultStatus(r);
  Status status = (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) ? OkStatus() : ErrorFrom(r, sql);
  PQclear(r);
  return status;
}

// ---------------------------------------------------------------------------------------
// Transaction

Transaction::~Transaction() {
  if (open_ && conn_.healthy() && conn_.in_transaction()) (void)conn_.ExecScript("ROLLBACK");
}

Status Transaction::Begin(std::string_view begin_sql) {
  COFFER_RETURN_IF_ERROR(conn_.ExecScript(begin_sql));
  open_ = true;
  return OkStatus();
}

Status Transaction::Commit() {
  if (PQtransactionStatus(conn_.raw()) == PQTRANS_INERROR) {
    return InternalError("commit of a failed PostgreSQL transaction");  // the destructor rolls back
  }
  COFFER_RETURN_IF_ERROR(conn_.ExecScript("COMMIT"));
  open_ = false;
  return OkStatus();
}

// ---------------------------------------------------------------------------------------
// Pool

Pool::Pool(ConnectionConfig config) : config_(std::move(config)) {}

Pool::~Pool() = default;

Pool::Lease::~Lease() {
  if (conn_) pool_->Release(std::move(conn_));
}

void Pool::Lease::Discard() {
  if (conn_) {
    conn_.reset();
    pool_->Release(nullptr);
  }
}

StatusOr<Pool::Lease> Pool::Acquire() {
  const auto deadline = std::chrono::steady_clock::now() + kAcquireTimeout;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    while (!idle_.empty()) {
      std::unique_ptr<Connection> conn = std::move(idle_.back());
      idle_.pop_back();
      lock.unlock();
      if (conn->CheckIdleConnection()) {
        conn->ResetCommitTracking();
        return Lease(this, std::move(conn));
      }
      conn.reset();  // closed by the server while idle: drop it and try the next
      lock.lock();
      --open_;
    }
    if (open_ < config_.pool_size) {
      ++open_;
      lock.unlock();
      auto conn = Connection::Open(config_);
      if (!conn.ok()) {
        lock.lock();
        --open_;
        cv_.notify_one();
        return conn.status();
      }
      return Lease(this, std::move(*conn));
    }
    if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && idle_.empty() &&
        open_ >= config_.pool_size) {
      return UnavailableError("all " + std::to_string(config_.pool_size) + " connections to PostgreSQL (" +
                              config_.redacted_url + ") stayed busy for " +
                              std::to_string(kAcquireTimeout.count()) + " s; raise pool_size");
    }
  }
}

void Pool::Release(std::unique_ptr<Connection> conn) {
  std::lock_guard<std::mutex> lock(mu_);
  if (conn && conn->healthy() && !conn->in_transaction()) {
    idle_.push_back(std::move(conn));
  } else {
    conn.reset();
    --open_;
  }
  cv_.notify_one();
}

void Pool::CloseIdle() {
  std::lock_guard<std::mutex> lock(mu_);
  open_ -= idle_.size();
  idle_.clear();
  cv_.notify_all();
}

size_t Pool::open_connections() {
  std::lock_guard<std::mutex> lock(mu_);
  return open_;
}

}  // namespace coffer::store::pg
