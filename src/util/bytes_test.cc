#include "util/bytes.h"

#include <gtest/gtest.h>

#include <string>

namespace coffer {
namespace {

Bytes AllByteValues() {
  Bytes out;
  for (int i = 0; i < 256; ++i) out.push_back(static_cast<uint8_t>(i));
  return out;
}

TEST(HexTest, KnownEncoding) {
  EXPECT_EQ(HexEncode({}), "");
  EXPECT_EQ(HexEncode(Bytes{0x00, 0x01, 0xab, 0xff}), "0001abff");
}

TEST(HexTest, RoundTripsEveryByteValue) {
  const Bytes all = AllByteValues();
  const auto decoded = HexDecode(HexEncode(all));
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, all);
}

TEST(HexTest, AcceptsUpperCase) {
  const auto decoded = HexDecode("ABcdEF");
  ASSERT_TRUE(decoded.ok());
  EXPECT_EQ(*decoded, (Bytes{0xab, 0xcd, 0xef}));
}

TEST(HexTest, EmptyDecodesToEmpty) {
  const auto decoded = HexDecode("");
  ASSERT_TRUE(decoded.ok());
  EXPECT_TRUE(decoded->empty());
}

TEST(HexTest, RejectsBadInput) {
  for (const char* bad : {"0", "abc", "zz", "0g", "g0", "00 11", " 0011", "0011 ", "00\n11", "-1", "0x00"}) {
    const auto decoded = HexDecode(bad);
    EXPECT_FALSE(decoded.ok()) << '"' << bad << '"';
    if (!decoded.ok()) {
      EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
    }
  }
  EXPECT_FALSE(HexDecode(std::string("00\0"
                                     "0",
                                     4))
                   .ok());  // embedded NUL
}

TEST(Base64Test, Rfc4648Vectors) {
  // RFC 4648 §10.
  const std::pair<const char*, const char*> kVectors[] = {
      {"", ""},
      {"f", "Zg=="},
      {"fo", "Zm8="},
      {"foo", "Zm9v"},
      {"foob", "Zm9vYg=="},
      {"fooba", "Zm9vYmE="},
      {"foobar", "Zm9vYmFy"},
  };
  for (const auto& [plain, encoded] : kVectors) {
    EXPECT_EQ(Base64Encode(AsBytes(plain)), encoded);
    const auto decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << encoded;
    EXPECT_EQ(AsChars(*decoded), plain);
  }
}

TEST(Base64Test, StandardAlphabetWithPadding) {
  EXPECT_EQ(Base64Encode(Bytes{0xfb, 0xff}), "+/8=");  // not the URL-safe "-_"
}

TEST(Base64Test, RoundTripsEveryLength) {
  const Bytes all = AllByteValues();
  for (size_t len = 0; len <= all.size(); ++len) {
    const ByteView input = ByteView(all).first(len);
    const std::string encoded = Base64Encode(input);
    EXPECT_EQ(encoded.size(), (len + 2) / 3 * 4);
    const auto decoded = Base64Decode(encoded);
    ASSERT_TRUE(decoded.ok()) << "length " << len;
    EXPECT_EQ(*decoded, ToBytes(input));
  }
}

TEST(Base64Test, RejectsBadInput) {
  for (const char* bad : {
           "Zg",        // missing padding
           "Zg=",       // short padding
           "Zg===",     // too much padding
           "Zm8",       // missing padding
           "Zh==",      // non-zero trailing bits (non-canonical)
           "Zm9=",      // non-zero trailing bits (non-canonical)
           "Zm9v!",     // bad character
           "Zm 9v",     // whitespace
           "Zm9v\n",    // trailing newline
           "-_8=",      // URL-safe alphabet
           "Zg==Zg==",  // data after padding
           "=",
           "====",
       }) {
    const auto decoded = Base64Decode(bad);
    EXPECT_FALSE(decoded.ok()) << '"' << bad << '"';
    if (!decoded.ok()) {
      EXPECT_EQ(decoded.status().code(), StatusCode::kInvalidArgument);
    }
  }
}

TEST(ByteWriterTest, LittleEndianLayout) {
  ByteWriter w;
  w.U8(0x01);
  w.U16(0x0302);
  w.U32(0x07060504);
  w.U64(0x0f0e0d0c0b0a0908);
  w.Blob(Bytes{0xaa, 0xbb});
  w.Str("hi");
  w.Raw("!");
  const Bytes expected = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e,
                          0x0f, 0x02, 0x00, 0x00, 0x00, 0xaa, 0xbb, 0x02, 0x00, 0x00, 0x00, 'h',  'i',  '!'};
  EXPECT_EQ(w.bytes(), expected);
  EXPECT_EQ(w.size(), expected.size());
  EXPECT_EQ(w.Take(), expected);
}

// One record with every field type, as the parsers in the rest of Coffer use them.
Bytes SampleRecord() {
  ByteWriter w;
  w.U8(0xfe);
  w.U16(0xbeef);
  w.U32(0xdeadbeef);
  w.U64(0x0123456789abcdefull);
  w.Blob(Bytes{1, 2, 3, 4, 5});
  w.Str("name");
  w.Blob({});
  w.Raw(Bytes{9, 9});
  return w.Take();
}

// Parses SampleRecord(); returns the first error.
Status ParseSample(ByteView data) {
  ByteReader r(data, "sample record");
  COFFER_ASSIGN_OR_RETURN(uint8_t u8, r.U8());
  COFFER_ASSIGN_OR_RETURN(uint16_t u16, r.U16());
  COFFER_ASSIGN_OR_RETURN(uint32_t u32, r.U32());
  COFFER_ASSIGN_OR_RETURN(uint64_t u64, r.U64());
  COFFER_ASSIGN_OR_RETURN(ByteView blob, r.Blob(16));
  COFFER_ASSIGN_OR_RETURN(std::string str, r.Str(16));
  COFFER_ASSIGN_OR_RETURN(ByteView empty, r.Blob(0));
  COFFER_ASSIGN_OR_RETURN(ByteView raw, r.Raw(2));
  COFFER_RETURN_IF_ERROR(r.ExpectEnd());
  if (u8 != 0xfe || u16 != 0xbeef || u32 != 0xdeadbeef || u64 != 0x0123456789abcdefull ||
      ToBytes(blob) != Bytes{1, 2, 3, 4, 5} || str != "name" || !empty.empty() ||
      ToBytes(raw) != Bytes{9, 9}) {
    return InternalError("values differ");
  }
  return OkStatus();
}

TEST(ByteReaderTest, ReadsWhatByteWriterWrote) {
  const Bytes record = SampleRecord();
  EXPECT_TRUE(ParseSample(record).ok()) << ParseSample(record).ToString();
}

TEST(ByteReaderTest, TruncationAtEveryOffsetIsDataLoss) {
  const Bytes record = SampleRecord();
  for (size_t len = 0; len < record.size(); ++len) {
    const Status status = ParseSample(ByteView(record).first(len));
    EXPECT_EQ(status.code(), StatusCode::kDataLoss) << "length " << len << ": " << status.ToString();
  }
}

TEST(ByteReaderTest, ErrorsNameTheObject) {
  ByteReader r(Bytes{1}, "device record");
  const auto v = r.U32();
  ASSERT_FALSE(v.ok());
  EXPECT_NE(v.status().message().find("device record"), std::string::npos) << v.status().message();
}

TEST(ByteReaderTest, FailedReadDoesNotAdvance) {
  const Bytes data = {1, 2, 3};
  ByteReader r(data, "x");
  EXPECT_FALSE(r.U32().ok());
  EXPECT_EQ(r.position(), 0u);
  EXPECT_EQ(r.remaining(), 3u);
  const auto u16 = r.U16();
  ASSERT_TRUE(u16.ok());
  EXPECT_EQ(*u16, 0x0201);
  EXPECT_EQ(r.position(), 2u);
  EXPECT_EQ(ToBytes(r.consumed()), (Bytes{1, 2}));
}

TEST(ByteReaderTest, BlobOverMaxLenIsRefused) {
  ByteWriter w;
  w.Blob(Bytes(10, 7));
  const Bytes data = w.Take();
  {
    ByteReader r(data, "x");
    const auto blob = r.Blob(9);
    ASSERT_FALSE(blob.ok());
    EXPECT_EQ(blob.status().code(), StatusCode::kDataLoss);
  }
  {
    ByteReader r(data, "x");
    EXPECT_TRUE(r.Blob(10).ok());
    EXPECT_TRUE(r.ExpectEnd().ok());
  }
  {
    ByteReader r(data, "x");
    EXPECT_FALSE(r.Str(9).ok());
  }
}

TEST(ByteReaderTest, HugeLengthPrefixIsRefusedNotAllocated) {
  ByteWriter w;
  w.U32(0xffffffff);
  w.Raw("abc");
  const Bytes data = w.Take();
  ByteReader bounded(data, "x");
  EXPECT_EQ(bounded.Blob(1024).status().code(), StatusCode::kDataLoss);
  ByteReader unbounded(data, "x");  // even with no limit, the data is not there
  EXPECT_EQ(unbounded.Blob(SIZE_MAX).status().code(), StatusCode::kDataLoss);
}

TEST(ByteReaderTest, ExpectEnd) {
  const Bytes data = {1, 2};
  ByteReader r(data, "x");
  EXPECT_EQ(r.ExpectEnd().code(), StatusCode::kDataLoss);
  ASSERT_TRUE(r.U8().ok());
  EXPECT_EQ(r.ExpectEnd().code(), StatusCode::kDataLoss);
  ASSERT_TRUE(r.U8().ok());
  EXPECT_TRUE(r.ExpectEnd().ok());
  EXPECT_FALSE(r.U8().ok());  // reading past the end fails and changes nothing
  EXPECT_TRUE(r.ExpectEnd().ok());
  ByteReader empty(Bytes{}, "x");
  EXPECT_TRUE(empty.ExpectEnd().ok());
  EXPECT_TRUE(empty.Raw(0).ok());
}

}  // namespace
}  // namespace coffer

// Found by fuzz/util_bytes_fuzz.cc: libsodium's decoder alone accepts bytes >= 0x80 as digits.
TEST(Base64Test, RejectsCharactersOutsideTheAlphabet) {
  EXPECT_FALSE(coffer::Base64Decode(std::string("\xff\xff\xff\xff", 4)).ok());
  EXPECT_FALSE(coffer::Base64Decode(std::string("Q\xc1JD", 4)).ok());
  EXPECT_FALSE(coffer::Base64Decode("QU JD").ok());
  ASSERT_TRUE(coffer::Base64Decode("QUJD").ok());
  EXPECT_EQ(coffer::AsChars(*coffer::Base64Decode("QUJD")), "ABC");
  EXPECT_FALSE(coffer::HexDecode(std::string("\xe6\xe6", 2)).ok());
  EXPECT_FALSE(coffer::HexDecode("0g").ok());
}
