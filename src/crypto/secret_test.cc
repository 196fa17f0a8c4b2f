#include "crypto/secret.h"

#include <gtest/gtest.h>
#include <sys/resource.h>

#include <utility>

namespace coffer::crypto {
namespace {

ByteView View(const SecretBytes& s) { return s.Reveal(SecretAccess::Get()); }

TEST(InitTest, IsIdempotent) {
  EXPECT_TRUE(Init().ok());
  EXPECT_TRUE(Init().ok());
}

TEST(SecretBytesTest, DefaultIsEmpty) {
  SecretBytes s;
  EXPECT_TRUE(s.empty());
  EXPECT_EQ(s.size(), 0u);
  EXPECT_TRUE(View(s).empty());
}

TEST(SecretBytesTest, SizedConstructorZeroFills) {
  SecretBytes s(100);
  ASSERT_EQ(s.size(), 100u);
  for (uint8_t b : View(s)) EXPECT_EQ(b, 0);
}

TEST(SecretBytesTest, ZeroSizeIsEmpty) {
  EXPECT_TRUE(SecretBytes(0).empty());
  EXPECT_TRUE(SecretBytes::FromBytes({}).empty());
  EXPECT_TRUE(SecretBytes::Random(0).empty());
}

TEST(SecretBytesTest, FromBytesCopies) {
  Bytes data = {1, 2, 3, 4, 5};
  const SecretBytes s = SecretBytes::FromBytes(data);
  data[0] = 9;  // the secret holds its own copy
  EXPECT_EQ(ToBytes(View(s)), (Bytes{1, 2, 3, 4, 5}));
}

TEST(SecretBytesTest, MutableRevealWritesThrough) {
  SecretBytes s(3);
  s.MutableReveal(SecretAccess::Get())[1] = 7;
  EXPECT_EQ(ToBytes(View(s)), (Bytes{0, 7, 0}));
}

TEST(SecretBytesTest, RandomDiffersEachTime) {
  const SecretBytes a = SecretBytes::Random(32);
  const SecretBytes b = SecretBytes::Random(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_FALSE(a == b);  // 2^-256 chance of a false failure
}

TEST(SecretBytesTest, MoveConstructionEmptiesSource) {
  SecretBytes a = SecretBytes::FromBytes(Bytes{1, 2, 3});
  const uint8_t* buffer = View(a).data();
  SecretBytes b(std::move(a));
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move): the contract under test
  EXPECT_TRUE(View(a).empty());
  EXPECT_EQ(View(b).data(), buffer);  // moved, not copied
  EXPECT_EQ(ToBytes(View(b)), (Bytes{1, 2, 3}));
}

TEST(SecretBytesTest, MoveAssignmentReplacesAndEmptiesSource) {
  SecretBytes a = SecretBytes::FromBytes(Bytes{1, 2, 3});
  SecretBytes b = SecretBytes::FromBytes(Bytes{4, 5});
  b = std::move(a);
  EXPECT_TRUE(a.empty());  // NOLINT(bugprone-use-after-move)
  EXPECT_EQ(ToBytes(View(b)), (Bytes{1, 2, 3}));
  SecretBytes& self = b;
  b = std::move(self);  // self-move keeps the value
  EXPECT_EQ(ToBytes(View(b)), (Bytes{1, 2, 3}));
}

TEST(SecretBytesTest, CloneIsDeepAndEqual) {
  SecretBytes a = SecretBytes::FromBytes(Bytes{1, 2, 3});
  SecretBytes b = a.Clone();
  EXPECT_TRUE(a == b);
  EXPECT_NE(View(a).data(), View(b).data());
  b.MutableReveal(SecretAccess::Get())[0] = 9;
  EXPECT_FALSE(a == b);
  EXPECT_EQ(View(a)[0], 1);
}

TEST(SecretBytesTest, Equality) {
  const SecretBytes abc = SecretBytes::FromBytes(Bytes{1, 2, 3});
  EXPECT_TRUE(abc == SecretBytes::FromBytes(Bytes{1, 2, 3}));
  EXPECT_FALSE(abc == SecretBytes::FromBytes(Bytes{1, 2, 4}));
  EXPECT_FALSE(abc == SecretBytes::FromBytes(Bytes{1, 2}));  // a prefix is not equal
  EXPECT_FALSE(abc == SecretBytes::FromBytes(Bytes{1, 2, 3, 0}));
  EXPECT_FALSE(abc == SecretBytes());
  EXPECT_TRUE(SecretBytes() == SecretBytes(0));
}

TEST(ConstantTimeEqualTest, ComparesContentAndLength) {
  const Bytes a = {1, 2, 3};
  EXPECT_TRUE(ConstantTimeEqual(a, Bytes{1, 2, 3}));
  EXPECT_FALSE(ConstantTimeEqual(a, Bytes{1, 2, 4}));
  EXPECT_FALSE(ConstantTimeEqual(a, Bytes{9, 2, 3}));
  EXPECT_FALSE(ConstantTimeEqual(a, Bytes{1, 2}));
  EXPECT_FALSE(ConstantTimeEqual(Bytes{}, a));
  EXPECT_TRUE(ConstantTimeEqual(Bytes{}, Bytes{}));
}

TEST(RandomBytesTest, SizeAndFreshness) {
  EXPECT_TRUE(RandomBytes(0).empty());
  const Bytes a = RandomBytes(32);
  EXPECT_EQ(a.size(), 32u);
  EXPECT_NE(a, RandomBytes(32));
}

TEST(DisableCoreDumpsTest, SetsCoreLimitToZero) {
  // Runs in a child so the test binary itself keeps its limits.
  EXPECT_EXIT(
      {
        DisableCoreDumps();
        rlimit limit{};
        getrlimit(RLIMIT_CORE, &limit);
        std::exit(limit.rlim_cur == 0 && limit.rlim_max == 0 ? 0 : 1);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace coffer::crypto
