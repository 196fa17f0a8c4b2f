#include "crypto/password.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>

#include <optional>
#include <string>

#include "crypto/test_matchers.h"

namespace coffer::crypto {
namespace {

using ::coffer::crypto::testing::IsOk;
using ::coffer::crypto::testing::StatusIs;
using ::testing::HasSubstr;

// Every test here runs with the floor parameters: Argon2id's cost is the point of the
// algorithm and not what these tests check.
constexpr KdfParams kFloorParams = {.ops_limit = kMinOpsLimit, .mem_limit = kMinMemLimit};

SecretBytes Password(std::string_view text) { return SecretBytes::FromBytes(AsBytes(text)); }

// Sets (or with nullptr clears) COFFER_TEST_FAST_KDF for one test, then restores it.
class ScopedFastKdf {
 public:
  explicit ScopedFastKdf(const char* value) {
    if (const char* old = getenv(kName)) saved_ = old;
    Set(value);
  }
  ~ScopedFastKdf() { Set(saved_ ? saved_->c_str() : nullptr); }
  ScopedFastKdf(const ScopedFastKdf&) = delete;
  ScopedFastKdf& operator=(const ScopedFastKdf&) = delete;

 private:
  static constexpr const char* kName = "COFFER_TEST_FAST_KDF";
  static void Set(const char* value) {
    if (value != nullptr) {
      setenv(kName, value, /*overwrite=*/1);
    } else {
      unsetenv(kName);
    }
  }
  std::optional<std::string> saved_;
};

TEST(DefaultKdfParamsTest, ProductionDefaults) {
  ScopedFastKdf env(nullptr);
  const KdfParams params = DefaultKdfParams();
  EXPECT_EQ(params.ops_limit, 3u);
  EXPECT_EQ(params.mem_limit, 64ull << 20);
}

TEST(DefaultKdfParamsTest, FastKdfLowersToTheFloorOnly) {
  ScopedFastKdf env("1");
  const KdfParams params = DefaultKdfParams();
  EXPECT_EQ(params.ops_limit, kMinOpsLimit);
  EXPECT_EQ(params.mem_limit, kMinMemLimit);
}

TEST(DefaultKdfParamsTest, OtherValuesAreIgnored) {
  ScopedFastKdf env("0");
  EXPECT_EQ(DefaultKdfParams().mem_limit, 64ull << 20);
}

TEST(DerivePasswordKeyTest, DeterministicForSameInputs) {
  const Bytes salt = RandomBytes(kPasswordSaltBytes);
  const auto a = DerivePasswordKey(Password("correct horse"), salt, kFloorParams);
  const auto b = DerivePasswordKey(Password("correct horse"), salt, kFloorParams);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->size(), 32u);
  EXPECT_TRUE(*a == *b);
}

TEST(DerivePasswordKeyTest, DependsOnPasswordSaltParamsAndLength) {
  const Bytes salt = RandomBytes(kPasswordSaltBytes);
  const auto base = DerivePasswordKey(Password("correct horse"), salt, kFloorParams);
  ASSERT_THAT(base, IsOk());
  const auto other_password = DerivePasswordKey(Password("correct horsE"), salt, kFloorParams);
  const auto other_salt = DerivePasswordKey(Password("correct horse"), RandomBytes(16), kFloorParams);
  const auto other_ops =
      DerivePasswordKey(Password("correct horse"), salt, {.ops_limit = 3, .mem_limit = kMinMemLimit});
  const auto longer = DerivePasswordKey(Password("correct horse"), salt, kFloorParams, 64);
  ASSERT_THAT(other_password, IsOk());
  ASSERT_THAT(other_salt, IsOk());
  ASSERT_THAT(other_ops, IsOk());
  ASSERT_THAT(longer, IsOk());
  EXPECT_FALSE(*base == *other_password);
  EXPECT_FALSE(*base == *other_salt);
  EXPECT_FALSE(*base == *other_ops);
  EXPECT_EQ(longer->size(), 64u);
}

TEST(DerivePasswordKeyTest, EmptyPasswordWorks) {
  const auto key = DerivePasswordKey(SecretBytes(), RandomBytes(kPasswordSaltBytes), kFloorParams);
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(key->size(), 32u);
}

TEST(DerivePasswordKeyTest, KnownAnswer) {
  // Argon2id v1.3, t=2, m=16 MiB, p=1, 32-byte tag, from the reference implementation's CLI
  // (Debian package argon2):
  //   echo -n password | argon2 coffer-salt-0001 -id -t 2 -m 14 -p 1 -l 32 -r
  const Bytes salt = ToBytes("coffer-salt-0001");
  const auto key = DerivePasswordKey(Password("password"), salt, kFloorParams);
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(HexEncode(key->Reveal(SecretAccess::Get())),
            "314f56f39afcb498ab4104c4b64fb2f5914f4604e981eee239f4ad7fb4b4ce61");
}

TEST(DerivePasswordKeyTest, FloorsAreEnforced) {
  const Bytes salt = RandomBytes(kPasswordSaltBytes);
  const auto low_ops =
      DerivePasswordKey(Password("pw"), salt, {.ops_limit = kMinOpsLimit - 1, .mem_limit = kMinMemLimit});
  EXPECT_THAT(low_ops, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(low_ops.status().message(), HasSubstr("floor of 2"));
  const auto low_mem =
      DerivePasswordKey(Password("pw"), salt, {.ops_limit = kMinOpsLimit, .mem_limit = kMinMemLimit - 1});
  EXPECT_THAT(low_mem, StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(low_mem.status().message(), HasSubstr("floor of 16777216"));
  EXPECT_THAT(DerivePasswordKey(Password("pw"), salt, {.ops_limit = 0, .mem_limit = 0}),
              StatusIs(StatusCode::kInvalidArgument));
}

TEST(DerivePasswordKeyTest, BadSaltAndOutputSizesAreRefused) {
  for (size_t size : {0, 8, 15, 17, 32}) {
    EXPECT_THAT(DerivePasswordKey(Password("pw"), Bytes(size), kFloorParams),
                StatusIs(StatusCode::kInvalidArgument))
        << "salt size " << size;
  }
  EXPECT_THAT(DerivePasswordKey(Password("pw"), Bytes(16), kFloorParams, 15),
              StatusIs(StatusCode::kInvalidArgument));
}

class StoredHashTest : public ::testing::Test {
 protected:
  ScopedFastKdf env_{"1"};
};

TEST_F(StoredHashTest, AcceptsRightAndRejectsWrong) {
  const Bytes verifier = RandomBytes(32);
  const auto stored = HashForStorage(verifier);
  ASSERT_THAT(stored, IsOk());
  EXPECT_EQ(stored->rfind("$argon2id$", 0), 0u) << *stored;
  EXPECT_TRUE(VerifyStored(*stored, verifier));

  Bytes wrong = verifier;
  wrong[0] ^= 1;
  EXPECT_FALSE(VerifyStored(*stored, wrong));
  EXPECT_FALSE(VerifyStored(*stored, ByteView(verifier).first(31)));
  EXPECT_FALSE(VerifyStored(*stored, {}));
}

TEST_F(StoredHashTest, SaltedPerCall) {
  const Bytes verifier = RandomBytes(32);
  const auto a = HashForStorage(verifier);
  const auto b = HashForStorage(verifier);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(*a, *b);
  EXPECT_TRUE(VerifyStored(*a, verifier));
  EXPECT_TRUE(VerifyStored(*b, verifier));
}

TEST_F(StoredHashTest, MalformedStoredStringsAreRejected) {
  const Bytes verifier = RandomBytes(32);
  const auto stored = HashForStorage(verifier);
  ASSERT_THAT(stored, IsOk());
  EXPECT_FALSE(VerifyStored("", verifier));
  EXPECT_FALSE(VerifyStored("$argon2id$", verifier));
  EXPECT_FALSE(VerifyStored(stored->substr(0, stored->size() - 1), verifier));
  EXPECT_FALSE(VerifyStored(*stored + "A", verifier));
  EXPECT_FALSE(VerifyStored(std::string(*stored).insert(5, 1, '\0'), verifier));
  EXPECT_FALSE(VerifyStored(std::string(500, 'a'), verifier));
  std::string tampered = *stored;
  tampered.back() = tampered.back() == 'A' ? 'B' : 'A';
  EXPECT_FALSE(VerifyStored(tampered, verifier));
}

TEST(StoredHashProductionTest, UsesInteractiveParameters) {
  ScopedFastKdf env(nullptr);
  const auto stored = HashForStorage(ToBytes("verifier"));
  ASSERT_THAT(stored, IsOk());
  // crypto_pwhash_OPSLIMIT_INTERACTIVE = 2, MEMLIMIT_INTERACTIVE = 64 MiB.
  EXPECT_THAT(*stored, HasSubstr("$m=65536,t=2,p=1$")) << *stored;
  EXPECT_TRUE(VerifyStored(*stored, ToBytes("verifier")));
}

TEST_F(StoredHashTest, FastParametersInTests) {
  const auto stored = HashForStorage(ToBytes("verifier"));
  ASSERT_THAT(stored, IsOk());
  EXPECT_THAT(*stored, HasSubstr("$m=8192,t=1,p=1$")) << *stored;
}

}  // namespace
}  // namespace coffer::crypto
