// End-to-end tests of the core: real coffer-server and coffer processes on loopback.
// Each test names the guarantee of DESIGN.md it pins down.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <thread>

#include "harness.h"

namespace coffer::e2e {
namespace {

class CoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>(tmp_.path() / "server");
    server_->Start();
  }

  Device NewDevice(const std::string& name) { return Device(tmp_.path() / ("home-" + name), server_->url()); }

  // Creates the account on `d`; returns the recovery key file.
  fs::path CreateAccount(const Device& d, const std::string& email = "alice@example.org") {
    fs::path rk = tmp_.path() / "recovery.txt";
    RunResult r = d.Run({"account", "create", "--email", email, "--device-name", "laptop", "--recovery-key-file",
                         rk.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return rk;
  }

  // Links `fresh` by approving it from `enrolled`.
  void Link(const Device& enrolled, const Device& fresh, const std::string& email = "alice@example.org") {
    fs::path out = tmp_.path() / "link.out";
    pid_t pid = fresh.Spawn({"--json", "device", "link", "--email", email, "--name", "phone", "--timeout", "60"}, out);
    std::string code;
    for (int i = 0; i < 600 && code.empty(); ++i) {
      code = JsonField(ReadFile(out), "pairing_code");
      if (code.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(code.empty()) << ReadFile(out) << ReadFile(out.string() + ".err");
    RunResult a = enrolled.Run({"device", "approve", code});
    EXPECT_EQ(a.exit_code, 0) << a.err;
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(out) << ReadFile(out.string() + ".err");
  }

  // A sample tree: nested folders, an empty file, an empty folder, odd names.
  fs::path MakeSampleTree(const std::string& name) {
    fs::path root = tmp_.path() / name;
    WriteFile(root / "docs" / "report 2026.txt", "quarterly numbers\n");
    WriteFile(root / "docs" / "deep" / "er" / "notes.md", "# notes\n");
    WriteFile(root / "photos" / "Zürich – été.jpg", std::string(300000, 'x') + "jpegish");
    WriteRandomFile(root / "photos" / "raw.bin", 3 << 20, 42);
    WriteFile(root / "empty.txt", "");
    fs::create_directories(root / "empty folder");
    ::chmod((root / "docs" / "report 2026.txt").c_str(), 0640);
    return root;
  }

  TempDir tmp_;
  std::unique_ptr<Server> server_;
};

TEST_F(CoreTest, MainJourneyPairRecoverAndOnlyCiphertextOnServer) {
  Device laptop = NewDevice("laptop");
  fs::path rk = CreateAccount(laptop);
  fs::path tree = MakeSampleTree("Sample");
  RunResult put = laptop.Run({"put", tree.string(), "/"});
  ASSERT_EQ(put.exit_code, 0) << put.err;

  // A second device approved by the first gets everything back.
  Device phone = NewDevice("phone");
  Link(laptop, phone);
  RunResult get = phone.Run({"get", "/Sample", (tmp_.path() / "on-phone").string()});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(CompareTrees(tree, tmp_.path() / "on-phone"), "");
  RunResult list = laptop.Run({"--json", "device", "list"});
  EXPECT_NE(list.out.find("phone"), std::string::npos);

  // Both devices lost: the recovery key alone brings everything back.
  fs::remove_all(laptop.home());
  fs::remove_all(phone.home());
  Device wrong = NewDevice("wrong");
  RunResult bad = wrong.Run({"recover", "--email", "alice@example.org", "--name", "x"},
                            {{"COFFER_RECOVERY_KEY", "AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA-AAAAA"}});
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_FALSE(bad.err.empty());
  Device fresh = NewDevice("fresh");
  RunResult rec = fresh.Run({"recover", "--email", "alice@example.org", "--recovery-key-file", rk.string(), "--name", "new"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  RunResult back = fresh.Run({"get", "/Sample", (tmp_.path() / "recovered").string()});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(CompareTrees(tree, tmp_.path() / "recovered"), "");
  RunResult verify = fresh.Run({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
}

TEST_F(CoreTest, G1NoPlaintextNameOrContentReachesTheServer) {
  Device d = NewDevice("a");
  CreateAccount(d, "marker-owner@example.org");
  fs::path root = tmp_.path() / "MarkerFolderQX7";
  WriteFile(root / "MarkerFileNameZK4.txt", "MARKERCONTENT_9f3b small inline content");
  WriteFile(root / "sub" / "MarkerNestedNameW2.doc", std::string(200000, 'a') + "MARKERCONTENT_BIG_7c1" + std::string(200000, 'b'));
  ASSERT_EQ(d.Run({"put", root.string(), "/MarkerRemoteDirJ8"}).exit_code, 0);
  ASSERT_EQ(d.Run({"mv", "/MarkerRemoteDirJ8/MarkerFolderQX7/sub", "/MarkerRenamedV5"}).exit_code, 0);
  server_->Stop();  // flush the WAL so every byte is on disk
  for (const std::string marker : {"MarkerFolderQX7", "MarkerFileNameZK4", "MARKERCONTENT_9f3b", "MarkerNestedNameW2",
                                   "MARKERCONTENT_BIG_7c1", "MarkerRemoteDirJ8", "MarkerRenamedV5", "laptop"}) {
    EXPECT_EQ(FindBytes(server_->data_dir(), marker), "") << "marker " << marker << " found on the server";
  }
}

TEST_F(CoreTest, G2FlippedOrSwappedChunkIsRefusedWithoutPartialOutput) {
  Device d = NewDevice("a");
  CreateAccount(d);
  fs::path src = tmp_.path() / "src";
  WriteRandomFile(src / "a.bin", 2 << 20, 1);
  WriteRandomFile(src / "b.bin", 2 << 20, 2);
  ASSERT_EQ(d.Run({"put", src.string(), "/"}).exit_code, 0);
  std::vector<fs::path> chunks;
  for (auto& e : fs::recursive_directory_iterator(server_->data_dir() / "blobs"))
    if (e.is_regular_file()) chunks.push_back(e.path());
  ASSERT_GE(chunks.size(), 1u);  // chunks uploaded together share one pack blob

  // Bit flip in the middle of a stored blob: inside one chunk's bytes.
  std::string original = ReadFile(chunks[0]);
  std::string flipped = original;
  flipped[flipped.size() / 2] ^= 0x01;
  WriteFile(chunks[0], flipped);
  fs::path out = tmp_.path() / "out";
  fs::create_directories(out);
  RunResult get = d.Run({"get", "/src", out.string()});
  EXPECT_EQ(get.exit_code, 3) << get.err;
  EXPECT_NE(get.err.find("chunk"), std::string::npos) << get.err;
  for (auto& e : fs::recursive_directory_iterator(out)) {
    EXPECT_TRUE(e.path().filename().string().find(".part") == std::string::npos) << "partial file " << e.path();
  }
  RunResult verify = d.Run({"verify"});
  EXPECT_EQ(verify.exit_code, 3);
  EXPECT_NE(verify.err.find("chunk"), std::string::npos) << verify.err;

  // The server noticed its own damaged copy too, and now lists the chunk as missing.
  RunResult again = d.Run({"get", "/src", (tmp_.path() / "again").string()});
  EXPECT_EQ(again.exit_code, 3);
}

TEST_F(CoreTest, G3RolledBackServerIsDetected) {
  Device d = NewDevice("a");
  CreateAccount(d);
  WriteFile(tmp_.path() / "one.txt", "first");
  ASSERT_EQ(d.Run({"put", (tmp_.path() / "one.txt").string(), "/"}).exit_code, 0);
  server_->Stop();
  CopyTree(server_->data_dir(), tmp_.path() / "snapshot");
  server_->Start();
  WriteFile(tmp_.path() / "two.txt", "second");
  ASSERT_EQ(d.Run({"put", (tmp_.path() / "two.txt").string(), "/"}).exit_code, 0);
  ASSERT_EQ(d.Run({"ls"}).exit_code, 0);
  server_->Stop();
  fs::remove_all(server_->data_dir());
  CopyTree(tmp_.path() / "snapshot", server_->data_dir());
  server_->Start();
  RunResult ls = d.Run({"ls"});
  EXPECT_EQ(ls.exit_code, 3);
  EXPECT_NE(ls.err.find("rollback"), std::string::npos) << ls.err;
}

TEST_F(CoreTest, G7RevokedDeviceCannotLogInOrReadNewFiles) {
  Device laptop = NewDevice("laptop");
  CreateAccount(laptop);
  Device phone = NewDevice("phone");
  Link(laptop, phone);
  ASSERT_EQ(phone.Run({"ls"}).exit_code, 0);
  RunResult list = phone.Run({"--json", "status"});
  std::string phone_id = JsonField(list.out, "device_id");
  ASSERT_FALSE(phone_id.empty()) << list.out;
  RunResult revoke = laptop.Run({"device", "revoke", phone_id});
  ASSERT_EQ(revoke.exit_code, 0) << revoke.err;
  WriteFile(tmp_.path() / "after.txt", "written after the revocation");
  ASSERT_EQ(laptop.Run({"put", (tmp_.path() / "after.txt").string(), "/"}).exit_code, 0);
  RunResult ls = phone.Run({"ls"});
  EXPECT_EQ(ls.exit_code, 4) << ls.err;
  RunResult get = phone.Run({"get", "/after.txt", (tmp_.path() / "stolen.txt").string()});
  EXPECT_NE(get.exit_code, 0);
  EXPECT_FALSE(fs::exists(tmp_.path() / "stolen.txt"));
  RunResult login = phone.Run({"login"});
  EXPECT_NE(login.exit_code, 0);
  // The laptop still reads everything, old and new.
  RunResult get_ok = laptop.Run({"get", "/after.txt", (tmp_.path() / "ok.txt").string()});
  EXPECT_EQ(get_ok.exit_code, 0) << get_ok.err;
  EXPECT_EQ(laptop.Run({"verify"}).exit_code, 0);
}

TEST_F(CoreTest, VersionsTrashMoveAndRestore) {
  Device d = NewDevice("a");
  CreateAccount(d);
  fs::path f = tmp_.path() / "doc.txt";
  WriteFile(f, "version one");
  ASSERT_EQ(d.Run({"put", f.string(), "/"}).exit_code, 0);
  WriteFile(f, "version two, longer");
  ASSERT_EQ(d.Run({"put", f.string(), "/"}).exit_code, 0);
  RunResult v = d.Run({"--json", "versions", "/doc.txt"});
  EXPECT_NE(v.out.find("\"version\":2"), std::string::npos) << v.out;
  ASSERT_EQ(d.Run({"restore", "/doc.txt", "--version", "1"}).exit_code, 0);
  ASSERT_EQ(d.Run({"get", "/doc.txt", (tmp_.path() / "back.txt").string()}).exit_code, 0);
  EXPECT_EQ(ReadFile(tmp_.path() / "back.txt"), "version one");
  ASSERT_EQ(d.Run({"mkdir", "-p", "/a/b"}).exit_code, 0);
  ASSERT_EQ(d.Run({"mv", "/doc.txt", "/a/b"}).exit_code, 0);
  EXPECT_NE(d.Run({"ls", "/a/b"}).out.find("doc.txt"), std::string::npos);
  ASSERT_EQ(d.Run({"rm", "/a"}).exit_code, 0);
  EXPECT_EQ(d.Run({"ls", "/a"}).exit_code, 1);
  EXPECT_NE(d.Run({"trash", "list"}).out.find("/a"), std::string::npos);
  ASSERT_EQ(d.Run({"trash", "restore", "/a"}).exit_code, 0);
  EXPECT_NE(d.Run({"ls", "/a/b"}).out.find("doc.txt"), std::string::npos);
  ASSERT_EQ(d.Run({"rm", "/a"}).exit_code, 0);
  RunResult empty = d.Run({"--json", "trash", "empty"});
  EXPECT_EQ(empty.exit_code, 0) << empty.err;
  EXPECT_EQ(d.Run({"trash"}).out.find("/a"), std::string::npos);
  RunResult missing = d.Run({"get", "/nope", (tmp_.path() / "x").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("no such remote file"), std::string::npos);
}

}  // namespace
}  // namespace coffer::e2e

namespace coffer::e2e {
namespace {

TEST(Quota, PutOverQuotaFailsClearlyAndCommitsNothing) {
  TempDir tmp;
  Server server(tmp.path() / "server", {"--quota-bytes", "1000000"});
  server.Start();
  Device d(tmp.path() / "home", server.url());
  ASSERT_EQ(d.Run({"account", "create", "--email", "q@example.org", "--recovery-key-file", (tmp.path() / "rk").string()})
                .exit_code, 0);
  WriteRandomFile(tmp.path() / "src" / "big.bin", 3 << 20, 5);
  RunResult put = d.Run({"put", (tmp.path() / "src" / "big.bin").string(), "/"});
  EXPECT_EQ(put.exit_code, 1) << put.err;
  EXPECT_NE(put.err.find("quota"), std::string::npos) << put.err;
  RunResult ls = d.Run({"ls"});
  EXPECT_EQ(ls.exit_code, 0);
  EXPECT_EQ(ls.out.find("big.bin"), std::string::npos) << "nothing may be committed";
  WriteFile(tmp.path() / "src2" / "small.txt", "fits");
  EXPECT_EQ(d.Run({"put", (tmp.path() / "src2" / "small.txt").string(), "/"}).exit_code, 0);
  EXPECT_EQ(d.Run({"verify"}).exit_code, 0);
}

}  // namespace
}  // namespace coffer::e2e
