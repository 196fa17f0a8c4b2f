#include "client/journal.h"

#include <sodium.h>

#include <cstdlib>
#include <cstring>
#include <ctime>
#include <map>
#include <set>

#include "chunk/chunker.h"
#include "client/vault.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/sign.h"

namespace coffer::client {
namespace {

constexpr char kItemCols[] =
    "item_id, parent_id, name, kind, version, size, mtime_ns, mode, content, trashed, trashed_at, revision";

ItemRow ReadItem(const Stmt& s) {
  ItemRow r;
  r.item_id = s.Text(0);
  r.parent_id = s.Text(1);
  r.name = s.Text(2);
  r.kind = static_cast<ItemKind>(s.Int(3));
  r.version = static_cast<uint64_t>(s.Int(4));
  r.size = static_cast<uint64_t>(s.Int(5));
  r.mtime_ns = s.Int(6);
  r.mode = static_cast<uint32_t>(s.Int(7));
  r.content = s.Blob(8);
  r.trashed = s.Int(9) != 0;
  r.trashed_at = s.Int(10);
  r.revision = static_cast<uint64_t>(s.Int(11));
  return r;
}

ItemRow RootRow() {
  ItemRow r;
  r.item_id = ItemRow::RootId();
  r.parent_id = ItemRow::RootId();
  r.kind = ItemKind::kDir;
  r.mode = 0755;
  return r;
}

std::string Num(uint64_t n) { return std::to_string(n); }

// u32 length || plaintext || zeros up to the Padmé length, so the server sees revision sizes
// only roughly (names and small inline files do not show their exact length).
Bytes PadPlaintext(const Bytes& plain) {
  Bytes out(chunk::PadmeLength(4 + plain.size()), 0);
  const uint32_t n = static_cast<uint32_t>(plain.size());
  for (int i = 0; i < 4; ++i) out[i] = static_cast<uint8_t>(n >> (8 * i));
  std::copy(plain.begin(), plain.end(), out.begin() + 4);
  return out;
}

StatusOr<Bytes> UnpadPlaintext(ByteView padded) {
  ByteReader r(padded, "padded revision");
  COFFER_ASSIGN_OR_RETURN(uint32_t n, r.U32());
  COFFER_ASSIGN_OR_RETURN(ByteView body, r.Raw(n));
  COFFER_ASSIGN_OR_RETURN(ByteView rest, r.Raw(r.remaining()));
  if (!IsZero(rest)) return DataLossError("revision padding is not zero");
  return ToBytes(body);
}

}  // namespace

Status ValidateName(std::string_view name) {
  if (name.empty()) return InvalidArgumentError("empty file name");
  if (name == "." || name == "..") return InvalidArgumentError("'" + std::string(name) + "' is not a valid name");
  if (name.size() > kMaxNameBytes) return InvalidArgumentError("file name longer than 1024 bytes");
  for (char c : name) {
    if (c == '/' || c == '\0') return InvalidArgumentError("file name contains '/' or NUL");
  }
  return OkStatus();
}

StatusOr<std::vector<std::string>> SplitRemotePath(std::string_view path) {
  std::vector<std::string> parts;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    std::string_view part = path.substr(i, j - i);
    if (!part.empty()) {
      if (part == ".") {
        // ignore
      } else {
        COFFER_RETURN_IF_ERROR(ValidateName(part).WithContext("remote path '" + std::string(path) + "'"));
        parts.emplace_back(part);
      }
    }
    i = j + 1;
  }
  return parts;
}

Journal::Journal(Vault& vault, LocalState& state, const Id& collection_id, bool use_checkpoints)
    : vault_(vault),
      state_(state),
      collection_id_(collection_id),
      cid_(IdHex(collection_id)),
      use_checkpoints_(use_checkpoints) {}

uint64_t CheckpointInterval() {
  if (const char* v = std::getenv("COFFER_CHECKPOINT_EVERY"); v && *v) {
    const uint64_t n = std::strtoull(v, nullptr, 10);
    if (n > 0) return n;
  }
  return 500;
}

Journal::Head Journal::LoadHead() const {
  Head h;
  Stmt s(state_.db(), "SELECT number, head_hash, chain_len, key_epoch FROM journal WHERE collection_id = ?");
  s.Bind(1, cid_);
  auto row = s.Step();
  if (row.ok() && *row) {
    h.number = static_cast<uint64_t>(s.Int(0));
    Bytes hash = s.Blob(1);
    if (hash.size() == kHashBytes) std::copy(hash.begin(), hash.end(), h.hash.begin());
    h.chain_len = static_cast<uint64_t>(s.Int(2));
    h.key_epoch = static_cast<uint32_t>(s.Int(3));
  }
  return h;
}

uint64_t Journal::head() const { return LoadHead().number; }
std::string Journal::HeadFingerprint() const {
  const Head h = LoadHead();
  return std::to_string(h.number) + ":" + HexEncode(ByteView(h.hash.data(), h.hash.size())).substr(0, 16);
}
uint32_t Journal::key_epoch() const { return LoadHead().key_epoch; }

Status Journal::SaveHead(const Head& h) {
  Stmt s(state_.db(),
         "INSERT INTO journal(collection_id, number, head_hash, chain_len, key_epoch) VALUES(?,?,?,?,?) "
         "ON CONFLICT(collection_id) DO UPDATE SET number=excluded.number, head_hash=excluded.head_hash, "
         "chain_len=excluded.chain_len, key_epoch=excluded.key_epoch");
  s.Bind(1, cid_).Bind(2, static_cast<int64_t>(h.number)).Bind(3, ByteView(h.hash));
  s.Bind(4, static_cast<int64_t>(h.chain_len)).Bind(5, static_cast<int64_t>(h.key_epoch));
  return s.Run();
}

Status Journal::Refresh() {
  Head head = LoadHead();
  if (head.number == 0 && use_checkpoints_) COFFER_RETURN_IF_ERROR(LoadCheckpoint(head));
  const uint64_t seen = head.number;
  uint64_t from = seen == 0 ? 1 : seen;
  bool first = true;
  while (true) {
    COFFER_ASSIGN_OR_RETURN(auto reply, vault_.api().GetRevisions(cid_, from, 1000));
    auto& [server_head, revs] = reply;
    if (first && seen > 0) {
      if (server_head < seen) {
        return SecurityError("rollback detected: the server shows collection " + cid_ + " at revision " +
                             Num(server_head) + ", but this device has already seen revision " + Num(seen));
      }
      if (revs.empty() || revs[0].number != seen || HashOf(revs[0].data) != head.hash) {
        return SecurityError("fork detected: revision " + Num(seen) + " of collection " + cid_ +
                             " on the server differs from the one this device saw");
      }
      revs.erase(revs.begin());
    }
    first = false;
    for (const Revision& rev : revs) COFFER_RETURN_IF_ERROR(VerifyAndApply(rev, head));
    if (head.number >= server_head) break;
    if (revs.empty()) {
      return SecurityError("the server claims collection " + cid_ + " has revision " + Num(server_head) +
                           " but does not return revision " + Num(head.number + 1) + " (withheld)");
    }
    from = head.number + 1;
  }
  return OkStatus();
}

Status Journal::VerifyAndApply(const Revision& rev, Head& head) {
  const uint64_t expect = head.number + 1;
  const std::string what = "revision " + Num(expect) + " of collection " + cid_;
  if (rev.number != expect) {
    return SecurityError(what + " is missing: the server returned revision " + Num(rev.number) +
                         " instead (dropped or re-ordered revisions)");
  }
  auto blob = RevisionBlob::Decode(rev.data);
  if (!blob.ok()) return SecurityError(what + ": " + blob.status().message());
  const RevisionHeader& h = blob->header;
  if (h.number != expect) return SecurityError(what + " carries number " + Num(h.number) + " (replayed or moved)");
  if (h.account_id != vault_.account_id() || h.collection_id != collection_id_) {
    return SecurityError(what + " belongs to another account or collection (moved between collections)");
  }
  if (h.prev_hash != head.hash) {
    return SecurityError(what + " does not link to the previous revision (dropped, replaced or re-ordered)");
  }
  const ChainState& chain = vault_.chain();
  const ChainDevice* author = chain.Find(h.author_device);
  if (author == nullptr) return SecurityError(what + " is signed by a device that is not in the account (injected)");
  if (h.chain_len > chain.length || h.chain_len < head.chain_len || !author->ActiveAt(h.chain_len)) {
    return SecurityError(what + " is signed by device " + IdHex(h.author_device) +
                         " which was not active at that point (revoked device or injected revision)");
  }
  if (!crypto::VerifySignature(author->sign_pk, blob->SignedPart(), blob->signature).ok()) {
    return SecurityError(what + " has an invalid signature (modified on the server)");
  }
  if (h.key_epoch < head.key_epoch) {
    return SecurityError(what + " uses key epoch " + std::to_string(h.key_epoch) +
                         " after epoch " + std::to_string(head.key_epoch) + " (written with revoked keys)");
  }
  const CollectionInfo* coll = nullptr;
  auto it = vault_.keys().collections.find(collection_id_);
  if (it != vault_.keys().collections.end()) coll = &it->second;
  if (coll == nullptr) return SecurityError("collection " + cid_ + " is not in the keyring");
  auto key = coll->keys.find(h.key_epoch);
  if (key == coll->keys.end()) return SecurityError(what + " uses an unknown key epoch");
  crypto::SecretBytes rev_key = crypto::DeriveKey(key->second, "revision");
  auto plain = crypto::AeadOpen(rev_key, blob->ciphertext, h.Encode());
  if (!plain.ok()) return SecurityError(what + " failed authentication (modified on the server)");
  auto unpadded = UnpadPlaintext(*plain);
  if (!unpadded.ok()) return SecurityError(what + ": " + unpadded.status().message());
  auto ops = DecodeOps(*unpadded);
  if (!ops.ok()) return SecurityError(what + ": " + ops.status().message());

  COFFER_RETURN_IF_ERROR(state_.Begin());
  Status st = ApplyOps(*ops, h);
  if (st.ok()) {
    head.number = expect;
    head.hash = HashOf(rev.data);
    head.chain_len = h.chain_len;
    head.key_epoch = h.key_epoch;
    st = SaveHead(head);
  }
  if (!st.ok()) {
    state_.Rollback();
    head = LoadHead();
    if (st.code() == StatusCode::kSecurity) return st;
    return SecurityError(what + " is invalid: " + st.message());
  }
  return state_.Commit();
}

Status Journal::ApplyOps(const std::vector<Op>& ops, const RevisionHeader& h) {
  const std::string rev = Num(h.number);
  for (const Op& op : ops) {
    const std::string id = IdHex(op.item_id);
    if (id == ItemRow::RootId() && op.type != OpType::kRotate) {
      return InvalidArgumentError("an operation targets the root");
    }
    COFFER_ASSIGN_OR_RETURN(auto existing, Get(id));
    auto check_parent = [&](const Id& parent) -> Status {
      const std::string pid = IdHex(parent);
      if (pid == ItemRow::RootId()) return OkStatus();
      COFFER_ASSIGN_OR_RETURN(auto p, Get(pid));
      if (!p || p->kind != ItemKind::kDir) return InvalidArgumentError("item " + id + " has a parent that is not a folder");
      // No cycles: walk up from the parent; the item must not be an ancestor of itself.
      std::string cur = pid;
      for (int depth = 0; cur != ItemRow::RootId(); ++depth) {
        if (cur == id || depth > 10000) return InvalidArgumentError("moving item " + id + " would create a cycle");
        COFFER_ASSIGN_OR_RETURN(auto c, Get(cur));
        if (!c) return InvalidArgumentError("broken folder chain at " + cur);
        cur = c->parent_id;
      }
      return OkStatus();
    };
    switch (op.type) {
      case OpType::kPut: {
        COFFER_RETURN_IF_ERROR(ValidateName(op.name));
        const uint64_t want = existing ? existing->version + 1 : 1;
        if (op.version != want) {
          return InvalidArgumentError("item " + id + " gets version " + Num(op.version) + ", expected " + Num(want));
        }
        if (existing && existing->kind != op.kind) return InvalidArgumentError("item " + id + " changes kind");
        if (op.kind == ItemKind::kDir && op.content.kind != Content::Kind::kEmpty) {
          return InvalidArgumentError("folder " + id + " has content");
        }
        COFFER_RETURN_IF_ERROR(check_parent(op.parent_id));
        const Bytes content = op.content.Encode();
        const int64_t size = static_cast<int64_t>(op.content.Size());
        Stmt ins(state_.db(),
                 "INSERT INTO items(collection_id, item_id, parent_id, name, kind, version, size, mtime_ns, mode, "
                 "content, trashed, trashed_at, revision) VALUES(?,?,?,?,?,?,?,?,?,?,0,0,?) "
                 "ON CONFLICT(collection_id, item_id) DO UPDATE SET parent_id=excluded.parent_id, "
                 "name=excluded.name, version=excluded.version, size=excluded.size, mtime_ns=excluded.mtime_ns, "
                 "mode=excluded.mode, content=excluded.content, revision=excluded.revision");
        ins.Bind(1, cid_).Bind(2, id).Bind(3, IdHex(op.parent_id)).Bind(4, op.name);
        ins.Bind(5, static_cast<int64_t>(op.kind)).Bind(6, static_cast<int64_t>(op.version)).Bind(7, size);
        ins.Bind(8, op.mtime_ns).Bind(9, static_cast<int64_t>(op.mode)).Bind(10, ByteView(content));
        ins.Bind(11, static_cast<int64_t>(h.number));
        COFFER_RETURN_IF_ERROR(ins.Run());
        Stmt ver(state_.db(),
                 "INSERT OR REPLACE INTO versions(collection_id, item_id, version, revision, author, time, size, "
                 "mtime_ns, mode, content) VALUES(?,?,?,?,?,?,?,?,?,?)");
        ver.Bind(1, cid_).Bind(2, id).Bind(3, static_cast<int64_t>(op.version)).Bind(4, static_cast<int64_t>(h.number));
        ver.Bind(5, IdHex(h.author_device)).Bind(6, h.time).Bind(7, size).Bind(8, op.mtime_ns);
        ver.Bind(9, static_cast<int64_t>(op.mode)).Bind(10, ByteView(content));
        COFFER_RETURN_IF_ERROR(ver.Run());
        break;
      }
      case OpType::kMove: {
        if (!existing) return InvalidArgumentError("moving unknown item " + id);
        COFFER_RETURN_IF_ERROR(ValidateName(op.name));
        COFFER_RETURN_IF_ERROR(check_parent(op.parent_id));
        Stmt s(state_.db(), "UPDATE items SET parent_id=?, name=?, revision=? WHERE collection_id=? AND item_id=?");
        s.Bind(1, IdHex(op.parent_id)).Bind(2, op.name).Bind(3, static_cast<int64_t>(h.number)).Bind(4, cid_).Bind(5, id);
        COFFER_RETURN_IF_ERROR(s.Run());
        break;
      }
      case OpType::kTrash:
      case OpType::kRestore: {
        const bool trash = op.type == OpType::kTrash;
        if (!existing) return InvalidArgumentError("unknown item " + id);
        if (existing->trashed == trash) return InvalidArgumentError("item " + id + (trash ? " is already in the trash" : " is not in the trash"));
        Stmt s(state_.db(), "UPDATE items SET trashed=?, trashed_at=?, revision=? WHERE collection_id=? AND item_id=?");
        s.Bind(1, int64_t{trash}).Bind(2, trash ? h.time : 0).Bind(3, static_cast<int64_t>(h.number));
        s.Bind(4, cid_).Bind(5, id);
        COFFER_RETURN_IF_ERROR(s.Run());
        break;
      }
      case OpType::kPurge: {
        if (!existing) return InvalidArgumentError("purging unknown item " + id);
        // Purge the item and everything below it.
        std::vector<std::string> stack{id};
        while (!stack.empty()) {
          std::string cur = stack.back();
          stack.pop_back();
          Stmt kids(state_.db(), "SELECT item_id FROM items WHERE collection_id=? AND parent_id=?");
          kids.Bind(1, cid_).Bind(2, cur);
          while (true) {
            COFFER_ASSIGN_OR_RETURN(bool row, kids.Step());
            if (!row) break;
            stack.push_back(kids.Text(0));
          }
          Stmt d1(state_.db(), "DELETE FROM items WHERE collection_id=? AND item_id=?");
          d1.Bind(1, cid_).Bind(2, cur);
          COFFER_RETURN_IF_ERROR(d1.Run());
          Stmt d2(state_.db(), "DELETE FROM versions WHERE collection_id=? AND item_id=?");
          d2.Bind(1, cid_).Bind(2, cur);
          COFFER_RETURN_IF_ERROR(d2.Run());
        }
        break;
      }
      case OpType::kRotate:
        if (op.new_epoch != h.key_epoch) return InvalidArgumentError("key rotation marker does not match its epoch");
        break;
    }
  }
  return OkStatus();
}

StatusOr<Bytes> Journal::BuildRevision(const std::vector<Op>& ops, const Head& head) {
  const CollectionInfo& coll = vault_.keys().collections.at(collection_id_);
  RevisionBlob blob;
  RevisionHeader& h = blob.header;
  h.account_id = vault_.account_id();
  h.collection_id = collection_id_;
  h.number = head.number + 1;
  h.prev_hash = head.hash;
  h.author_device = vault_.device().device_id;
  h.chain_len = vault_.chain().length;
  h.key_epoch = coll.current_epoch();
  h.time = static_cast<int64_t>(std::time(nullptr));
  crypto::SecretBytes rev_key = crypto::DeriveKey(coll.keys.at(h.key_epoch), "revision");
  COFFER_ASSIGN_OR_RETURN(blob.ciphertext, crypto::AeadSeal(rev_key, PadPlaintext(EncodeOps(ops)), h.Encode()));
  blob.signature = vault_.device().sign.Sign(blob.SignedPart());
  return blob.Encode();
}

StatusOr<uint64_t> Journal::Commit(std::vector<Op> ops, const std::function<Status(Journal&)>& precondition) {
  if (vault_.keys().collections.count(collection_id_) == 0) {
    return NotFoundError("collection " + cid_ + " is not in the keyring");
  }
  for (int attempt = 0; attempt < 50; ++attempt) {
    COFFER_RETURN_IF_ERROR(Refresh());
    if (precondition) COFFER_RETURN_IF_ERROR(precondition(*this));
    Head head = LoadHead();
    // Rebase: versions follow whatever the head now holds.
    std::map<std::string, uint64_t> next_version;
    for (Op& op : ops) {
      if (op.type != OpType::kPut) continue;
      const std::string id = IdHex(op.item_id);
      auto it = next_version.find(id);
      if (it == next_version.end()) {
        COFFER_ASSIGN_OR_RETURN(auto existing, Get(id));
        it = next_version.emplace(id, existing ? existing->version : 0).first;
      }
      op.version = ++it->second;
    }
    COFFER_ASSIGN_OR_RETURN(Bytes data, BuildRevision(ops, head));
    auto blob = RevisionBlob::Decode(data);
    // Dry run: the ops must apply to the current state, or the journal would hold a revision
    // that every device (this one included) rejects.
    COFFER_RETURN_IF_ERROR(state_.Exec("SAVEPOINT dry_run"));
    Status dry = ApplyOps(ops, blob->header);
    (void)state_.Exec("ROLLBACK TO dry_run");
    (void)state_.Exec("RELEASE dry_run");
    if (!dry.ok()) return FailedPreconditionError("the change no longer applies: " + dry.message());

    Status put = vault_.api().PutRevision(cid_, head.number + 1, data);
    if (put.code() == StatusCode::kAborted) continue;  // another device appended first
    COFFER_RETURN_IF_ERROR(put);
    Revision rev{head.number + 1, std::move(data)};
    COFFER_RETURN_IF_ERROR(VerifyAndApply(rev, head));
    // A failed checkpoint costs only speed for new devices; the revision is committed.
    (void)MaybeWriteCheckpoint();
    return head.number;
  }
  return AbortedError("could not append to collection " + cid_ + ": too many concurrent writers, try again");
}

// ---- checkpoints ----

StatusOr<Bytes> Journal::EncodeSnapshot() {
  ByteWriter w;
  w.Raw(std::string_view("CFSN", 4));
  w.U8(kFormatVersion);
  std::vector<std::pair<std::string, Bytes>> rows;
  {
    Stmt s(state_.db(), std::string("SELECT ") + kItemCols + " FROM items WHERE collection_id=? ORDER BY item_id");
    s.Bind(1, cid_);
    std::vector<ItemRow> items;
    while (true) {
      COFFER_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      items.push_back(ReadItem(s));
    }
    w.U32(static_cast<uint32_t>(items.size()));
    for (const ItemRow& r : items) {
      COFFER_ASSIGN_OR_RETURN(Id id, IdFromHex(r.item_id));
      COFFER_ASSIGN_OR_RETURN(Id parent, IdFromHex(r.parent_id));
      w.Raw(id);
      w.Raw(parent);
      w.Str(r.name);
      w.U8(static_cast<uint8_t>(r.kind));
      w.U64(r.version);
      w.U64(static_cast<uint64_t>(r.mtime_ns));
      w.U32(r.mode);
      w.Blob(r.content);
      w.U8(r.trashed ? 1 : 0);
      w.U64(static_cast<uint64_t>(r.trashed_at));
      w.U64(r.revision);
    }
  }
  Stmt v(state_.db(),
         "SELECT item_id, version, revision, author, time, mtime_ns, mode, content FROM versions "
         "WHERE collection_id=? ORDER BY item_id, version");
  v.Bind(1, cid_);
  ByteWriter vw;
  uint32_t n = 0;
  while (true) {
    COFFER_ASSIGN_OR_RETURN(bool row, v.Step());
    if (!row) break;
    COFFER_ASSIGN_OR_RETURN(Id id, IdFromHex(v.Text(0)));
    COFFER_ASSIGN_OR_RETURN(Id author, IdFromHex(v.Text(3)));
    vw.Raw(id);
    vw.U64(static_cast<uint64_t>(v.Int(1)));
    vw.U64(static_cast<uint64_t>(v.Int(2)));
    vw.Raw(author);
    vw.U64(static_cast<uint64_t>(v.Int(4)));
    vw.U64(static_cast<uint64_t>(v.Int(5)));
    vw.U32(static_cast<uint32_t>(v.Int(6)));
    vw.Blob(v.Blob(7));
    ++n;
  }
  w.U32(n);
  w.Raw(vw.bytes());
  return w.Take();
}

Status Journal::LoadSnapshot(ByteView snapshot) {
  ByteReader r(snapshot, "checkpoint snapshot");
  COFFER_ASSIGN_OR_RETURN(ByteView magic, r.Raw(5));
  if (std::memcmp(magic.data(), "CFSN", 4) != 0 || magic[4] != kFormatVersion) {
    return DataLossError("checkpoint snapshot has an unknown format");
  }
  COFFER_ASSIGN_OR_RETURN(uint32_t n_items, r.U32());
  if (n_items > r.remaining() / 40) return DataLossError("checkpoint snapshot lists more items than it holds");
  for (uint32_t i = 0; i < n_items; ++i) {
    COFFER_ASSIGN_OR_RETURN(ByteView id, r.Raw(kIdBytes));
    COFFER_ASSIGN_OR_RETURN(ByteView parent, r.Raw(kIdBytes));
    COFFER_ASSIGN_OR_RETURN(std::string name, r.Str(kMaxNameBytes));
    COFFER_RETURN_IF_ERROR(ValidateName(name));
    COFFER_ASSIGN_OR_RETURN(uint8_t kind, r.U8());
    if (kind != 1 && kind != 2) return DataLossError("checkpoint snapshot has an unknown item kind");
    COFFER_ASSIGN_OR_RETURN(uint64_t version, r.U64());
    COFFER_ASSIGN_OR_RETURN(uint64_t mtime, r.U64());
    COFFER_ASSIGN_OR_RETURN(uint32_t mode, r.U32());
    COFFER_ASSIGN_OR_RETURN(ByteView content_raw, r.Blob(64u << 20));
    COFFER_ASSIGN_OR_RETURN(Content content, Content::Decode(content_raw));
    COFFER_ASSIGN_OR_RETURN(uint8_t trashed, r.U8());
    COFFER_ASSIGN_OR_RETURN(uint64_t trashed_at, r.U64());
    COFFER_ASSIGN_OR_RETURN(uint64_t revision, r.U64());
    Stmt ins(state_.db(),
             "INSERT INTO items(collection_id, item_id, parent_id, name, kind, version, size, mtime_ns, mode, "
             "content, trashed, trashed_at, revision) VALUES(?,?,?,?,?,?,?,?,?,?,?,?,?)");
    ins.Bind(1, cid_).Bind(2, HexEncode(id)).Bind(3, HexEncode(parent)).Bind(4, name).Bind(5, int64_t{kind});
    ins.Bind(6, static_cast<int64_t>(version)).Bind(7, static_cast<int64_t>(content.Size()));
    ins.Bind(8, static_cast<int64_t>(mtime)).Bind(9, static_cast<int64_t>(mode)).Bind(10, content_raw);
    ins.Bind(11, int64_t{trashed != 0}).Bind(12, static_cast<int64_t>(trashed_at)).Bind(13, static_cast<int64_t>(revision));
    COFFER_RETURN_IF_ERROR(ins.Run());
  }
  COFFER_ASSIGN_OR_RETURN(uint32_t n_versions, r.U32());
  if (n_versions > r.remaining() / 60) return DataLossError("checkpoint snapshot lists more versions than it holds");
  for (uint32_t i = 0; i < n_versions; ++i) {
    COFFER_ASSIGN_OR_RETURN(ByteView id, r.Raw(kIdBytes));
    COFFER_ASSIGN_OR_RETURN(uint64_t version, r.U64());
    COFFER_ASSIGN_OR_RETURN(uint64_t revision, r.U64());
    COFFER_ASSIGN_OR_RETURN(ByteView author, r.Raw(kIdBytes));
    COFFER_ASSIGN_OR_RETURN(uint64_t time, r.U64());
    COFFER_ASSIGN_OR_RETURN(uint64_t mtime, r.U64());
    COFFER_ASSIGN_OR_RETURN(uint32_t mode, r.U32());
    COFFER_ASSIGN_OR_RETURN(ByteView content_raw, r.Blob(64u << 20));
    COFFER_ASSIGN_OR_RETURN(Content content, Content::Decode(content_raw));
    Stmt ins(state_.db(),
             "INSERT INTO versions(collection_id, item_id, version, revision, author, time, size, mtime_ns, mode, "
             "content) VALUES(?,?,?,?,?,?,?,?,?,?)");
    ins.Bind(1, cid_).Bind(2, HexEncode(id)).Bind(3, static_cast<int64_t>(version));
    ins.Bind(4, static_cast<int64_t>(revision)).Bind(5, HexEncode(author)).Bind(6, static_cast<int64_t>(time));
    ins.Bind(7, static_cast<int64_t>(content.Size())).Bind(8, static_cast<int64_t>(mtime));
    ins.Bind(9, static_cast<int64_t>(mode)).Bind(10, content_raw);
    COFFER_RETURN_IF_ERROR(ins.Run());
  }
  return r.ExpectEnd();
}

Status Journal::LoadCheckpoint(Head& head) {
  auto reply = vault_.api().GetCheckpoint(cid_);
  if (!reply.ok()) {
    if (reply.status().code() == StatusCode::kNotFound) return OkStatus();  // replay from revision 1
    return reply.status();
  }
  const std::string what = "checkpoint at revision " + Num(reply->number) + " of collection " + cid_;
  auto blob = CheckpointBlob::Decode(reply->data);
  if (!blob.ok()) return SecurityError(what + ": " + blob.status().message());
  const CheckpointHeader& h = blob->header;
  if (h.number != reply->number || h.number == 0) return SecurityError(what + " carries another number");
  if (h.account_id != vault_.account_id() || h.collection_id != collection_id_) {
    return SecurityError(what + " belongs to another account or collection");
  }
  const ChainState& chain = vault_.chain();
  const ChainDevice* author = chain.Find(h.author_device);
  if (author == nullptr) return SecurityError(what + " is signed by a device that is not in the account (injected)");
  if (!crypto::VerifySignature(author->sign_pk, blob->SignedPart(), blob->signature).ok()) {
    return SecurityError(what + " has an invalid signature (modified on the server)");
  }
  // A checkpoint is only a shortcut: one by a device revoked since is not trusted at all
  // (it could describe any tree), and the history is replayed from revision 1 instead.
  if (!author->active()) return OkStatus();
  // Bind the snapshot to the revision it covers: that revision must exist with this hash,
  // carry the same chain length and key epoch, and be validly signed by a device active then.
  COFFER_ASSIGN_OR_RETURN(auto covered, vault_.api().GetRevisions(cid_, h.number, 1));
  if (covered.second.empty() || covered.second[0].number != h.number ||
      HashOf(covered.second[0].data) != h.head_hash) {
    return SecurityError(what + " does not match revision " + Num(h.number) + " on the server");
  }
  auto rev = RevisionBlob::Decode(covered.second[0].data);
  if (!rev.ok()) return SecurityError(what + ": its revision: " + rev.status().message());
  const ChainDevice* rev_author = chain.Find(rev->header.author_device);
  if (rev->header.chain_len != h.chain_len || rev->header.key_epoch != h.key_epoch ||
      rev->header.number != h.number || rev->header.collection_id != collection_id_ || rev_author == nullptr ||
      h.chain_len > chain.length || !rev_author->ActiveAt(h.chain_len) ||
      !crypto::VerifySignature(rev_author->sign_pk, rev->SignedPart(), rev->signature).ok()) {
    return SecurityError(what + " is not bound to a valid revision " + Num(h.number) + " (forged checkpoint)");
  }
  auto coll = vault_.keys().collections.find(collection_id_);
  if (coll == vault_.keys().collections.end()) return SecurityError("collection " + cid_ + " is not in the keyring");
  auto key = coll->second.keys.find(h.key_epoch);
  if (key == coll->second.keys.end()) return SecurityError(what + " uses an unknown key epoch");
  auto plain = crypto::AeadOpen(crypto::DeriveKey(key->second, "checkpoint"), blob->ciphertext, h.Encode());
  if (!plain.ok()) return SecurityError(what + " failed authentication (modified on the server)");
  auto snapshot = UnpadPlaintext(*plain);
  if (!snapshot.ok()) return SecurityError(what + ": " + snapshot.status().message());
  COFFER_RETURN_IF_ERROR(state_.Begin());
  Status st = LoadSnapshot(*snapshot);
  Head loaded{h.number, h.head_hash, h.chain_len, h.key_epoch};
  if (st.ok()) st = SaveHead(loaded);
  if (!st.ok()) {
    state_.Rollback();
    return SecurityError(what + " is invalid: " + st.message());
  }
  COFFER_RETURN_IF_ERROR(state_.Commit());
  COFFER_RETURN_IF_ERROR(state_.PutInt("checkpoint:" + cid_, static_cast<int64_t>(h.number)));
  head = loaded;
  return OkStatus();
}

Status Journal::MaybeWriteCheckpoint() {
  const Head head = LoadHead();
  const uint64_t last = static_cast<uint64_t>(state_.GetInt("checkpoint:" + cid_));
  if (head.number < last + CheckpointInterval()) return OkStatus();
  const CollectionInfo& coll = vault_.keys().collections.at(collection_id_);
  CheckpointBlob blob;
  CheckpointHeader& h = blob.header;
  h.account_id = vault_.account_id();
  h.collection_id = collection_id_;
  h.number = head.number;
  h.head_hash = head.hash;
  h.author_device = vault_.device().device_id;
  // The covered revision's own chain length and key epoch: a reader checks they match.
  h.chain_len = head.chain_len;
  h.key_epoch = head.key_epoch;
  h.time = static_cast<int64_t>(std::time(nullptr));
  if (coll.keys.count(h.key_epoch) == 0) return OkStatus();
  COFFER_ASSIGN_OR_RETURN(Bytes snapshot, EncodeSnapshot());
  COFFER_ASSIGN_OR_RETURN(blob.ciphertext,
                          crypto::AeadSeal(crypto::DeriveKey(coll.keys.at(h.key_epoch), "checkpoint"),
                                           PadPlaintext(snapshot), h.Encode()));
  blob.signature = vault_.device().sign.Sign(blob.SignedPart());
  COFFER_RETURN_IF_ERROR(vault_.api().PutCheckpoint(cid_, head.number, blob.Encode()));
  return state_.PutInt("checkpoint:" + cid_, static_cast<int64_t>(head.number));
}

// ---- queries ----

StatusOr<std::optional<ItemRow>> Journal::Get(const std::string& item_id) {
  if (item_id == ItemRow::RootId()) return std::optional<ItemRow>(RootRow());
  Stmt s(state_.db(), std::string("SELECT ") + kItemCols + " FROM items WHERE collection_id=? AND item_id=?");
  s.Bind(1, cid_).Bind(2, item_id);
  COFFER_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<ItemRow>();
  return std::optional<ItemRow>(ReadItem(s));
}

StatusOr<std::vector<ItemRow>> Journal::Children(const std::string& parent_id) {
  Stmt s(state_.db(), std::string("SELECT ") + kItemCols +
                          " FROM items WHERE collection_id=? AND parent_id=? AND trashed=0 ORDER BY name, item_id");
  s.Bind(1, cid_).Bind(2, parent_id);
  std::vector<ItemRow> out;
  while (true) {
    COFFER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadItem(s));
  }
  return out;
}

StatusOr<std::optional<ItemRow>> Journal::Child(const std::string& parent_id, const std::string& name) {
  Stmt s(state_.db(), std::string("SELECT ") + kItemCols +
                          " FROM items WHERE collection_id=? AND parent_id=? AND name=? AND trashed=0 "
                          "ORDER BY revision, item_id LIMIT 1");
  s.Bind(1, cid_).Bind(2, parent_id).Bind(3, name);
  COFFER_ASSIGN_OR_RETURN(bool row, s.Step());
  if (!row) return std::optional<ItemRow>();
  return std::optional<ItemRow>(ReadItem(s));
}

StatusOr<std::optional<ItemRow>> Journal::Resolve(std::string_view path) {
  COFFER_ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitRemotePath(path));
  std::optional<ItemRow> cur = RootRow();
  for (const std::string& name : parts) {
    if (cur->kind != ItemKind::kDir) return std::optional<ItemRow>();
    COFFER_ASSIGN_OR_RETURN(cur, Child(cur->item_id, name));
    if (!cur) return cur;
  }
  return cur;
}

StatusOr<std::vector<VersionRow>> Journal::Versions(const std::string& item_id) {
  Stmt s(state_.db(),
         "SELECT version, revision, author, time, size, mtime_ns, mode, content FROM versions "
         "WHERE collection_id=? AND item_id=? ORDER BY version");
  s.Bind(1, cid_).Bind(2, item_id);
  std::vector<VersionRow> out;
  while (true) {
    COFFER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(VersionRow{static_cast<uint64_t>(s.Int(0)), static_cast<uint64_t>(s.Int(1)), s.Text(2), s.Int(3),
                             static_cast<uint64_t>(s.Int(4)), s.Int(5), static_cast<uint32_t>(s.Int(6)), s.Blob(7)});
  }
  return out;
}

StatusOr<std::vector<ItemRow>> Journal::AllItems() {
  // Without the content column (X'' in its place): a tree of 100,000 small inline files would
  // otherwise hold every file's bytes in memory. Callers fetch content with Get().
  Stmt s(state_.db(),
         "SELECT item_id, parent_id, name, kind, version, size, mtime_ns, mode, X'', trashed, trashed_at, revision "
         "FROM items WHERE collection_id=?");
  s.Bind(1, cid_);
  std::vector<ItemRow> out;
  while (true) {
    COFFER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadItem(s));
  }
  return out;
}

StatusOr<std::vector<ItemRow>> Journal::Trashed() {
  Stmt s(state_.db(), std::string("SELECT ") + kItemCols +
                          " FROM items WHERE collection_id=? AND trashed=1 ORDER BY trashed_at, name");
  s.Bind(1, cid_);
  std::vector<ItemRow> out;
  while (true) {
    COFFER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadItem(s));
  }
  return out;
}

StatusOr<std::string> Journal::PathOf(const std::string& item_id) {
  std::string path;
  std::string cur = item_id;
  for (int depth = 0; cur != ItemRow::RootId() && depth < 10000; ++depth) {
    COFFER_ASSIGN_OR_RETURN(auto row, Get(cur));
    if (!row) return NotFoundError("item " + cur + " not found");
    path = "/" + row->name + path;
    cur = row->parent_id;
  }
  return path.empty() ? std::string("/") : path;
}

Status Journal::ForEachReferencedChunk(const std::function<void(const Hash32&, const std::string&)>& fn) {
  Stmt s(state_.db(), "SELECT item_id, content FROM versions WHERE collection_id=?");
  s.Bind(1, cid_);
  while (true) {
    COFFER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    COFFER_ASSIGN_OR_RETURN(Content c, Content::Decode(s.Blob(1)));
    for (const ChunkRef& ref : c.chunks) fn(ref.id, s.Text(0));
  }
  return OkStatus();
}

}  // namespace coffer::client
