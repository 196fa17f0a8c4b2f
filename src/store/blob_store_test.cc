#include "store/blob_store.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "store/testing/store_test_util.h"

namespace coffer::store {
namespace {

TEST(ValidateBlobKeyTest, AcceptsServerKeysAndEveryAllowedCharacter) {
  for (const std::string& key : std::vector<std::string>{
           "0123456789abcdef0123456789abcdef/" + std::string(64, 'a'), "a", "a/b", "a/b/c",
           "abcdefghijklmnopqrstuvwxyz0123456789_-", "_/-", std::string(200, 'x')}) {
    STORE_EXPECT_OK(ValidateBlobKey(key));
  }
}

TEST(ValidateBlobKeyTest, RejectsEverythingElse) {
  const std::vector<std::string> bad = {"",
                                        "/a",
                                        "a/",
                                        "/",
                                        "a//b",
                                        "..",
                                        ".",
                                        "a/../b",
                                        "a/./b",
                                        "a/.hidden",
                                        "a.b",
                                        "A",
                                        "a/B",
                                        "a b",
                                        "a\tb",
                                        "a\\b",
                                        "a:b",
                                        "a%2fb",
                                        "a+b",
                                        "é",
                                        "a\nb",
                                        std::string("a\0b", 3),
                                        std::string(201, 'x')};
  for (const std::string& key : bad) STORE_EXPECT_CODE(ValidateBlobKey(key), kInvalidArgument);
}

TEST(ValidateBlobKeyTest, MessageNamesTheKeySafely) {
  Status s = ValidateBlobKey("bad\nkey.x");
  EXPECT_NE(s.message().find("\"bad\\x0akey.x\""), std::string::npos) << s.message();
  Status long_key = ValidateBlobKey(std::string(1000, 'q') + ".");
  EXPECT_LT(long_key.message().size(), 200u) << "an attacker-sized key must not bloat the log line";
}

TEST(ValidateBlobKeyPrefixTest, AcceptsAnyLeadingPartOfAValidKey) {
  for (const std::string& prefix :
       std::vector<std::string>{"", "a", "a/", "a/b", "a/b/", std::string(200, 'x')}) {
    STORE_EXPECT_OK(ValidateBlobKeyPrefix(prefix));
  }
}

TEST(ValidateBlobKeyPrefixTest, RejectsPrefixesNoKeyCanHave) {
  for (const std::string& prefix :
       std::vector<std::string>{"/", "/a", "a//", "../", "..", "a.", "A", "a b", std::string(201, 'x')}) {
    STORE_EXPECT_CODE(ValidateBlobKeyPrefix(prefix), kInvalidArgument);
  }
}

}  // namespace
}  // namespace coffer::store
