// PostgresMetaStore against a real PostgreSQL server: the shared conformance suite plus the
// PostgreSQL-specific behaviour (migrations, several pools = several servers, lost
// connections, URLs and passwords, index use).
//
// The server comes from COFFER_TEST_POSTGRES_URL (scripts/postgres.sh start DIR writes it to
// DIR/env). Without it every test here FAILS with a message saying so: a missing database
// must never look like a passing suite. ctest runs test cases as parallel processes against
// one database, so every store instance gets its own schema with a random name, dropped when
// the test process ends.
#include "store/postgres/postgres_meta_store.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/open.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/pg_schema.h"
#include "store/testing/meta_store_conformance.h"
#include "store/testing/meta_store_enumeration_conformance.h"
#include "store/testing/store_test_util.h"

namespace coffer::store {
namespace {

using testing::NewTempDir;
using testing::TestBytes;

StatusOr<std::string> BaseUrl() {
  const char* url = std::getenv("COFFER_TEST_POSTGRES_URL");
  if (url == nullptr || *url == '\0') {
    return FailedPreconditionError(
        "COFFER_TEST_POSTGRES_URL is not set. The PostgreSQL store tests need a real server: run "
        "`scripts/postgres.sh start /tmp/coffer-pg && source /tmp/coffer-pg/env` (scripts/test.sh does this)");
  }
  return std::string(url);
}

std::string WithParam(const std::string& url, const std::string& param) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + param;
}

// Schemas this process created; dropped by SchemaCleanup at exit.
std::mutex schemas_mu;
std::vector<std::string> schemas;

std::string NewSchemaName() {
  static std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(::getpid()));
  static constexpr char kHex[] = "0123456789abcdef";
  std::lock_guard<std::mutex> lock(schemas_mu);
  std::string name = "coffer_test_";
  uint64_t x = rng();
  for (int i = 0; i < 16; ++i, x >>= 4) name += kHex[x & 0xf];
  schemas.push_back(name);
  return name;
}

// A URL for a new, empty schema of its own.
StatusOr<std::string> FreshUrl(const std::string& extra_params = "") {
  COFFER_ASSIGN_OR_RETURN(std::string url, BaseUrl());
  url = WithParam(url, "schema=" + NewSchemaName());
  if (!extra_params.empty()) url = WithParam(url, extra_params);
  return url;
}

// A raw libpq connection beside the store, for checks and for sabotage.
class Admin {
 public:
  Admin() {
    auto url = BaseUrl();
    if (!url.ok()) {
      ADD_FAILURE() << url.status().ToString();
      return;
    }
    conn_ = PQconnectdb(url->c_str());
    PQsetNoticeProcessor(conn_, [](void*, const char*) {}, nullptr);  // DROP ... CASCADE chatter
    if (PQstatus(conn_) != CONNECTION_OK) ADD_FAILURE() << "admin connection: " << PQerrorMessage(conn_);
  }
  ~Admin() { PQfinish(conn_); }
  bool ok() const { return PQstatus(conn_) == CONNECTION_OK; }

  // Runs SQL (fixed text from the test, no untrusted values) and returns the first column of
  // the first row as text ("" if no row).
  std::string Query(const std::string& sql) {
    PGresult* r = PQexec(conn_, sql.c_str());
    std::string out;
    const ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
      ADD_FAILURE() << sql << ": " << PQresultErrorMessage(r);
    } else if (st == PGRES_TUPLES_OK && PQntuples(r) > 0) {
      out = PQgetvalue(r, 0, 0);
    }
    PQclear(r);
    return out;
  }
  int64_t QueryInt(const std::string& sql) {
    const std::string v = Query(sql);
    return v.empty() ? -1 : std::stoll(v);
  }

 private:
  PGconn* conn_ = nullptr;
};

class SchemaCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    std::lock_guard<std::mutex> lock(schemas_mu);
    if (schemas.empty() || !BaseUrl().ok()) return;
    Admin admin;
    if (!admin.ok()) return;
    for (const std::string& s : schemas) admin.Query("DROP SCHEMA IF EXISTS " + s + " CASCADE");
    schemas.clear();
  }
};
const auto* const kCleanup = ::testing::AddGlobalTestEnvironment(new SchemaCleanup);

StatusOr<std::unique_ptr<MetaStore>> MakeEmptyPostgresStore() {
  COFFER_ASSIGN_OR_RETURN(std::string url, FreshUrl());
  COFFER_ASSIGN_OR_RETURN(std::unique_ptr<PostgresMetaStore> store, PostgresMetaStore::Open(url));
  return std::unique_ptr<MetaStore>(std::move(store));
}

COFFER_INSTANTIATE_META_STORE_CONFORMANCE(Postgres, testing::MetaStoreFixture{"Postgres", MakeEmptyPostgresStore});
COFFER_INSTANTIATE_META_STORE_ENUMERATION_CONFORMANCE(Postgres,
                                                      testing::MetaStoreFixture{"Postgres", MakeEmptyPostgresStore});

const std::string kAccount = "00112233445566778899aabbccddeeff";
const std::string kCollection = "ffeeddccbbaa99887766554433221100";

AccountRecord Account(const std::string& id = kAccount) {
  AccountRecord a;
  a.account_id = id;
  a.email = id + "@example.com";
  a.created_at = 1700000000;
  a.login_hash = "login";
  a.login_salt = TestBytes(16, 1);
  a.kdf_ops = 3;
  a.kdf_mem = 1 << 20;
  a.recovery_hash = "recovery";
  a.recovery_blob = TestBytes(40, 2);
  return a;
}

std::string SchemaOf(const std::string& url) {
  const size_t at = url.find("schema=");
  return url.substr(at + 7, url.find('&', at) == std::string::npos ? std::string::npos : url.find('&', at) - at - 7);
}

// ==== migrations ========================================================================

TEST(PostgresMetaStoreTest, ConcurrentOpensApplyEachMigrationOnce) {
  STORE_ASSERT_OK_AND_ASSIGN(std::string url, FreshUrl());
  const std::string schema = SchemaOf(url);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  std::vector<std::unique_ptr<PostgresMetaStore>> stores(6);
  for (size_t i = 0; i < stores.size(); ++i) {
    threads.emplace_back([&, i] {
      auto store = PostgresMetaStore::Open(url);
      if (!store.ok()) {
        ADD_FAILURE() << store.status().ToString();
        ++failures;
        return;
      }
      stores[i] = std::move(*store);
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  STORE_ASSERT_OK(stores[0]->CreateAccount(Account()));
  stores.clear();
  // Opening again applies nothing and keeps the data.
  for (int i = 0; i < 2; ++i) STORE_ASSERT_OK(PostgresMetaStore::Open(url));
  Admin admin;
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin.QueryInt("SELECT COUNT(*) FROM " + schema + ".schema_migrations"), pg::LatestSchemaVersion());
  EXPECT_EQ(admin.QueryInt("SELECT MAX(version) FROM " + schema + ".schema_migrations"), pg::LatestSchemaVersion());
  EXPECT_EQ(admin.QueryInt("SELECT COUNT(*) FROM " + schema + ".accounts"), 1);
}

TEST(PostgresMetaStoreTest, DatabaseFromANewerServerIsRefusedUntouched) {
  STORE_ASSERT_OK_AND_ASSIGN(std::string url, FreshUrl());
  const std::string schema = SchemaOf(url);
  { STORE_ASSERT_OK(PostgresMetaStore::Open(url)); }
  Admin admin;
  admin.Query("INSERT INTO " + schema + ".schema_migrations (version, description) VALUES (999, 'future')");
  auto store = PostgresMetaStore::Open(url);
  STORE_ASSERT_CODE(store, kFailedPrecondition);
  EXPECT_NE(store.status().message().find("999"), std::string::npos) << store.status().ToString();
  EXPECT_EQ(admin.QueryInt("SELECT MAX(version) FROM " + schema + ".schema_migrations"), 999);
}

// ==== several servers ===================================================================

TEST(PostgresMetaStoreTest, TwoPoolsRacingTwentyThreadsNeverLoseOrDuplicateARevision) {
  // Two store instances are two connection pools, as two coffer-server processes would have.
  // Twenty threads, half on each, race to extend one journal the way clients do.
  STORE_ASSERT_OK_AND_ASSIGN(std::string url, FreshUrl("pool_size=6"));
  STORE_ASSERT_OK_AND_ASSIGN(auto first, PostgresMetaStore::Open(url));
  STORE_ASSERT_OK_AND_ASSIGN(auto second, PostgresMetaStore::Open(url));
  STORE_ASSERT_OK(first->CreateAccount(Account()));
  constexpr uint64_t kTarget = 200;
  std::mutex mu;
  std::map<uint64_t, std::vector<Bytes>> winners;
  std::atomic<int> errors{0}, aborts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 20; ++t) {
    MetaStore* store = t % 2 ? static_cast<MetaStore*>(first.get()) : second.get();
    threads.emplace_back([&, store, t] {
      for (uint64_t attempt = 0;; ++attempt) {
        auto head = store->GetHead(kAccount, kCollection);
        if (!head.ok()) return void(++errors);
        if (*head >= kTarget) return;
        Bytes data = TestBytes(10 + t, (static_cast<uint64_t>(t) << 32) | attempt);
        Status s = store->AppendRevision(kAccount, kCollection, *head + 1, data);
        if (s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          winners[*head + 1].push_back(std::move(data));
        } else if (s.code() == StatusCode::kAborted) {
          ++aborts;
        } else {
          ADD_FAILURE() << s.ToString();
          return void(++errors);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  ASSERT_EQ(winners.size(), kTarget);
  uint64_t total = 0;
  for (const auto& [number, data] : winners) {
    ASSERT_EQ(data.size(), 1u) << "revision " << number << " had " << data.size() << " winners";
    total += data[0].size();
  }
  // Both pools read the same journal: 1..N, the winners' bytes, charged once each.
  for (MetaStore* store : {static_cast<MetaStore*>(first.get()), static_cast<MetaStore*>(second.get())}) {
    STORE_ASSERT_OK_AND_ASSIGN(auto revs, store->GetRevisions(kAccount, kCollection, 1, 10000, SIZE_MAX));
    ASSERT_EQ(revs.size(), kTarget);
    for (uint64_t i = 0; i < kTarget; ++i) {
      ASSERT_EQ(revs[i].number, i + 1);
      EXPECT_EQ(revs[i].data, winners[i + 1][0]) << "revision " << i + 1;
    }
    STORE_ASSERT_OK_AND_ASSIGN(AccountRecord a, store->GetAccount(kAccount));
    EXPECT_EQ(a.used_bytes, total);
  }
  EXPECT_GT(aborts.load(), 0) << "the threads never actually raced";
}

TEST(PostgresMetaStoreTest, TwoPoolsKeepChainKeyringAndQuotaConsistent) {
  STORE_ASSERT_OK_AND_ASSIGN(std::string url, FreshUrl());
  STORE_ASSERT_OK_AND_ASSIGN(auto first, PostgresMetaStore::Open(url));
  STORE_ASSERT_OK_AND_ASSIGN(auto second, PostgresMetaStore::Open(url));
  AccountRecord account = Account();
  account.quota_bytes = 30 * 100;
  STORE_ASSERT_OK(first->CreateAccount(account));
  std::atomic<int> chunk_ok{0}, chain_ok{0}, keyring_ok{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    MetaStore* store = t % 2 ? static_cast<MetaStore*>(first.get()) : second.get();
    threads.emplace_back([&, store, t] {
      for (int i = 0; i < 15; ++i) {
        ChunkRecord c{std::string(60, 'a') + std::to_string(1000 + t * 100 + i), 100, TestBytes(32, i), 1};
        auto added = store->AddChunk(kAccount, c);
        if (added.ok()) {
          ++chunk_ok;
        } else if (added.status().code() != StatusCode::kResourceExhausted) {
          ++errors;
        }
        auto chain = store->GetChain(kAccount, 0);
        if (chain.ok() && store->AppendChainEntry(kAccount, chain->size(), TestBytes(8, t)).ok()) ++chain_ok;
        auto keyring = store->GetKeyring(kAccount);
        const uint64_t version = keyring.ok() ? keyring->first : 0;
        if (store->PutKeyring(kAccount, version + 1, TestBytes(8, t)).ok()) ++keyring_ok;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(chunk_ok.load(), 30);
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord a, second->GetAccount(kAccount));
  EXPECT_EQ(a.used_bytes, 3000u);
  STORE_ASSERT_OK_AND_ASSIGN(auto chain, first->GetChain(kAccount, 0));
  EXPECT_EQ(chain.size(), static_cast<size_t>(chain_ok.load()));
  STORE_ASSERT_OK_AND_ASSIGN(auto keyring, second->GetKeyring(kAccount));
  EXPECT_EQ(keyring.first, static_cast<uint64_t>(keyring_ok.load()));
}

// ==== connections =======================================================================

// Terminates every backend of `application_name` and waits until the server has ended them.
void TerminateBackends(Admin& admin, const std::string& application_name) {
  const std::string where = " FROM pg_stat_activity WHERE application_name = '" + application_name + "'";
  EXPECT_GT(admin.QueryInt("SELECT COUNT(pg_terminate_backend(pid))" + where), 0);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (admin.QueryInt("SELECT COUNT(*)" + where) > 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "backends did not end";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling the server's own view
  }
}

TEST(PostgresMetaStoreTest, TerminatedConnectionsAreReplacedOrReportedUnavailable) {
  const std::string app = "coffer_test_terminate_" + std::to_string(::getpid());
  STORE_ASSERT_OK_AND_ASSIGN(std::string url, FreshUrl("application_name=" + app + "&pool_size=4"));
  STORE_ASSERT_OK_AND_ASSIGN(auto store, PostgresMetaStore::Open(url));
  STORE_ASSERT_OK(store->CreateAccount(Account()));
  Admin admin;
  ASSERT_TRUE(admin.ok());
  for (int round = 0; round < 3; ++round) {
    // Fill the pool with several connections, then kill them all while they sit idle.
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&] { STORE_EXPECT_OK(store->GetAccount(kAccount)); });
    }
    for (auto& th : threads) th.join();
    TerminateBackends(admin, app);
    // Every call answers OK or kUnavailable (never crashes, never another error), and the
    // store recovers without being reopened.
    int ok = 0;
    for (int i = 0; i < 6; ++i) {
      Status s = store->AppendRevision(kAccount, kCollection, static_cast<uint64_t>(round * 6 + ok + 1),
                                       TestBytes(10, static_cast<uint64_t>(i)));
      if (s.ok()) {
        ++ok;
      } else {
        EXPECT_EQ(s.code(), StatusCode::kUnavailable) << s.ToString();
      }
      auto head = store->GetHead(kAccount, kCollection);
      if (!head.ok()) {
        EXPECT_EQ(head.status().code(), StatusCode::kUnavailable) << head.status().ToString();
      }
    }
    EXPECT_GE(ok, 5) << "round " << round;
    ASSERT_EQ(ok, 6) << "round " << round;  // in practice every call recovers transparently
  }
  STORE_ASSERT_OK_AND_ASSIGN(uint64_t head, store->GetHead(kAccount, kCollection));
  EXPECT_EQ(head, 18u);
}

TEST(PostgresMetaStoreTest, ConnectionKilledInsideATransactionRollsItBack) {
  // A backend killed while it holds the account lock (mid-transaction) must leave nothing
  // half-done; the next write succeeds on a new connection.
  const std::string app = "coffer_test_midtxn_" + std::to_string(::getpid());
  STORE_ASSERT_OK_AND_ASSIGN(std::string url, FreshUrl("application_name=" + app + "&pool_size=2"));
  STORE_ASSERT_OK_AND_ASSIGN(auto store, PostgresMetaStore::Open(url));
  STORE_ASSERT_OK(store->CreateAccount(Account()));
  STORE_ASSERT_OK(store->AppendRevision(kAccount, kCollection, 1, TestBytes(10, 1)));
  Admin admin;
  // Hold the account row so the store's next AppendRevision blocks inside its transaction,
  // then terminate the store's backend while it waits.
  const std::string schema = SchemaOf(url);
  admin.Query("BEGIN");
  admin.Query("SELECT 1 FROM " + schema + ".accounts WHERE account_id = '" + kAccount + "' FOR UPDATE");
  Status result;
  std::thread writer([&] { result = store->AppendRevision(kAccount, kCollection, 2, TestBytes(10, 2)); });
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  const std::string waiting = "SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = '" + app +
                              "' AND wait_event_type = 'Lock'";
  while (admin.QueryInt(waiting) < 1) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the writer never blocked on the lock";
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  admin.QueryInt("SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = '" + app +
                 "'");
  admin.Query("ROLLBACK");
  writer.join();
  // Killed before its COMMIT, so the store may retry it on a new connection (then it succeeds).
  if (!result.ok()) {
    EXPECT_EQ(result.code(), StatusCode::kUnavailable) << result.ToString();
  }
  STORE_ASSERT_OK_AND_ASSIGN(uint64_t head, store->GetHead(kAccount, kCollection));
  EXPECT_EQ(head, result.ok() ? 2u : 1u);
  STORE_ASSERT_OK(store->AppendRevision(kAccount, kCollection, head + 1, TestBytes(10, 3)));
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord a, store->GetAccount(kAccount));
  EXPECT_EQ(a.used_bytes, 10 * (head + 1));
}

TEST(PostgresMetaStoreTest, PoolNeverOpensMoreThanPoolSizeConnections) {
  const std::string app = "coffer_test_pool_" + std::to_string(::getpid());
  STORE_ASSERT_OK_AND_ASSIGN(std::string url, FreshUrl("application_name=" + app + "&pool_size=3"));
  STORE_ASSERT_OK_AND_ASSIGN(auto store, PostgresMetaStore::Open(url));
  STORE_ASSERT_OK(store->CreateAccount(Account()));
  std::atomic<int> errors{0};
  std::atomic<size_t> max_open{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 12; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 20; ++i) {
        if (!store->AddChunk(kAccount, ChunkRecord{std::to_string(t * 100 + i), 1, TestBytes(32, 1), 1}).ok()) ++errors;
        size_t open = store->PoolForTesting().open_connections();
        size_t seen = max_open.load();
        while (open > seen && !max_open.compare_exchange_weak(seen, open)) {
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_LE(max_open.load(), 3u);
  Admin admin;
  EXPECT_LE(admin.QueryInt("SELECT COUNT(*) FROM pg_stat_activity WHERE application_name = '" + app + "'"), 3);
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord a, store->GetAccount(kAccount));
  EXPECT_EQ(a.used_bytes, 240u);
}

TEST(PostgresMetaStoreTest, ServerDownIsUnavailableNamingHostAndPortButNotThePassword) {
  // Port 1 on loopback: nothing listens there, so the connection is refused at once.
  auto store = PostgresMetaStore::Open("postgresql://coffer:s3cret-pw@127.0.0.1:1/coffer");
  STORE_ASSERT_CODE(store, kUnavailable);
  const std::string message = store.status().message();
  EXPECT_NE(message.find("127.0.0.1:1"), std::string::npos) << message;
  EXPECT_EQ(message.find("s3cret-pw"), std::string::npos) << message;
  // The same through the URL dispatcher the server uses.
  STORE_EXPECT_CODE(OpenMetaStore("postgres://coffer:s3cret-pw@127.0.0.1:1/coffer"), kUnavailable);
}

TEST(PostgresMetaStoreTest, WrongPasswordIsUnavailableWithoutEchoingIt) {
  STORE_ASSERT_OK_AND_ASSIGN(std::string url, BaseUrl());
  STORE_ASSERT_OK_AND_ASSIGN(pg::ConnectionConfig config, pg::ParseConnectionUrl(url));
  // Replace the password in the userinfo with a wrong one.
  const size_t scheme_end = url.find("://") + 3;
  const size_t at = url.find('@', scheme_end);
  const size_t colon = url.find(':', scheme_end);
  ASSERT_TRUE(at != std::string::npos && colon < at) << "COFFER_TEST_POSTGRES_URL has no user:password";
  const std::string wrong = url.substr(0, colon + 1) + "Wr0ng-Pass" + url.substr(at);
  auto store = PostgresMetaStore::Open(wrong);
  STORE_ASSERT_CODE(store, kUnavailable);
  EXPECT_EQ(store.status().message().find("Wr0ng-Pass"), std::string::npos) << store.status().message();
  EXPECT_NE(store.status().message().find("password authentication failed"), std::string::npos)
      << store.status().message();
}

TEST(PostgresMetaStoreTest, PasswordMayComeFromAPasswordFile) {
  STORE_ASSERT_OK_AND_ASSIGN(std::string url, BaseUrl());
  const size_t scheme_end = url.find("://") + 3;
  const size_t at = url.find('@', scheme_end);
  const size_t colon = url.find(':', scheme_end);
  ASSERT_TRUE(at != std::string::npos && colon < at) << "COFFER_TEST_POSTGRES_URL has no user:password";
  const std::string password = url.substr(colon + 1, at - colon - 1);
  const std::string without_password = url.substr(0, colon) + url.substr(at);
  const std::string file = NewTempDir("pgpass") + "/password";
  std::ofstream(file) << password << "\n";
  STORE_ASSERT_OK_AND_ASSIGN(std::string fresh, FreshUrl());
  const std::string schema_param = fresh.substr(fresh.find("schema="));
  STORE_ASSERT_OK_AND_ASSIGN(
      auto store, PostgresMetaStore::Open(WithParam(WithParam(without_password, "password_file=" + file), schema_param)));
  STORE_ASSERT_OK(store->PutSetting("x", TestBytes(4, 1)));
  // Both a URL password and a file: ambiguous, refused before connecting.
  STORE_EXPECT_CODE(PostgresMetaStore::Open(WithParam(url, "password_file=" + file)), kInvalidArgument);
  STORE_EXPECT_CODE(PostgresMetaStore::Open(WithParam(without_password, "password_file=/nonexistent/pw")),
                    kFailedPrecondition);
}

TEST(PostgresMetaStoreTest, EveryHotQueryUsesAnIndex) {
  // With sequential scans disabled the planner still picks one if no index can serve the
  // query, so a "Seq Scan" in any plan means a missing index (which would make the server
  // slow down as accounts grow).
  STORE_ASSERT_OK_AND_ASSIGN(std::string url, FreshUrl());
  { STORE_ASSERT_OK(PostgresMetaStore::Open(url)); }
  Admin admin;
  admin.Query("SET search_path TO " + SchemaOf(url));
  admin.Query("SET enable_seqscan = off");
  const std::vector<std::string> lookups = {
      "SELECT * FROM accounts WHERE email = 'x'",
      "SELECT * FROM accounts WHERE account_id = 'x' FOR NO KEY UPDATE",
      "SELECT COUNT(*) FROM login_failures WHERE key = 'x' AND at >= 1",
      "DELETE FROM login_failures WHERE key = 'x'",
      "SELECT * FROM sessions WHERE token_hash = '\\x00'::bytea AND expires_at > 5",
      "DELETE FROM sessions WHERE account_id = 'a' AND device_id = 'd'",
      "SELECT * FROM devices WHERE account_id = 'a' ORDER BY created_at, device_id",
      "SELECT seq FROM chain_entries WHERE account_id = 'a' ORDER BY seq DESC LIMIT 1",
      "SELECT entry FROM chain_entries WHERE account_id = 'a' AND seq >= 0 ORDER BY seq",
      "SELECT version FROM keyrings WHERE account_id = 'a'",
      "SELECT number, octet_length(data) FROM revisions WHERE account_id = 'a' AND collection_id = 'c' AND "
      "number >= 1 ORDER BY number LIMIT 5",
      "SELECT collection_id, head FROM collections WHERE account_id = 'a' ORDER BY collection_id",
      "SELECT head FROM collections WHERE account_id = 'a' AND collection_id = 'c'",
      "SELECT * FROM chunks WHERE account_id = 'a' AND chunk_id > 'x' ORDER BY chunk_id LIMIT 5",
      "SELECT chunk_id FROM chunks WHERE account_id = 'a' AND chunk_id = ANY ('{x,y}'::text[])",
      "SELECT data FROM messages WHERE account_id = 'a' AND box = 'b' AND key = 'k' AND expires_at > 1",
      "DELETE FROM messages WHERE expires_at <= 5",
      "SELECT value FROM settings WHERE name = 'x'",
  };
  for (const std::string& sql : lookups) {
    const std::string plan = admin.Query("EXPLAIN (FORMAT JSON) " + sql);
    EXPECT_EQ(plan.find("Seq Scan"), std::string::npos) << sql << "\n  plan: " << plan;
  }
}

// ==== URLs ==============================================================================

TEST(PostgresUrlTest, SplitsStoreParametersFromLibpqOnesAndRedactsThePassword) {
  STORE_ASSERT_OK_AND_ASSIGN(
      pg::ConnectionConfig c,
      pg::ParseConnectionUrl("postgresql://app:p%40ss@db.internal:6432/meta?sslmode=verify-full&schema=tenant_1&"
                             "pool_size=16&application_name=coffer"));
  EXPECT_EQ(c.libpq_uri, "postgresql://app:p%40ss@db.internal:6432/meta?sslmode=verify-full&application_name=coffer");
  EXPECT_EQ(c.schema, "tenant_1");
  EXPECT_EQ(c.pool_size, 16u);
  EXPECT_EQ(c.redacted_url, "postgresql://app:***@db.internal:6432/meta?sslmode=verify-full&application_name=coffer");
  EXPECT_EQ(c.redacted_url.find("p%40ss"), std::string::npos);
  STORE_ASSERT_OK_AND_ASSIGN(pg::ConnectionConfig short_form, pg::ParseConnectionUrl("postgres://h/db"));
  EXPECT_EQ(short_form.libpq_uri, "postgres://h/db");
  EXPECT_EQ(short_form.pool_size, 8u);
}

TEST(PostgresUrlTest, RejectsBadParameters) {
  for (const char* url : {"mysql://h/db", "postgresql://h/db?schema=Bad-Name", "postgresql://h/db?schema=",
                          "postgresql://h/db?pool_size=0", "postgresql://h/db?pool_size=999",
                          "postgresql://h/db?pool_size=x", "postgresql://h/db#frag",
                          "postgresql://u:pw@h/db?password_file=/etc/x", "postgresql://h/db?schema=%zz"}) {
    STORE_EXPECT_CODE(pg::ParseConnectionUrl(url), kInvalidArgument);
  }
}

}  // namespace
}  // namespace coffer::store
