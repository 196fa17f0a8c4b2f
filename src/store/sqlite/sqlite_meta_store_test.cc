#include "store/sqlite/sqlite_meta_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <map>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "store/sqlite/sqlite_schema.h"
#include "store/testing/meta_store_conformance.h"
#include "store/testing/meta_store_enumeration_conformance.h"
#include "store/testing/store_test_util.h"

namespace coffer::store {
namespace {

using testing::NewTempDir;
using testing::TestBytes;

StatusOr<std::unique_ptr<MetaStore>> MakeEmptySqliteStore() {
  COFFER_ASSIGN_OR_RETURN(std::unique_ptr<SqliteMetaStore> store,
                          SqliteMetaStore::Open(NewTempDir("sqlite") + "/meta.sqlite"));
  return std::unique_ptr<MetaStore>(std::move(store));
}

COFFER_INSTANTIATE_META_STORE_CONFORMANCE(Sqlite, testing::MetaStoreFixture{"Sqlite", MakeEmptySqliteStore});
COFFER_INSTANTIATE_META_STORE_ENUMERATION_CONFORMANCE(Sqlite,
                                                      testing::MetaStoreFixture{"Sqlite", MakeEmptySqliteStore});

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

// Reads a single integer with a separate, raw connection (independent of the store).
int64_t RawQueryInt(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  EXPECT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  sqlite3_stmt* stmt = nullptr;
  int64_t value = -1;
  if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
      sqlite3_step(stmt) == SQLITE_ROW) {
    value = sqlite3_column_int64(stmt, 0);
  } else {
    ADD_FAILURE() << sql << ": " << sqlite3_errmsg(db);
  }
  sqlite3_finalize(stmt);
  sqlite3_close(db);
  return value;
}

void RawExec(const std::string& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr), SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

TEST(SqliteMetaStoreTest, DataSurvivesCloseAndReopen) {
  const std::string path = NewTempDir("reopen") + "/meta.sqlite";
  {
    STORE_ASSERT_OK_AND_ASSIGN(auto store, SqliteMetaStore::Open(path));
    STORE_ASSERT_OK(store->CreateAccount(Account()));
    STORE_ASSERT_OK(store->AppendChainEntry(kAccount, 0, TestBytes(50, 3)));
    STORE_ASSERT_OK(store->PutKeyring(kAccount, 1, TestBytes(50, 4)));
    STORE_ASSERT_OK(store->AppendRevision(kAccount, kCollection, 1, TestBytes(70, 5)));
    STORE_ASSERT_OK(store->PutCheckpoint(kAccount, kCollection, 1, TestBytes(30, 6)));
    ChunkRecord chunk{std::string(64, 'c'), 1234, TestBytes(32, 7), 1700000001};
    STORE_ASSERT_OK(store->AddChunk(kAccount, chunk));
    STORE_ASSERT_OK(store->PutSetting("secret", TestBytes(32, 8)));
  }
  STORE_ASSERT_OK_AND_ASSIGN(auto store, SqliteMetaStore::Open(path));
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord a, store->GetAccount(kAccount));
  EXPECT_EQ(a.used_bytes, 70u + 30u + 1234u);
  STORE_ASSERT_OK_AND_ASSIGN(auto chain, store->GetChain(kAccount, 0));
  EXPECT_EQ(chain, std::vector<Bytes>{TestBytes(50, 3)});
  STORE_ASSERT_OK_AND_ASSIGN(auto keyring, store->GetKeyring(kAccount));
  EXPECT_EQ(keyring.first, 1u);
  STORE_ASSERT_OK_AND_ASSIGN(uint64_t head, store->GetHead(kAccount, kCollection));
  EXPECT_EQ(head, 1u);
  STORE_ASSERT_OK_AND_ASSIGN(RevisionRecord cp, store->GetCheckpoint(kAccount, kCollection));
  EXPECT_EQ(cp.data, TestBytes(30, 6));
  STORE_ASSERT_OK_AND_ASSIGN(ChunkRecord chunk, store->GetChunk(kAccount, std::string(64, 'c')));
  EXPECT_EQ(chunk.size, 1234u);
  STORE_ASSERT_OK_AND_ASSIGN(Bytes secret, store->GetSetting("secret"));
  EXPECT_EQ(secret, TestBytes(32, 8));
}

TEST(SqliteMetaStoreTest, ReopeningAppliesEachMigrationOnce) {
  const std::string path = NewTempDir("migrate") + "/meta.sqlite";
  for (int i = 0; i < 3; ++i) {
    STORE_ASSERT_OK_AND_ASSIGN(auto store, SqliteMetaStore::Open(path));
    if (i == 0) STORE_ASSERT_OK(store->CreateAccount(Account()));
  }
  const int64_t latest = sqlite::LatestSchemaVersion();
  EXPECT_EQ(RawQueryInt(path, "SELECT COUNT(*) FROM schema_version"), latest);
  EXPECT_EQ(RawQueryInt(path, "SELECT MAX(version) FROM schema_version"), latest);
  EXPECT_EQ(RawQueryInt(path, "SELECT COUNT(*) FROM accounts"), 1);  // data untouched
}

TEST(SqliteMetaStoreTest, ConcurrentOpensOfANewFileMigrateOnce) {
  const std::string path = NewTempDir("migrate-race") + "/meta.sqlite";
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 4; ++i) {
    threads.emplace_back([&] {
      auto store = SqliteMetaStore::Open(path);
      if (!store.ok()) {
        ADD_FAILURE() << store.status().ToString();
        ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(RawQueryInt(path, "SELECT COUNT(*) FROM schema_version"), sqlite::LatestSchemaVersion());
}

TEST(SqliteMetaStoreTest, DatabaseFromANewerServerIsRefusedUntouched) {
  const std::string path = NewTempDir("newer") + "/meta.sqlite";
  { STORE_ASSERT_OK(SqliteMetaStore::Open(path)); }
  RawExec(path, "INSERT INTO schema_version (version) VALUES (999)");
  auto store = SqliteMetaStore::Open(path);
  STORE_ASSERT_CODE(store, kFailedPrecondition);
  EXPECT_NE(store.status().message().find("999"), std::string::npos) << store.status().ToString();
  EXPECT_EQ(RawQueryInt(path, "SELECT MAX(version) FROM schema_version"), 999);
}

TEST(SqliteMetaStoreTest, UsesWalFullSyncForeignKeysAndBusyTimeout) {
  const std::string path = NewTempDir("pragmas") + "/meta.sqlite";
  STORE_ASSERT_OK_AND_ASSIGN(auto store, SqliteMetaStore::Open(path));
  STORE_ASSERT_OK_AND_ASSIGN(std::string journal, store->PragmaForTesting("journal_mode"));
  EXPECT_EQ(journal, "wal");
  STORE_ASSERT_OK_AND_ASSIGN(std::string sync, store->PragmaForTesting("synchronous"));
  EXPECT_EQ(sync, "2");  // FULL
  STORE_ASSERT_OK_AND_ASSIGN(std::string fk, store->PragmaForTesting("foreign_keys"));
  EXPECT_EQ(fk, "1");
  STORE_ASSERT_OK_AND_ASSIGN(std::string busy, store->PragmaForTesting("busy_timeout"));
  EXPECT_GE(std::stoi(busy), 1000);
}

TEST(SqliteMetaStoreTest, EveryLookupUsesAnIndex) {
  // A full table scan in a lookup would make the server slow down as accounts grow.
  const std::string path = NewTempDir("plans") + "/meta.sqlite";
  { STORE_ASSERT_OK(SqliteMetaStore::Open(path)); }
  const std::vector<std::string> lookups = {
      "SELECT * FROM accounts WHERE email = 'x'",
      "SELECT COUNT(*) FROM login_failures WHERE key = 'x' AND at >= 1",
      "DELETE FROM login_failures WHERE key = 'x'",
      "SELECT * FROM sessions WHERE token_hash = x'00'",
      "DELETE FROM sessions WHERE account_id = 'a' AND device_id = 'd'",
      "SELECT * FROM devices WHERE account_id = 'a' ORDER BY created_at, device_id",
      "SELECT seq FROM chain_entries WHERE account_id = 'a' ORDER BY seq DESC LIMIT 1",
      "SELECT number, length(data) FROM revisions WHERE account_id = 'a' AND collection_id = 'c' AND number "
      ">= 1 "
      "ORDER BY number LIMIT 5",
      "SELECT collection_id, head FROM collections WHERE account_id = 'a' ORDER BY collection_id",
      "SELECT * FROM chunks WHERE account_id = 'a' AND chunk_id > 'x' ORDER BY chunk_id LIMIT 5",
      "DELETE FROM messages WHERE expires_at <= 5",
  };
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
  for (const std::string& sql : lookups) {
    sqlite3_stmt* stmt = nullptr;
    ASSERT_EQ(sqlite3_prepare_v2(db, ("EXPLAIN QUERY PLAN " + sql).c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db);
    std::string plan;
    while (sqlite3_step(stmt) == SQLITE_ROW) {
      plan += reinterpret_cast<const char*>(sqlite3_column_text(stmt, 3));
      plan += "; ";
    }
    sqlite3_finalize(stmt);
    EXPECT_EQ(plan.find("SCAN"), std::string::npos) << sql << "\n  plan: " << plan;
  }
  sqlite3_close(db);
}

TEST(SqliteMetaStoreTest, NonDatabaseFileIsDataLoss) {
  const std::string path = NewTempDir("junk") + "/meta.sqlite";
  std::ofstream(path) << std::string(8192, 'J');
  STORE_EXPECT_CODE(SqliteMetaStore::Open(path), kDataLoss);
}

TEST(SqliteMetaStoreTest, UnreachablePathIsUnavailable) {
  STORE_EXPECT_CODE(SqliteMetaStore::Open("/nonexistent-coffer-dir/sub/meta.sqlite"), kUnavailable);
  STORE_EXPECT_CODE(SqliteMetaStore::Open(""), kInvalidArgument);
}

TEST(SqliteMetaStoreTest, TwoStoresOnOneFileStillHaveOneWinnerPerRevision) {
  // Two connections (as with two server processes on one file): BEGIN IMMEDIATE and the
  // busy timeout must keep the head compare-and-set atomic across them.
  const std::string path = NewTempDir("two") + "/meta.sqlite";
  STORE_ASSERT_OK_AND_ASSIGN(auto first, SqliteMetaStore::Open(path));
  STORE_ASSERT_OK_AND_ASSIGN(auto second, SqliteMetaStore::Open(path));
  STORE_ASSERT_OK(first->CreateAccount(Account()));
  constexpr uint64_t kTarget = 60;
  std::mutex mu;
  std::map<uint64_t, int> wins;
  std::atomic<int> errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t) {
    MetaStore* store = t % 2 ? static_cast<MetaStore*>(first.get()) : second.get();
    threads.emplace_back([&, store, t] {
      for (;;) {
        auto head = store->GetHead(kAccount, kCollection);
        if (!head.ok()) return void(++errors);
        if (*head >= kTarget) return;
        Status s = store->AppendRevision(kAccount, kCollection, *head + 1, TestBytes(10, t));
        if (s.ok()) {
          std::lock_guard<std::mutex> lock(mu);
          ++wins[*head + 1];
        } else if (s.code() != StatusCode::kAborted) {
          ADD_FAILURE() << s.ToString();
          return void(++errors);
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(errors.load(), 0);
  EXPECT_EQ(wins.size(), kTarget);
  for (const auto& [number, n] : wins) EXPECT_EQ(n, 1) << "revision " << number;
  STORE_ASSERT_OK_AND_ASSIGN(AccountRecord a, first->GetAccount(kAccount));
  EXPECT_EQ(a.used_bytes, 10 * kTarget);
}

// Writes all of `buf` to a pipe from the child (async-signal-safe enough for a test child).
void WriteFull(int fd, const void* buf, size_t n) {
  const char* p = static_cast<const char*>(buf);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w <= 0) ::_exit(3);
    p += w;
    n -= static_cast<size_t>(w);
  }
}

TEST(SqliteMetaStoreTest, KillNineNeverLosesAnAcknowledgedRevision) {
  // A child process appends revisions and reports each acknowledged number through a pipe;
  // the parent kills it with SIGKILL at a random moment. Every acknowledged revision must be
  // there afterwards, the journal must have no gaps, and used_bytes must match it exactly
  // (the append and its accounting are one transaction).
  const std::string path = NewTempDir("kill") + "/meta.sqlite";
  {
    STORE_ASSERT_OK_AND_ASSIGN(auto store, SqliteMetaStore::Open(path));
    STORE_ASSERT_OK(store->CreateAccount(Account()));
  }
  std::mt19937 rng(12345);
  constexpr size_t kRevisionSize = 3000;
  for (int round = 0; round < 4; ++round) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      auto store = SqliteMetaStore::Open(path);
      if (!store.ok()) ::_exit(2);
      auto head = (*store)->GetHead(kAccount, kCollection);
      if (!head.ok()) ::_exit(2);
      for (uint64_t n = *head + 1;; ++n) {
        if (!(*store)->AppendRevision(kAccount, kCollection, n, TestBytes(kRevisionSize, n)).ok()) ::_exit(2);
        WriteFull(fds[1], &n, sizeof(n));
      }
    }
    ::close(fds[1]);
    const int kill_after = 3 + static_cast<int>(rng() % 40);
    uint64_t acked = 0, n = 0;
    for (int i = 0; i < kill_after && ::read(fds[0], &n, sizeof(n)) == sizeof(n); ++i) acked = n;
    // Let it run into the middle of another transaction before killing it.
    ::usleep(static_cast<useconds_t>(rng() % 3000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);
    while (::read(fds[0], &n, sizeof(n)) == sizeof(n)) acked = n;  // acks already in the pipe
    ::close(fds[0]);
    ASSERT_GT(acked, 0u);

    STORE_ASSERT_OK_AND_ASSIGN(auto store, SqliteMetaStore::Open(path));
    STORE_ASSERT_OK_AND_ASSIGN(uint64_t head, store->GetHead(kAccount, kCollection));
    EXPECT_GE(head, acked) << "round " << round;
    STORE_ASSERT_OK_AND_ASSIGN(auto revs, store->GetRevisions(kAccount, kCollection, 1, 100000, SIZE_MAX));
    ASSERT_EQ(revs.size(), head);
    for (uint64_t i = 0; i < revs.size(); ++i) {
      ASSERT_EQ(revs[i].number, i + 1);
      ASSERT_TRUE(revs[i].data == TestBytes(kRevisionSize, i + 1)) << "revision " << i + 1;
    }
    STORE_ASSERT_OK_AND_ASSIGN(AccountRecord a, store->GetAccount(kAccount));
    EXPECT_EQ(a.used_bytes, head * kRevisionSize);
  }
}

}  // namespace
}  // namespace coffer::store
