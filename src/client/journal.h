// Journal: one collection's hash-chained, device-signed revisions, verified and replayed
// into the local state DB (docs/FORMAT.md §8-§10, DESIGN §5).
//
// Refresh() fetches revisions after the last one this device saw and accepts one only if:
// its number is the next one, its prev_hash links to the previous revision, it names this
// account and collection, its author is a device of the verified chain that was active at the
// chain length the revision claims (which never decreases), its key epoch never decreases
// and is known, its signature verifies, its ciphertext authenticates, and its operations are
// valid against the state (versions increase by one, parents exist, no cycles). Anything else
// is kSecurity naming the revision. A head older than the one seen is "rollback detected";
// a different revision at the seen number is "fork detected" (G2, G3).
#ifndef COFFER_CLIENT_JOURNAL_H_
#define COFFER_CLIENT_JOURNAL_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "client/api_client.h"
#include "client/formats.h"
#include "client/local_state.h"

namespace coffer::client {

class Vault;

struct ItemRow {
  std::string item_id;
  std::string parent_id;
  std::string name;
  ItemKind kind = ItemKind::kFile;
  uint64_t version = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint32_t mode = 0;
  Bytes content;  // Content::Encode()
  bool trashed = false;
  int64_t trashed_at = 0;
  uint64_t revision = 0;
  bool is_root() const { return item_id == RootId(); }
  static std::string RootId() { return std::string(32, '0'); }
};

struct VersionRow {
  uint64_t version = 0;
  uint64_t revision = 0;
  std::string author;
  int64_t time = 0;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint32_t mode = 0;
  Bytes content;
};

class Journal {
 public:
  // `state` is usually vault.state(); `verify` replays into a scratch in-memory state with
  // use_checkpoints = false, so that it checks the whole history.
  Journal(Vault& vault, LocalState& state, const Id& collection_id, bool use_checkpoints = true);

  Status Refresh();
  // Appends one revision holding `ops` (Put versions are assigned here). On a lost
  // compare-and-set it refreshes and retries: concurrent writers rebase on the new head.
  // kFailedPrecondition if the ops no longer apply (e.g. the parent was deleted meanwhile).
  // `precondition`, if given, runs after every refresh, before the revision is built: a
  // non-OK answer (conventionally kFailedPrecondition) ends the commit with that status, so a
  // caller whose ops were planned against an older state (sync) can re-plan instead of
  // silently overwriting a concurrent edit.
  StatusOr<uint64_t> Commit(std::vector<Op> ops, const std::function<Status(Journal&)>& precondition = nullptr);

  uint64_t head() const;
  // "NUMBER:first 16 hex of the head revision's hash". Two devices that show the same
  // fingerprint have verified the same history up to there; comparing it out of band is how
  // a user catches a server that keeps devices on separate forks forever (THREAT_MODEL G3).
  std::string HeadFingerprint() const;
  uint32_t key_epoch() const;
  const Id& collection_id() const { return collection_id_; }

  // ---- queries on the verified state ----
  // Resolves "/a/b" (trashed items are invisible). "/" is the root pseudo-item.
  StatusOr<std::optional<ItemRow>> Resolve(std::string_view path);
  StatusOr<std::vector<ItemRow>> Children(const std::string& parent_id);
  // The visible child called `name`, if any (the oldest one if a concurrent writer made two).
  StatusOr<std::optional<ItemRow>> Child(const std::string& parent_id, const std::string& name);
  StatusOr<std::optional<ItemRow>> Get(const std::string& item_id);
  StatusOr<std::vector<VersionRow>> Versions(const std::string& item_id);
  StatusOr<std::vector<ItemRow>> Trashed();
  // Every item of the collection, trashed ones included, WITHOUT content (one query: sync
  // walks whole trees; Get() has the content).
  StatusOr<std::vector<ItemRow>> AllItems();
  StatusOr<std::string> PathOf(const std::string& item_id);
  // Every chunk id referenced by any version of any item (live, trashed, old versions).
  Status ForEachReferencedChunk(const std::function<void(const Hash32&, const std::string& item_id)>& fn);

 private:
  struct Head {
    uint64_t number = 0;
    Hash32 hash{};
    uint64_t chain_len = 0;
    uint32_t key_epoch = 0;
  };
  Head LoadHead() const;
  Status VerifyAndApply(const Revision& rev, Head& head);
  Status ApplyOps(const std::vector<Op>& ops, const RevisionHeader& h);
  Status SaveHead(const Head& head);
  // A device with nothing replayed starts from the newest checkpoint, if any (FORMAT.md §10).
  Status LoadCheckpoint(Head& head);
  // Writes a checkpoint when enough revisions have passed since the last one.
  Status MaybeWriteCheckpoint();
  StatusOr<Bytes> EncodeSnapshot();
  Status LoadSnapshot(ByteView snapshot);
  StatusOr<Bytes> BuildRevision(const std::vector<Op>& ops, const Head& head);

  Vault& vault_;
  LocalState& state_;
  Id collection_id_;
  std::string cid_;
  bool use_checkpoints_;
};

// Revisions between two checkpoints (COFFER_CHECKPOINT_EVERY overrides it for tests).
uint64_t CheckpointInterval();

// Splits "/a/b/" into {"a","b"}; kInvalidArgument for "..", ".", empty names or NUL.
StatusOr<std::vector<std::string>> SplitRemotePath(std::string_view path);
Status ValidateName(std::string_view name);

}  // namespace coffer::client

#endif  // COFFER_CLIENT_JOURNAL_H_
