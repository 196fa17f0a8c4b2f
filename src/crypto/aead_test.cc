#include "crypto/aead.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "crypto/test_matchers.h"

namespace coffer::crypto {
namespace {

using ::coffer::crypto::testing::IsOk;
using ::coffer::crypto::testing::StatusIs;

constexpr StatusCode kDataLoss = StatusCode::kDataLoss;
constexpr StatusCode kInvalidArgument = StatusCode::kInvalidArgument;

class AeadTest : public ::testing::Test {
 protected:
  const SecretBytes key_ = SecretBytes::Random(kAeadKeyBytes);
  const Bytes plaintext_ = ToBytes("attack at dawn: chunk 7 of file 42");
  const Bytes aad_ = ToBytes("file=42;chunk=7");
};

TEST_F(AeadTest, RoundTrip) {
  const auto sealed = AeadSeal(key_, plaintext_, aad_);
  ASSERT_THAT(sealed, IsOk());
  EXPECT_EQ(sealed->size(), plaintext_.size() + kAeadOverhead);
  const auto opened = AeadOpen(key_, *sealed, aad_);
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(*opened, plaintext_);
}

TEST_F(AeadTest, RoundTripEmptyPlaintextAndAad) {
  const auto sealed = AeadSeal(key_, {}, {});
  ASSERT_THAT(sealed, IsOk());
  EXPECT_EQ(sealed->size(), kAeadOverhead);
  const auto opened = AeadOpen(key_, *sealed, {});
  ASSERT_THAT(opened, IsOk());
  EXPECT_TRUE(opened->empty());
}

TEST_F(AeadTest, RoundTripLargePlaintext) {
  const Bytes big = RandomBytes(3 * 1024 * 1024 + 17);
  const auto sealed = AeadSeal(key_, big, aad_);
  ASSERT_THAT(sealed, IsOk());
  const auto opened = AeadOpen(key_, *sealed, aad_);
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(*opened, big);
}

TEST_F(AeadTest, SealsWithAFreshNonceEachTime) {
  const auto a = AeadSeal(key_, plaintext_, aad_);
  const auto b = AeadSeal(key_, plaintext_, aad_);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_NE(*a, *b);
  EXPECT_NE(Bytes(a->begin(), a->begin() + kXNonceBytes), Bytes(b->begin(), b->begin() + kXNonceBytes));
}

TEST_F(AeadTest, SealedLayoutIsNonceThenRawXChaCha20Poly1305) {
  const auto sealed = AeadSeal(key_, plaintext_, aad_);
  ASSERT_THAT(sealed, IsOk());
  const ByteView nonce = ByteView(*sealed).first(kXNonceBytes);
  const auto raw = raw::XChaCha20Poly1305Encrypt(key_.Reveal(SecretAccess::Get()), nonce, aad_, plaintext_);
  ASSERT_THAT(raw, IsOk());
  EXPECT_EQ(ToBytes(ByteView(*sealed).subspan(kXNonceBytes)), *raw);
}

TEST_F(AeadTest, EverySingleBitFlipIsRejected) {
  const auto sealed = AeadSeal(key_, plaintext_, aad_);
  ASSERT_THAT(sealed, IsOk());
  for (size_t byte = 0; byte < sealed->size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes tampered = *sealed;
      tampered[byte] ^= static_cast<uint8_t>(1u << bit);
      EXPECT_THAT(AeadOpen(key_, tampered, aad_), StatusIs(kDataLoss, "decryption failed"))
          << "byte " << byte << " bit " << bit;
    }
  }
}

TEST_F(AeadTest, WrongAadIsRejected) {
  const auto sealed = AeadSeal(key_, plaintext_, aad_);
  ASSERT_THAT(sealed, IsOk());
  EXPECT_THAT(AeadOpen(key_, *sealed, ToBytes("file=42;chunk=8")), StatusIs(kDataLoss, "decryption failed"));
  EXPECT_THAT(AeadOpen(key_, *sealed, {}), StatusIs(kDataLoss, "decryption failed"));
  Bytes longer = aad_;
  longer.push_back(0);
  EXPECT_THAT(AeadOpen(key_, *sealed, longer), StatusIs(kDataLoss, "decryption failed"));
}

TEST_F(AeadTest, WrongKeyIsRejected) {
  const auto sealed = AeadSeal(key_, plaintext_, aad_);
  ASSERT_THAT(sealed, IsOk());
  EXPECT_THAT(AeadOpen(SecretBytes::Random(kAeadKeyBytes), *sealed, aad_),
              StatusIs(kDataLoss, "decryption failed"));
}

TEST_F(AeadTest, TruncationAndExtensionAreRejected) {
  const auto sealed = AeadSeal(key_, plaintext_, aad_);
  ASSERT_THAT(sealed, IsOk());
  // Every shorter prefix, including those too short to hold a nonce and a tag.
  for (size_t len = 0; len < sealed->size(); ++len) {
    EXPECT_THAT(AeadOpen(key_, ByteView(*sealed).first(len), aad_), StatusIs(kDataLoss, "decryption failed"))
        << "length " << len;
  }
  Bytes extended = *sealed;
  extended.push_back(0);
  EXPECT_THAT(AeadOpen(key_, extended, aad_), StatusIs(kDataLoss, "decryption failed"));
}

TEST_F(AeadTest, IetfRoundTripsWithAFreshNonceAndIsTheStandardConstruction) {
  const auto a = AeadSealIetf(key_, plaintext_, aad_);
  const auto b = AeadSealIetf(key_, plaintext_, aad_);
  ASSERT_THAT(a, IsOk());
  ASSERT_THAT(b, IsOk());
  EXPECT_EQ(a->size(), plaintext_.size() + kAeadIetfOverhead);
  EXPECT_NE(Bytes(a->begin(), a->begin() + kIetfNonceBytes), Bytes(b->begin(), b->begin() + kIetfNonceBytes));
  const auto opened = AeadOpenIetf(key_, *a, aad_);
  ASSERT_THAT(opened, IsOk());
  EXPECT_EQ(*opened, plaintext_);
  // nonce || RFC 8439 ChaCha20-Poly1305: libsodium's independent implementation (pinned, like
  // OpenSSL's, by the Wycheproof vectors) opens it too.
  const ByteView sealed(*a);
  const auto sodium = raw::ChaCha20Poly1305DecryptSodium(key_.Reveal(SecretAccess::Get()), sealed.first(kIetfNonceBytes),
                                                         aad_, sealed.subspan(kIetfNonceBytes));
  ASSERT_THAT(sodium, IsOk());
  EXPECT_EQ(*sodium, plaintext_);
}

TEST_F(AeadTest, IetfRejectsEveryBitFlipTruncationWrongAadAndWrongKeyAlike) {
  const auto sealed = AeadSealIetf(key_, plaintext_, aad_);
  ASSERT_THAT(sealed, IsOk());
  for (size_t byte = 0; byte < sealed->size(); ++byte) {
    for (int bit = 0; bit < 8; ++bit) {
      Bytes tampered = *sealed;
      tampered[byte] ^= static_cast<uint8_t>(1u << bit);
      EXPECT_THAT(AeadOpenIetf(key_, tampered, aad_), StatusIs(kDataLoss, "decryption failed"))
          << "byte " << byte << " bit " << bit;
    }
  }
  for (size_t len = 0; len < sealed->size(); ++len) {
    EXPECT_THAT(AeadOpenIetf(key_, ByteView(*sealed).first(len), aad_), StatusIs(kDataLoss, "decryption failed"))
        << "length " << len;
  }
  EXPECT_THAT(AeadOpenIetf(key_, *sealed, ToBytes("file=42;chunk=8")), StatusIs(kDataLoss, "decryption failed"));
  EXPECT_THAT(AeadOpenIetf(SecretBytes::Random(kAeadKeyBytes), *sealed, aad_), StatusIs(kDataLoss, "decryption failed"));
  // The XChaCha envelope and this one are not interchangeable.
  EXPECT_THAT(AeadOpen(key_, *sealed, aad_), StatusIs(kDataLoss, "decryption failed"));
  EXPECT_THAT(AeadSealIetf(SecretBytes::Random(16), plaintext_, aad_), StatusIs(kInvalidArgument));
}

TEST_F(AeadTest, WrongKeySizeIsInvalidArgument) {
  const SecretBytes short_key = SecretBytes::Random(16);
  EXPECT_THAT(AeadSeal(short_key, plaintext_, aad_), StatusIs(kInvalidArgument));
  EXPECT_THAT(AeadSeal(SecretBytes(), plaintext_, aad_), StatusIs(kInvalidArgument));
  const auto sealed = AeadSeal(key_, plaintext_, aad_);
  ASSERT_THAT(sealed, IsOk());
  EXPECT_THAT(AeadOpen(short_key, *sealed, aad_), StatusIs(kInvalidArgument));
}

// The raw functions: sizes are checked, and authentication failures look like AeadOpen's.
struct RawAead {
  std::string name;
  size_t key_bytes;
  size_t nonce_bytes;
  std::vector<size_t> bad_key_sizes;
  std::vector<size_t> bad_nonce_sizes;
  StatusOr<Bytes> (*encrypt)(ByteView, ByteView, ByteView, ByteView);
  StatusOr<Bytes> (*decrypt)(ByteView, ByteView, ByteView, ByteView);
};

class RawAeadTest : public ::testing::TestWithParam<RawAead> {};

TEST_P(RawAeadTest, RoundTripAndTamper) {
  const RawAead& aead = GetParam();
  const Bytes key = RandomBytes(aead.key_bytes);
  const Bytes nonce = RandomBytes(aead.nonce_bytes);
  const Bytes aad = ToBytes("aad");
  for (size_t len : {0, 1, 15, 16, 17, 64, 1000}) {
    const Bytes msg = RandomBytes(len);
    const auto ct = aead.encrypt(key, nonce, aad, msg);
    ASSERT_THAT(ct, IsOk());
    ASSERT_EQ(ct->size(), len + kAeadTagBytes);
    const auto pt = aead.decrypt(key, nonce, aad, *ct);
    ASSERT_THAT(pt, IsOk());
    EXPECT_EQ(*pt, msg);
    Bytes tampered = *ct;
    tampered.back() ^= 1;
    EXPECT_THAT(aead.decrypt(key, nonce, aad, tampered), StatusIs(kDataLoss, "decryption failed"));
    tampered = *ct;
    tampered.front() ^= 0x80;
    EXPECT_THAT(aead.decrypt(key, nonce, aad, tampered), StatusIs(kDataLoss, "decryption failed"));
    EXPECT_THAT(aead.decrypt(key, nonce, ToBytes("aaD"), *ct), StatusIs(kDataLoss, "decryption failed"));
  }
}

TEST_P(RawAeadTest, ShortCiphertextIsDecryptionFailure) {
  const RawAead& aead = GetParam();
  const Bytes key = RandomBytes(aead.key_bytes);
  const Bytes nonce = RandomBytes(aead.nonce_bytes);
  for (size_t len = 0; len < kAeadTagBytes; ++len) {
    EXPECT_THAT(aead.decrypt(key, nonce, {}, Bytes(len)), StatusIs(kDataLoss, "decryption failed"));
  }
}

TEST_P(RawAeadTest, WrongSizesAreInvalidArgument) {
  const RawAead& aead = GetParam();
  const Bytes key = RandomBytes(aead.key_bytes);
  const Bytes nonce = RandomBytes(aead.nonce_bytes);
  const Bytes msg(32);
  const Bytes ct(48);
  for (size_t size : aead.bad_key_sizes) {
    const Bytes bad_key(size);
    EXPECT_THAT(aead.encrypt(bad_key, nonce, {}, msg), StatusIs(kInvalidArgument)) << size;
    EXPECT_THAT(aead.decrypt(bad_key, nonce, {}, ct), StatusIs(kInvalidArgument)) << size;
  }
  for (size_t size : aead.bad_nonce_sizes) {
    const Bytes bad_nonce(size);
    EXPECT_THAT(aead.encrypt(key, bad_nonce, {}, msg), StatusIs(kInvalidArgument)) << size;
    EXPECT_THAT(aead.decrypt(key, bad_nonce, {}, ct), StatusIs(kInvalidArgument)) << size;
  }
}

const std::vector<size_t> kBadChaChaKeySizes = {0, 16, 31, 33, 64};
const std::vector<size_t> kBadAesKeySizes = {0, 8, 15, 17, 20, 31, 33, 64};
// GCM takes any nonce length from 1 to kAesGcmMaxNonceBytes.
const std::vector<size_t> kBadAesNonceSizes = {0, raw::kAesGcmMaxNonceBytes + 1, 1000};

INSTANTIATE_TEST_SUITE_P(All, RawAeadTest,
                         ::testing::Values(RawAead{"XChaCha20Poly1305",
                                                   32,
                                                   24,
                                                   kBadChaChaKeySizes,
                                                   {0, 12, 23, 25, 32},
                                                   raw::XChaCha20Poly1305Encrypt,
                                                   raw::XChaCha20Poly1305Decrypt},
                                           RawAead{"ChaCha20Poly1305Sodium",
                                                   32,
                                                   12,
                                                   kBadChaChaKeySizes,
                                                   {0, 8, 11, 13, 24},
                                                   raw::ChaCha20Poly1305EncryptSodium,
                                                   raw::ChaCha20Poly1305DecryptSodium},
                                           RawAead{"ChaCha20Poly1305OpenSsl",
                                                   32,
                                                   12,
                                                   kBadChaChaKeySizes,
                                                   {0, 8, 11, 13, 24},
                                                   raw::ChaCha20Poly1305EncryptOpenSsl,
                                                   raw::ChaCha20Poly1305DecryptOpenSsl},
                                           RawAead{"Aes128Gcm", 16, 12, kBadAesKeySizes, kBadAesNonceSizes,
                                                   raw::AesGcmEncrypt, raw::AesGcmDecrypt},
                                           RawAead{"Aes256Gcm", 32, 12, kBadAesKeySizes, kBadAesNonceSizes,
                                                   raw::AesGcmEncrypt, raw::AesGcmDecrypt}),
                         [](const ::testing::TestParamInfo<RawAead>& info) { return info.param.name; });

// Either implementation may carry bulk data, so they must agree byte for byte, including on a
// message longer than one internal buffer.
TEST(ChaCha20Poly1305Test, SodiumAndOpenSslAgree) {
  const Bytes key = RandomBytes(32);
  const Bytes nonce = RandomBytes(12);
  const Bytes aad = RandomBytes(100);
  for (size_t len : {0, 1, 63, 64, 65, 4096, 2 * 1024 * 1024 + 3}) {
    const Bytes msg = RandomBytes(len);
    const auto sodium = raw::ChaCha20Poly1305EncryptSodium(key, nonce, aad, msg);
    const auto openssl = raw::ChaCha20Poly1305EncryptOpenSsl(key, nonce, aad, msg);
    ASSERT_THAT(sodium, IsOk());
    ASSERT_THAT(openssl, IsOk());
    EXPECT_EQ(*sodium, *openssl) << "length " << len;
    const auto opened = raw::ChaCha20Poly1305DecryptOpenSsl(key, nonce, aad, *sodium);
    ASSERT_THAT(opened, IsOk());
    EXPECT_EQ(*opened, msg);
  }
}

TEST(AesGcmTest, AcceptsEveryKeySizeAndNonceLengthUpToTheLimit) {
  for (size_t key_bytes : {16, 24, 32}) {
    const Bytes key = RandomBytes(key_bytes);
    for (size_t nonce_bytes : {size_t{1}, size_t{8}, size_t{12}, size_t{16}, raw::kAesGcmMaxNonceBytes}) {
      const Bytes nonce = RandomBytes(nonce_bytes);
      const Bytes msg = RandomBytes(50);
      const auto ct = raw::AesGcmEncrypt(key, nonce, {}, msg);
      ASSERT_THAT(ct, IsOk()) << key_bytes << "/" << nonce_bytes;
      const auto pt = raw::AesGcmDecrypt(key, nonce, {}, *ct);
      ASSERT_THAT(pt, IsOk());
      EXPECT_EQ(*pt, msg);
      // A nonce differing only in length must not decrypt (no silent padding).
      Bytes longer = nonce;
      longer.push_back(0);
      if (longer.size() <= raw::kAesGcmMaxNonceBytes) {
        EXPECT_THAT(raw::AesGcmDecrypt(key, longer, {}, *ct), StatusIs(kDataLoss));
      }
    }
    EXPECT_THAT(raw::AesGcmEncrypt(key, Bytes(raw::kAesGcmMaxNonceBytes + 1), {}, {}),
                StatusIs(kInvalidArgument));
    EXPECT_THAT(raw::AesGcmDecrypt(key, Bytes(raw::kAesGcmMaxNonceBytes + 1), {}, Bytes(16)),
                StatusIs(kInvalidArgument));
  }
  EXPECT_THAT(raw::AesGcmEncrypt(Bytes(20), Bytes(12), {}, {}), StatusIs(kInvalidArgument));
}

}  // namespace
}  // namespace coffer::crypto
