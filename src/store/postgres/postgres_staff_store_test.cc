// PostgresStaffStore against a real PostgreSQL server: the shared staff conformance suite,
// then what is specific to PostgreSQL (its own migrations beside the metadata schema, two
// store instances = two server processes appending to one account's access log, the URL
// schemes of OpenStaffStore).
//
// The server comes from COFFER_TEST_POSTGRES_URL (scripts/postgres.sh start DIR writes it to
// DIR/env). Without it every test here FAILS saying so: a missing database must never look
// like a passing suite. Every store gets its own schema with a random name, dropped when the
// test process ends, so parallel test processes never see each other's rows.
#include "store/postgres/postgres_staff_store.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "store/open.h"
#include "store/postgres/pg_schema.h"
#include "store/postgres/postgres_meta_store.h"
#include "store/testing/staff_store_conformance.h"
#include "store/testing/store_test_util.h"

namespace coffer::store {
namespace {

using testing::TestBytes;

StatusOr<std::string> BaseUrl() {
  const char* url = std::getenv("COFFER_TEST_POSTGRES_URL");
  if (url == nullptr || *url == '\0') {
    return FailedPreconditionError(
        "COFFER_TEST_POSTGRES_URL is not set. The PostgreSQL staff store tests need a real server: run "
        "`scripts/postgres.sh start /tmp/coffer-pg && source /tmp/coffer-pg/env` (scripts/test.sh does this)");
  }
  return std::string(url);
}

std::string WithParam(const std::string& url, const std::string& param) {
  return url + (url.find('?') == std::string::npos ? "?" : "&") + param;
}

// Schemas this process created; dropped by StaffSchemaCleanup at exit.
std::mutex schemas_mu;
std::vector<std::string> schemas;

std::string NewSchemaName() {
  static std::mt19937_64 rng(std::random_device{}() ^ static_cast<uint64_t>(::getpid()));
  static constexpr char kHex[] = "0123456789abcdef";
  std::lock_guard<std::mutex> lock(schemas_mu);
  std::string name = "coffer_staff_test_";
  uint64_t x = rng();
  for (int i = 0; i < 16; ++i, x >>= 4) name += kHex[x & 0xf];
  schemas.push_back(name);
  return name;
}

struct FreshDb {
  std::string url;
  std::string schema;
};

// A URL for a new, empty schema of its own.
StatusOr<FreshDb> Fresh(const std::string& extra_params = "") {
  COFFER_ASSIGN_OR_RETURN(std::string url, BaseUrl());
  const std::string schema = NewSchemaName();
  url = WithParam(url, "schema=" + schema);
  if (!extra_params.empty()) url = WithParam(url, extra_params);
  return FreshDb{url, schema};
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

  // Runs fixed SQL from the test; the first column of the first row as text ("" if none).
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

class StaffSchemaCleanup : public ::testing::Environment {
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
const auto* const kStaffCleanup = ::testing::AddGlobalTestEnvironment(new StaffSchemaCleanup);

StatusOr<std::unique_ptr<StaffStore>> MakeEmptyPostgresStaffStore() {
  COFFER_ASSIGN_OR_RETURN(FreshDb db, Fresh());
  COFFER_ASSIGN_OR_RETURN(std::unique_ptr<PostgresStaffStore> store, PostgresStaffStore::Open(db.url));
  return std::unique_ptr<StaffStore>(std::move(store));
}

COFFER_INSTANTIATE_STAFF_STORE_CONFORMANCE(Postgres,
                                           testing::StaffStoreFixture{"Postgres", MakeEmptyPostgresStaffStore});

const std::string kAccount = "a0000000000000000000000000000001";

// ==== several servers ===================================================================

// One writer's view of an append: what it built its entry on, and what it appended.
struct Appended {
  Bytes prev_hash;  // the account head it read (empty for entry 0)
  Bytes hash;
  Bytes data;
};

TEST(PostgresStaffStoreTest, TwoStoresAppendingToOneAccountLogNeverGapOrDuplicate) {
  // Two store instances are two connection pools, as two coffer-server processes would have.
  // Eight threads, half on each, append to one account's log the way the server does: read
  // both heads, build the entry on them (it carries the previous hash), append, and on
  // kAborted start over from the new heads.
  STORE_ASSERT_OK_AND_ASSIGN(FreshDb db, Fresh());
  STORE_ASSERT_OK_AND_ASSIGN(auto first, PostgresStaffStore::Open(db.url));
  STORE_ASSERT_OK_AND_ASSIGN(auto second, PostgresStaffStore::Open(db.url));
  constexpr uint64_t kTarget = 120;
  std::mutex mu;
  std::map<uint64_t, std::vector<Appended>> winners;
  std::atomic<int> errors{0}, aborts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    StaffStore* store = t % 2 ? static_cast<StaffStore*>(first.get()) : second.get();
    threads.emplace_back([&, store, t] {
      for (uint64_t attempt = 0;; ++attempt) {
        auto head = store->GetLogHead(kAccount);
        auto global = store->GetGlobalLogHead();
        if (!head.ok() || !global.ok()) {
          ADD_FAILURE() << (head.ok() ? global.status() : head.status()).ToString();
          return void(++errors);
        }
        if (head->length >= kTarget) return;
        const uint64_t tag = (static_cast<uint64_t>(t) << 32) | attempt;
        Appended mine{head->head_hash, TestBytes(32, tag), head->head_hash};
        const Bytes body = TestBytes(20, tag);
        mine.data.insert(mine.data.end(), body.begin(), body.end());
        Bytes global_entry = global->head_hash;
        global_entry.insert(global_entry.end(), mine.hash.begin(), mine.hash.end());
        Status s = store->AppendLogEntry(kAccount, head->length, mine.data, mine.hash, global->length, global_entry,
                                         TestBytes(32, tag ^ 0x5555));
        if (s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          winners[head->length].push_back(std::move(mine));
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
  for (const auto& [seq, appended] : winners) {
    ASSERT_EQ(appended.size(), 1u) << "entry " << seq << " had " << appended.size() << " winners";
    // The hash chain: each entry was built on the entry before it.
    if (seq == 0) {
      EXPECT_TRUE(appended[0].prev_hash.empty());
    } else {
      EXPECT_EQ(appended[0].prev_hash, winners[seq - 1][0].hash) << "entry " << seq;
    }
  }
  // Both pools read the same log: 0..N-1, the winners' bytes; the global log has one entry
  // per append, numbered without a gap.
  for (StaffStore* store : {static_cast<StaffStore*>(first.get()), static_cast<StaffStore*>(second.get())}) {
    STORE_ASSERT_OK_AND_ASSIGN(auto entries, store->GetLogEntries(kAccount, 0, 10000));
    ASSERT_EQ(entries.size(), kTarget);
    for (uint64_t i = 0; i < kTarget; ++i) {
      ASSERT_EQ(entries[i].seq, i);
      EXPECT_EQ(entries[i].data, winners[i][0].data) << "entry " << i;
    }
    STORE_ASSERT_OK_AND_ASSIGN(LogHead head, store->GetLogHead(kAccount));
    EXPECT_EQ(head.length, kTarget);
    EXPECT_EQ(head.head_hash, winners[kTarget - 1][0].hash);
    STORE_ASSERT_OK_AND_ASSIGN(auto global, store->GetGlobalLogEntries(0, 10000));
    ASSERT_EQ(global.size(), kTarget);
    for (uint64_t i = 0; i < kTarget; ++i) EXPECT_EQ(global[i].seq, i);
  }
  EXPECT_GT(aborts.load(), 0) << "the threads never actually raced";
}

// ==== migrations ========================================================================

TEST(PostgresStaffStoreTest, StartingWithTheMetadataStoreAppliesEachMigrationOnce) {
  // Servers starting together on a new database: staff and metadata stores opening at once
  // (both create the schema), then again later, each schema's migrations applied once.
  STORE_ASSERT_OK_AND_ASSIGN(FreshDb db, Fresh());
  std::atomic<int> failures{0};
  std::vector<std::unique_ptr<PostgresStaffStore>> staff_stores(4);
  std::vector<std::unique_ptr<PostgresMetaStore>> meta_stores(2);
  std::vector<std::thread> threads;
  for (size_t i = 0; i < staff_stores.size(); ++i) {
    threads.emplace_back([&, i] {
      auto store = PostgresStaffStore::Open(db.url);
      if (!store.ok()) {
        ADD_FAILURE() << store.status().ToString();
        return void(++failures);
      }
      staff_stores[i] = std::move(*store);
    });
  }
  for (size_t i = 0; i < meta_stores.size(); ++i) {
    threads.emplace_back([&, i] {
      auto store = PostgresMetaStore::Open(db.url);
      if (!store.ok()) {
        ADD_FAILURE() << store.status().ToString();
        return void(++failures);
      }
      meta_stores[i] = std::move(*store);
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures.load(), 0);
  STORE_ASSERT_OK(staff_stores[0]->PutResetCode(kAccount, Bytes(32, 7), 100));
  STORE_ASSERT_OK(meta_stores[0]->PutSetting("x", Bytes{1}));
  staff_stores.clear();
  meta_stores.clear();
  // Reopening in either order applies nothing and keeps the data.
  STORE_ASSERT_OK(PostgresMetaStore::Open(db.url));
  STORE_ASSERT_OK_AND_ASSIGN(auto again, PostgresStaffStore::Open(db.url));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes code, again->GetResetCode(kAccount, 50));
  EXPECT_EQ(code, Bytes(32, 7));

  Admin admin;
  ASSERT_TRUE(admin.ok());
  EXPECT_EQ(admin.QueryInt("SELECT COUNT(*) FROM " + db.schema + ".staff_schema_migrations"),
            PostgresStaffStore::LatestSchemaVersion());
  EXPECT_EQ(admin.QueryInt("SELECT MAX(version) FROM " + db.schema + ".staff_schema_migrations"),
            PostgresStaffStore::LatestSchemaVersion());
  EXPECT_EQ(admin.QueryInt("SELECT COUNT(*) FROM " + db.schema + ".schema_migrations"), pg::LatestSchemaVersion());
}

TEST(PostgresStaffStoreTest, DatabaseFromANewerStaffSchemaIsRefusedUntouched) {
  STORE_ASSERT_OK_AND_ASSIGN(FreshDb db, Fresh());
  { STORE_ASSERT_OK(PostgresStaffStore::Open(db.url)); }
  Admin admin;
  admin.Query("INSERT INTO " + db.schema + ".staff_schema_migrations (version, description) VALUES (999, 'future')");
  auto store = PostgresStaffStore::Open(db.url);
  STORE_ASSERT_CODE(store, kFailedPrecondition);
  EXPECT_NE(store.status().message().find("999"), std::string::npos) << store.status().ToString();
  EXPECT_EQ(admin.QueryInt("SELECT MAX(version) FROM " + db.schema + ".staff_schema_migrations"), 999);
}

// ==== opening by URL ====================================================================

TEST(PostgresStaffStoreTest, OpenStaffStoreTakesBothPostgresSchemes) {
  STORE_ASSERT_OK_AND_ASSIGN(FreshDb db, Fresh());
  ASSERT_EQ(db.url.rfind("postgres", 0), 0u) << "COFFER_TEST_POSTGRES_URL is not a postgres URL";
  const std::string rest = db.url.substr(db.url.find("://"));
  STORE_ASSERT_OK_AND_ASSIGN(auto long_scheme, OpenStaffStore("postgresql" + rest));
  STORE_ASSERT_OK_AND_ASSIGN(auto short_scheme, OpenStaffStore("postgres" + rest));
  // Both name the same database and schema: what one writes, the other reads.
  STORE_ASSERT_OK(long_scheme->PutGrant(GrantRecord{std::string(32, 'e'), kAccount, std::string(32, 'd'), 1,
                                                    1700000000, 1700007200, 0, TestBytes(64, 1)}));
  STORE_ASSERT_OK_AND_ASSIGN(GrantRecord got, short_scheme->GetGrant(std::string(32, 'e')));
  EXPECT_EQ(got.encoded, TestBytes(64, 1));
}

TEST(PostgresStaffStoreTest, UnreachableServerIsUnavailableWithoutEchoingThePassword) {
  auto store = OpenStaffStore("postgresql://coffer:s3cret-pw@127.0.0.1:1/coffer");
  STORE_ASSERT_CODE(store, kUnavailable);
  EXPECT_NE(store.status().message().find("127.0.0.1"), std::string::npos) << store.status().ToString();
  EXPECT_EQ(store.status().message().find("s3cret-pw"), std::string::npos) << store.status().ToString();
}

}  // namespace
}  // namespace coffer::store
