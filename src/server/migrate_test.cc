// coffer-server migrate: SQLite + files -> SQLite + files (every kind of data, resume after an
// interruption, newer target data kept, diverged target refused, corrupt source refused) and
// end to end SQLite -> PostgreSQL through the command's entry point (needs
// COFFER_TEST_POSTGRES_URL, from scripts/postgres.sh; fails without it).
#include "server/migrate.h"

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "crypto/hash.h"
#include "store/local/local_blob_store.h"
#include "store/open.h"
#include "store/sqlite/sqlite_meta_store.h"

namespace coffer::server {
namespace {

using store::AccountRecord;
using store::BlobStore;
using store::ChunkRecord;
using store::MetaStore;
// server_tests does not link the store's test helpers; these two are all it needs.
std::vector<std::string> temp_dirs;  // removed when the process ends normally

class TempDirCleanup : public ::testing::Environment {
 public:
  void TearDown() override {
    for (const std::string& dir : temp_dirs) std::filesystem::remove_all(dir);
  }
};
const auto* const kTempDirCleanup = ::testing::AddGlobalTestEnvironment(new TempDirCleanup);

std::string NewTempDir(const std::string& label) {
  const char* root = std::getenv("TEST_TMPDIR");
  std::string pattern = std::string(root ? root : "/tmp") + "/coffer-migrate-" + label + "-XXXXXX";
  char* dir = ::mkdtemp(pattern.data());
  EXPECT_NE(dir, nullptr) << pattern;
  temp_dirs.push_back(pattern);
  return pattern;
}

// Deterministic bytes: n bytes derived from seed.
Bytes TestBytes(size_t n, uint64_t seed) {
  Bytes out(n);
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (size_t i = 0; i < n; ++i) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    out[i] = static_cast<uint8_t>(x >> 56);
  }
  return out;
}

std::string Hex(uint64_t v, size_t width) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out(width, '0');
  for (size_t i = 0; i < width && v != 0; ++i, v >>= 4) out[width - 1 - i] = kHex[v & 0xf];
  return out;
}
std::string AccountId(uint64_t n) { return Hex(0xacc0000 + n, 32); }
std::string CollectionId(uint64_t n) { return Hex(0xc011000 + n, 32); }
std::string DeviceId(uint64_t n) { return Hex(0xde70000 + n, 32); }
std::string ChunkId(uint64_t account, uint64_t n) { return Hex((account << 32) | n, 64); }

struct Side {
  std::unique_ptr<MetaStore> meta;
  std::unique_ptr<BlobStore> blobs;
  std::string meta_url, blob_url;
  MigrateEndpoints endpoints() { return {meta.get(), blobs.get()}; }
};

Side NewSqliteSide(const std::string& label) {
  Side side;
  const std::string dir = NewTempDir(label);
  side.meta_url = "sqlite://" + dir + "/meta.sqlite";
  side.blob_url = "file://" + dir + "/blobs";
  auto meta = store::OpenMetaStore(side.meta_url);
  auto blobs = store::OpenBlobStore(side.blob_url);
  EXPECT_TRUE(meta.ok() && blobs.ok());
  if (meta.ok()) side.meta = std::move(*meta);
  if (blobs.ok()) side.blobs = std::move(*blobs);
  return side;
}

// Adds a chunk (bytes + index) the way the server does.
void AddChunk(Side& side, const std::string& account, const std::string& chunk_id, const Bytes& data) {
  ASSERT_TRUE(side.blobs->Put(account + "/" + chunk_id, data).ok());
  auto added = side.meta->AddChunk(account, ChunkRecord{chunk_id, data.size(), crypto::Sha256(data), 1700000100});
  ASSERT_TRUE(added.ok()) << added.status().ToString();
}

// A server with three accounts holding every kind of data; account 2 has a journal longer
// than one copy batch and a checkpoint, account 3 is locked and over a cut quota.
void Populate(Side& side) {
  ASSERT_TRUE(side.meta->PutSetting("server_secret", TestBytes(32, 99)).ok());
  ASSERT_TRUE(side.meta->PutSetting("another", TestBytes(5, 98)).ok());
  for (uint64_t n = 1; n <= 3; ++n) {
    AccountRecord a;
    a.account_id = AccountId(n);
    a.email = "user" + std::to_string(n) + "@example.com";
    a.created_at = 1700000000 + static_cast<int64_t>(n);
    a.login_hash = "$argon2id$login" + std::to_string(n);
    a.login_salt = TestBytes(16, n);
    a.kdf_ops = 3;
    a.kdf_mem = 1 << 26;
    a.recovery_hash = "$argon2id$recovery" + std::to_string(n);
    a.recovery_blob = TestBytes(80, n + 10);
    a.last_activity = 1700001000 + static_cast<int64_t>(n);
    ASSERT_TRUE(side.meta->CreateAccount(a).ok());
    const std::string id = a.account_id;
    for (uint64_t d = 0; d < n + 1; ++d) {
      store::DeviceRecord dev{id, DeviceId(n * 10 + d), TestBytes(32, d), TestBytes(32, d + 1),
                              "device " + std::to_string(d), static_cast<store::DeviceStatus>(d % 3),
                              1700000000 + static_cast<int64_t>(d)};
      ASSERT_TRUE(side.meta->PutDevice(dev).ok());
      ASSERT_TRUE(side.meta->PutSealedKey(id, dev.device_id, d + 1, TestBytes(48, n * 100 + d)).ok());
    }
    for (uint64_t seq = 0; seq < 2 * n; ++seq) ASSERT_TRUE(side.meta->AppendChainEntry(id, seq, TestBytes(60, seq)).ok());
    for (uint64_t v = 1; v <= n; ++v) ASSERT_TRUE(side.meta->PutKeyring(id, v, TestBytes(40, n * 10 + v)).ok());
    const uint64_t revisions = n == 2 ? 1234 : 7 * n;
    for (uint64_t r = 1; r <= revisions; ++r) {
      ASSERT_TRUE(side.meta->AppendRevision(id, CollectionId(1), r, TestBytes(100 + r % 50, n * 100000 + r)).ok());
    }
    ASSERT_TRUE(side.meta->AppendRevision(id, CollectionId(2), 1, TestBytes(10, n)).ok());
    if (n == 2) ASSERT_TRUE(side.meta->PutCheckpoint(id, CollectionId(1), 1000, TestBytes(5000, 7)).ok());
    for (uint64_t c = 0; c < 150 * n; ++c) AddChunk(side, id, ChunkId(n, c), TestBytes(200 + c % 100, n * 1000 + c));
    if (n == 3) {
      ASSERT_TRUE(side.meta->SetLocked(id, true).ok());
      ASSERT_TRUE(side.meta->SetQuota(id, 1000).ok());  // cut below what it already uses
    }
  }
}

// Everything the source has, the target has too (through the public API only).
void ExpectSameData(MetaStore& from, MetaStore& to) {
  auto ids = from.ListAccountIds("", 1000);
  ASSERT_TRUE(ids.ok());
  auto target_ids = to.ListAccountIds("", 1000);
  ASSERT_TRUE(target_ids.ok());
  EXPECT_EQ(*ids, *target_ids);
  for (const std::string& id : *ids) {
    SCOPED_TRACE("account " + id);
    auto a = from.GetAccount(id);
    auto b = to.GetAccount(id);
    ASSERT_TRUE(a.ok() && b.ok());
    EXPECT_EQ(a->email, b->email);
    EXPECT_EQ(a->login_hash, b->login_hash);
    EXPECT_EQ(a->login_salt, b->login_salt);
    EXPECT_EQ(a->recovery_blob, b->recovery_blob);
    EXPECT_EQ(a->quota_bytes, b->quota_bytes);
    EXPECT_EQ(a->used_bytes, b->used_bytes);
    EXPECT_EQ(a->locked, b->locked);
    EXPECT_EQ(a->created_at, b->created_at);
    EXPECT_EQ(a->last_activity, b->last_activity);
    auto da = from.ListDevices(id);
    auto db = to.ListDevices(id);
    ASSERT_TRUE(da.ok() && db.ok());
    ASSERT_EQ(da->size(), db->size());
    for (size_t i = 0; i < da->size(); ++i) {
      EXPECT_EQ((*da)[i].device_id, (*db)[i].device_id);
      EXPECT_EQ((*da)[i].status, (*db)[i].status);
      EXPECT_EQ((*da)[i].sign_public_key, (*db)[i].sign_public_key);
    }
    EXPECT_EQ(*from.GetChain(id, 0), *to.GetChain(id, 0));
    auto ka = from.ListSealedKeys(id);
    auto kb = to.ListSealedKeys(id);
    ASSERT_EQ(ka->size(), kb->size());
    for (size_t i = 0; i < ka->size(); ++i) EXPECT_EQ((*ka)[i].blob, (*kb)[i].blob);
    EXPECT_EQ(*from.GetKeyring(id), *to.GetKeyring(id));
    auto ca = from.ListCollections(id);
    auto cb = to.ListCollections(id);
    ASSERT_EQ(ca->size(), cb->size());
    for (size_t i = 0; i < ca->size(); ++i) {
      EXPECT_EQ((*ca)[i].head, (*cb)[i].head);
      auto ra = from.GetRevisions(id, (*ca)[i].collection_id, 1, 100000, SIZE_MAX);
      auto rb = to.GetRevisions(id, (*ca)[i].collection_id, 1, 100000, SIZE_MAX);
      ASSERT_EQ(ra->size(), rb->size());
      for (size_t r = 0; r < ra->size(); ++r) {
        ASSERT_EQ((*ra)[r].number, (*rb)[r].number);
        ASSERT_EQ((*ra)[r].data, (*rb)[r].data);
      }
      auto pa = from.GetCheckpoint(id, (*ca)[i].collection_id);
      auto pb = to.GetCheckpoint(id, (*ca)[i].collection_id);
      EXPECT_EQ(pa.ok(), pb.ok());
      if (pa.ok() && pb.ok()) EXPECT_EQ(pa->data, pb->data);
    }
    std::vector<ChunkRecord> chunks_a, chunks_b;
    ASSERT_TRUE(from.ListChunks(id, [&](const ChunkRecord& c) { return chunks_a.push_back(c), true; }).ok());
    ASSERT_TRUE(to.ListChunks(id, [&](const ChunkRecord& c) { return chunks_b.push_back(c), true; }).ok());
    ASSERT_EQ(chunks_a.size(), chunks_b.size());
    for (size_t i = 0; i < chunks_a.size(); ++i) {
      EXPECT_EQ(chunks_a[i].chunk_id, chunks_b[i].chunk_id);
      EXPECT_EQ(chunks_a[i].sha256, chunks_b[i].sha256);
      EXPECT_EQ(chunks_a[i].created_at, chunks_b[i].created_at);
    }
  }
  EXPECT_EQ(*from.ListSettingNames(), *to.ListSettingNames());
  EXPECT_EQ(*from.GetSetting("server_secret"), *to.GetSetting("server_secret"));
}

TEST(MigrateTest, SqliteAndFilesToSqliteAndFilesCopiesEverythingAndVerifies) {
  Side from = NewSqliteSide("from"), to = NewSqliteSide("to");
  ASSERT_NO_FATAL_FAILURE(Populate(from));
  std::ostringstream progress;
  auto report = Migrate(from.endpoints(), to.endpoints(), &progress);
  ASSERT_TRUE(report.ok()) << report.status().ToString() << "\n" << progress.str();
  EXPECT_EQ(report->copied.accounts, 3u);
  EXPECT_EQ(report->copied.chunks, 150u * 6);
  EXPECT_EQ(report->copied.revisions, 7u + 1234 + 21 + 3);
  EXPECT_EQ(report->copied.settings, 2u);
  EXPECT_EQ(report->blobs_rechecked, 150u * 6);
  EXPECT_EQ(report->verified.revisions, report->copied.revisions);
  EXPECT_NE(progress.str().find("verified:"), std::string::npos) << progress.str();
  ExpectSameData(*from.meta, *to.meta);
  // Every blob arrived intact.
  auto blob = to.blobs->Get(AccountId(2) + "/" + ChunkId(2, 5));
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(*blob, TestBytes(205, 2005));

  // Running it again copies nothing and still verifies.
  auto again = Migrate(from.endpoints(), to.endpoints(), nullptr);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  EXPECT_EQ(again->copied.accounts + again->copied.chunks + again->copied.revisions + again->copied.settings +
                again->copied.devices + again->copied.chain_entries + again->copied.sealed_keys,
            0u);
  ExpectSameData(*from.meta, *to.meta);
}

// A target blob store that fails after a number of writes: the migration stops there, as if
// the process had been killed at that point.
class FailingBlobStore : public BlobStore {
 public:
  FailingBlobStore(BlobStore& inner, int puts_allowed) : inner_(inner), left_(puts_allowed) {}
  Status Put(std::string_view key, ByteView data) override {
    if (left_-- <= 0) return UnavailableError("injected failure");
    return inner_.Put(key, data);
  }
  StatusOr<Bytes> Get(std::string_view key) override { return inner_.Get(key); }
  StatusOr<bool> Exists(std::string_view key) override { return inner_.Exists(key); }
  Status Delete(std::string_view key) override { return inner_.Delete(key); }
  Status List(std::string_view prefix, const std::function<bool(const std::string&)>& fn) override {
    return inner_.List(prefix, fn);
  }

 private:
  BlobStore& inner_;
  int left_;
};

TEST(MigrateTest, InterruptedRunsResumeWithoutDuplicates) {
  Side from = NewSqliteSide("from"), to = NewSqliteSide("to");
  ASSERT_NO_FATAL_FAILURE(Populate(from));
  // Interrupted three times at different points (inside accounts 1 and 2, then 3).
  for (int allowed : {40, 200, 500}) {
    FailingBlobStore failing(*to.blobs, allowed);
    auto report = Migrate(from.endpoints(), {to.meta.get(), &failing}, nullptr);
    ASSERT_FALSE(report.ok());
    EXPECT_EQ(report.status().code(), StatusCode::kUnavailable) << report.status().ToString();
  }
  auto report = Migrate(from.endpoints(), to.endpoints(), nullptr);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_LT(report->copied.chunks, 150u * 6);  // the earlier runs' chunks were not copied again
  ExpectSameData(*from.meta, *to.meta);       // includes used_bytes: nothing charged twice
}

TEST(MigrateTest, KillNineMidRunThenRerunCompletesWithoutDuplicates) {
  // The command in a child process, killed with SIGKILL at a random moment, three times;
  // then run to completion. The target must end up exactly like the source (used_bytes
  // included, so nothing was charged twice) and verify.
  Side from = NewSqliteSide("from"), to = NewSqliteSide("to");
  ASSERT_NO_FATAL_FAILURE(Populate(from));
  const std::vector<std::string> args = {"--from-meta", from.meta_url, "--to-meta", to.meta_url,
                                         "--from-blobs", from.blob_url, "--to-blobs", to.blob_url};
  to.meta.reset();
  to.blobs.reset();
  std::mt19937 rng(4242);
  int killed = 0;
  for (int round = 0; round < 3; ++round) {
    const pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::freopen("/dev/null", "w", stderr);
      ::_exit(MigrateMain(args));
    }
    ::usleep(static_cast<useconds_t>(100000 + rng() % 300000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    killed += WIFSIGNALED(status) ? 1 : 0;
  }
  EXPECT_GT(killed, 0) << "the migration always finished before the kill; the test proved nothing";
  EXPECT_EQ(MigrateMain(args), 0);
  auto target = store::OpenMetaStore(to.meta_url);
  ASSERT_TRUE(target.ok());
  ExpectSameData(*from.meta, **target);
}

TEST(MigrateTest, SecondRunCatchesUpWithNewSourceDataAndKeepsNewerTargetData) {
  Side from = NewSqliteSide("from"), to = NewSqliteSide("to");
  ASSERT_NO_FATAL_FAILURE(Populate(from));
  ASSERT_TRUE(Migrate(from.endpoints(), to.endpoints(), nullptr).ok());
  // The source moved on (a first pass while it still served, then a final pass)...
  ASSERT_TRUE(from.meta->AppendRevision(AccountId(1), CollectionId(1), 8, TestBytes(30, 1)).ok());
  ASSERT_TRUE(from.meta->AppendChainEntry(AccountId(1), 2, TestBytes(60, 2)).ok());
  ASSERT_TRUE(from.meta->PutKeyring(AccountId(1), 2, TestBytes(40, 12)).ok());
  ASSERT_NO_FATAL_FAILURE(AddChunk(from, AccountId(1), ChunkId(1, 999), TestBytes(77, 5)));
  ASSERT_TRUE(from.meta->PutDevice({AccountId(1), DeviceId(10), TestBytes(32, 0), TestBytes(32, 1), "device 0",
                                    store::DeviceStatus::kRevoked, 1700000000})
                  .ok());
  // ...and the target already has newer data (written there after a first pass).
  ASSERT_TRUE(to.meta->AppendRevision(AccountId(1), CollectionId(2), 2, TestBytes(10, 333)).ok());
  ASSERT_TRUE(to.meta->PutKeyring(AccountId(2), 3, TestBytes(40, 443)).ok());
  ASSERT_TRUE(to.meta->PutKeyring(AccountId(2), 4, TestBytes(40, 444)).ok());
  auto report = Migrate(from.endpoints(), to.endpoints(), nullptr);
  ASSERT_TRUE(report.ok()) << report.status().ToString();
  EXPECT_EQ(report->copied.revisions, 1u);
  EXPECT_EQ(report->copied.chain_entries, 1u);
  EXPECT_EQ(report->copied.chunks, 1u);
  EXPECT_EQ(*to.meta->GetHead(AccountId(1), CollectionId(1)), 8u);
  EXPECT_EQ(to.meta->GetDevice(AccountId(1), DeviceId(10))->status, store::DeviceStatus::kRevoked);
  // Newer target data survived.
  EXPECT_EQ(*to.meta->GetHead(AccountId(1), CollectionId(2)), 2u);
  EXPECT_EQ(to.meta->GetKeyring(AccountId(2))->first, 4u);
  EXPECT_EQ(to.meta->GetKeyring(AccountId(2))->second, TestBytes(40, 444));
}

TEST(MigrateTest, TargetWithADifferentHistoryIsRefused) {
  Side from = NewSqliteSide("from"), to = NewSqliteSide("to");
  ASSERT_NO_FATAL_FAILURE(Populate(from));
  ASSERT_TRUE(Migrate(from.endpoints(), to.endpoints(), nullptr).ok());
  // Both sides grow revision 8 of account 1 differently.
  ASSERT_TRUE(from.meta->AppendRevision(AccountId(1), CollectionId(1), 8, TestBytes(30, 1)).ok());
  ASSERT_TRUE(to.meta->AppendRevision(AccountId(1), CollectionId(1), 8, TestBytes(30, 2)).ok());
  auto report = Migrate(from.endpoints(), to.endpoints(), nullptr);
  ASSERT_EQ(report.status().code(), StatusCode::kFailedPrecondition) << report.status().ToString();
  EXPECT_NE(report.status().message().find(AccountId(1)), std::string::npos) << report.status().ToString();
  auto kept = to.meta->GetRevisions(AccountId(1), CollectionId(1), 8, 1, SIZE_MAX);
  EXPECT_EQ((*kept)[0].data, TestBytes(30, 2));  // untouched
}

TEST(MigrateTest, CorruptSourceChunkIsDataLossAndNotCopied) {
  Side from = NewSqliteSide("from"), to = NewSqliteSide("to");
  ASSERT_NO_FATAL_FAILURE(Populate(from));
  ASSERT_TRUE(from.blobs->Put(AccountId(1) + "/" + ChunkId(1, 3), TestBytes(203, 1)).ok());  // wrong bytes
  auto report = Migrate(from.endpoints(), to.endpoints(), nullptr);
  ASSERT_EQ(report.status().code(), StatusCode::kDataLoss) << report.status().ToString();
  EXPECT_NE(report.status().message().find(ChunkId(1, 3)), std::string::npos);
  EXPECT_FALSE(*to.blobs->Exists(AccountId(1) + "/" + ChunkId(1, 3)));
}

TEST(MigrateTest, VerificationNoticesABlobDamagedInTheTarget) {
  Side from = NewSqliteSide("from"), to = NewSqliteSide("to");
  ASSERT_NO_FATAL_FAILURE(Populate(from));
  ASSERT_TRUE(Migrate(from.endpoints(), to.endpoints(), nullptr).ok());
  ASSERT_TRUE(to.blobs->Put(AccountId(2) + "/" + ChunkId(2, 9), TestBytes(209, 1)).ok());
  auto verified = VerifyMigration(from.endpoints(), to.endpoints(), nullptr);
  ASSERT_EQ(verified.status().code(), StatusCode::kDataLoss);
  EXPECT_NE(verified.status().message().find(ChunkId(2, 9)), std::string::npos) << verified.status().ToString();
}

TEST(MigrateTest, CommandLineUsageErrorsExitTwo) {
  EXPECT_EQ(MigrateMain({}), 2);
  EXPECT_EQ(MigrateMain({"--from-meta", "sqlite:///a/m.sqlite"}), 2);
  EXPECT_EQ(MigrateMain({"--from-meta", "sqlite:///a", "--to-meta", "sqlite:///a"}), 2);
  EXPECT_EQ(MigrateMain({"--from-meta", "sqlite:///a", "--to-meta", "sqlite:///b", "--from-blobs", "file:///x"}), 2);
  EXPECT_EQ(MigrateMain({"--bogus"}), 2);
  // A source that does not exist is refused rather than created empty.
  EXPECT_EQ(MigrateMain({"--from-meta", "sqlite:///nonexistent-dir-xyz/a/m.sqlite", "--to-meta", "sqlite:///b"}), 2);
  EXPECT_FALSE(std::filesystem::exists("/nonexistent-dir-xyz"));
  // An unreachable target is exit 5.
  const std::string dir = NewTempDir("src");
  auto created = store::OpenMetaStore("sqlite://" + dir + "/m.sqlite");
  ASSERT_TRUE(created.ok());
  EXPECT_EQ(MigrateMain({"--from-meta", "sqlite://" + dir + "/m.sqlite", "--to-meta",
                         "postgresql://coffer:pw@127.0.0.1:1/coffer"}),
            5);
}

// ==== end to end: SQLite + files -> PostgreSQL + files, through the command ==============

TEST(MigrateEndToEndTest, SqliteToPostgresThroughTheCommand) {
  const char* base = std::getenv("COFFER_TEST_POSTGRES_URL");
  ASSERT_TRUE(base != nullptr && *base != '\0')
      << "COFFER_TEST_POSTGRES_URL is not set: run `scripts/postgres.sh start /tmp/coffer-pg && source "
         "/tmp/coffer-pg/env` first (scripts/test.sh does this)";
  Side from = NewSqliteSide("from");
  ASSERT_NO_FATAL_FAILURE(Populate(from));
  const std::string schema = "coffer_test_migrate_" + std::to_string(::getpid()) + "_" +
                             std::to_string(std::random_device{}() % 1000000);
  const std::string to_meta = std::string(base) + (std::string(base).find('?') == std::string::npos ? "?" : "&") +
                              "schema=" + schema;
  const std::string to_blobs = "file://" + NewTempDir("to-blobs");
  const std::vector<std::string> args = {"--from-meta", from.meta_url, "--to-meta", to_meta,
                                         "--from-blobs", from.blob_url, "--to-blobs", to_blobs};
  from.meta.reset();  // the command opens the engines itself
  from.blobs.reset();
  EXPECT_EQ(MigrateMain(args), 0);
  EXPECT_EQ(MigrateMain(args), 0);  // idempotent
  {
    auto source = store::OpenMetaStore(from.meta_url);
    auto target = store::OpenMetaStore(to_meta);
    ASSERT_TRUE(source.ok() && target.ok());
    ExpectSameData(**source, **target);
    auto blobs = store::OpenBlobStore(to_blobs);
    auto blob = (*blobs)->Get(AccountId(3) + "/" + ChunkId(3, 449));
    ASSERT_TRUE(blob.ok());
    EXPECT_EQ(*blob, TestBytes(249, 3449));
  }
  PGconn* admin = PQconnectdb(base);
  PQsetNoticeProcessor(admin, [](void*, const char*) {}, nullptr);
  PQclear(PQexec(admin, ("DROP SCHEMA IF EXISTS " + schema + " CASCADE").c_str()));
  PQfinish(admin);
}

}  // namespace
}  // namespace coffer::server
