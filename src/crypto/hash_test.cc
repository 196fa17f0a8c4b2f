#include "crypto/hash.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

#include "crypto/test_matchers.h"

namespace coffer::crypto {
namespace {

using ::coffer::crypto::testing::IsOk;
using ::coffer::crypto::testing::StatusIs;

ByteView View(const SecretBytes& s) { return s.Reveal(SecretAccess::Get()); }

TEST(HashTest, KnownAnswers) {
  // BLAKE2b with a 32-byte digest (RFC 7693 parameters, digest length 32).
  EXPECT_EQ(HexEncode(Hash({})), "0e5751c026e543b2e8ab2eb06099daa1d1e5df47778f7787faab45cdf12fe3a8");
  EXPECT_EQ(HexEncode(Hash(ToBytes("abc"))),
            "bddd813c634239723171ef3fee98579b94964e3bb1cb3e427262c8c068d52319");
}

TEST(KeyedHashTest, DependsOnKeyAndDataAndIsDeterministic) {
  const SecretBytes key = SecretBytes::Random(32);
  const Bytes data = ToBytes("chunk contents");
  const Bytes mac = KeyedHash(key, data);
  EXPECT_EQ(mac.size(), kHashBytes);
  EXPECT_EQ(mac, KeyedHash(key, data));
  EXPECT_NE(mac, KeyedHash(SecretBytes::Random(32), data));
  EXPECT_NE(mac, KeyedHash(key, ToBytes("chunk contentS")));
  EXPECT_NE(mac, Hash(data));
}

TEST(KeyedHashTest, AcceptsKeysFrom16To64Bytes) {
  EXPECT_EQ(KeyedHash(SecretBytes::Random(16), ToBytes("x")).size(), kHashBytes);
  EXPECT_EQ(KeyedHash(SecretBytes::Random(64), ToBytes("x")).size(), kHashBytes);
}

TEST(KeyedHashDeathTest, WrongKeySizeAborts) {
  EXPECT_DEATH(KeyedHash(SecretBytes::Random(15), ToBytes("x")), "key must be 16..64 bytes");
  EXPECT_DEATH(KeyedHash(SecretBytes::Random(65), ToBytes("x")), "key must be 16..64 bytes");
  EXPECT_DEATH(KeyedHash(SecretBytes(), ToBytes("x")), "key must be 16..64 bytes");
}

TEST(DeriveKeyTest, IsKeyedBlake2bOfPrefixedLabel) {
  // Pins the construction documented in hash.h: changing it would orphan every stored key.
  const SecretBytes root = SecretBytes::Random(32);
  const SecretBytes subkey = DeriveKey(root, "chunk-id");
  EXPECT_EQ(ToBytes(View(subkey)), KeyedHash(root, ToBytes("coffer/v1/chunk-id")));
}

TEST(DeriveKeyTest, DeterministicAndSeparatedByLabelAndRoot) {
  const SecretBytes root = SecretBytes::Random(32);
  EXPECT_TRUE(DeriveKey(root, "chunk-id") == DeriveKey(root, "chunk-id"));
  EXPECT_TRUE(DeriveKey(root, "chunk-id") == DeriveKey(root.Clone(), "chunk-id"));
  EXPECT_FALSE(DeriveKey(root, "chunk-id") == DeriveKey(root, "chunk-key"));
  EXPECT_FALSE(DeriveKey(root, "chunk-id") == DeriveKey(root, "chunk-id "));
  EXPECT_FALSE(DeriveKey(root, "") == DeriveKey(root, "a"));
  EXPECT_FALSE(DeriveKey(root, "chunk-id") == DeriveKey(SecretBytes::Random(32), "chunk-id"));
  // Never the root itself.
  EXPECT_FALSE(DeriveKey(root, "chunk-id") == root);
}

TEST(DeriveKeyTest, OutputLengths) {
  const SecretBytes root = SecretBytes::Random(32);
  EXPECT_EQ(DeriveKey(root, "x").size(), 32u);
  const SecretBytes short_key = DeriveKey(root, "x", 16);
  const SecretBytes long_key = DeriveKey(root, "x", 64);
  EXPECT_EQ(short_key.size(), 16u);
  EXPECT_EQ(long_key.size(), 64u);
  // BLAKE2b binds the output length, so a shorter key is not a prefix of a longer one.
  EXPECT_NE(ToBytes(View(short_key)), ToBytes(View(long_key).first(16)));
}

TEST(DeriveKeyDeathTest, BadOutputLengthOrRootAborts) {
  const SecretBytes root = SecretBytes::Random(32);
  EXPECT_DEATH(DeriveKey(root, "x", 15), "out_len must be 16..64");
  EXPECT_DEATH(DeriveKey(root, "x", 65), "out_len must be 16..64");
  EXPECT_DEATH(DeriveKey(SecretBytes::Random(8), "x"), "key must be 16..64 bytes");
}

// Streaming in any split gives the one-shot digest, keyed and unkeyed. 300 bytes spans more
// than two 128-byte BLAKE2b blocks, so the splits land before, on and after block edges.
TEST(StreamingHashTest, MatchesOneShotAtEverySplitPoint) {
  const Bytes data = RandomBytes(300);
  const SecretBytes key = SecretBytes::Random(32);
  const Bytes unkeyed = Hash(data);
  const Bytes keyed = KeyedHash(key, data);
  const ByteView view(data);
  for (size_t split = 0; split <= data.size(); ++split) {
    StreamingHash plain;
    plain.Update(view.first(split));
    plain.Update(view.subspan(split));
    EXPECT_EQ(plain.Final(), unkeyed) << "split " << split;

    StreamingHash with_key(key);
    with_key.Update(view.first(split));
    with_key.Update(view.subspan(split));
    EXPECT_EQ(with_key.Final(), keyed) << "split " << split;
  }
}

TEST(StreamingHashTest, ByteAtATimeAndEmptyUpdates) {
  const Bytes data = RandomBytes(257);
  const SecretBytes key = SecretBytes::Random(64);
  StreamingHash plain;
  StreamingHash with_key(key);
  for (uint8_t b : data) {
    plain.Update(ByteView(&b, 1));
    plain.Update({});
    with_key.Update(ByteView(&b, 1));
  }
  EXPECT_EQ(plain.Final(), Hash(data));
  EXPECT_EQ(with_key.Final(), KeyedHash(key, data));
}

TEST(StreamingHashTest, NoUpdateIsHashOfEmpty) {
  StreamingHash plain;
  EXPECT_EQ(plain.Final(), Hash({}));
  const SecretBytes key = SecretBytes::Random(16);
  StreamingHash with_key(key);
  EXPECT_EQ(with_key.Final(), KeyedHash(key, {}));
}

TEST(StreamingHashDeathTest, UseAfterFinalAborts) {
  EXPECT_DEATH(
      {
        StreamingHash hash;
        hash.Final();
        hash.Update(ToBytes("x"));
      },
      "after Final");
  EXPECT_DEATH(
      {
        StreamingHash hash;
        hash.Final();
        hash.Final();
      },
      "Final called twice");
}

TEST(Sha256Test, KnownAnswers) {
  EXPECT_EQ(HexEncode(Sha256({})), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(HexEncode(Sha256(ToBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

TEST(HmacSha256Test, Rfc4231) {
  // Test case 1.
  EXPECT_EQ(HexEncode(HmacSha256(Bytes(20, 0x0b), ToBytes("Hi There"))),
            "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  // Test case 2: a key shorter than the output.
  EXPECT_EQ(HexEncode(HmacSha256(ToBytes("Jefe"), ToBytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
  // Test case 6: a key longer than the block size is hashed first.
  EXPECT_EQ(HexEncode(HmacSha256(Bytes(131, 0xaa),
                                 ToBytes("Test Using Larger Than Block-Size Key - Hash Key First"))),
            "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
}

TEST(HmacSha256Test, EmptyKeyAndMessage) {
  EXPECT_EQ(HexEncode(HmacSha256({}, {})),
            "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(HkdfSha256Test, Rfc5869EmptySaltAndInfo) {
  // RFC 5869 test case 3.
  const auto okm = HkdfSha256(Bytes(22, 0x0b), {}, {}, 42);
  ASSERT_THAT(okm, IsOk());
  EXPECT_EQ(HexEncode(*okm),
            "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8");
}

TEST(HkdfSha256Test, EmptyIkmFollowsTheRfcDefinition) {
  // PRK = HMAC(salt = 32 zero bytes, IKM); T(1) = HMAC(PRK, info || 0x01).
  const Bytes info = ToBytes("ctx");
  const Bytes prk = HmacSha256(Bytes(32, 0), {});
  Bytes block = info;
  block.push_back(0x01);
  const auto okm = HkdfSha256({}, {}, info, 32);
  ASSERT_THAT(okm, IsOk());
  EXPECT_EQ(*okm, HmacSha256(prk, block));
}

TEST(HkdfSha256Test, OutputLengthLimits) {
  const Bytes ikm = RandomBytes(32);
  const auto longest = HkdfSha256(ikm, {}, {}, 255 * 32);
  ASSERT_THAT(longest, IsOk());
  EXPECT_EQ(longest->size(), 8160u);
  const auto first = HkdfSha256(ikm, {}, {}, 1);
  ASSERT_THAT(first, IsOk());
  EXPECT_EQ((*first)[0], (*longest)[0]);  // a shorter output is a prefix of a longer one
  EXPECT_THAT(HkdfSha256(ikm, {}, {}, 255 * 32 + 1), StatusIs(StatusCode::kInvalidArgument));
  EXPECT_THAT(HkdfSha256(ikm, {}, {}, 0), StatusIs(StatusCode::kInvalidArgument));
}

TEST(HkdfSha256Test, InfoLengthLimit) {
  const Bytes ikm = RandomBytes(32);
  EXPECT_THAT(HkdfSha256(ikm, {}, Bytes(32 * 1024, 1), 32), IsOk());
  EXPECT_THAT(HkdfSha256(ikm, {}, Bytes(32 * 1024 + 1, 1), 32), StatusIs(StatusCode::kInvalidArgument));
}

}  // namespace
}  // namespace coffer::crypto
