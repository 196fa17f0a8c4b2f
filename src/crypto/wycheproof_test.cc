// Project Wycheproof vectors (tests/testdata/wycheproof, see its README.md) run through the
// crypto module's own entry points, one parameterised test per vector, as tink does in
// tink/aead/internal/ssl_aead_test.cc.
//
// Each family also has an EveryVectorIsInstantiated test: it checks that the file loaded and
// that the number of registered tests equals the file's numberOfTests, so a missing or
// mis-parsed file cannot pass by running nothing.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <string>
#include <vector>

#include "crypto/aead.h"
#include "crypto/box.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "crypto/test_matchers.h"

namespace coffer::crypto {
namespace {

using ::coffer::crypto::testing::IsOk;
using ::coffer::crypto::testing::StatusIs;
using ::nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Loading

// Fields every Wycheproof test vector has.
struct VectorInfo {
  int tc_id = 0;
  std::string comment;
  std::string result;  // "valid", "invalid" or "acceptable"
  std::vector<std::string> flags;

  bool HasFlag(std::string_view flag) const {
    return std::find(flags.begin(), flags.end(), flag) != flags.end();
  }
};

template <typename Vector>
struct VectorFile {
  Status status;  // why the file could not be used, if it could not
  size_t number_of_tests = 0;
  std::vector<Vector> vectors;
};

// The vectors are lowercase hex; a malformed string fails the whole file.
Bytes Hex(const json& value) {
  auto bytes = HexDecode(value.get<std::string>());
  if (!bytes.ok()) throw std::invalid_argument("bad hex in vector file");
  return *std::move(bytes);
}

// Reads tests/testdata/wycheproof/`file_name`; `parse(group, test, info)` builds one vector.
template <typename Vector>
VectorFile<Vector> LoadVectors(const std::string& file_name,
                               const std::function<Vector(const json&, const json&, VectorInfo)>& parse) {
  VectorFile<Vector> file;
  const std::string path = std::string(COFFER_SOURCE_DIR) + "/tests/testdata/wycheproof/" + file_name;
  std::ifstream in(path);
  if (!in) {
    file.status = NotFoundError("cannot open " + path);
    return file;
  }
  // nlohmann::json reports errors by exception; they stop here and become a Status.
  try {
    const json root = json::parse(in);
    file.number_of_tests = root.at("numberOfTests").get<size_t>();
    for (const json& group : root.at("testGroups")) {
      for (const json& test : group.at("tests")) {
        VectorInfo info{.tc_id = test.at("tcId").get<int>(),
                        .comment = test.at("comment").get<std::string>(),
                        .result = test.at("result").get<std::string>(),
                        .flags = test.at("flags").get<std::vector<std::string>>()};
        file.vectors.push_back(parse(group, test, std::move(info)));
      }
    }
  } catch (const std::exception& e) {
    file.status = DataLossError(path + ": " + e.what());
    file.vectors.clear();
  }
  return file;
}

// Number of tests registered under the gtest suite `suite_name` (whatever the filter).
size_t RegisteredTestCount(std::string_view suite_name) {
  const ::testing::UnitTest& unit = *::testing::UnitTest::GetInstance();
  for (int i = 0; i < unit.total_test_suite_count(); ++i) {
    const ::testing::TestSuite& suite = *unit.GetTestSuite(i);
    if (suite.name() == suite_name) return static_cast<size_t>(suite.total_test_count());
  }
  return 0;
}

template <typename Vector>
void ExpectEveryVectorInstantiated(const VectorFile<Vector>& file, std::string_view suite_name,
                                   size_t tests_per_vector) {
  ASSERT_THAT(file.status, IsOk());
  EXPECT_GT(file.number_of_tests, 0u);
  EXPECT_EQ(file.vectors.size(), file.number_of_tests);
  EXPECT_EQ(RegisteredTestCount(suite_name), file.number_of_tests * tests_per_vector);
}

// Test names are Tid<tcId>, as in tink.
template <typename Vector>
std::string TidName(const ::testing::TestParamInfo<Vector>& param) {
  return "Tid" + std::to_string(param.param.info.tc_id);
}

Bytes Concat(const Bytes& a, const Bytes& b) {
  Bytes out = a;
  out.insert(out.end(), b.begin(), b.end());
  return out;
}

// ---------------------------------------------------------------------------------------------
// AEAD: xchacha20_poly1305, chacha20_poly1305, aes_gcm

struct AeadVector {
  VectorInfo info;
  Bytes key, iv, aad, msg, ct, tag;
};
void PrintTo(const AeadVector& v, std::ostream* os) {
  *os << "tcId " << v.info.tc_id << " " << v.info.comment;
}

VectorFile<AeadVector> LoadAeadVectors(const std::string& file_name) {
  return LoadVectors<AeadVector>(file_name, [](const json&, const json& t, VectorInfo info) {
    return AeadVector{.info = std::move(info),
                      .key = Hex(t.at("key")),
                      .iv = Hex(t.at("iv")),
                      .aad = Hex(t.at("aad")),
                      .msg = Hex(t.at("msg")),
                      .ct = Hex(t.at("ct")),
                      .tag = Hex(t.at("tag"))};
  });
}

using AeadFunction = StatusOr<Bytes> (*)(ByteView key, ByteView nonce, ByteView aad, ByteView input);

// `nonce_supported`: whether the API under test takes the vector's nonce length at all.
void CheckAeadVector(const AeadVector& v, AeadFunction encrypt, AeadFunction decrypt, bool nonce_supported) {
  const Bytes ct_and_tag = Concat(v.ct, v.tag);
  const StatusOr<Bytes> sealed = encrypt(v.key, v.iv, v.aad, v.msg);
  const StatusOr<Bytes> opened = decrypt(v.key, v.iv, v.aad, ct_and_tag);
  if (!nonce_supported) {
    // A nonce length the API does not take must be refused, never padded or truncated.
    EXPECT_THAT(sealed, StatusIs(StatusCode::kInvalidArgument));
    EXPECT_THAT(opened, StatusIs(StatusCode::kInvalidArgument));
    return;
  }
  if (v.info.result == "valid") {
    ASSERT_THAT(sealed, IsOk());
    EXPECT_EQ(HexEncode(*sealed), HexEncode(ct_and_tag));
    ASSERT_THAT(opened, IsOk());
    EXPECT_EQ(HexEncode(*opened), HexEncode(v.msg));
  } else {
    ASSERT_EQ(v.info.result, "invalid");
    EXPECT_THAT(opened, StatusIs(StatusCode::kDataLoss, "decryption failed"));
    if (sealed.ok()) {
      EXPECT_NE(HexEncode(*sealed), HexEncode(ct_and_tag));
    }
  }
}

const VectorFile<AeadVector>& XChaCha20Poly1305Vectors() {
  static const auto* const file = new VectorFile<AeadVector>(LoadAeadVectors("xchacha20_poly1305_test.json"));
  return *file;
}
const VectorFile<AeadVector>& ChaCha20Poly1305Vectors() {
  static const auto* const file = new VectorFile<AeadVector>(LoadAeadVectors("chacha20_poly1305_test.json"));
  return *file;
}
const VectorFile<AeadVector>& AesGcmVectors() {
  static const auto* const file = new VectorFile<AeadVector>(LoadAeadVectors("aes_gcm_test.json"));
  return *file;
}

class XChaCha20Poly1305WycheproofTest : public ::testing::TestWithParam<AeadVector> {};

TEST_P(XChaCha20Poly1305WycheproofTest, Sodium) {
  const AeadVector& v = GetParam();
  const bool nonce_supported = v.iv.size() == kXNonceBytes;
  if (!nonce_supported) {
    EXPECT_TRUE(v.info.HasFlag("InvalidNonceSize"));
  }
  CheckAeadVector(v, raw::XChaCha20Poly1305Encrypt, raw::XChaCha20Poly1305Decrypt, nonce_supported);
}

INSTANTIATE_TEST_SUITE_P(Wycheproof, XChaCha20Poly1305WycheproofTest,
                         ::testing::ValuesIn(XChaCha20Poly1305Vectors().vectors), TidName<AeadVector>);

TEST(XChaCha20Poly1305Wycheproof, EveryVectorIsInstantiated) {
  ExpectEveryVectorInstantiated(XChaCha20Poly1305Vectors(), "Wycheproof/XChaCha20Poly1305WycheproofTest", 1);
}

class ChaCha20Poly1305WycheproofTest : public ::testing::TestWithParam<AeadVector> {};

TEST_P(ChaCha20Poly1305WycheproofTest, Sodium) {
  const AeadVector& v = GetParam();
  const bool nonce_supported = v.iv.size() == 12;
  if (!nonce_supported) {
    EXPECT_TRUE(v.info.HasFlag("InvalidNonceSize"));
  }
  CheckAeadVector(v, raw::ChaCha20Poly1305EncryptSodium, raw::ChaCha20Poly1305DecryptSodium, nonce_supported);
}

TEST_P(ChaCha20Poly1305WycheproofTest, OpenSsl) {
  const AeadVector& v = GetParam();
  const bool nonce_supported = v.iv.size() == 12;
  CheckAeadVector(v, raw::ChaCha20Poly1305EncryptOpenSsl, raw::ChaCha20Poly1305DecryptOpenSsl,
                  nonce_supported);
}

INSTANTIATE_TEST_SUITE_P(Wycheproof, ChaCha20Poly1305WycheproofTest,
                         ::testing::ValuesIn(ChaCha20Poly1305Vectors().vectors), TidName<AeadVector>);

TEST(ChaCha20Poly1305Wycheproof, EveryVectorIsInstantiated) {
  // Two implementations, two tests per vector.
  ExpectEveryVectorInstantiated(ChaCha20Poly1305Vectors(), "Wycheproof/ChaCha20Poly1305WycheproofTest", 2);
}

class AesGcmWycheproofTest : public ::testing::TestWithParam<AeadVector> {};

TEST_P(AesGcmWycheproofTest, OpenSsl) {
  const AeadVector& v = GetParam();
  // Empty IVs are invalid GCM; IVs over 128 bytes are valid GCM that OpenSSL 3 refuses.
  const bool nonce_supported = !v.iv.empty() && v.iv.size() <= raw::kAesGcmMaxNonceBytes;
  if (!nonce_supported) {
    EXPECT_TRUE(v.info.HasFlag("ZeroLengthIv") || v.info.HasFlag("LongIv"));
  }
  CheckAeadVector(v, raw::AesGcmEncrypt, raw::AesGcmDecrypt, nonce_supported);
}

INSTANTIATE_TEST_SUITE_P(Wycheproof, AesGcmWycheproofTest, ::testing::ValuesIn(AesGcmVectors().vectors),
                         TidName<AeadVector>);

TEST(AesGcmWycheproof, EveryVectorIsInstantiated) {
  ExpectEveryVectorInstantiated(AesGcmVectors(), "Wycheproof/AesGcmWycheproofTest", 1);
}

// ---------------------------------------------------------------------------------------------
// Ed25519 signature verification

struct Ed25519Vector {
  VectorInfo info;
  Bytes public_key, msg, sig;
};
void PrintTo(const Ed25519Vector& v, std::ostream* os) {
  *os << "tcId " << v.info.tc_id << " " << v.info.comment;
}

const VectorFile<Ed25519Vector>& Ed25519Vectors() {
  static const auto* const file = new VectorFile<Ed25519Vector>(
      LoadVectors<Ed25519Vector>("ed25519_test.json", [](const json& g, const json& t, VectorInfo info) {
        return Ed25519Vector{.info = std::move(info),
                             .public_key = Hex(g.at("publicKey").at("pk")),
                             .msg = Hex(t.at("msg")),
                             .sig = Hex(t.at("sig"))};
      }));
  return *file;
}

class Ed25519WycheproofTest : public ::testing::TestWithParam<Ed25519Vector> {};

TEST_P(Ed25519WycheproofTest, Verify) {
  const Ed25519Vector& v = GetParam();
  const Status status = VerifySignature(v.public_key, v.msg, v.sig);
  if (v.info.result == "valid") {
    EXPECT_THAT(status, IsOk());
  } else {
    ASSERT_EQ(v.info.result, "invalid");
    EXPECT_THAT(status, StatusIs(StatusCode::kSecurity, "signature verification failed"));
  }
}

INSTANTIATE_TEST_SUITE_P(Wycheproof, Ed25519WycheproofTest, ::testing::ValuesIn(Ed25519Vectors().vectors),
                         TidName<Ed25519Vector>);

TEST(Ed25519Wycheproof, EveryVectorIsInstantiated) {
  ExpectEveryVectorInstantiated(Ed25519Vectors(), "Wycheproof/Ed25519WycheproofTest", 1);
}

// ---------------------------------------------------------------------------------------------
// X25519

struct X25519Vector {
  VectorInfo info;
  Bytes public_key, private_key, shared;
};
void PrintTo(const X25519Vector& v, std::ostream* os) {
  *os << "tcId " << v.info.tc_id << " " << v.info.comment;
}

const VectorFile<X25519Vector>& X25519Vectors() {
  static const auto* const file = new VectorFile<X25519Vector>(
      LoadVectors<X25519Vector>("x25519_test.json", [](const json&, const json& t, VectorInfo info) {
        return X25519Vector{.info = std::move(info),
                            .public_key = Hex(t.at("public")),
                            .private_key = Hex(t.at("private")),
                            .shared = Hex(t.at("shared"))};
      }));
  return *file;
}

class X25519WycheproofTest : public ::testing::TestWithParam<X25519Vector> {};

TEST_P(X25519WycheproofTest, SharedSecret) {
  const X25519Vector& v = GetParam();
  const StatusOr<Bytes> shared = raw::X25519(v.private_key, v.public_key);
  if (v.info.result == "valid") {
    ASSERT_THAT(shared, IsOk());
    EXPECT_EQ(HexEncode(*shared), HexEncode(v.shared));
  } else {
    // "acceptable": twist points, non-canonical and low-order public keys. Computing the
    // listed value is fine; so is libsodium's refusal of a low-order point.
    ASSERT_EQ(v.info.result, "acceptable");
    if (shared.ok()) {
      EXPECT_EQ(HexEncode(*shared), HexEncode(v.shared));
    } else {
      EXPECT_THAT(shared, StatusIs(StatusCode::kDataLoss));
      EXPECT_TRUE(v.info.HasFlag("LowOrderPublic") || v.info.HasFlag("ZeroSharedSecret"));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Wycheproof, X25519WycheproofTest, ::testing::ValuesIn(X25519Vectors().vectors),
                         TidName<X25519Vector>);

TEST(X25519Wycheproof, EveryVectorIsInstantiated) {
  ExpectEveryVectorInstantiated(X25519Vectors(), "Wycheproof/X25519WycheproofTest", 1);
}

// ---------------------------------------------------------------------------------------------
// HKDF-SHA256

struct HkdfVector {
  VectorInfo info;
  Bytes ikm, salt, context_info, okm;
  size_t size = 0;
};
void PrintTo(const HkdfVector& v, std::ostream* os) {
  *os << "tcId " << v.info.tc_id << " " << v.info.comment;
}

const VectorFile<HkdfVector>& HkdfVectors() {
  static const auto* const file = new VectorFile<HkdfVector>(
      LoadVectors<HkdfVector>("hkdf_sha256_test.json", [](const json&, const json& t, VectorInfo info) {
        return HkdfVector{.info = std::move(info),
                          .ikm = Hex(t.at("ikm")),
                          .salt = Hex(t.at("salt")),
                          .context_info = Hex(t.at("info")),
                          .okm = Hex(t.at("okm")),
                          .size = t.at("size").get<size_t>()};
      }));
  return *file;
}

class HkdfSha256WycheproofTest : public ::testing::TestWithParam<HkdfVector> {};

TEST_P(HkdfSha256WycheproofTest, Derive) {
  const HkdfVector& v = GetParam();
  const StatusOr<Bytes> okm = HkdfSha256(v.ikm, v.salt, v.context_info, v.size);
  if (v.info.result == "valid") {
    ASSERT_THAT(okm, IsOk());
    EXPECT_EQ(HexEncode(*okm), HexEncode(v.okm));
  } else {
    ASSERT_EQ(v.info.result, "invalid");
    EXPECT_TRUE(v.info.HasFlag("SizeTooLarge"));
    EXPECT_THAT(okm, StatusIs(StatusCode::kInvalidArgument));
  }
}

INSTANTIATE_TEST_SUITE_P(Wycheproof, HkdfSha256WycheproofTest, ::testing::ValuesIn(HkdfVectors().vectors),
                         TidName<HkdfVector>);

TEST(HkdfSha256Wycheproof, EveryVectorIsInstantiated) {
  ExpectEveryVectorInstantiated(HkdfVectors(), "Wycheproof/HkdfSha256WycheproofTest", 1);
}

// ---------------------------------------------------------------------------------------------
// HMAC-SHA256

struct HmacVector {
  VectorInfo info;
  Bytes key, msg, tag;
  size_t tag_bytes = 0;
};
void PrintTo(const HmacVector& v, std::ostream* os) {
  *os << "tcId " << v.info.tc_id << " " << v.info.comment;
}

const VectorFile<HmacVector>& HmacVectors() {
  static const auto* const file = new VectorFile<HmacVector>(
      LoadVectors<HmacVector>("hmac_sha256_test.json", [](const json& g, const json& t, VectorInfo info) {
        return HmacVector{.info = std::move(info),
                          .key = Hex(t.at("key")),
                          .msg = Hex(t.at("msg")),
                          .tag = Hex(t.at("tag")),
                          .tag_bytes = g.at("tagSize").get<size_t>() / 8};
      }));
  return *file;
}

class HmacSha256WycheproofTest : public ::testing::TestWithParam<HmacVector> {};

TEST_P(HmacSha256WycheproofTest, Mac) {
  const HmacVector& v = GetParam();
  const Bytes mac = HmacSha256(v.key, v.msg);
  ASSERT_EQ(mac.size(), 32u);
  ASSERT_LE(v.tag_bytes, mac.size());
  // A truncated tag is the first tagSize/8 bytes of the full HMAC.
  const bool matches = ConstantTimeEqual(ByteView(mac).first(v.tag_bytes), v.tag);
  if (v.info.result == "valid") {
    EXPECT_TRUE(matches) << HexEncode(mac) << " vs " << HexEncode(v.tag);
  } else {
    ASSERT_EQ(v.info.result, "invalid");
    EXPECT_FALSE(matches);
  }
}

INSTANTIATE_TEST_SUITE_P(Wycheproof, HmacSha256WycheproofTest, ::testing::ValuesIn(HmacVectors().vectors),
                         TidName<HmacVector>);

TEST(HmacSha256Wycheproof, EveryVectorIsInstantiated) {
  ExpectEveryVectorInstantiated(HmacVectors(), "Wycheproof/HmacSha256WycheproofTest", 1);
}

}  // namespace
}  // namespace coffer::crypto
