// A malicious operator edits the server's stored bytes directly (with the server stopped, so
// that its own checksums are kept consistent): every change must be caught by the client.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <map>
#include <thread>

#include "crypto/hash.h"
#include "harness.h"
#include "util/bytes.h"

namespace coffer::e2e {
namespace {

class TamperTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>(tmp_.path() / "server");
    server_->Start();
    device_ = std::make_unique<Device>(tmp_.path() / "home", server_->url());
    RunResult r = device_->Run({"account", "create", "--email", "bob@example.org", "--recovery-key-file",
                                (tmp_.path() / "rk").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  fs::path Db() const { return server_->data_dir() / "meta.sqlite"; }
  void PutFile(const std::string& name, size_t size, uint64_t seed) {
    WriteRandomFile(tmp_.path() / "src" / name, size, seed);
    RunResult r = device_->Run({"put", (tmp_.path() / "src" / name).string(), "/"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  // Makes a fresh device through the recovery key (it has seen nothing).
  Device Fresh(const std::string& name) {
    Device d(tmp_.path() / ("home-" + name), server_->url());
    RunResult r = d.Run({"recover", "--email", "bob@example.org", "--recovery-key-file", (tmp_.path() / "rk").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return d;
  }

  TempDir tmp_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<Device> device_;
};

TEST_F(TamperTest, ChunkSwappedWithMatchingServerChecksumIsRefusedByTheClient) {
  PutFile("a.bin", 1 << 20, 1);
  PutFile("b.bin", 1 << 20, 2);
  server_->Stop();
  auto ids = Sql(Db(), "SELECT chunk_id FROM chunks ORDER BY created_at, chunk_id");
  ASSERT_GE(ids.size(), 2u);
  // Serve chunk 1's bytes for chunk 0 and fix the server's own checksum so that only the
  // client can notice: chunk 0's index row now names chunk 1's place in its pack, its size
  // and its SHA-256.
  ASSERT_FALSE(Sql(Db(), "SELECT pack_id FROM chunks WHERE chunk_id = '" + ids[1] + "'").at(0).empty());
  Sql(Db(), "UPDATE chunks SET (pack_id, pack_offset, size, sha256) = (SELECT pack_id, pack_offset, size, sha256 "
            "FROM chunks WHERE chunk_id = '" + ids[1] + "') WHERE chunk_id = '" + ids[0] + "'");
  server_->Start();
  RunResult get = device_->Run({"get", "/", (tmp_.path() / "out").string()});
  EXPECT_EQ(get.exit_code, 3) << get.err;
  EXPECT_NE(get.err.find(ids[0]), std::string::npos) << "error must name the chunk: " << get.err;
  RunResult verify = device_->Run({"verify"});
  EXPECT_EQ(verify.exit_code, 3);
  EXPECT_NE(verify.err.find(ids[0]), std::string::npos) << verify.err;
}

TEST_F(TamperTest, ReplacedRevisionIsDetectedAsFork) {
  PutFile("one.bin", 1000, 1);
  PutFile("two.bin", 1000, 2);
  server_->Stop();
  auto revs = Sql(Db(), "SELECT data FROM revisions ORDER BY number");
  ASSERT_EQ(revs.size(), 2u);
  std::string bad = revs[1];
  bad[bad.size() / 2] ^= 0x20;
  Sql(Db(), "UPDATE revisions SET data = ? WHERE number = 2", {bad});
  server_->Start();
  RunResult ls = device_->Run({"ls"});
  EXPECT_EQ(ls.exit_code, 3);
  EXPECT_NE(ls.err.find("revision 2"), std::string::npos) << ls.err;
  Device fresh(tmp_.path() / "home-fresh", server_->url());
  RunResult rec = fresh.Run({"recover", "--email", "bob@example.org", "--recovery-key-file", (tmp_.path() / "rk").string()});
  RunResult fls = fresh.Run({"ls"});
  EXPECT_EQ(fls.exit_code, 3) << rec.err << fls.err;
  EXPECT_NE(fls.err.find("revision 2"), std::string::npos) << fls.err;
}

TEST_F(TamperTest, DroppedRevisionIsDetected) {
  PutFile("one.bin", 1000, 1);
  PutFile("two.bin", 1000, 2);
  PutFile("three.bin", 1000, 3);
  server_->Stop();
  // Drop revision 2 and renumber the rest so the journal looks continuous.
  Sql(Db(), "DELETE FROM revisions WHERE number = 2");
  Sql(Db(), "UPDATE revisions SET number = 2 WHERE number = 3");
  Sql(Db(), "UPDATE collections SET head = 2");
  server_->Start();
  RunResult ls = device_->Run({"ls"});
  EXPECT_EQ(ls.exit_code, 3);
  EXPECT_NE(ls.err.find("rollback"), std::string::npos) << ls.err;
  RunResult verify = device_->Run({"verify"});
  EXPECT_EQ(verify.exit_code, 3) << verify.err;
  EXPECT_NE(verify.err.find("revision 2"), std::string::npos) << verify.err;
}

TEST_F(TamperTest, G4DeviceInsertedIntoTheDatabaseIsRefused) {
  PutFile("one.bin", 1000, 1);
  server_->Stop();
  // A well-formed chain entry that adds an attacker device, signed by nobody the account knows.
  auto chain = Sql(Db(), "SELECT entry FROM chain_entries ORDER BY seq");
  ASSERT_EQ(chain.size(), 1u);
  std::string forged = chain[0];
  forged[5] = 1;  // seq = 1 (little-endian u64 after magic + version)
  Bytes prev = crypto::Hash(AsBytes(chain[0]));
  std::copy(prev.begin(), prev.end(), forged.begin() + 13);
  forged[13 + 32 + 16] = 2;  // action = add
  for (int i = 0; i < 16; ++i) forged[13 + 32 + 16 + 1 + 8 + i] = static_cast<char>(0xA0 + i);  // device id
  std::string account = Sql(Db(), "SELECT account_id FROM accounts")[0];
  Sql(Db(), "INSERT INTO chain_entries(account_id, seq, entry) VALUES('" + account + "', 1, ?)", {forged});
  server_->Start();
  RunResult ls = device_->Run({"ls"});
  EXPECT_EQ(ls.exit_code, 3);
  EXPECT_NE(ls.err.find("device chain entry 1"), std::string::npos) << ls.err;
  RunResult list = device_->Run({"device", "list"});
  EXPECT_EQ(list.exit_code, 3);
}

TEST_F(TamperTest, G8KilledServerKeepsAcknowledgedDataAndPutResumesWithoutResending) {
  for (int i = 0; i < 12; ++i) WriteRandomFile(tmp_.path() / "big" / ("part" + std::to_string(i) + ".bin"), 12 << 20, 100 + i);
  fs::path out = tmp_.path() / "put.out";
  pid_t pid = device_->Spawn({"--json", "put", (tmp_.path() / "big").string(), "/"}, out);
  // Let part of the upload happen, then crash the server.
  for (int i = 0; i < 200; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
    if (fs::exists(server_->data_dir() / "blobs") && !Sql(Db(), "SELECT count(*) FROM chunks").empty() &&
        std::stoi(Sql(Db(), "SELECT count(*) FROM chunks")[0]) > 150) break;
  }
  server_->Kill();
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_NE(WEXITSTATUS(status), 0) << "the put should have failed when the server died";
  server_->Start();
  const int stored = std::stoi(Sql(Db(), "SELECT count(*) FROM chunks")[0]);
  EXPECT_GT(stored, 0);
  RunResult verify = device_->Run({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
  RunResult again = device_->Run({"--json", "put", (tmp_.path() / "big").string(), "/"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  const int total = std::stoi(Sql(Db(), "SELECT count(*) FROM chunks")[0]);
  const std::string uploaded = again.out.substr(again.out.find("\"chunks_uploaded\":") + 18);
  EXPECT_EQ(std::stoi(uploaded), total - stored) << again.out;
  RunResult get = device_->Run({"get", "/big", (tmp_.path() / "big-back").string()});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(CompareTrees(tmp_.path() / "big", tmp_.path() / "big-back"), "");
}

}  // namespace
}  // namespace coffer::e2e

namespace coffer::e2e {
namespace {

TEST(Checkpoint, NewDeviceStartsFromAVerifiedCheckpointAndRefusesATamperedOne) {
  TempDir tmp;
  Server server(tmp.path() / "server");
  server.Start();
  const std::map<std::string, std::string> every2 = {{"COFFER_CHECKPOINT_EVERY", "2"}};
  Device d(tmp.path() / "home", server.url());
  ASSERT_EQ(d.Run({"account", "create", "--email", "cp@example.org", "--recovery-key-file", (tmp.path() / "rk").string()},
                  every2).exit_code, 0);
  for (int i = 0; i < 3; ++i) {
    const fs::path f = tmp.path() / "src" / ("file" + std::to_string(i) + ".txt");
    WriteFile(f, "content " + std::to_string(i));
    ASSERT_EQ(d.Run({"put", f.string(), "/docs"}, every2).exit_code, 0);
  }
  const fs::path db = server.data_dir() / "meta.sqlite";
  auto cps = Sql(db, "SELECT number FROM checkpoints");
  ASSERT_EQ(cps.size(), 1u) << "a checkpoint should have been written";

  auto recover = [&](const std::string& name) {
    Device fresh(tmp.path() / ("home-" + name), server.url());
    RunResult r = fresh.Run({"recover", "--email", "cp@example.org", "--recovery-key-file", (tmp.path() / "rk").string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return fresh;
  };
  Device good = recover("good");
  RunResult ls = good.Run({"ls", "/docs"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_NE(ls.out.find("file2.txt"), std::string::npos) << ls.out;
  EXPECT_EQ(good.Run({"verify"}).exit_code, 0);

  server.Stop();
  std::string cp = Sql(db, "SELECT data FROM checkpoints")[0];
  cp[cp.size() / 2] ^= 0x10;
  Sql(db, "UPDATE checkpoints SET data = ?", {cp});
  server.Start();
  Device bad(tmp.path() / "home-bad", server.url());
  RunResult r = bad.Run({"recover", "--email", "cp@example.org", "--recovery-key-file", (tmp.path() / "rk").string()});
  RunResult bad_ls = bad.Run({"ls", "/docs"});
  EXPECT_EQ(bad_ls.exit_code, 3) << r.err << bad_ls.err;
  EXPECT_NE(bad_ls.err.find("checkpoint"), std::string::npos) << bad_ls.err;
}

}  // namespace
}  // namespace coffer::e2e
