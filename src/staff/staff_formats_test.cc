// Round trips and decoder hardening for the support console's formats (FORMAT.md §16).
#include "staff/formats/staff_formats.h"

#include <gtest/gtest.h>

#include "crypto/hash.h"

namespace coffer::staff {
namespace {

crypto::SigningKey Key(uint8_t seed_byte) {
  Bytes seed(32, seed_byte);
  return *crypto::SigningKey::FromSeed(crypto::SecretBytes::FromBytes(seed));
}

Grant SampleGrant() {
  Grant g;
  g.grant_id.fill(0x11);
  g.account_id.fill(0x22);
  g.device_id.fill(0x33);
  g.scopes = kScopeMetadata | kScopeRestoreTrash;
  g.issued_at = 1767225600;
  g.expires_at = 1767225600 + 7200;
  g.note = "ticket 42";
  SignGrant(g, Key(7));
  return g;
}

LogEntry SampleEntry() {
  LogEntry e;
  e.account_id.fill(0x22);
  e.seq = 3;
  e.prev_hash.fill(0x44);
  e.time = 1767225600;
  e.actor_id = std::string(32, 'a');
  e.actor_name = "sam";
  e.role = "support";
  e.action = "metadata";
  e.outcome = Outcome::kDenied;
  e.reason = "ticket 42";
  e.grant_id.fill(0x11);
  e.detail = "the grant expired";
  return e;
}

TEST(StaffFormats, GrantRoundTripsThroughItsCodeAndVerifies) {
  ASSERT_TRUE(crypto::Init().ok());
  const Grant g = SampleGrant();
  const std::string code = FormatGrantCode(g);
  EXPECT_EQ(code.rfind("CG1-", 0), 0u);
  auto parsed = ParseGrantCode(" " + code.substr(0, 20) + "\n" + code.substr(20) + " ");
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString();
  EXPECT_EQ(parsed->Encode(), g.Encode());
  EXPECT_EQ(parsed->note, "ticket 42");
  EXPECT_TRUE(VerifyGrantSignature(*parsed, Key(7).public_key()).ok());
  EXPECT_EQ(VerifyGrantSignature(*parsed, Key(8).public_key()).code(), StatusCode::kSecurity);
  Grant widened = *parsed;
  widened.expires_at += 1;
  EXPECT_EQ(VerifyGrantSignature(widened, Key(7).public_key()).code(), StatusCode::kSecurity);
}

TEST(StaffFormats, GrantCodeChecksumCatchesEveryChangedCharacter) {
  ASSERT_TRUE(crypto::Init().ok());
  const std::string code = FormatGrantCode(SampleGrant());
  for (size_t i = 4; i < code.size(); ++i) {
    std::string bad = code;
    bad[i] = bad[i] == 'A' ? 'B' : 'A';
    EXPECT_FALSE(ParseGrantCode(bad).ok()) << "position " << i;
  }
  EXPECT_FALSE(ParseGrantCode("CG2-" + code.substr(4)).ok());
  EXPECT_FALSE(ParseGrantCode("").ok());
  EXPECT_FALSE(ParseGrantCode("CG1-").ok());
}

TEST(StaffFormats, LogEntriesRoundTripAndEveryTruncationIsRefused) {
  ASSERT_TRUE(crypto::Init().ok());
  const crypto::SigningKey key = Key(9);
  const Bytes encoded = SignLogEntry(SampleEntry(), key);
  Bytes sig;
  auto back = LogEntry::Decode(encoded, &sig);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  EXPECT_EQ(back->SignedPart(), SampleEntry().SignedPart());
  EXPECT_TRUE(crypto::VerifySignature(key.public_key(), back->SignedPart(), sig).ok());
  for (size_t n = 0; n < encoded.size(); ++n) {
    EXPECT_EQ(LogEntry::Decode(ByteView(encoded).first(n), nullptr).status().code(), StatusCode::kDataLoss) << n;
  }
  Bytes trailing = encoded;
  trailing.push_back(0);
  EXPECT_FALSE(LogEntry::Decode(trailing, nullptr).ok());
  Bytes wrong_version = encoded;
  wrong_version[4] = 2;
  EXPECT_NE(LogEntry::Decode(wrong_version, nullptr).status().message().find("version 2"), std::string::npos);
  Bytes wrong_magic = encoded;
  wrong_magic[0] = 'X';
  EXPECT_FALSE(LogEntry::Decode(wrong_magic, nullptr).ok());

  GlobalLogEntry g;
  g.seq = 5;
  g.account_id.fill(0x22);
  g.account_length = 4;
  g.account_head = EntryHash(encoded);
  g.time = 1767225600;
  const Bytes genc = SignGlobalLogEntry(g, key);
  auto gback = GlobalLogEntry::Decode(genc, &sig);
  ASSERT_TRUE(gback.ok());
  EXPECT_EQ(gback->SignedPart(), g.SignedPart());
  for (size_t n = 0; n < genc.size(); ++n) EXPECT_FALSE(GlobalLogEntry::Decode(ByteView(genc).first(n), nullptr).ok());
  // One kind never parses as another.
  EXPECT_FALSE(GlobalLogEntry::Decode(encoded, nullptr).ok());
  EXPECT_FALSE(Grant::Decode(encoded).ok());
}

TEST(StaffFormats, ScopesAndIds) {
  EXPECT_EQ(*ScopeFromName("metadata"), kScopeMetadata);
  EXPECT_EQ(*ScopeFromName("restore-trash"), kScopeRestoreTrash);
  EXPECT_FALSE(ScopeFromName("everything").ok());
  EXPECT_EQ(ScopeNames(kAllScopes), "metadata,restore-trash");
  EXPECT_FALSE(Id16FromHex("ABCDEF0123456789abcdef0123456789").ok());
  EXPECT_TRUE(Id16FromHex("abcdef0123456789abcdef0123456789").ok());
}

}  // namespace
}  // namespace coffer::staff
