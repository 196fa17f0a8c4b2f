#include "chunk/pack_wire.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace coffer::chunk {
namespace {

RawId IdOf(uint8_t n) {
  RawId id{};
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(n + i);
  return id;
}

Bytes Data(size_t n, uint8_t seed) {
  Bytes b(n);
  for (size_t i = 0; i < n; ++i) b[i] = static_cast<uint8_t>(seed * 31 + i);
  return b;
}

Bytes ThreeChunkPack() {
  PackWriter w;
  w.Add(IdOf(1), IdOf(101), Data(10, 1));
  w.Add(IdOf(2), IdOf(102), Data(1, 2));
  w.Add(IdOf(3), IdOf(103), Data(300, 3));
  return w.Finish();
}

TEST(PackWire, PackRoundTripsWithOffsetsIntoTheBody) {
  const Bytes body = ThreeChunkPack();
  ASSERT_EQ(body.size(), kPackHeaderBytes + 3 * kPackEntryOverhead + 311);
  auto entries = ParsePack(body);
  ASSERT_TRUE(entries.ok()) << entries.status().ToString();
  ASSERT_EQ(entries->size(), 3u);
  const std::vector<size_t> sizes = {10, 1, 300};
  for (size_t i = 0; i < 3; ++i) {
    const PackEntry& e = (*entries)[i];
    EXPECT_EQ(e.id, IdOf(static_cast<uint8_t>(i + 1)));
    EXPECT_EQ(e.sha256, IdOf(static_cast<uint8_t>(i + 101)));
    EXPECT_EQ(Bytes(e.data.begin(), e.data.end()), Data(sizes[i], static_cast<uint8_t>(i + 1)));
    // The offset is where the bytes sit in the body: a stored pack is read back by range.
    EXPECT_EQ(Bytes(body.begin() + e.offset, body.begin() + e.offset + sizes[i]),
              Bytes(e.data.begin(), e.data.end()));
  }
}

TEST(PackWire, PinnedBytesOfASmallPack) {
  PackWriter w;
  RawId id{}, sha{};
  id[0] = 0xaa;
  sha[31] = 0xbb;
  w.Add(id, sha, Bytes{0x01, 0x02});
  const Bytes body = w.Finish();
  // "CFPK", version 1, count 1 (LE), id, sha256, length 2 (LE), bytes (FORMAT.md §17).
  std::string hex = HexEncode(body);
  EXPECT_EQ(hex.substr(0, 18), "4346504b0101000000");
  EXPECT_EQ(hex.substr(18, 64), "aa" + std::string(62, '0'));
  EXPECT_EQ(hex.substr(82, 64), std::string(62, '0') + "bb");
  EXPECT_EQ(hex.substr(146), "020000000102");
}

TEST(PackWire, EveryTruncationAndEveryExtraByteIsRefused) {
  const Bytes body = ThreeChunkPack();
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(ParsePack(ByteView(body.data(), n)).ok()) << "prefix of " << n << " bytes accepted";
  }
  Bytes longer = body;
  longer.push_back(0);
  auto r = ParsePack(longer);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(r.status().message().find("left over"), std::string::npos) << r.status().message();
}

TEST(PackWire, BadHeaderCountsLengthsAndDuplicatesAreRefusedWithAReason) {
  const Bytes good = ThreeChunkPack();
  auto expect_refused = [](Bytes b, const std::string& reason) {
    auto r = ParsePack(b);
    ASSERT_FALSE(r.ok()) << reason;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(reason), std::string::npos) << r.status().message();
  };
  Bytes b = good;
  b[0] = 'X';
  expect_refused(b, "magic");
  b = good;
  b[4] = 2;
  expect_refused(b, "version 2");
  b = good;
  b[5] = b[6] = b[7] = b[8] = 0;
  expect_refused(b, "outside 1..");
  b = good;
  b[5] = 0xff, b[6] = 0xff, b[7] = 0xff, b[8] = 0xff;  // 4 billion chunks: refused before any allocation
  expect_refused(b, "outside 1..");
  b = good;
  b[5] = 0x00, b[6] = 0x10;  // 4096 chunks cannot fit in a few hundred bytes
  expect_refused(b, "cannot fit");
  b = good;
  const size_t len_at = kPackHeaderBytes + 64;
  b[len_at] = b[len_at + 1] = b[len_at + 2] = b[len_at + 3] = 0xff;  // inflated length
  expect_refused(b, "outside 1..");
  b = good;
  b[len_at] = 0;  // plausible length (1 KiB), larger than what remains
  b[len_at + 1] = 4;
  expect_refused(b, "remain");
  b = good;
  b[len_at] = b[len_at + 1] = b[len_at + 2] = b[len_at + 3] = 0;  // zero-length chunk
  expect_refused(b, "outside 1..");
  PackWriter w;
  w.Add(IdOf(1), IdOf(2), Data(5, 1));
  w.Add(IdOf(1), IdOf(2), Data(5, 1));
  expect_refused(w.Finish(), "twice");
}

TEST(PackWire, FetchReplyMustAnswerExactlyWhatWasAsked) {
  FetchReplyWriter w;
  w.Add(IdOf(1), Data(7, 1));
  w.Add(IdOf(2), Data(9, 2));
  const Bytes body = w.Finish();
  auto ok = ParseFetchReply(body, {IdOf(1), IdOf(2)});
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  ASSERT_EQ(ok->size(), 2u);
  EXPECT_EQ(Bytes((*ok)[1].begin(), (*ok)[1].end()), Data(9, 2));
  // A server answering another question (other order, another chunk, fewer or more).
  EXPECT_EQ(ParseFetchReply(body, {IdOf(2), IdOf(1)}).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(ParseFetchReply(body, {IdOf(1), IdOf(3)}).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(ParseFetchReply(body, {IdOf(1)}).status().code(), StatusCode::kDataLoss);
  EXPECT_EQ(ParseFetchReply(body, {IdOf(1), IdOf(2), IdOf(3)}).status().code(), StatusCode::kDataLoss);
  for (size_t n = 0; n < body.size(); ++n) {
    EXPECT_FALSE(ParseFetchReply(ByteView(body.data(), n), {IdOf(1), IdOf(2)}).ok()) << n;
  }
  Bytes longer = body;
  longer.push_back(1);
  EXPECT_FALSE(ParseFetchReply(longer, {IdOf(1), IdOf(2)}).ok());
  Bytes pack_magic = body;
  pack_magic[3] = 'K';  // a CFPK body is not a fetch reply
  EXPECT_FALSE(ParseFetchReply(pack_magic, {IdOf(1), IdOf(2)}).ok());
}

}  // namespace
}  // namespace coffer::chunk
