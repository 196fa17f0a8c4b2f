// Two-way sync of a local folder with a remote folder of the drive collection (`coffer sync`).
//
// A pass is a three-way merge. The base is what this device last saw in agreement on both
// sides (table sync_base of the local state DB: per item its path, remote version and the
// local file's size/mtime/mode/inode). The local side is a metadata-only scan (no file is read
// unless its metadata changed); the remote side is the verified journal. Items keep their
// identity across renames on both sides (local renames are recognised by inode), so a rename
// is a move on the other side, never delete + re-upload.
//
// Rules (docs/SYNC.md): a change on one side is applied to the other; both sides changed a
// file's content -> the remote version keeps the name and the local one becomes
// "name (conflict from DEVICE YYYY-MM-DD HHMM).ext" on both sides; an edit beats a delete
// on either side; two moves of one item -> the remote move wins; a name taken on both sides
// by different items -> the local one gets the conflict name. Nothing is ever deleted
// locally unless its metadata still equals what the base recorded.
//
// Crash safety: remote changes are committed before local ones are applied, and the base is
// written last. A pass that was killed at any point is completed by the next one: an item
// whose two sides already agree (same keyed content hash) is recognised without a transfer or
// a conflict, chunks already stored are not re-sent (dedup), and a conflict copy that already
// exists remotely is reused.
#ifndef COFFER_CLIENT_SYNC_H_
#define COFFER_CLIENT_SYNC_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/journal.h"
#include "client/transfer.h"
#include "client/vault.h"

namespace coffer::client {

struct SyncRoot {
  int64_t id = 0;
  std::string local_path;   // absolute, no trailing slash
  std::string remote_path;  // "/a/b"
  int64_t last_sync = 0;    // unix seconds of the last complete pass, 0 = never
};

struct SyncStats {
  uint64_t uploaded = 0;      // files whose content went up (new or changed)
  uint64_t downloaded = 0;    // files written locally
  uint64_t remote_moves = 0;  // moves/renames applied remotely
  uint64_t local_moves = 0;   // moves/renames applied locally
  uint64_t remote_deletes = 0;
  uint64_t local_deletes = 0;
  uint64_t folders_created = 0;
  uint64_t conflicts = 0;
  uint64_t deferred = 0;      // items left for the next pass (changed while being synced)
  uint64_t unchanged = 0;
  uint64_t revisions = 0;
  uint64_t chunks_uploaded = 0;
  uint64_t bytes_uploaded = 0;
  uint64_t bytes_downloaded = 0;
  std::vector<std::string> conflict_paths;  // relative paths of conflict copies made
  std::vector<std::string> warnings;        // skipped symlinks, name clashes, ...
  // What a dry run found to do, one line per action ("upload a/b.txt", ...).
  std::vector<std::string> pending;
  bool changed() const {
    return uploaded || downloaded || remote_moves || local_moves || remote_deletes || local_deletes ||
           folders_created || conflicts;
  }
};

// Registers LOCAL_DIR <-> REMOTE_DIR for this profile (idempotent for the same pair).
// kAlreadyExists if the folder is already synced with another remote folder, or nested in /
// containing another synced folder.
StatusOr<SyncRoot> AddSyncRoot(LocalState& state, const std::string& local_dir, const std::string& remote_dir);
StatusOr<std::vector<SyncRoot>> ListSyncRoots(LocalState& state);
StatusOr<SyncRoot> FindSyncRoot(LocalState& state, const std::string& local_dir);

// One pass. With `dry_run` nothing is changed anywhere and stats.pending lists what a pass
// would do (`coffer sync --status`). Re-plans (up to a few times) when another device commits
// in between; kAborted if the remote keeps moving.
StatusOr<SyncStats> SyncOnce(Vault& vault, Journal& journal, const SyncRoot& root, bool dry_run,
                             const ProgressFn& progress);

// `coffer sync --watch`: a pass over every root now, then one whenever a local change settles
// (inotify, quiet for `debounce_ms`) or the server reports a new head (long poll), until
// `stop()` is true. Network failures are reported and retried with backoff; any other failure
// of a pass (security, local I/O) ends the loop with that status.
struct WatchOptions {
  int debounce_ms = 1000;
  std::function<bool()> stop;  // polled about twice a second
  std::function<void(const SyncRoot&, const StatusOr<SyncStats>&)> on_pass;
};
Status WatchAndSync(Vault& vault, Journal& journal, const std::vector<SyncRoot>& roots, const WatchOptions& options);

// The conflict copy name for `name` ("a.txt" -> "a (conflict from laptop 2026-11-24 1530).txt").
std::string ConflictName(const std::string& name, const std::string& device, int64_t unix_time, int attempt);

// .cofferignore: gitignore syntax (comments, blank lines, `!` negation, trailing `/` = folders
// only, a `/` at the start or inside anchors at the sync root, `*`, `?`, `[...]`, `**`).
class IgnoreRules {
 public:
  static StatusOr<IgnoreRules> Parse(std::string_view text);
  // `rel` is the path relative to the sync root ("a/b.txt").
  bool Ignored(std::string_view rel, bool is_dir) const;

 private:
  struct Rule;
  std::vector<std::shared_ptr<const Rule>> rules_;
};

}  // namespace coffer::client

#endif  // COFFER_CLIENT_SYNC_H_
