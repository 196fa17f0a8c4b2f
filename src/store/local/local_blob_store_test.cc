#include "store/local/local_blob_store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "store/testing/blob_store_conformance.h"
#include "store/testing/store_test_util.h"

namespace coffer::store {
namespace {

namespace fs = std::filesystem;
using testing::NewTempDir;
using testing::TestBytes;

StatusOr<std::unique_ptr<BlobStore>> MakeEmptyLocalStore() {
  COFFER_ASSIGN_OR_RETURN(std::unique_ptr<LocalBlobStore> store, LocalBlobStore::Open(NewTempDir("local")));
  return std::unique_ptr<BlobStore>(std::move(store));
}

COFFER_INSTANTIATE_BLOB_STORE_CONFORMANCE(Local, testing::BlobStoreFixture{"Local", MakeEmptyLocalStore});

const std::string kAccount = "0123456789abcdef0123456789abcdef";
const std::string kChunk = "abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789";
const std::string kKey = kAccount + "/" + kChunk;

Bytes ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return Bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void WriteFile(const std::string& path, ByteView data) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
}

std::vector<std::string> FilesUnder(const std::string& dir) {
  std::vector<std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) out.push_back(fs::relative(e.path(), dir).string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

TEST(LocalBlobStoreTest, LayoutIsPrefixThenTwoCharacterShardThenName) {
  const std::string dir = NewTempDir("layout");
  STORE_ASSERT_OK_AND_ASSIGN(auto store, LocalBlobStore::Open(dir));
  STORE_ASSERT_OK(store->Put(kKey, AsBytes("chunk")));
  STORE_ASSERT_OK(store->Put("a/b/cd", AsBytes("nested")));
  STORE_ASSERT_OK(store->Put("solo", AsBytes("no prefix")));
  STORE_ASSERT_OK(store->Put("x/y", AsBytes("short name")));
  EXPECT_EQ(FilesUnder(dir), (std::vector<std::string>{
                                 kAccount + "/ab/" + kChunk,
                                 "@root/so/solo",
                                 "a.b/cd/cd",
                                 "x/y/y",
                             }));
  EXPECT_EQ(ReadFile(dir + "/" + kAccount + "/ab/" + kChunk), ToBytes("chunk"));
  EXPECT_EQ(store->PathForKey(kKey), dir + "/" + kAccount + "/ab/" + kChunk);
}

TEST(LocalBlobStoreTest, DataSurvivesReopen) {
  const std::string dir = NewTempDir("reopen");
  {
    STORE_ASSERT_OK_AND_ASSIGN(auto store, LocalBlobStore::Open(dir));
    STORE_ASSERT_OK(store->Put(kKey, TestBytes(5000, 1)));
  }
  STORE_ASSERT_OK_AND_ASSIGN(auto store, LocalBlobStore::Open(dir + "/"));  // trailing '/' is fine
  STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store->Get(kKey));
  EXPECT_EQ(got, TestBytes(5000, 1));
}

TEST(LocalBlobStoreTest, StrayTempFilesAreIgnoredAndRemovedOnOpen) {
  // What a crash between creating the temp file and renaming it leaves behind.
  const std::string dir = NewTempDir("stray");
  STORE_ASSERT_OK_AND_ASSIGN(auto store, LocalBlobStore::Open(dir));
  STORE_ASSERT_OK(store->Put(kKey, TestBytes(100, 1)));
  const std::string shard = dir + "/" + kAccount + "/ab";
  WriteFile(shard + "/" + kChunk + ".tmp-999-0", TestBytes(37, 2));  // partial replacement
  const std::string other = "abff00";
  WriteFile(shard + "/" + other + ".tmp-999-1", TestBytes(10, 3));  // partial new blob

  STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store->Get(kKey));
  EXPECT_EQ(got, TestBytes(100, 1));
  STORE_ASSERT_OK_AND_ASSIGN(bool exists, store->Exists(kAccount + "/" + other));
  EXPECT_FALSE(exists);
  std::vector<std::string> listed;
  STORE_ASSERT_OK(store->List("", [&](const std::string& k) {
    listed.push_back(k);
    return true;
  }));
  EXPECT_EQ(listed, std::vector<std::string>{kKey});

  store.reset();
  STORE_ASSERT_OK_AND_ASSIGN(auto reopened, LocalBlobStore::Open(dir));
  EXPECT_EQ(FilesUnder(dir), std::vector<std::string>{kAccount + "/ab/" + kChunk});
  STORE_ASSERT_OK_AND_ASSIGN(Bytes after, reopened->Get(kKey));
  EXPECT_EQ(after, TestBytes(100, 1));
}

TEST(LocalBlobStoreTest, OpenLeavesForeignFilesAlone) {
  const std::string dir = NewTempDir("foreign");
  fs::create_directories(dir + "/lost+found");
  WriteFile(dir + "/lost+found/x.tmp-1", AsBytes("not ours"));
  WriteFile(dir + "/README", AsBytes("operator notes"));
  STORE_ASSERT_OK_AND_ASSIGN(auto store, LocalBlobStore::Open(dir));
  EXPECT_TRUE(fs::exists(dir + "/lost+found/x.tmp-1"));
  EXPECT_TRUE(fs::exists(dir + "/README"));
  int listed = 0;
  STORE_ASSERT_OK(store->List("", [&](const std::string&) { return ++listed, true; }));
  EXPECT_EQ(listed, 0);
}

TEST(LocalBlobStoreTest, KillDuringPutLeavesTheOldOrTheNewBlob) {
  // A child process overwrites one key with alternating 2 MiB values and is killed with
  // SIGKILL at a random moment, often mid-write. The key must then hold one of the values
  // in full, and reopening must remove the half-written temp file.
  const std::string dir = NewTempDir("kill");
  const std::vector<Bytes> values = {TestBytes(2 << 20, 1), TestBytes(2 << 20, 2),
                                     TestBytes((2 << 20) + 1, 3)};
  {
    STORE_ASSERT_OK_AND_ASSIGN(auto store, LocalBlobStore::Open(dir));
    STORE_ASSERT_OK(store->Put(kKey, values[0]));
  }
  std::mt19937 rng(777);
  for (int round = 0; round < 8; ++round) {
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      auto store = LocalBlobStore::Open(dir);
      if (!store.ok()) ::_exit(2);
      for (size_t i = 1;; ++i) {
        if (!(*store)->Put(kKey, values[i % values.size()]).ok()) ::_exit(2);
      }
    }
    ::usleep(static_cast<useconds_t>(5000 + rng() % 60000));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited early with " << WEXITSTATUS(status);

    STORE_ASSERT_OK_AND_ASSIGN(auto store, LocalBlobStore::Open(dir));
    STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store->Get(kKey));
    EXPECT_TRUE(std::find(values.begin(), values.end(), got) != values.end())
        << "round " << round << ": blob of " << got.size() << " bytes is neither old nor new";
    EXPECT_EQ(FilesUnder(dir), std::vector<std::string>{kAccount + "/ab/" + kChunk}) << "round " << round;
  }
}

TEST(LocalBlobStoreTest, OpenCreatesMissingParents) {
  const std::string dir = NewTempDir("parents") + "/a/b/c";
  STORE_ASSERT_OK_AND_ASSIGN(auto store, LocalBlobStore::Open(dir));
  STORE_ASSERT_OK(store->Put(kKey, AsBytes("x")));
  EXPECT_TRUE(fs::is_directory(dir));
}

TEST(LocalBlobStoreTest, OpenRejectsAFileAndAnEmptyPath) {
  const std::string file = NewTempDir("file") + "/not-a-dir";
  WriteFile(file, AsBytes("x"));
  STORE_EXPECT_CODE(LocalBlobStore::Open(file), kInvalidArgument);
  STORE_EXPECT_CODE(LocalBlobStore::Open(""), kInvalidArgument);
}

TEST(LocalBlobStoreTest, IoErrorsAreUnavailableWithTheReason) {
  if (::geteuid() == 0) GTEST_SKIP() << "root ignores file permissions";
  const std::string dir = NewTempDir("readonly");
  STORE_ASSERT_OK_AND_ASSIGN(auto store, LocalBlobStore::Open(dir));
  STORE_ASSERT_OK(store->Put(kKey, AsBytes("x")));
  ::chmod((dir + "/" + kAccount + "/ab").c_str(), 0500);
  Status s = store->Put(kKey, AsBytes("y"));
  ::chmod((dir + "/" + kAccount + "/ab").c_str(), 0700);
  STORE_EXPECT_CODE(s, kUnavailable);
  EXPECT_NE(s.message().find("Permission denied"), std::string::npos) << s.ToString();
  EXPECT_NE(s.message().find(kKey), std::string::npos) << s.ToString();
}

TEST(LocalBlobStoreTest, AFileWhereADirectoryBelongsIsAnErrorNotACrash) {
  // Damage by an operator: the shard directory replaced by a file.
  const std::string dir = NewTempDir("damaged");
  STORE_ASSERT_OK_AND_ASSIGN(auto store, LocalBlobStore::Open(dir));
  fs::create_directories(dir + "/" + kAccount);
  WriteFile(dir + "/" + kAccount + "/ab", AsBytes("junk"));
  STORE_EXPECT_CODE(store->Put(kKey, AsBytes("x")), kUnavailable);
  STORE_EXPECT_CODE(store->Get(kKey), kNotFound);
  STORE_ASSERT_OK_AND_ASSIGN(bool exists, store->Exists(kKey));
  EXPECT_FALSE(exists);
  STORE_EXPECT_OK(store->Delete(kKey));
  STORE_EXPECT_OK(store->List("", [](const std::string&) { return true; }));
}

}  // namespace
}  // namespace coffer::store
