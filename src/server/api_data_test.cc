// Chain, keyring, revisions, checkpoints, chunks, gc, pairing and cross-account isolation,
// at the handler level on real stores.
#include <gtest/gtest.h>

#include <atomic>
#include <set>
#include <thread>

#include "chunk/pack_wire.h"
#include "server/server_test_util.h"

namespace coffer::server::testing {
namespace {

TEST_F(ApiTest, ChainCompareAndSet) {
  TestAccount a = CreateAccount("chain@example.com");
  TestDevice d;
  json add{{"seq", 0}, {"entry", B64("late")}, {"effect", {{"action", "add"}, {"device", d.Json()}}}};
  Response lost = SendJson("POST", "/v1/chain", add, a.token);
  EXPECT_EQ(lost.status, 409);
  EXPECT_EQ(ErrorCode(lost), "ABORTED");
  EXPECT_EQ(ParseBody(lost)["current"], 1);
  EXPECT_EQ(meta_->GetDevice(a.account_id, d.id).status().code(),
            StatusCode::kNotFound);  // no effect applied

  add["seq"] = 1;
  add["entry"] = B64("entry 1");
  ASSERT_EQ(SendJson("POST", "/v1/chain", add, a.token).status, 201);
  // A retry of the entry that landed last succeeds again (its reply may have been lost)...
  EXPECT_EQ(SendJson("POST", "/v1/chain", add, a.token).status, 201);
  // ...but different bytes for a taken seq are a conflict.
  add["entry"] = B64("other entry 1");
  Response conflict = SendJson("POST", "/v1/chain", add, a.token);
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(ParseBody(conflict)["current"], 2);
  add["seq"] = 5;
  EXPECT_EQ(SendJson("POST", "/v1/chain", add, a.token).status, 409);

  Response chain = Send("GET", "/v1/chain?from=1", {}, a.token);
  ASSERT_EQ(chain.status, 200);
  EXPECT_EQ(ParseBody(chain)["from"], 1);
  ASSERT_EQ(ParseBody(chain)["entries"].size(), 1u);
  EXPECT_EQ(ParseBody(chain)["entries"][0], B64("entry 1"));
  Response all = Send("GET", "/v1/chain", {}, a.token);
  EXPECT_EQ(ParseBody(all)["entries"].size(), 2u);
  EXPECT_EQ(ParseBody(Send("GET", "/v1/chain?from=9", {}, a.token))["entries"].size(), 0u);
}

TEST_F(ApiTest, SealedKeys) {
  TestAccount a = CreateAccount("sealed@example.com");
  Response r = Send("GET", "/v1/keys/sealed/" + a.device.id, {}, a.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(ParseBody(r)["epoch"], 1);
  EXPECT_EQ(ParseBody(r)["blob"], B64("sealed key"));
  ASSERT_EQ(
      SendJson("PUT", "/v1/keys/sealed/" + a.device.id, json{{"epoch", 2}, {"blob", B64("epoch 2")}}, a.token)
          .status,
      204);
  r = Send("GET", "/v1/keys/sealed/" + a.device.id, {}, a.token);
  EXPECT_EQ(ParseBody(r)["epoch"], 2);
  EXPECT_EQ(ParseBody(r)["blob"], B64("epoch 2"));
  const std::string stranger = RandomHex(16);
  EXPECT_EQ(
      SendJson("PUT", "/v1/keys/sealed/" + stranger, json{{"epoch", 1}, {"blob", B64("x")}}, a.token).status,
      404);
  EXPECT_EQ(Send("GET", "/v1/keys/sealed/" + stranger, {}, a.token).status, 404);
}

TEST_F(ApiTest, KeyringCompareAndSet) {
  TestAccount a = CreateAccount("ring@example.com");
  Response r = Send("GET", "/v1/keyring", {}, a.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(ParseBody(r)["version"], 1);
  EXPECT_EQ(ParseBody(r)["blob"], B64("keyring v1"));

  Response stale = SendJson("PUT", "/v1/keyring", json{{"version", 1}, {"blob", B64("mine")}}, a.token);
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(ErrorCode(stale), "ABORTED");
  EXPECT_EQ(ParseBody(stale)["current"], 1);
  EXPECT_EQ(SendJson("PUT", "/v1/keyring", json{{"version", 3}, {"blob", B64("mine")}}, a.token).status, 409);
  ASSERT_EQ(SendJson("PUT", "/v1/keyring", json{{"version", 2}, {"blob", B64("v2")}}, a.token).status, 204);
  r = Send("GET", "/v1/keyring", {}, a.token);
  EXPECT_EQ(ParseBody(r)["version"], 2);
  EXPECT_EQ(ParseBody(r)["blob"], B64("v2"));
}

TEST_F(ApiTest, RevisionsCompareAndSetAndOrdering) {
  TestAccount a = CreateAccount("rev@example.com");
  const std::string cid = RandomHex(16);
  const std::string base = "/v1/collections/" + cid;
  Response empty = Send("GET", base + "/revisions", {}, a.token);
  ASSERT_EQ(empty.status, 200);
  EXPECT_EQ(ParseBody(empty)["head"], 0);
  EXPECT_EQ(ParseBody(empty)["revisions"].size(), 0u);

  Response skip = Send("PUT", base + "/revisions/2", ToBytes("r2"), a.token);
  EXPECT_EQ(skip.status, 409);
  EXPECT_EQ(ParseBody(skip)["head"], 0);
  for (int n = 1; n <= 5; ++n) {
    Response put =
        Send("PUT", base + "/revisions/" + std::to_string(n), ToBytes("r" + std::to_string(n)), a.token);
    ASSERT_EQ(put.status, 201) << AsChars(put.body);
    EXPECT_EQ(ParseBody(put)["head"], n);
  }
  // A concurrent writer that lost the race learns the head.
  Response lost = Send("PUT", base + "/revisions/5", ToBytes("someone else's r5"), a.token);
  EXPECT_EQ(lost.status, 409);
  EXPECT_EQ(ErrorCode(lost), "ABORTED");
  EXPECT_EQ(ParseBody(lost)["head"], 5);
  // The same bytes again: a retry, acknowledged.
  EXPECT_EQ(Send("PUT", base + "/revisions/5", ToBytes("r5"), a.token).status, 201);

  Response page = Send("GET", base + "/revisions?from=2&limit=2", {}, a.token);
  ASSERT_EQ(page.status, 200);
  json body = ParseBody(page);
  EXPECT_EQ(body["head"], 5);
  ASSERT_EQ(body["revisions"].size(), 2u);
  EXPECT_EQ(body["revisions"][0]["number"], 2);
  EXPECT_EQ(body["revisions"][0]["data"], B64("r2"));
  EXPECT_EQ(body["revisions"][1]["number"], 3);
  Response rest = Send("GET", base + "/revisions?from=4", {}, a.token);
  ASSERT_EQ(ParseBody(rest)["revisions"].size(), 2u);
  EXPECT_EQ(ParseBody(rest)["revisions"][1]["number"], 5);

  Response list = Send("GET", "/v1/collections", {}, a.token);
  ASSERT_EQ(list.status, 200);
  ASSERT_EQ(ParseBody(list)["collections"].size(), 1u);
  EXPECT_EQ(ParseBody(list)["collections"][0]["id"], cid);
  EXPECT_EQ(ParseBody(list)["collections"][0]["head"], 5);

  // used_bytes counts revision bytes.
  EXPECT_EQ(meta_->GetAccount(a.account_id)->used_bytes, 10u);
}

TEST_F(ApiTest, Checkpoints) {
  TestAccount a = CreateAccount("cp@example.com");
  const std::string base = "/v1/collections/" + RandomHex(16);
  EXPECT_EQ(Send("GET", base + "/checkpoint", {}, a.token).status, 404);
  EXPECT_EQ(Send("PUT", base + "/checkpoint/1", ToBytes("cp"), a.token).status, 412);
  ASSERT_EQ(Send("PUT", base + "/revisions/1", ToBytes("r1"), a.token).status, 201);
  ASSERT_EQ(Send("PUT", base + "/revisions/2", ToBytes("r2"), a.token).status, 201);
  Response past = Send("PUT", base + "/checkpoint/3", ToBytes("cp3"), a.token);
  EXPECT_EQ(past.status, 412);
  EXPECT_EQ(ErrorCode(past), "FAILED_PRECONDITION");
  ASSERT_EQ(Send("PUT", base + "/checkpoint/2", ToBytes("cp2"), a.token).status, 204);
  Response cp = Send("GET", base + "/checkpoint", {}, a.token);
  ASSERT_EQ(cp.status, 200);
  EXPECT_EQ(ParseBody(cp)["number"], 2);
  EXPECT_EQ(ParseBody(cp)["data"], B64("cp2"));
}

TEST_F(ApiTest, QuotaIs507) {
  quota_ = 1000;
  MakeApi();
  TestAccount a = CreateAccount("quota@example.com");
  EXPECT_EQ(meta_->GetAccount(a.account_id)->quota_bytes, 1000u);
  ASSERT_EQ(PutChunk(a.token, RandomHex(32), Bytes(600, 1)).status, 201);
  Response full = PutChunk(a.token, RandomHex(32), Bytes(600, 2));
  EXPECT_EQ(full.status, 507);
  EXPECT_EQ(ErrorCode(full), "RESOURCE_EXHAUSTED");
  EXPECT_NE(ErrorMessage(full).find("quota"), std::string::npos);
  const std::string base = "/v1/collections/" + RandomHex(16);
  EXPECT_EQ(Send("PUT", base + "/revisions/1", Bytes(600, 3), a.token).status, 507);
  EXPECT_EQ(Send("PUT", base + "/revisions/1", Bytes(300, 3), a.token).status, 201);
  EXPECT_EQ(meta_->GetAccount(a.account_id)->used_bytes, 900u);
  // Nothing of the refused chunk was kept.
  size_t blobs = 0;
  ASSERT_TRUE(blobs_->List(a.account_id + "/", [&](const std::string&) { return ++blobs, true; }).ok());
  EXPECT_EQ(blobs, 1u);
}

TEST_F(ApiTest, ChunkPutHeadGetMissingList) {
  TestAccount a = CreateAccount("chunks@example.com");
  const std::string id1 = RandomHex(32), id2 = RandomHex(32), id3 = RandomHex(32);
  const Bytes data1 = ToBytes("ciphertext one"), data2 = crypto::RandomBytes(100000);

  Response put = PutChunk(a.token, id1, data1);
  ASSERT_EQ(put.status, 201) << AsChars(put.body);
  EXPECT_EQ(PutChunk(a.token, id1, data1).status, 200);  // idempotent
  // Once stored, a repeated PUT is acknowledged whatever the body (it is ignored).
  EXPECT_EQ(PutChunk(a.token, id1, ToBytes("different")).status, 200);
  ASSERT_EQ(PutChunk(a.token, id2, data2).status, 201);
  // The blob lives under the account's prefix.
  EXPECT_TRUE(*blobs_->Exists(a.account_id + "/" + id1));

  Response head = Send("HEAD", "/v1/chunks/" + id1, {}, a.token);
  EXPECT_EQ(head.status, 200);
  ASSERT_TRUE(head.head_content_length.has_value());
  EXPECT_EQ(*head.head_content_length, data1.size());
  EXPECT_EQ(Send("HEAD", "/v1/chunks/" + id3, {}, a.token).status, 404);

  Response get = Send("GET", "/v1/chunks/" + id2, {}, a.token);
  ASSERT_EQ(get.status, 200);
  EXPECT_EQ(get.content_type, "application/octet-stream");
  EXPECT_EQ(get.body, data2);
  EXPECT_EQ(Send("GET", "/v1/chunks/" + id3, {}, a.token).status, 404);

  Response missing = SendJson("POST", "/v1/chunks/missing", json{{"ids", {id1, id3, id2, id3}}}, a.token);
  ASSERT_EQ(missing.status, 200);
  EXPECT_EQ(ParseBody(missing)["missing"], json({id3, id3}));

  Response list = Send("GET", "/v1/chunks", {}, a.token);
  ASSERT_EQ(list.status, 200);
  json chunks = ParseBody(list)["chunks"];
  ASSERT_EQ(chunks.size(), 2u);
  uint64_t total = 0;
  for (const auto& c : chunks) total += c["size"].get<uint64_t>();
  EXPECT_EQ(total, data1.size() + data2.size());
  EXPECT_EQ(meta_->GetAccount(a.account_id)->used_bytes, data1.size() + data2.size());
}

TEST_F(ApiTest, ChunkChecksumMismatchIs400AndStoresNothing) {
  TestAccount a = CreateAccount("sum@example.com");
  const std::string id = RandomHex(32);
  const Bytes data = ToBytes("the real bytes");
  Response bad =
      Send("PUT", "/v1/chunks/" + id, data, a.token, HexEncode(crypto::Sha256(ToBytes("other bytes"))));
  EXPECT_EQ(bad.status, 400);
  EXPECT_EQ(ErrorCode(bad), "INVALID_ARGUMENT");
  EXPECT_NE(ErrorMessage(bad).find("X-Coffer-Sha256"), std::string::npos);
  EXPECT_EQ(Send("PUT", "/v1/chunks/" + id, data, a.token).status, 400);  // header missing
  EXPECT_EQ(Send("PUT", "/v1/chunks/" + id, data, a.token, "ABC").status, 400);
  EXPECT_EQ(Send("PUT", "/v1/chunks/" + id, data, a.token,
                 [&] {
                   std::string h = HexEncode(crypto::Sha256(data));
                   for (auto& ch : h) ch = std::toupper(ch);
                   return h;
                 }())
                .status,
            400);
  EXPECT_EQ(Send("HEAD", "/v1/chunks/" + id, {}, a.token).status, 404);
  EXPECT_FALSE(*blobs_->Exists(a.account_id + "/" + id));
  EXPECT_EQ(meta_->GetAccount(a.account_id)->used_bytes, 0u);
}

TEST_F(ApiTest, CorruptStoredChunkIsDataLossAndCanBeRepaired) {
  TestAccount a = CreateAccount("rot@example.com");
  const std::string id = RandomHex(32);
  const Bytes data = crypto::RandomBytes(4096);
  ASSERT_EQ(PutChunk(a.token, id, data).status, 201);
  // Flip one bit in the stored copy, behind the server's back.
  Bytes damaged = data;
  damaged[100] ^= 0x01;
  ASSERT_TRUE(blobs_->Put(a.account_id + "/" + id, damaged).ok());

  Response r = Send("GET", "/v1/chunks/" + id, {}, a.token);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(ErrorCode(r), "DATA_LOSS");
  EXPECT_NE(ErrorMessage(r).find(id), std::string::npos);  // names the chunk
  EXPECT_TRUE(r.content_type == "application/json");
  // It now reads as missing, so a device that has it uploads it again.
  Response missing = SendJson("POST", "/v1/chunks/missing", json{{"ids", {id}}}, a.token);
  EXPECT_EQ(ParseBody(missing)["missing"], json({id}));
  ASSERT_EQ(PutChunk(a.token, id, data).status, 201);
  Response healed = Send("GET", "/v1/chunks/" + id, {}, a.token);
  EXPECT_EQ(healed.status, 200);
  EXPECT_EQ(healed.body, data);

  // Bytes gone entirely: the same.
  ASSERT_TRUE(blobs_->Delete(a.account_id + "/" + id).ok());
  Response gone = Send("GET", "/v1/chunks/" + id, {}, a.token);
  EXPECT_EQ(gone.status, 500);
  EXPECT_EQ(ErrorCode(gone), "DATA_LOSS");
}

namespace {

chunk::RawId RawOf(const std::string& hex) {
  chunk::RawId id{};
  const Bytes raw = *HexDecode(hex);
  std::copy(raw.begin(), raw.end(), id.begin());
  return id;
}

// A CFPK body of (id, bytes) pairs with correct SHA-256 fields.
Bytes PackOf(const std::vector<std::pair<std::string, Bytes>>& chunks) {
  chunk::PackWriter w;
  for (const auto& [id, data] : chunks) w.Add(RawOf(id), RawOf(HexEncode(crypto::Sha256(data))), data);
  return w.Finish();
}

}  // namespace

TEST_F(ApiTest, ChunkPackStoresOneBlobAndServesEachChunkAndFetchBatches) {
  TestAccount a = CreateAccount("pack@example.com");
  const std::string id1 = RandomHex(32), id2 = RandomHex(32), id3 = RandomHex(32), old = RandomHex(32);
  const Bytes d1 = crypto::RandomBytes(5000), d2 = ToBytes("two"), d3 = crypto::RandomBytes(70000);
  ASSERT_EQ(PutChunk(a.token, old, ToBytes("stored alone")).status, 201);

  Response r = Send("POST", "/v1/chunks/pack", PackOf({{id1, d1}, {id2, d2}, {old, ToBytes("stored alone")}}), a.token);
  ASSERT_EQ(r.status, 201) << AsChars(r.body);
  EXPECT_EQ(ParseBody(r)["stored"], 2);
  EXPECT_EQ(ParseBody(r)["existing"], 1);
  ASSERT_EQ(Send("POST", "/v1/chunks/pack", PackOf({{id3, d3}, {id1, d1}}), a.token).status, 201);
  // Again: nothing new, nothing stored.
  Response again = Send("POST", "/v1/chunks/pack", PackOf({{id3, d3}}), a.token);
  ASSERT_EQ(again.status, 200);
  EXPECT_EQ(ParseBody(again)["stored"], 0);
  EXPECT_EQ(meta_->GetAccount(a.account_id)->used_bytes, 12 + d1.size() + d2.size() + d3.size());

  // Two pack blobs plus the lone chunk; each chunk reads back alone and in a batch.
  size_t packs = 0;
  ASSERT_TRUE(blobs_->List(a.account_id + "/packs/", [&](const std::string&) { return ++packs, true; }).ok());
  EXPECT_EQ(packs, 2u);
  EXPECT_EQ(Send("GET", "/v1/chunks/" + id1, {}, a.token).body, d1);
  EXPECT_EQ(Send("GET", "/v1/chunks/" + id2, {}, a.token).body, d2);
  EXPECT_EQ(Send("GET", "/v1/chunks/" + id3, {}, a.token).body, d3);
  Response fetched = SendJson("POST", "/v1/chunks/fetch", json{{"ids", {id3, old, id2, id1}}}, a.token);
  ASSERT_EQ(fetched.status, 200);
  auto parts = chunk::ParseFetchReply(fetched.body, {RawOf(id3), RawOf(old), RawOf(id2), RawOf(id1)});
  ASSERT_TRUE(parts.ok()) << parts.status().ToString();
  EXPECT_EQ(Bytes((*parts)[0].begin(), (*parts)[0].end()), d3);
  EXPECT_EQ(Bytes((*parts)[1].begin(), (*parts)[1].end()), ToBytes("stored alone"));
  EXPECT_EQ(Bytes((*parts)[3].begin(), (*parts)[3].end()), d1);
  // One unknown id fails the whole fetch and names it.
  const std::string unknown = RandomHex(32);
  Response miss = SendJson("POST", "/v1/chunks/fetch", json{{"ids", {id1, unknown}}}, a.token);
  EXPECT_EQ(miss.status, 404);
  EXPECT_NE(ErrorMessage(miss).find(unknown), std::string::npos);
  EXPECT_EQ(SendJson("POST", "/v1/chunks/fetch", json{{"ids", json::array()}}, a.token).status, 400);
}

TEST_F(ApiTest, ChunkPackWithABadChecksumOrShapeStoresNothing) {
  TestAccount a = CreateAccount("badpack@example.com");
  const std::string id1 = RandomHex(32), id2 = RandomHex(32);
  chunk::PackWriter w;
  w.Add(RawOf(id1), RawOf(HexEncode(crypto::Sha256(ToBytes("one")))), ToBytes("one"));
  w.Add(RawOf(id2), RawOf(HexEncode(crypto::Sha256(ToBytes("other")))), ToBytes("two"));
  Response bad = Send("POST", "/v1/chunks/pack", w.Finish(), a.token);
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(ErrorMessage(bad).find(id2), std::string::npos) << ErrorMessage(bad);
  Bytes truncated = PackOf({{id1, ToBytes("one")}});
  truncated.pop_back();
  EXPECT_EQ(Send("POST", "/v1/chunks/pack", truncated, a.token).status, 400);
  EXPECT_EQ(Send("POST", "/v1/chunks/pack", ToBytes("not a pack"), a.token).status, 400);
  EXPECT_EQ(Send("HEAD", "/v1/chunks/" + id1, {}, a.token).status, 404);
  EXPECT_EQ(meta_->GetAccount(a.account_id)->used_bytes, 0u);
  size_t blobs = 0;
  ASSERT_TRUE(blobs_->List(a.account_id + "/", [&](const std::string&) { return ++blobs, true; }).ok());
  EXPECT_EQ(blobs, 0u);
}

TEST_F(ApiTest, ChunkPackOverQuotaKeepsNoBlob) {
  quota_ = 1000;
  MakeApi();
  TestAccount a = CreateAccount("packquota@example.com");
  Response full = Send("POST", "/v1/chunks/pack", PackOf({{RandomHex(32), Bytes(600, 1)}, {RandomHex(32), Bytes(600, 2)}}),
                       a.token);
  EXPECT_EQ(full.status, 507);
  size_t blobs = 0;
  ASSERT_TRUE(blobs_->List(a.account_id + "/", [&](const std::string&) { return ++blobs, true; }).ok());
  EXPECT_EQ(blobs, 0u);
  EXPECT_EQ(meta_->GetAccount(a.account_id)->used_bytes, 0u);
}

TEST_F(ApiTest, DamagedChunkInAPackIsDataLossAndCanBeRepaired) {
  TestAccount a = CreateAccount("packrot@example.com");
  const std::string id1 = RandomHex(32), id2 = RandomHex(32);
  const Bytes d1 = crypto::RandomBytes(3000), d2 = crypto::RandomBytes(3000);
  ASSERT_EQ(Send("POST", "/v1/chunks/pack", PackOf({{id1, d1}, {id2, d2}}), a.token).status, 201);
  std::string pack_key;
  ASSERT_TRUE(blobs_->List(a.account_id + "/packs/", [&](const std::string& k) { return pack_key = k, false; }).ok());
  Bytes blob = *blobs_->Get(pack_key);
  const size_t at = chunk::kPackHeaderBytes + chunk::kPackEntryOverhead + 10;  // inside chunk 1
  blob[at] ^= 0x01;
  ASSERT_TRUE(blobs_->Put(pack_key, blob).ok());
  Response r = SendJson("POST", "/v1/chunks/fetch", json{{"ids", {id2, id1}}}, a.token);
  EXPECT_EQ(r.status, 500);
  EXPECT_EQ(ErrorCode(r), "DATA_LOSS");
  EXPECT_NE(ErrorMessage(r).find(id1), std::string::npos);
  EXPECT_EQ(Send("GET", "/v1/chunks/" + id2, {}, a.token).body, d2);  // its neighbour is fine
  // id1 now reads as missing; uploading it again lands in a new pack.
  Response missing = SendJson("POST", "/v1/chunks/missing", json{{"ids", {id1, id2}}}, a.token);
  EXPECT_EQ(ParseBody(missing)["missing"], json({id1}));
  ASSERT_EQ(Send("POST", "/v1/chunks/pack", PackOf({{id1, d1}}), a.token).status, 201);
  EXPECT_EQ(Send("GET", "/v1/chunks/" + id1, {}, a.token).body, d1);
}

TEST_F(ApiTest, GcDeletesAPackOnlyWhenNoChunkInItLives) {
  TestAccount a = CreateAccount("packgc@example.com");
  const std::string live = RandomHex(32), dead1 = RandomHex(32), dead2 = RandomHex(32), dead3 = RandomHex(32);
  ASSERT_EQ(Send("POST", "/v1/chunks/pack", PackOf({{live, ToBytes("live")}, {dead1, ToBytes("dead one")}}), a.token)
                .status,
            201);
  ASSERT_EQ(Send("POST", "/v1/chunks/pack", PackOf({{dead2, ToBytes("dead two")}, {dead3, ToBytes("dead 3")}}), a.token)
                .status,
            201);
  auto count_packs = [&] {
    size_t n = 0;
    EXPECT_TRUE(blobs_->List(a.account_id + "/packs/", [&](const std::string&) { return ++n, true; }).ok());
    return n;
  };
  ASSERT_EQ(count_packs(), 2u);
  now_ += 4000;
  Response r = SendJson("POST", "/v1/gc", json{{"live", {live}}}, a.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(ParseBody(r)["deleted"], 3);
  EXPECT_EQ(count_packs(), 1u);  // the one holding `live` stays
  EXPECT_EQ(Send("GET", "/v1/chunks/" + live, {}, a.token).body, ToBytes("live"));
  EXPECT_EQ(Send("HEAD", "/v1/chunks/" + dead1, {}, a.token).status, 404);
  r = SendJson("POST", "/v1/gc", json{{"live", json::array()}}, a.token);
  EXPECT_EQ(ParseBody(r)["deleted"], 1);
  EXPECT_EQ(count_packs(), 0u);
  EXPECT_EQ(meta_->GetAccount(a.account_id)->used_bytes, 0u);
}

TEST_F(ApiTest, GcHonoursLiveSetAndGracePeriod) {
  TestAccount a = CreateAccount("gc@example.com");
  const std::string live = RandomHex(32), old_dead = RandomHex(32), young_dead = RandomHex(32);
  ASSERT_EQ(PutChunk(a.token, live, ToBytes("live")).status, 201);
  ASSERT_EQ(PutChunk(a.token, old_dead, ToBytes("old dead")).status, 201);
  now_ += 3000;
  ASSERT_EQ(PutChunk(a.token, young_dead, ToBytes("young dead")).status, 201);

  // 3000 s later nothing is past the 3600 s grace period yet.
  Response r = SendJson("POST", "/v1/gc", json{{"live", {live}}}, a.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(ParseBody(r)["deleted"], 0);

  now_ += 601;  // old_dead is now 3601 s old, young_dead 601 s
  r = SendJson("POST", "/v1/gc", json{{"live", {live}}}, a.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(ParseBody(r)["deleted"], 1);
  EXPECT_EQ(ParseBody(r)["freed_bytes"], 8);
  EXPECT_EQ(Send("HEAD", "/v1/chunks/" + old_dead, {}, a.token).status, 404);
  EXPECT_FALSE(*blobs_->Exists(a.account_id + "/" + old_dead));
  EXPECT_EQ(Send("HEAD", "/v1/chunks/" + young_dead, {}, a.token).status, 200);
  EXPECT_EQ(Send("HEAD", "/v1/chunks/" + live, {}, a.token).status, 200);
  EXPECT_EQ(meta_->GetAccount(a.account_id)->used_bytes, 4u + 10u);

  now_ += 3600;
  r = SendJson("POST", "/v1/gc", json{{"live", json::array()}}, a.token);
  EXPECT_EQ(ParseBody(r)["deleted"], 2);
  EXPECT_EQ(meta_->GetAccount(a.account_id)->used_bytes, 0u);
}

TEST_F(ApiTest, GcSparesChunksReportedPresentAndRefusesStaleHeads) {
  TestAccount a = CreateAccount("gc-race@example.com");
  const std::string reused = RandomHex(32);
  ASSERT_EQ(PutChunk(a.token, reused, ToBytes("old but about to be referenced")).status, 201);
  now_ += 4000;  // past the grace period
  // Another device learns the chunk is present (dedup) and will reference it without upload.
  Response m = SendJson("POST", "/v1/chunks/missing", json{{"ids", {reused}}}, a.token);
  ASSERT_EQ(m.status, 200);
  EXPECT_TRUE(ParseBody(m)["missing"].empty());
  Response r = SendJson("POST", "/v1/gc", json{{"live", json::array()}}, a.token);
  ASSERT_EQ(r.status, 200);
  EXPECT_EQ(ParseBody(r)["deleted"], 0) << "a chunk reported present must survive the grace period";

  // A live set computed from stale heads is refused.
  const std::string cid = RandomHex(16);
  ASSERT_EQ(Send("PUT", "/v1/collections/" + cid + "/revisions/1", ToBytes("r1"), a.token).status, 201);
  Response stale = SendJson("POST", "/v1/gc", json{{"live", json::array()}, {"heads", {{cid, 0}}}}, a.token);
  EXPECT_EQ(stale.status, 409);
  EXPECT_EQ(ErrorCode(stale), "ABORTED");
  Response fresh = SendJson("POST", "/v1/gc", json{{"live", json::array()}, {"heads", {{cid, 1}}}}, a.token);
  EXPECT_EQ(fresh.status, 200);
  Response bad = SendJson("POST", "/v1/gc", json{{"live", json::array()}, {"heads", "nope"}}, a.token);
  EXPECT_EQ(bad.status, 400);
}

TEST_F(ApiTest, PairingMailbox) {
  TestAccount a = CreateAccount("pair@example.com");
  const std::string id = RandomHex(16);
  EXPECT_EQ(Send("GET", "/v1/pairing/" + id, {}, a.token).status, 404);
  EXPECT_EQ(Send("PUT", "/v1/pairing/" + id + "/response", ToBytes("early"), a.token).status, 404);
  ASSERT_EQ(Send("PUT", "/v1/pairing/" + id, ToBytes("request"), a.token).status, 201);
  Response dup = Send("PUT", "/v1/pairing/" + id, ToBytes("again"), a.token);
  EXPECT_EQ(dup.status, 409);
  EXPECT_EQ(ErrorCode(dup), "ALREADY_EXISTS");
  Response got = Send("GET", "/v1/pairing/" + id, {}, a.token);
  ASSERT_EQ(got.status, 200);
  EXPECT_EQ(AsChars(got.body), "request");
  EXPECT_EQ(Send("GET", "/v1/pairing/" + id + "/response", {}, a.token).status, 404);
  ASSERT_EQ(Send("PUT", "/v1/pairing/" + id + "/response", ToBytes("answer"), a.token).status, 201);
  EXPECT_EQ(Send("PUT", "/v1/pairing/" + id + "/response", ToBytes("answer 2"), a.token).status, 409);
  EXPECT_EQ(AsChars(Send("GET", "/v1/pairing/" + id + "/response", {}, a.token).body), "answer");
  EXPECT_EQ(Send("PUT", "/v1/pairing/" + RandomHex(16), Bytes(64 * 1024 + 1, 'x'), a.token).status, 413);
  // Fifteen minutes later it is gone.
  now_ += 15 * 60 + 1;
  EXPECT_EQ(Send("GET", "/v1/pairing/" + id, {}, a.token).status, 404);
  EXPECT_EQ(Send("GET", "/v1/pairing/" + id + "/response", {}, a.token).status, 404);
}

TEST_F(ApiTest, AccountsCannotReachEachOther) {
  TestAccount a = CreateAccount("owner@example.com");
  TestAccount b = CreateAccount("other@example.com");
  const std::string chunk = RandomHex(32);
  const Bytes secret = ToBytes("A's ciphertext");
  ASSERT_EQ(PutChunk(a.token, chunk, secret).status, 201);
  const std::string cid = RandomHex(16);
  ASSERT_EQ(Send("PUT", "/v1/collections/" + cid + "/revisions/1", ToBytes("A rev"), a.token).status, 201);
  ASSERT_EQ(Send("PUT", "/v1/collections/" + cid + "/revisions/2", ToBytes("A rev 2"), a.token).status, 201);
  ASSERT_EQ(Send("PUT", "/v1/collections/" + cid + "/checkpoint/1", ToBytes("A cp"), a.token).status, 204);
  const std::string pairing = RandomHex(16);
  ASSERT_EQ(Send("PUT", "/v1/pairing/" + pairing, ToBytes("A pairing"), a.token).status, 201);

  // B, knowing every id, sees none of it.
  EXPECT_EQ(Send("HEAD", "/v1/chunks/" + chunk, {}, b.token).status, 404);
  EXPECT_EQ(Send("GET", "/v1/chunks/" + chunk, {}, b.token).status, 404);
  EXPECT_EQ(ParseBody(SendJson("POST", "/v1/chunks/missing", json{{"ids", {chunk}}}, b.token))["missing"],
            json({chunk}));
  EXPECT_EQ(ParseBody(Send("GET", "/v1/chunks", {}, b.token))["chunks"].size(), 0u);
  Response revs = Send("GET", "/v1/collections/" + cid + "/revisions", {}, b.token);
  EXPECT_EQ(ParseBody(revs)["head"], 0);
  EXPECT_EQ(ParseBody(revs)["revisions"].size(), 0u);
  EXPECT_EQ(Send("GET", "/v1/collections/" + cid + "/checkpoint", {}, b.token).status, 404);
  EXPECT_EQ(ParseBody(Send("GET", "/v1/collections", {}, b.token))["collections"].size(), 0u);
  EXPECT_EQ(Send("GET", "/v1/pairing/" + pairing, {}, b.token).status, 404);
  EXPECT_EQ(Send("PUT", "/v1/pairing/" + pairing + "/response", ToBytes("B answer"), b.token).status, 404);
  EXPECT_EQ(Send("GET", "/v1/keys/sealed/" + a.device.id, {}, b.token).status, 404);
  EXPECT_EQ(SendJson("PUT", "/v1/keys/sealed/" + a.device.id, json{{"epoch", 9}, {"blob", B64("B")}}, b.token)
                .status,
            404);
  json revoke{{"seq", 1},
              {"entry", B64("B revokes A")},
              {"effect", {{"action", "revoke"}, {"device_id", a.device.id}}}};
  EXPECT_EQ(SendJson("POST", "/v1/chain", revoke, b.token).status, 404);
  EXPECT_EQ(meta_->GetDevice(a.account_id, a.device.id)->status, store::DeviceStatus::kActive);

  // B's GC with an empty live set, long after, deletes only B's chunks.
  now_ += 100000;
  Response gc = SendJson("POST", "/v1/gc", json{{"live", json::array()}}, b.token);
  EXPECT_EQ(ParseBody(gc)["deleted"], 0);
  // B storing the same chunk id gets its own copy; A's bytes are untouched.
  ASSERT_EQ(PutChunk(b.token, chunk, ToBytes("B's bytes")).status, 201);
  EXPECT_EQ(Send("GET", "/v1/chunks/" + chunk, {}, a.token).body, secret);
  EXPECT_EQ(AsChars(Send("GET", "/v1/chunks/" + chunk, {}, b.token).body), "B's bytes");
  // B writing to A's collection id writes B's own collection.
  ASSERT_EQ(Send("PUT", "/v1/collections/" + cid + "/revisions/1", ToBytes("B rev"), b.token).status, 201);
  EXPECT_EQ(*meta_->GetHead(a.account_id, cid), 2u);
}

TEST_F(ApiTest, ConcurrentWritersStayConsistent) {
  TestAccount a = CreateAccount("race@example.com");
  const std::string base = "/v1/collections/" + RandomHex(16) + "/revisions/";
  const std::string shared_chunk = RandomHex(32);
  constexpr int kThreads = 8;
  constexpr int kRevisionsPerThread = 5;
  std::atomic<int> created{0};
  std::atomic<int> conflicts{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      // Everyone uploads the same chunk: exactly one upload creates it.
      Response put = PutChunk(a.token, shared_chunk, ToBytes("shared chunk"));
      if (put.status == 201) ++created;
      EXPECT_TRUE(put.status == 201 || put.status == 200) << put.status;
      for (int i = 0; i < kRevisionsPerThread; ++i) {
        const Bytes data = ToBytes("rev from " + std::to_string(t) + "/" + std::to_string(i));
        uint64_t next = 1;
        for (;;) {  // the client's rebase loop: on 409, append after the head it was told
          Response r = Send("PUT", base + std::to_string(next), data, a.token);
          if (r.status == 201) break;
          ASSERT_EQ(r.status, 409) << AsChars(r.body);
          ++conflicts;
          next = ParseBody(r)["head"].get<uint64_t>() + 1;
        }
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(created.load(), 1);
  Response all = Send("GET", base.substr(0, base.size() - 1) + "?limit=10000", {}, a.token);
  ASSERT_EQ(all.status, 200);
  json revs = ParseBody(all)["revisions"];
  ASSERT_EQ(revs.size(), static_cast<size_t>(kThreads * kRevisionsPerThread));
  std::set<std::string> distinct;
  uint64_t bytes = 0;
  for (size_t i = 0; i < revs.size(); ++i) {
    EXPECT_EQ(revs[i]["number"], i + 1);  // dense, ascending, no gaps
    distinct.insert(revs[i]["data"].get<std::string>());
    bytes += Base64Decode(revs[i]["data"].get<std::string>())->size();
  }
  EXPECT_EQ(distinct.size(), revs.size());  // none lost, none doubled
  EXPECT_EQ(meta_->GetAccount(a.account_id)->used_bytes, bytes + 12);
}

}  // namespace
}  // namespace coffer::server::testing
