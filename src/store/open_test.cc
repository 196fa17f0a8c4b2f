#include "store/open.h"

#include <gtest/gtest.h>

#include <string>

#include "store/testing/store_test_util.h"

namespace coffer::store {
namespace {

TEST(OpenMetaStoreTest, OpensSqliteByAbsolutePath) {
  const std::string path = testing::NewTempDir("open") + "/meta.sqlite";
  STORE_ASSERT_OK_AND_ASSIGN(std::unique_ptr<MetaStore> store, OpenMetaStore("sqlite://" + path));
  STORE_EXPECT_OK(store->PutSetting("x", AsBytes("y")));
  store.reset();
  // The URL reaches the same file again.
  STORE_ASSERT_OK_AND_ASSIGN(std::unique_ptr<MetaStore> again, OpenMetaStore("sqlite://" + path));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes value, again->GetSetting("x"));
  EXPECT_EQ(value, ToBytes("y"));
}

TEST(OpenMetaStoreTest, RejectsUnsupportedAndMalformedUrls) {
  for (const char* url : {"mysql://db.example.com/coffer", "mysql:///x", "/abs/meta.sqlite", "",
                          "sqlite:", "sqlite://", "sqlite:///", "sqlite://relative/meta.sqlite",
                          "SQLITE:///abs/meta.sqlite", "sqlite:///abs/meta.sqlite?mode=ro"}) {
    auto store = OpenMetaStore(url);
    STORE_EXPECT_CODE(store, kInvalidArgument);
  }
  Status s = OpenMetaStore("mysql://user:pw@db/coffer").status();
  EXPECT_NE(s.message().find("supported: sqlite://"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("postgresql://"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("\"mysql\""), std::string::npos) << s.message();
  EXPECT_EQ(s.message().find("pw"), std::string::npos) << s.message();  // a password is never echoed
}

TEST(OpenMetaStoreTest, ReportsEngineErrors) {
  STORE_EXPECT_CODE(OpenMetaStore("sqlite:///nonexistent-dir-for-coffer-test/sub/meta.sqlite"), kUnavailable);
}

TEST(OpenBlobStoreTest, OpensLocalDirectoryByAbsolutePath) {
  const std::string dir = testing::NewTempDir("open") + "/blobs";
  STORE_ASSERT_OK_AND_ASSIGN(std::unique_ptr<BlobStore> store, OpenBlobStore("file://" + dir));
  STORE_ASSERT_OK(store->Put("acct/chunk", AsBytes("data")));
  STORE_ASSERT_OK_AND_ASSIGN(std::unique_ptr<BlobStore> again, OpenBlobStore("file://" + dir + "/"));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes value, again->Get("acct/chunk"));
  EXPECT_EQ(value, ToBytes("data"));
}

TEST(OpenBlobStoreTest, RejectsUnsupportedAndMalformedUrls) {
  for (const char* url : {"gopher://bucket/prefix", "/abs/dir", "", "file:", "file://", "file:///",
                          "file://host/dir", "file:relative"}) {
    STORE_EXPECT_CODE(OpenBlobStore(url), kInvalidArgument);
  }
  Status s = OpenBlobStore("gopher://bucket").status();
  EXPECT_NE(s.message().find("file://"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("s3://"), std::string::npos) << s.message();
  // An S3 URL without its endpoint is refused before any network traffic.
  STORE_EXPECT_CODE(OpenBlobStore("s3://bucket"), kInvalidArgument);
}

}  // namespace
}  // namespace coffer::store
