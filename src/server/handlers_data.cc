// Collections (revisions, checkpoints) and chunks: docs/API.md "Collections and revisions",
// "Chunks".
//
// Write ordering for chunks (G8): the bytes go to the blob store first and are durable
// when Put returns; only then is the index row added. A crash in between leaves at worst an
// unindexed blob (wasted space that the next PUT of the same id overwrites), never an index
// row without bytes. GC removes the row first and the bytes second, for the same reason.
#include <unordered_set>

#include "chunk/pack_wire.h"
#include "crypto/hash.h"
#include "crypto/secret.h"
#include "server/handlers.h"
#include "server/log.h"
#include "server/validate.h"

namespace coffer::server {
namespace {

using nlohmann::json;

uint64_t PathNumber(const Call& c) {
  // Validated by the router (1..kMaxJsonInt).
  return std::stoull(c.path.at("n"));
}

}  // namespace

StatusOr<Response> HandleListCollections(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(std::vector<store::CollectionHead> heads, s.meta.ListCollections(c.account_id()));
  std::sort(heads.begin(), heads.end(),
            [](const store::CollectionHead& a, const store::CollectionHead& b) { return a.collection_id < b.collection_id; });
  json list = json::array();
  std::string canonical;
  for (const auto& h : heads) {
    list.push_back(json{{"id", h.collection_id}, {"head", h.head}});
    canonical += h.collection_id + ":" + std::to_string(h.head) + ";";
  }
  // An opaque token of all heads: a client long-polls with ?since=TOKEN&wait=SECONDS.
  const std::string token = HexEncode(crypto::Sha256(AsBytes(canonical))).substr(0, 32);
  Response r = JsonResponse(200, json{{"collections", std::move(list)}, {"token", token}});
  auto since = c.query.find("since");
  auto wait = c.query.find("wait");
  if (since != c.query.end() && wait != c.query.end() && since->second == token) {
    COFFER_ASSIGN_OR_RETURN(uint64_t seconds, ParseUint(wait->second, "query parameter \"wait\"", 0, kMaxLongPollSeconds));
    r.poll_seconds = static_cast<uint32_t>(seconds);
  }
  return r;
}

StatusOr<Response> HandleGetRevisions(const Services& s, const Call& c) {
  const std::string& cid = c.path.at("collection_id");
  uint64_t from = 1;
  uint64_t limit = kDefaultRevisionLimit;
  if (auto it = c.query.find("from"); it != c.query.end()) {
    COFFER_ASSIGN_OR_RETURN(from, ParseUint(it->second, "query parameter \"from\"", 0, kMaxJsonInt));
  }
  if (auto it = c.query.find("limit"); it != c.query.end()) {
    COFFER_ASSIGN_OR_RETURN(limit, ParseUint(it->second, "query parameter \"limit\"", 1, kMaxRevisionLimit));
  }
  // A collection that does not exist (yet) reads as empty with head 0, the state a client
  // starts a new collection from.
  COFFER_ASSIGN_OR_RETURN(uint64_t head, s.meta.GetHead(c.account_id(), cid));
  COFFER_ASSIGN_OR_RETURN(std::vector<store::RevisionRecord> revs,
                          s.meta.GetRevisions(c.account_id(), cid, from, limit, kMaxRevisionReplyBytes));
  json list = json::array();
  for (const auto& r : revs) {
    // Another writer (another connection, or another instance) may append between the two
    // reads; clients refuse revisions beyond the head, so answer with the head's snapshot.
    // Revisions up to the head never change, so that snapshot is consistent.
    if (r.number > head) break;
    list.push_back(json{{"number", r.number}, {"data", Base64Encode(r.data)}});
  }
  return JsonResponse(200, json{{"head", head}, {"revisions", std::move(list)}});
}

StatusOr<Response> HandlePutRevision(const Services& s, const Call& c) {
  const std::string& cid = c.path.at("collection_id");
  const uint64_t n = PathNumber(c);
  const Bytes& data = c.request.body;
  if (data.empty()) return InvalidArgumentError("revision body is empty; send the encrypted revision bytes");
  Status st = s.meta.AppendRevision(c.account_id(), cid, n, data);
  if (st.code() == StatusCode::kAborted) {
    COFFER_ASSIGN_OR_RETURN(uint64_t head, s.meta.GetHead(c.account_id(), cid));
    // The exact same bytes already stored under n: a retry whose first reply was lost.
    // Revisions are signed and name their predecessor, so equal bytes are the same revision.
    if (n <= head) {
      COFFER_ASSIGN_OR_RETURN(std::vector<store::RevisionRecord> same,
                              s.meta.GetRevisions(c.account_id(), cid, n, 1, data.size() + 1));
      if (!same.empty() && same[0].number == n && same[0].data == data) {
        return JsonResponse(201, json{{"head", head}});
      }
    }
    return CasConflict("collection head is " + std::to_string(head) + ", so the next revision is " +
                           std::to_string(head + 1) + ", not " + std::to_string(n) +
                           "; fetch, rebase and retry",
                       "head", head);
  }
  if (st.code() == StatusCode::kResourceExhausted) {
    COFFER_ASSIGN_OR_RETURN(store::AccountRecord account, s.meta.GetAccount(c.account_id()));
    return QuotaExceeded(account, data.size());
  }
  COFFER_RETURN_IF_ERROR(st);
  return JsonResponse(201, json{{"head", n}});
}

StatusOr<Response> HandleGetCheckpoint(const Services& s, const Call& c) {
  const std::string& cid = c.path.at("collection_id");
  auto cp = s.meta.GetCheckpoint(c.account_id(), cid);
  if (!cp.ok()) {
    if (cp.status().code() == StatusCode::kNotFound)
      return NotFoundError("collection " + cid + " has no checkpoint");
    return cp.status();
  }
  return JsonResponse(200, json{{"number", cp->number}, {"data", Base64Encode(cp->data)}});
}

StatusOr<Response> HandlePutCheckpoint(const Services& s, const Call& c) {
  const std::string& cid = c.path.at("collection_id");
  const uint64_t n = PathNumber(c);
  const Bytes& data = c.request.body;
  if (data.empty())
    return InvalidArgumentError("checkpoint body is empty; send the encrypted checkpoint bytes");
  COFFER_ASSIGN_OR_RETURN(uint64_t head, s.meta.GetHead(c.account_id(), cid));
  if (n > head) {
    return FailedPreconditionError("checkpoint " + std::to_string(n) + " is past the collection head " +
                                   std::to_string(head) + "; append the revisions first");
  }
  Status st = s.meta.PutCheckpoint(c.account_id(), cid, n, data);
  if (st.code() == StatusCode::kResourceExhausted) {
    COFFER_ASSIGN_OR_RETURN(store::AccountRecord account, s.meta.GetAccount(c.account_id()));
    return QuotaExceeded(account, data.size());
  }
  COFFER_RETURN_IF_ERROR(st);
  return EmptyResponse(204);
}

StatusOr<Response> HandlePutChunk(const Services& s, const Call& c) {
  const std::string& chunk_id = c.path.at("chunk_id");
  const std::string& declared = c.request.content_sha256;
  if (declared.empty()) {
    return InvalidArgumentError("missing X-Coffer-Sha256 header (hex SHA-256 of the body)");
  }
  COFFER_RETURN_IF_ERROR(CheckHexId(declared, 64, "X-Coffer-Sha256 header"));
  const Bytes& data = c.request.body;
  if (data.empty()) return InvalidArgumentError("chunk body is empty; send the encrypted chunk bytes");

  auto existing = s.meta.GetChunk(c.account_id(), chunk_id);
  if (existing.ok()) {
    // The client will reference the chunk it just offered: restart its GC grace period.
    COFFER_RETURN_IF_ERROR(s.meta.TouchChunks(c.account_id(), {chunk_id}, c.now));
    return JsonResponse(200, json{{"id", chunk_id}, {"size", existing->size}, {"created", false}});
  }
  if (existing.status().code() != StatusCode::kNotFound) return existing.status();

  const Bytes sha = crypto::Sha256(data);
  if (HexEncode(sha) != declared) {
    return InvalidArgumentError("X-Coffer-Sha256 does not match the body (got " +
                                std::to_string(data.size()) + " bytes with SHA-256 " + HexEncode(sha) +
                                "); the upload was damaged, send it again");
  }
  const store::AccountRecord& account = c.caller->account;
  if (account.quota_bytes != 0 && account.used_bytes + data.size() > account.quota_bytes) {
    return QuotaExceeded(account, data.size());
  }
  COFFER_RETURN_IF_ERROR(s.blobs.Put(ChunkBlobKey(c.account_id(), chunk_id), data));
  store::ChunkRecord rec;
  rec.chunk_id = chunk_id;
  rec.size = data.size();
  rec.sha256 = sha;
  rec.created_at = c.now;
  auto added = s.meta.AddChunk(c.account_id(), rec);
  if (!added.ok()) {
    // The blob stays: deleting it could race with a concurrent PUT of the same id that has
    // already indexed it. An unindexed blob only costs space until the next PUT replaces it.
    if (added.status().code() == StatusCode::kResourceExhausted) {
      COFFER_ASSIGN_OR_RETURN(store::AccountRecord fresh, s.meta.GetAccount(c.account_id()));
      return QuotaExceeded(fresh, data.size());
    }
    return added.status();
  }
  return JsonResponse(*added ? 201 : 200, json{{"id", chunk_id}, {"size", rec.size}, {"created", *added}});
}

StatusOr<Response> HandleHeadChunk(const Services& s, const Call& c) {
  const std::string& chunk_id = c.path.at("chunk_id");
  auto rec = s.meta.GetChunk(c.account_id(), chunk_id);
  if (!rec.ok()) {
    if (rec.status().code() == StatusCode::kNotFound)
      return NotFoundError("no chunk " + chunk_id + " in this account");
    return rec.status();
  }
  Response r = EmptyResponse(200);
  r.content_type = "application/octet-stream";
  r.head_content_length = rec->size;
  return r;
}

namespace {

// The bytes of an indexed chunk, checked against the index before they are served.
StatusOr<Bytes> LoadServableChunk(const Services& s, const Call& c, const std::string& chunk_id) {
  auto rec = s.meta.GetChunk(c.account_id(), chunk_id);
  if (!rec.ok()) {
    if (rec.status().code() == StatusCode::kNotFound)
      return NotFoundError("no chunk " + chunk_id + " in this account");
    return rec.status();
  }
  auto data = ReadChunkBytes(s.blobs, c.account_id(), *rec);
  // kNotFound and kDataLoss are verdicts about the stored copy; anything else (kUnavailable)
  // is transient and says nothing about the chunk.
  if (!data.ok() && data.status().code() != StatusCode::kNotFound &&
      data.status().code() != StatusCode::kDataLoss) {
    return data.status();
  }
  // Re-check before serving, so the server never knowingly hands out damaged bytes; the
  // client would catch them too (AEAD), but only the server can say where the damage is.
  const bool lost = !data.ok();
  if (lost || data->size() != rec->size || !crypto::ConstantTimeEqual(crypto::Sha256(*data), rec->sha256)) {
    // Drop the index row: the chunk then reads as missing (HEAD, /v1/chunks/missing), so a
    // device that still has it uploads it again, and the PUT stores a fresh copy. Keeping
    // the row would make that PUT answer "already stored" forever.
    Status dropped = s.meta.DeleteChunk(c.account_id(), chunk_id);
    if (!dropped.ok()) LogLine("could not drop the index row of a damaged chunk: " + dropped.ToString());
    return DataLossError(
        std::string("the server's copy of chunk ") + chunk_id +
        (lost ? " is missing or unreadable in blob storage" : " is corrupt (SHA-256 mismatch)") +
        "; it is now listed as missing: upload it again from a device that has it");
  }
  return std::move(data).value();
}

chunk::RawId RawIdFromHex(const std::string& hex) {
  chunk::RawId id{};
  auto raw = HexDecode(hex);
  if (raw.ok() && raw->size() == id.size()) std::copy(raw->begin(), raw->end(), id.begin());
  return id;
}

}  // namespace

StatusOr<Response> HandleGetChunk(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(Bytes data, LoadServableChunk(s, c, c.path.at("chunk_id")));
  return RawResponse(200, std::move(data));
}

// Many chunks in one body (FORMAT.md §17): the new ones are stored as ONE pack blob (one
// write, one fsync) and indexed in ONE transaction. Same checks as a single PUT per chunk.
StatusOr<Response> HandlePutChunkPack(const Services& s, const Call& c) {
  const Bytes& body = c.request.body;
  COFFER_ASSIGN_OR_RETURN(std::vector<chunk::PackEntry> entries, chunk::ParsePack(body));
  std::vector<std::string> ids;
  ids.reserve(entries.size());
  for (size_t i = 0; i < entries.size(); ++i) {
    const chunk::PackEntry& e = entries[i];
    ids.push_back(HexEncode(e.id));
    const Bytes sha = crypto::Sha256(e.data);
    if (!crypto::ConstantTimeEqual(sha, ByteView(e.sha256))) {
      return InvalidArgumentError("chunk pack entry " + std::to_string(i) + " (chunk " + ids.back() +
                                  "): the SHA-256 does not match its bytes; the upload was damaged, send it again");
    }
  }
  COFFER_ASSIGN_OR_RETURN(std::vector<bool> have, s.meta.HaveChunks(c.account_id(), ids));
  if (have.size() != ids.size()) return InternalError("chunk index answered for the wrong number of ids");
  std::vector<std::string> present;
  std::vector<size_t> fresh;
  uint64_t fresh_bytes = 0;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (have[i]) {
      present.push_back(ids[i]);
    } else {
      fresh.push_back(i);
      fresh_bytes += entries[i].data.size();
    }
  }
  // The client will reference the chunks it offered: restart their GC grace period.
  COFFER_RETURN_IF_ERROR(s.meta.TouchChunks(c.account_id(), present, c.now));
  if (fresh.empty()) return JsonResponse(200, json{{"stored", 0}, {"existing", present.size()}});
  const store::AccountRecord& account = c.caller->account;
  if (account.quota_bytes != 0 && account.used_bytes + fresh_bytes > account.quota_bytes) {
    return QuotaExceeded(account, fresh_bytes);
  }

  // The pack blob is itself a valid CFPK body holding exactly the new chunks: the request
  // body as received when every chunk is new (no copy), else a re-encoded subset.
  Bytes subset;
  ByteView blob = body;
  std::vector<uint64_t> offsets;
  if (fresh.size() == entries.size()) {
    for (const auto& e : entries) offsets.push_back(e.offset);
  } else {
    chunk::PackWriter w;
    for (size_t i : fresh) {
      offsets.push_back(w.size() + chunk::kPackEntryOverhead);
      w.Add(entries[i].id, entries[i].sha256, entries[i].data);
    }
    subset = w.Finish();
    blob = subset;
  }
  const std::string pack_id = HexEncode(crypto::RandomBytes(16));
  const std::string key = PackBlobKey(c.account_id(), pack_id);
  COFFER_RETURN_IF_ERROR(s.blobs.Put(key, blob));
  std::vector<store::ChunkRecord> recs;
  recs.reserve(fresh.size());
  for (size_t k = 0; k < fresh.size(); ++k) {
    const chunk::PackEntry& e = entries[fresh[k]];
    store::ChunkRecord rec;
    rec.chunk_id = ids[fresh[k]];
    rec.size = e.data.size();
    rec.sha256.assign(e.sha256.begin(), e.sha256.end());
    rec.created_at = c.now;
    rec.pack_id = pack_id;
    rec.pack_offset = offsets[k];
    recs.push_back(std::move(rec));
  }
  auto added = s.meta.AddChunks(c.account_id(), recs);
  if (!added.ok()) {
    // Nothing references the new pack (its id is fresh and the index transaction did not
    // commit), so it can go; if the delete fails it is only wasted space.
    Status gone = s.blobs.Delete(key);
    if (!gone.ok()) LogLine("could not delete an unindexed chunk pack: " + gone.ToString());
    if (added.status().code() == StatusCode::kResourceExhausted) {
      COFFER_ASSIGN_OR_RETURN(store::AccountRecord fresh_account, s.meta.GetAccount(c.account_id()));
      return QuotaExceeded(fresh_account, fresh_bytes);
    }
    return added.status();
  }
  uint64_t stored = 0;
  for (bool b : *added) stored += b ? 1 : 0;
  return JsonResponse(201, json{{"stored", stored}, {"existing", entries.size() - stored}});
}

// Several chunks in one reply (FORMAT.md §17), in the order asked, each checked like GET.
StatusOr<Response> HandleFetchChunks(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
  JsonFields f(body, "");
  COFFER_ASSIGN_OR_RETURN(std::vector<std::string> ids, f.HexIdArray("ids", kChunkIdHexLen, kMaxFetchIds));
  if (ids.empty()) return InvalidArgumentError("field \"ids\": ask for at least one chunk");
  chunk::FetchReplyWriter w;
  size_t total = 0;
  for (const std::string& id : ids) {
    COFFER_ASSIGN_OR_RETURN(Bytes data, LoadServableChunk(s, c, id));
    total += data.size() + chunk::kFetchEntryOverhead;
    if (total > kMaxFetchReplyBytes) {
      return InvalidArgumentError("the chunks asked for exceed " + std::to_string(kMaxFetchReplyBytes >> 20) +
                                  " MiB in one reply; ask for fewer at a time");
    }
    w.Add(RawIdFromHex(id), data);
  }
  Response r = RawResponse(200, w.Finish());
  return r;
}

StatusOr<Response> HandleMissingChunks(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
  JsonFields f(body, "");
  COFFER_ASSIGN_OR_RETURN(std::vector<std::string> ids,
                          f.HexIdArray("ids", kChunkIdHexLen, kMaxIdsPerRequest));
  COFFER_ASSIGN_OR_RETURN(std::vector<bool> have, s.meta.HaveChunks(c.account_id(), ids));
  if (have.size() != ids.size()) return InternalError("chunk index answered for the wrong number of ids");
  json missing = json::array();
  std::vector<std::string> present;
  for (size_t i = 0; i < ids.size(); ++i) {
    if (have[i]) {
      present.push_back(ids[i]);
    } else {
      missing.push_back(ids[i]);
    }
  }
  // The client will reference the present chunks without uploading them (dedup): restart
  // their GC grace period so a concurrent garbage collection cannot delete them under it.
  COFFER_RETURN_IF_ERROR(s.meta.TouchChunks(c.account_id(), present, c.now));
  return JsonResponse(200, json{{"missing", std::move(missing)}});
}

StatusOr<Response> HandleListChunks(const Services& s, const Call& c) {
  json list = json::array();
  COFFER_RETURN_IF_ERROR(s.meta.ListChunks(c.account_id(), [&](const store::ChunkRecord& r) {
    list.push_back(json{{"id", r.chunk_id}, {"size", r.size}});
    return true;
  }));
  return JsonResponse(200, json{{"chunks", std::move(list)}});
}

StatusOr<Response> HandleGc(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
  JsonFields f(body, "");
  // The live set is the whole account's, so it is not capped at kMaxIdsPerRequest; the
  // 16 MiB body limit bounds it (about 230 000 ids).
  COFFER_ASSIGN_OR_RETURN(std::vector<std::string> live_list,
                          f.HexIdArray("live", kChunkIdHexLen, kIdListBodyLimit / (kChunkIdHexLen + 3)));
  const std::unordered_set<std::string> live(live_list.begin(), live_list.end());
  const int64_t cutoff = c.now - s.options.gc_grace_seconds;
  // "heads": the collection heads the live set was computed from. If any journal moved since,
  // a revision this client has not seen may reference a chunk it thinks is dead: refuse.
  if (f.Has("heads")) {
    if (!body["heads"].is_object()) return InvalidArgumentError("field \"heads\": expected an object");
    JsonFields heads(body["heads"], "heads.");
    COFFER_ASSIGN_OR_RETURN(std::vector<store::CollectionHead> current, s.meta.ListCollections(c.account_id()));
    for (const auto& coll : current) {
      uint64_t seen = 0;
      if (heads.Has(coll.collection_id)) {
        COFFER_ASSIGN_OR_RETURN(seen, heads.Uint(coll.collection_id, 0, (uint64_t{1} << 53) - 1));
      }
      if (seen != coll.head) {
        return AbortedError("collection " + coll.collection_id + " moved to revision " + std::to_string(coll.head) +
                            " after the live set was computed; refresh and run the collection again");
      }
    }
  }

  // Collect first, delete after: the listing callback must not modify the index under it.
  std::vector<store::ChunkRecord> doomed;
  // A pack blob goes only when no surviving chunk lives in it (space of dead chunks inside a
  // pack that still holds live ones is kept until those die too; no repacking yet).
  std::unordered_set<std::string> packs_in_use;
  COFFER_RETURN_IF_ERROR(s.meta.ListChunks(c.account_id(), [&](const store::ChunkRecord& r) {
    if (!live.contains(r.chunk_id) && r.created_at < cutoff) {
      doomed.push_back(r);
    } else if (!r.pack_id.empty()) {
      packs_in_use.insert(r.pack_id);
    }
    return true;
  }));
  uint64_t deleted = 0;
  uint64_t freed = 0;
  for (const auto& r : doomed) {
    COFFER_RETURN_IF_ERROR(s.meta.DeleteChunk(c.account_id(), r.chunk_id));
    Status gone = OkStatus();
    if (r.pack_id.empty()) {
      gone = s.blobs.Delete(ChunkBlobKey(c.account_id(), r.chunk_id));
    } else if (packs_in_use.insert(r.pack_id).second) {  // first doomed chunk of a dead pack
      gone = s.blobs.Delete(PackBlobKey(c.account_id(), r.pack_id));
    }
    // The row is gone, so the chunk is deleted as far as anyone can see; a leftover blob is
    // only wasted space.
    if (!gone.ok()) LogLine("gc: could not delete the bytes of a chunk: " + gone.ToString());
    ++deleted;
    freed += r.size;
  }
  return JsonResponse(200, json{{"deleted", deleted}, {"freed_bytes", freed}});
}

}  // namespace coffer::server
