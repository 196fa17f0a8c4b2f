// Metadata operations per second on each MetaStore engine as the tables grow.
//
// For each scale N (10k, 100k, 1M) the store holds N chunks, N sessions and N revisions,
// spread over N/10 accounts (10 chunks, 10 sessions and one 10-revision collection each).
// The benchmarks then run one operation at a time against random accounts:
//   AppendRevision   compare-and-set append to an existing collection (+ quota charge)
//   GetHead          head of a random collection
//   HaveChunks       a batch of 100 ids of one account, half present, half absent
//   AddChunk         a new chunk of a random account (+ quota charge)
//   GetSession       a random bearer-token hash
// If cost per operation stays flat from 10k to 1M, every hot query is served by an index.
//
// SQLite: files under $TMPDIR/coffer-meta-bench (kept between runs: populating 1M rows takes
// a while). PostgreSQL: only when COFFER_TEST_POSTGRES_URL is set (scripts/postgres.sh), in
// schemas coffer_bench_<N> of that database (also kept). The tables are filled with one bulk
// SQL statement per table (the store's own schema, created by opening the store first), not
// through the store, which would take hours at 1M rows with fsync per commit.
//
//   build-x/coffer_micro_bench --benchmark_filter='Meta' [--benchmark_min_time=2]
#include <benchmark/benchmark.h>
#include <sqlite3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "store/meta_store.h"
#include "store/postgres/pg_conn.h"
#include "store/postgres/postgres_meta_store.h"
#include "store/sqlite/sqlite_meta_store.h"

namespace coffer::store {
namespace {

enum class Engine { kSqlite, kPostgres };

constexpr int64_t kPerAccount = 10;
constexpr int64_t kNow = 1700000000;

std::string Hex(uint64_t v, int width) {
  char buf[80];
  std::snprintf(buf, sizeof buf, "%0*llx", width, static_cast<unsigned long long>(v));
  return buf;
}
std::string AccountId(int64_t a) { return Hex(static_cast<uint64_t>(a), 32); }
std::string ChunkId(int64_t i) { return Hex(static_cast<uint64_t>(i), 64); }
Bytes TokenHash(int64_t i) {
  const std::string s = Hex(static_cast<uint64_t>(i), 32);
  return Bytes(s.begin(), s.end());
}

std::string SqliteFill(int64_t n) {
  const std::string a = std::to_string(n / kPerAccount);
  const std::string rows = "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < " +
                           std::to_string(n - 1) + ") ";
  const std::string accounts = "WITH RECURSIVE seq(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM seq WHERE i < " +
                               a + " - 1) ";
  return "BEGIN;" + accounts +
         "INSERT INTO accounts SELECT printf('%032x', i), printf('user%d@example.com', i), 1700000000, 'h', "
         "zeroblob(16), 3, 65536, 'r', zeroblob(72), 0, 0, 0, 0 FROM seq;" +
         accounts +
         "INSERT INTO collections SELECT printf('%032x', i), printf('%032x', i), 10 FROM seq;" + rows +
         "INSERT INTO revisions SELECT printf('%032x', i / 10), printf('%032x', i / 10), i % 10 + 1, "
         "zeroblob(200) FROM seq;" +
         rows +
         "INSERT INTO chunks SELECT printf('%032x', i % " + a +
         "), printf('%064x', i), 262144, zeroblob(32), 1700000000 FROM seq;" + rows +
         "INSERT INTO sessions SELECT CAST(printf('%032x', i) AS BLOB), printf('%032x', i % " + a +
         "), printf('%032x', i), 0, 1700000000, 1800000000 FROM seq;" +
         "INSERT INTO settings VALUES ('bench_populated', x'01'); COMMIT;";
}

std::string PostgresFill(int64_t n) {
  const std::string a = std::to_string(n / kPerAccount);
  const std::string rows = " FROM generate_series(0, " + std::to_string(n - 1) + ") AS i;";
  const std::string accounts = " FROM generate_series(0, " + a + " - 1) AS i;";
  auto id32 = [](const std::string& x) { return "lpad(to_hex(" + x + "), 32, '0')"; };
  return "BEGIN; INSERT INTO accounts SELECT " + id32("i") +
         ", 'user' || i || '@example.com', 1700000000, 'h', '\\x00000000000000000000000000000000'::bytea, 3, "
         "65536, 'r', '\\x00'::bytea, 0, 0, false, 0" +
         accounts + "INSERT INTO collections SELECT " + id32("i") + ", " + id32("i") + ", 10" + accounts +
         "INSERT INTO revisions SELECT " + id32("i / 10") + ", " + id32("i / 10") +
         ", i % 10 + 1, decode(repeat('00', 200), 'hex')" + rows + "INSERT INTO chunks SELECT " +
         id32("i % " + a) + ", lpad(to_hex(i), 64, '0'), 262144, decode(repeat('00', 32), 'hex'), 1700000000" + rows +
         "INSERT INTO sessions SELECT convert_to(" + id32("i") + ", 'UTF8'), " + id32("i % " + a) + ", " + id32("i") +
         ", 0, 1700000000, 1800000000" + rows +
         "INSERT INTO settings VALUES ('bench_populated', '\\x01'::bytea); COMMIT; ANALYZE;";
}

struct Env {
  std::unique_ptr<MetaStore> store;
  std::string error;  // why there is no store
};

StatusOr<std::unique_ptr<MetaStore>> OpenSqlite(int64_t n) {
  const char* tmp = std::getenv("TMPDIR");
  const std::string dir = std::string(tmp ? tmp : "/tmp") + "/coffer-meta-bench";
  std::filesystem::create_directories(dir);
  const std::string path = dir + "/meta-" + std::to_string(n) + ".sqlite";
  {
    COFFER_ASSIGN_OR_RETURN(auto store, SqliteMetaStore::Open(path));
    if (store->GetSetting("bench_populated").ok()) return std::unique_ptr<MetaStore>(std::move(store));
  }
  std::fprintf(stderr, "meta_ops_bench: filling %s with %lld rows per table...\n", path.c_str(),
               static_cast<long long>(n));
  sqlite3* db = nullptr;
  if (sqlite3_open(path.c_str(), &db) != SQLITE_OK) return UnavailableError("cannot open " + path);
  char* err = nullptr;
  const int rc = sqlite3_exec(db, SqliteFill(n).c_str(), nullptr, nullptr, &err);
  std::string message = err ? err : "";
  sqlite3_free(err);
  sqlite3_exec(db, "ANALYZE", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  if (rc != SQLITE_OK) return InternalError("filling " + path + ": " + message);
  COFFER_ASSIGN_OR_RETURN(auto store, SqliteMetaStore::Open(path));
  return std::unique_ptr<MetaStore>(std::move(store));
}

StatusOr<std::unique_ptr<MetaStore>> OpenPostgres(int64_t n) {
  const char* base = std::getenv("COFFER_TEST_POSTGRES_URL");
  if (base == nullptr || *base == '\0') {
    return FailedPreconditionError("COFFER_TEST_POSTGRES_URL is not set (scripts/postgres.sh start DIR)");
  }
  const std::string url = std::string(base) + (std::string(base).find('?') == std::string::npos ? "?" : "&") +
                          "schema=coffer_bench_" + std::to_string(n);
  {
    COFFER_ASSIGN_OR_RETURN(auto store, PostgresMetaStore::Open(url));
    if (store->GetSetting("bench_populated").ok()) return std::unique_ptr<MetaStore>(std::move(store));
  }
  std::fprintf(stderr, "meta_ops_bench: filling schema coffer_bench_%lld...\n", static_cast<long long>(n));
  COFFER_ASSIGN_OR_RETURN(pg::ConnectionConfig config, pg::ParseConnectionUrl(url));
  COFFER_ASSIGN_OR_RETURN(auto conn, pg::Connection::Open(config));
  COFFER_RETURN_IF_ERROR(conn->ExecScript(PostgresFill(n)));
  COFFER_ASSIGN_OR_RETURN(auto store, PostgresMetaStore::Open(url));
  return std::unique_ptr<MetaStore>(std::move(store));
}

// One populated store per (engine, scale), opened on first use and kept for the process.
MetaStore* GetStore(benchmark::State& state, Engine engine, int64_t n) {
  static std::mutex mu;
  static std::map<std::pair<Engine, int64_t>, Env> envs;
  std::lock_guard<std::mutex> lock(mu);
  auto [it, inserted] = envs.try_emplace({engine, n});
  if (inserted) {
    const auto start = std::chrono::steady_clock::now();
    auto store = engine == Engine::kSqlite ? OpenSqlite(n) : OpenPostgres(n);
    if (store.ok()) {
      it->second.store = std::move(*store);
      std::fprintf(stderr, "meta_ops_bench: %s store of %lld rows ready in %.1f s\n",
                   engine == Engine::kSqlite ? "SQLite" : "PostgreSQL", static_cast<long long>(n),
                   std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    } else {
      it->second.error = store.status().ToString();
    }
  }
  if (!it->second.store) state.SkipWithError(it->second.error.c_str());
  return it->second.store.get();
}

#define COFFER_BENCH_CHECK(expr)                                      \
  do {                                                                \
    const Status bench_status_ = (expr);                              \
    if (!bench_status_.ok()) {                                        \
      state.SkipWithError(bench_status_.ToString().c_str());          \
      return;                                                         \
    }                                                                 \
  } while (0)

void BM_MetaAppendRevision(benchmark::State& state, Engine engine) {
  const int64_t n = state.range(0);
  MetaStore* store = GetStore(state, engine, n);
  if (store == nullptr) return;
  // A working set of collections whose heads are read before timing starts.
  std::mt19937_64 rng(std::random_device{}());
  std::vector<std::pair<std::string, uint64_t>> heads;
  std::set<std::string> chosen;
  while (chosen.size() < 256) {
    chosen.insert(AccountId(static_cast<int64_t>(rng() % static_cast<uint64_t>(n / kPerAccount))));
  }
  for (const std::string& id : chosen) {
    auto head = store->GetHead(id, id);
    COFFER_BENCH_CHECK(head.status());
    heads.emplace_back(id, *head);
  }
  const Bytes data(512, 0x5a);
  size_t next = 0;
  for (auto _ : state) {
    auto& [id, head] = heads[next++ % heads.size()];
    COFFER_BENCH_CHECK(store->AppendRevision(id, id, head + 1, data));
    ++head;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_MetaGetHead(benchmark::State& state, Engine engine) {
  const int64_t n = state.range(0);
  MetaStore* store = GetStore(state, engine, n);
  if (store == nullptr) return;
  std::mt19937_64 rng(1);
  for (auto _ : state) {
    const std::string id = AccountId(static_cast<int64_t>(rng() % static_cast<uint64_t>(n / kPerAccount)));
    auto head = store->GetHead(id, id);
    COFFER_BENCH_CHECK(head.status());
    benchmark::DoNotOptimize(*head);
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_MetaHaveChunks100(benchmark::State& state, Engine engine) {
  const int64_t n = state.range(0);
  MetaStore* store = GetStore(state, engine, n);
  if (store == nullptr) return;
  const int64_t accounts = n / kPerAccount;
  std::mt19937_64 rng(2);
  std::vector<std::string> ids(100);
  for (auto _ : state) {
    state.PauseTiming();
    const int64_t a = static_cast<int64_t>(rng() % static_cast<uint64_t>(accounts));
    // The account's 10 chunks (present) and ids past the table (absent), 50 of each.
    for (int i = 0; i < 100; ++i) {
      ids[static_cast<size_t>(i)] = i % 2 == 0 ? ChunkId(a + accounts * (i / 2 % kPerAccount)) : ChunkId(n + rng() % n);
    }
    state.ResumeTiming();
    auto have = store->HaveChunks(AccountId(a), ids);
    COFFER_BENCH_CHECK(have.status());
    if (!(*have)[0]) {
      state.SkipWithError("a chunk that was filled in is missing");
      return;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_MetaAddChunk(benchmark::State& state, Engine engine) {
  const int64_t n = state.range(0);
  MetaStore* store = GetStore(state, engine, n);
  if (store == nullptr) return;
  std::mt19937_64 rng(std::random_device{}());
  // Fresh ids on every run (the tables are kept between runs).
  const uint64_t prefix = static_cast<uint64_t>(std::chrono::system_clock::now().time_since_epoch().count());
  uint64_t counter = 0;
  const Bytes sha(32, 1);
  for (auto _ : state) {
    const std::string account = AccountId(static_cast<int64_t>(rng() % static_cast<uint64_t>(n / kPerAccount)));
    ChunkRecord chunk{Hex(prefix, 16) + Hex(++counter, 48), 262144, sha, kNow};
    auto added = store->AddChunk(account, chunk);
    COFFER_BENCH_CHECK(added.status());
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_MetaGetSession(benchmark::State& state, Engine engine) {
  const int64_t n = state.range(0);
  MetaStore* store = GetStore(state, engine, n);
  if (store == nullptr) return;
  std::mt19937_64 rng(3);
  for (auto _ : state) {
    auto session = store->GetSession(TokenHash(static_cast<int64_t>(rng() % static_cast<uint64_t>(n))), kNow);
    COFFER_BENCH_CHECK(session.status());
  }
  state.SetItemsProcessed(state.iterations());
}

void Scales(benchmark::internal::Benchmark* b) {
  // Wall-clock time: the work happens in the database (another process for PostgreSQL).
  b->ArgName("rows")->Arg(10000)->Arg(100000)->Arg(1000000)->Unit(benchmark::kMicrosecond)->UseRealTime();
}

BENCHMARK_CAPTURE(BM_MetaAppendRevision, sqlite, Engine::kSqlite)->Apply(Scales);
BENCHMARK_CAPTURE(BM_MetaGetHead, sqlite, Engine::kSqlite)->Apply(Scales);
BENCHMARK_CAPTURE(BM_MetaHaveChunks100, sqlite, Engine::kSqlite)->Apply(Scales);
BENCHMARK_CAPTURE(BM_MetaAddChunk, sqlite, Engine::kSqlite)->Apply(Scales);
BENCHMARK_CAPTURE(BM_MetaGetSession, sqlite, Engine::kSqlite)->Apply(Scales);
BENCHMARK_CAPTURE(BM_MetaAppendRevision, postgres, Engine::kPostgres)->Apply(Scales);
BENCHMARK_CAPTURE(BM_MetaGetHead, postgres, Engine::kPostgres)->Apply(Scales);
BENCHMARK_CAPTURE(BM_MetaHaveChunks100, postgres, Engine::kPostgres)->Apply(Scales);
BENCHMARK_CAPTURE(BM_MetaAddChunk, postgres, Engine::kPostgres)->Apply(Scales);
BENCHMARK_CAPTURE(BM_MetaGetSession, postgres, Engine::kPostgres)->Apply(Scales);

}  // namespace
}  // namespace coffer::store
