// Put and get of files and folders: keyed content-defined chunking, per-chunk encryption,
// dedup against what the server already holds, and verified download (FORMAT.md §7, §11).
//
// Upload never holds a whole file in memory; files up to kMaxInlineBytes travel inside the
// encrypted revision. Revisions are committed in batches, so an interrupted put keeps what
// was acknowledged and a re-run skips unchanged files and re-sends no stored chunk (G8).
// Download writes each file to a temporary name in the target folder and renames it only
// after every chunk decrypted, matched its keyed id and the whole-file hash matched: a failed
// get leaves no partial output file (G2, G9).
#ifndef COFFER_CLIENT_TRANSFER_H_
#define COFFER_CLIENT_TRANSFER_H_

#include <cstdint>
#include <sys/stat.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/journal.h"
#include "client/vault.h"

namespace coffer::client {

struct Progress {
  uint64_t bytes_done = 0;
  uint64_t bytes_total = 0;
  uint64_t items_done = 0;
  uint64_t items_total = 0;
};
using ProgressFn = std::function<void(const Progress&)>;

struct CopyStats {
  uint64_t files = 0;
  uint64_t folders = 0;
  uint64_t unchanged = 0;       // put: files skipped because size and mtime matched
  uint64_t bytes = 0;           // logical bytes read (put) or written (get)
  uint64_t chunks = 0;          // chunks referenced
  uint64_t chunks_uploaded = 0;
  uint64_t bytes_uploaded = 0;  // encrypted chunk bytes actually sent
  uint64_t revisions = 0;
  std::vector<std::string> warnings;  // e.g. skipped symlinks
};

// Copies local files/folders into the remote folder `remote` (created if missing); each
// source keeps its name. Re-running the same put is idempotent.
StatusOr<CopyStats> PutPaths(Vault& vault, Journal& journal, const std::vector<std::string>& sources,
                                 const std::string& remote, const ProgressFn& progress);

// Copies remote files/folders to `local` (cp semantics).
StatusOr<CopyStats> GetPaths(Vault& vault, Journal& journal, const std::vector<std::string>& sources,
                                 const std::string& local, const ProgressFn& progress);

// Downloads and checks every chunk of one file version without writing it anywhere.
// Used by `verify`. `what` names the file in errors.
Status VerifyContent(Vault& vault, const Content& content, const std::string& what);

// Reads local files into Contents and uploads their chunks (keyed chunking, dedup against
// the server, parallel uploads). Shared by put and sync. Call Flush() before committing a
// revision that references the returned Contents: a revision must never name a chunk the
// server does not hold yet.
class ContentUploader {
 public:
  static StatusOr<std::unique_ptr<ContentUploader>> Create(Vault& vault, CopyStats& stats);
  ~ContentUploader();
  // Fills `st` with the file's metadata as read. kAborted if the file kept changing while it
  // was read (never a torn version); kFailedPrecondition for local I/O errors.
  StatusOr<Content> Upload(const std::string& path, struct stat& st, const std::function<void(uint64_t)>& on_bytes);
  Status Flush();

 private:
  struct Impl;
  explicit ContentUploader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Downloads one file version to `dest` through a temporary file in the same folder, applying
// its mode and mtime; `dest` appears only once every chunk and the whole-file hash checked.
Status DownloadFile(Vault& vault, const ItemRow& item, const std::string& dest, const std::string& what,
                    const std::function<void(uint64_t)>& on_bytes);

// The keyed whole-file hash a Content of `content_epoch` would record for the local file (used
// to recognise that a local file already equals a remote version without uploading it).
StatusOr<Hash32> HashLocalFile(const Vault& vault, uint32_t content_epoch, const std::string& path);

// Creates remote folders (mkdir -p semantics when `parents`).
Status MakeDirectory(Vault& vault, Journal& journal, const std::string& remote, bool parents);

}  // namespace coffer::client

#endif  // COFFER_CLIENT_TRANSFER_H_
