#include "crypto/box.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "crypto/test_matchers.h"

namespace coffer::crypto {
namespace {

using ::coffer::crypto::testing::IsOk;
using ::coffer::crypto::testing::StatusIs;

ByteView View(const SecretBytes& s) { return s.Reveal(SecretAccess::Get()); }

TEST(BoxKeyPairTest, GenerateGivesDistinctWellFormedPairs) {
  const BoxKeyPair a = BoxKeyPair::Generate();
  const BoxKeyPair b = BoxKeyPair::Generate();
  EXPECT_EQ(a.public_key().size(), kBoxPublicKeyBytes);
  EXPECT_EQ(a.secret_key().size(), kBoxSecretKeyBytes);
  EXPECT_NE(a.public_key(), b.public_key());
}

TEST(BoxKeyPairTest, FromSecretKeyRederivesThePublicKey) {
  const BoxKeyPair generated = BoxKeyPair::Generate();
  const auto restored = BoxKeyPair::FromSecretKey(generated.secret_key());
  ASSERT_THAT(restored, IsOk());
  EXPECT_EQ(restored->public_key(), generated.public_key());
  EXPECT_TRUE(restored->secret_key() == generated.secret_key());
}

TEST(BoxKeyPairTest, FromSecretKeyMatchesRfc7748) {
  // RFC 7748 §6.1: Alice's key pair.
  const auto secret = HexDecode("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a");
  ASSERT_THAT(secret, IsOk());
  const auto pair = BoxKeyPair::FromSecretKey(SecretBytes::FromBytes(*secret));
  ASSERT_THAT(pair, IsOk());
  EXPECT_EQ(HexEncode(pair->public_key()),
            "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
}

TEST(BoxKeyPairTest, FromSecretKeyRejectsWrongSize) {
  EXPECT_THAT(BoxKeyPair::FromSecretKey(SecretBytes::Random(31)), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(BoxKeyPair::FromSecretKey(SecretBytes()), StatusIs(StatusCode::kInvalidArgument));
}

TEST(SealedBoxTest, RoundTrip) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  const Bytes plaintext = ToBytes("account key for device 3");
  const auto sealed = SealToPublicKey(recipient.public_key(), plaintext);
  ASSERT_THAT(sealed, IsOk());
  EXPECT_EQ(sealed->size(), plaintext.size() + kSealOverhead);
  const auto opened = OpenSealed(recipient, *sealed);
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(ToBytes(View(*opened)), plaintext);
}

TEST(SealedBoxTest, EmptyPlaintextRoundTrips) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  const auto sealed = SealToPublicKey(recipient.public_key(), {});
  ASSERT_THAT(sealed, IsOk());
  EXPECT_EQ(sealed->size(), kSealOverhead);
  const auto opened = OpenSealed(recipient, *sealed);
  ASSERT_THAT(opened, IsOk());
  EXPECT_TRUE(opened->empty());
}

TEST(SealedBoxTest, SealsAreRandomised) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  const auto a = SealToPublicKey(recipient.public_key(), ToBytes("x"));
  const auto b = SealToPublicKey(recipient.public_key(), ToBytes("x"));
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(*a, *b);  // fresh ephemeral key each time
}

TEST(SealedBoxTest, TamperingWrongRecipientAndTruncationAreRejected) {
  const BoxKeyPair recipient = BoxKeyPair::Generate();
  const auto sealed = SealToPublicKey(recipient.public_key(), ToBytes("secret"));
  ASSERT_THAT(sealed, IsOk());
  const auto kRejected = StatusIs(StatusCode::kDataLoss, "decryption failed");
  for (size_t i = 0; i < sealed->size(); ++i) {
    Bytes tampered = *sealed;
    tampered[i] ^= 0x40;
    EXPECT_THAT(OpenSealed(recipient, tampered), kRejected) << "byte " << i;
  }
  EXPECT_THAT(OpenSealed(BoxKeyPair::Generate(), *sealed), kRejected);
  for (size_t len = 0; len < sealed->size(); ++len) {
    EXPECT_THAT(OpenSealed(recipient, ByteView(*sealed).first(len)), kRejected) << "length " << len;
  }
  EXPECT_THAT(OpenSealed(BoxKeyPair(), *sealed), kRejected);  // an empty key pair
}

TEST(SealedBoxTest, BadRecipientKeysAreRefused) {
  EXPECT_THAT(SealToPublicKey(Bytes(31, 1), ToBytes("x")), StatusIs(StatusCode::kInvalidArgument));
  // The all-zero point has low order: the shared secret would be known to everyone.
  EXPECT_THAT(SealToPublicKey(Bytes(32, 0), ToBytes("x")), StatusIs(StatusCode::kInvalidArgument));
}

TEST(X25519Test, BothSidesAgree) {
  const BoxKeyPair alice = BoxKeyPair::Generate();
  const BoxKeyPair bob = BoxKeyPair::Generate();
  const auto ab = raw::X25519(View(alice.secret_key()), bob.public_key());
  const auto ba = raw::X25519(View(bob.secret_key()), alice.public_key());
  ASSERT_THAT(ab, IsOk());
  ASSERT_THAT(ba, IsOk());
  EXPECT_EQ(*ab, *ba);
}

TEST(X25519Test, LowOrderPointAndWrongSizesAreRejected) {
  const BoxKeyPair alice = BoxKeyPair::Generate();
  EXPECT_THAT(raw::X25519(View(alice.secret_key()), Bytes(32, 0)), StatusIs(StatusCode::kDataLoss));
  EXPECT_THAT(raw::X25519(Bytes(31), alice.public_key()), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(raw::X25519(View(alice.secret_key()), Bytes(33)), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace coffer::crypto
