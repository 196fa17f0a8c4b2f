#include "client/verify.h"

#include <set>

#include "client/journal.h"
#include "client/transfer.h"
#include "crypto/hash.h"

namespace coffer::client {
namespace {

// A digest of everything replay produces for one collection, for comparing two states.
StatusOr<Bytes> StateDigest(LocalState& state, const std::string& cid) {
  crypto::StreamingHash h;
  Stmt items(state.db(),
             "SELECT item_id, parent_id, name, kind, version, mtime_ns, mode, content, trashed FROM items "
             "WHERE collection_id=? ORDER BY item_id");
  items.Bind(1, cid);
  while (true) {
    COFFER_ASSIGN_OR_RETURN(bool row, items.Step());
    if (!row) break;
    ByteWriter w;
    for (int c : {0, 1, 2}) w.Str(items.Text(c));
    for (int c : {3, 4, 5, 6, 8}) w.U64(static_cast<uint64_t>(items.Int(c)));
    w.Blob(items.Blob(7));
    h.Update(w.bytes());
  }
  Stmt versions(state.db(), "SELECT item_id, version, content FROM versions WHERE collection_id=? ORDER BY item_id, version");
  versions.Bind(1, cid);
  while (true) {
    COFFER_ASSIGN_OR_RETURN(bool row, versions.Step());
    if (!row) break;
    ByteWriter w;
    w.Str(versions.Text(0));
    w.U64(static_cast<uint64_t>(versions.Int(1)));
    w.Blob(versions.Blob(2));
    h.Update(w.bytes());
  }
  return h.Final();
}

}  // namespace

StatusOr<VerifyReport> VerifyAccount(Vault& vault, const std::function<void(const std::string&)>& on_progress) {
  COFFER_RETURN_IF_ERROR(vault.Unlock());
  VerifyReport report;
  for (const auto& [cid, coll] : vault.keys().collections) {
    report.collections++;
    COFFER_ASSIGN_OR_RETURN(auto scratch, LocalState::Open(":memory:"));
    Journal journal(vault, *scratch, cid, /*use_checkpoints=*/false);
    Status st = journal.Refresh();
    if (!st.ok()) {
      report.errors.push_back(st.message());
      continue;
    }
    report.revisions += journal.head();
    // The live cache must agree with the fresh replay.
    Journal cached(vault, vault.state(), cid);
    Status cst = cached.Refresh();
    if (!cst.ok()) report.errors.push_back(cst.message());
    // The cache may have started from a checkpoint: it must equal the full replay.
    auto fresh_digest = StateDigest(*scratch, IdHex(cid));
    auto cached_digest = StateDigest(vault.state(), IdHex(cid));
    if (!fresh_digest.ok() || !cached_digest.ok() || *fresh_digest != *cached_digest) {
      report.errors.push_back("collection " + IdHex(cid) +
                              ": this device's state (from a checkpoint) differs from the full history");
    }

    Stmt s(scratch->db(), "SELECT item_id, version, content FROM versions ORDER BY item_id, version");
    std::set<Bytes> verified;  // identical contents are checked once
    while (true) {
      COFFER_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      report.versions++;
      Bytes raw = s.Blob(2);
      if (!verified.insert(raw).second) continue;
      const std::string item_id = s.Text(0);
      auto path = journal.PathOf(item_id);
      const std::string what = (path.ok() ? *path : "item " + item_id) + " (version " + std::to_string(s.Int(1)) + ")";
      auto content = Content::Decode(raw);
      if (!content.ok()) {
        report.errors.push_back(what + ": " + content.status().message());
        continue;
      }
      if (on_progress) on_progress(what);
      Status vst = VerifyContent(vault, *content, what);
      if (!vst.ok()) {
        report.errors.push_back(vst.message());
        continue;
      }
      report.chunks += content->chunks.size();
      report.bytes += content->Size();
    }
    Stmt count(scratch->db(), "SELECT COUNT(*) FROM items");
    if (auto r = count.Step(); r.ok() && *r) report.items += static_cast<uint64_t>(count.Int(0));
  }
  return report;
}

StatusOr<std::pair<uint64_t, uint64_t>> CollectGarbage(Vault& vault) {
  COFFER_RETURN_IF_ERROR(vault.Unlock());
  std::set<std::string> live;
  std::vector<std::pair<std::string, uint64_t>> heads;
  for (const auto& [cid, coll] : vault.keys().collections) {
    Journal journal(vault, vault.state(), cid);
    COFFER_RETURN_IF_ERROR(journal.Refresh());
    COFFER_RETURN_IF_ERROR(journal.ForEachReferencedChunk(
        [&](const Hash32& id, const std::string&) { live.insert(HexEncode(id)); }));
    heads.emplace_back(IdHex(cid), journal.head());
  }
  // The server refuses if a journal moved meanwhile, and spares chunks that any device was
  // told about within the grace period (they may be referenced by a revision in flight).
  COFFER_ASSIGN_OR_RETURN(GcResult r, vault.api().CollectGarbage(std::vector<std::string>(live.begin(), live.end()),
                                                                heads));
  return std::make_pair(r.deleted, r.freed_bytes);
}

}  // namespace coffer::client
