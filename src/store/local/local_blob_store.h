// LocalBlobStore: a BlobStore on the local file system, one file per blob (the embedded
// default for single-node servers).
//
// Layout under the root directory:
//   <dir>/<prefix>/<first two chars of name>/<name>
// where a key "account/chunkid" has prefix "account" and name "chunkid". Keys with more than
// one '/' use everything before the last '/' as the prefix, written with '.' in place of '/'
// ("a/b/c" -> "a.b/c/c"); keys without '/' live under "@root". Neither '.' nor '@' can occur
// in a key, so the mapping is one-to-one and a file can never sit where another key needs a
// directory. The two-character level keeps directories small (chunk ids are hex).
//
// Durability: Put writes a temp file in the target's directory, fsyncs it, renames it over the
// target and fsyncs the directory, so a reader sees the old blob or the new one, never a mix,
// and an acknowledged Put survives a crash or power loss. Temp files are named
// "<name>.tmp-<unique>"; the '.' makes them invisible to Get/Exists/List, and Open deletes
// leftovers from a crash. Only one process should open a directory at a time (Open's cleanup
// would otherwise delete another process's in-flight temp files).
//
// Thread-safe: blobs are never modified in place, so operations need no lock; the only shared
// state is the set of directories already made durable.
#ifndef COFFER_STORE_LOCAL_LOCAL_BLOB_STORE_H_
#define COFFER_STORE_LOCAL_LOCAL_BLOB_STORE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_set>

#include "coffer/status.h"
#include "store/blob_store.h"
#include "util/bytes.h"

namespace coffer::store {

class LocalBlobStore : public BlobStore {
 public:
  // Opens (creating if needed, with parents) the store rooted at `dir` and deletes temp files
  // left by an interrupted Put. kInvalidArgument: `dir` is empty or not a directory.
  // kUnavailable: the directory cannot be created or read.
  static StatusOr<std::unique_ptr<LocalBlobStore>> Open(const std::string& dir);

  LocalBlobStore(const LocalBlobStore&) = delete;
  LocalBlobStore& operator=(const LocalBlobStore&) = delete;
  ~LocalBlobStore() override = default;

  Status Put(std::string_view key, ByteView data) override;
  StatusOr<Bytes> Get(std::string_view key) override;
  StatusOr<Bytes> GetRange(std::string_view key, uint64_t offset, uint64_t length) override;
  StatusOr<bool> Exists(std::string_view key) override;
  Status Delete(std::string_view key) override;
  // Reads one two-character directory at a time and calls `fn` outside any lock, so `fn` may
  // call back into the store (e.g. Delete what it is shown).
  Status List(std::string_view prefix, const std::function<bool(const std::string&)>& fn) override;

  const std::string& dir() const { return dir_; }
  // The file that holds `key` (which must be valid). For tests and operators.
  std::string PathForKey(std::string_view key) const;

 private:
  explicit LocalBlobStore(std::string dir) : dir_(std::move(dir)) {}

  // Deletes "*.tmp-*" files in the shard directories. Called once by Open.
  Status RemoveStrayTempFiles();
  // Creates `rel` (relative to dir_, one level below an existing durable directory) if
  // needed and makes its entry in the parent durable, once per process.
  Status EnsureDurableDir(const std::string& rel);
  // Lists the blob files of one shard directory into fn; false if fn asked to stop.
  StatusOr<bool> ListShard(const std::string& shard_path, std::string_view key_base,
                           std::string_view name_prefix, const std::function<bool(const std::string&)>& fn);

  const std::string dir_;
  std::atomic<uint64_t> temp_counter_{0};

  // Directories (relative to dir_) whose entry in their parent this process has fsynced. A
  // directory found on disk is not enough: a crashed predecessor may have created it without
  // syncing its parent, and a blob inside it would be lost with it.
  std::mutex durable_dirs_mu_;
  std::unordered_set<std::string> durable_dirs_;  // guarded by durable_dirs_mu_
};

}  // namespace coffer::store

#endif  // COFFER_STORE_LOCAL_LOCAL_BLOB_STORE_H_
