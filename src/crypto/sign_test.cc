#include "crypto/sign.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crypto/test_matchers.h"

namespace coffer::crypto {
namespace {

using ::coffer::crypto::testing::IsOk;
using ::coffer::crypto::testing::StatusIs;

TEST(SigningKeyTest, SignThenVerify) {
  const SigningKey key = SigningKey::Generate();
  EXPECT_EQ(key.public_key().size(), kSignPublicKeyBytes);
  EXPECT_EQ(key.seed().size(), kSignSeedBytes);
  const Bytes message = ToBytes("revision 17 of collection c1");
  const Bytes signature = key.Sign(message);
  EXPECT_EQ(signature.size(), kSignatureBytes);
  EXPECT_THAT(VerifySignature(key.public_key(), message, signature), IsOk());
}

TEST(SigningKeyTest, EmptyMessage) {
  const SigningKey key = SigningKey::Generate();
  EXPECT_THAT(VerifySignature(key.public_key(), {}, key.Sign({})), IsOk());
}

TEST(SigningKeyTest, SameSeedSameKeyAndDeterministicSignatures) {
  const SecretBytes seed = SecretBytes::Random(kSignSeedBytes);
  const auto a = SigningKey::FromSeed(seed);
  const auto b = SigningKey::FromSeed(seed);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->public_key(), b->public_key());
  EXPECT_TRUE(a->seed() == seed);
  EXPECT_EQ(a->Sign(ToBytes("m")), b->Sign(ToBytes("m")));  // Ed25519 is deterministic
  EXPECT_NE(SigningKey::Generate().public_key(), a->public_key());
}

TEST(SigningKeyTest, RfcTestVector1) {
  // RFC 8032 §7.1, TEST 1 (empty message).
  const auto seed = HexDecode("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
  ASSERT_THAT(seed, IsOk());
  const auto key = SigningKey::FromSeed(SecretBytes::FromBytes(*seed));
  ASSERT_THAT(key, IsOk());
  EXPECT_EQ(HexEncode(key->public_key()), "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
  EXPECT_EQ(HexEncode(key->Sign({})),
            "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46b"
            "d25bf5f0595bbe24655141438e7a100b");
}

TEST(SigningKeyTest, WrongSeedSizeIsInvalidArgument) {
  EXPECT_THAT(SigningKey::FromSeed(SecretBytes::Random(31)), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(SigningKey::FromSeed(SecretBytes::Random(64)), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(SigningKey::FromSeed(SecretBytes()), StatusIs(StatusCode::kInvalidArgument));
}

TEST(VerifySignatureTest, RejectsTamperingWithOneError) {
  const SigningKey key = SigningKey::Generate();
  const Bytes message = ToBytes("hello");
  const Bytes signature = key.Sign(message);
  const auto kRejected = StatusIs(StatusCode::kSecurity, "signature verification failed");

  EXPECT_THAT(VerifySignature(key.public_key(), ToBytes("hellO"), signature), kRejected);
  EXPECT_THAT(VerifySignature(SigningKey::Generate().public_key(), message, signature), kRejected);
  for (size_t i = 0; i < signature.size(); ++i) {
    Bytes tampered = signature;
    tampered[i] ^= 0x01;
    EXPECT_THAT(VerifySignature(key.public_key(), message, tampered), kRejected) << "byte " << i;
  }
  // Wrong sizes get the same error as a forgery.
  EXPECT_THAT(VerifySignature(key.public_key(), message, ByteView(signature).first(63)), kRejected);
  Bytes longer = signature;
  longer.push_back(0);
  EXPECT_THAT(VerifySignature(key.public_key(), message, longer), kRejected);
  EXPECT_THAT(VerifySignature(ByteView(key.public_key()).first(31), message, signature), kRejected);
  EXPECT_THAT(VerifySignature({}, message, signature), kRejected);
  EXPECT_THAT(VerifySignature(key.public_key(), message, {}), kRejected);
}

}  // namespace
}  // namespace coffer::crypto
