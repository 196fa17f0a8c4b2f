// `coffer-server migrate`: copies a whole server from one pair of storage engines to another,
// e.g. SQLite + local files to PostgreSQL + S3.
//
//   coffer-server migrate --from-meta URL --to-meta URL [--from-blobs URL --to-blobs URL]
//
// What moves: every account with its devices, device chain, sealed keys, keyring, collections
// (every revision and the checkpoint) and chunk index; the server settings (among them the
// secret behind the fake login salts of unknown emails: without it, probing an email would
// tell "exists" from "unknown" by a changed salt); and, with blob URLs, every chunk's bytes.
// Not moved, by design: sessions (devices log in again by themselves), login-failure counters
// and pairing mailboxes (short-lived).
//
// Run it with the source servers stopped (or read-only) and the target servers not yet
// started. It is:
//   - resumable: re-running after a kill continues where the target is; nothing is copied
//     twice (every write is the store's own compare-and-set: revisions, chain entries and
//     keyring versions are appended only past the target's current end, chunks only if the
//     target's index lacks them, and a chunk's bytes are written before its index entry);
//   - never destructive: versioned data in the target that is newer (a longer journal or
//     chain, a later keyring version or sealed-key epoch, a later checkpoint, a device that
//     moved further along pending -> active -> revoked) is kept. Data that DIFFERS from the
//     source at the same version means the target was written by someone else: that account
//     is refused (kFailedPrecondition) and the run fails, naming it. Unversioned fields
//     (login and recovery verifiers, quota, lock, settings) take the source's value;
//   - verified: at the end it compares, per account, the counts (devices, chain entries,
//     sealed keys, collections, revisions, chunks), the keyring version, used bytes and every
//     collection head, and re-reads every chunk from the target blob store comparing its
//     SHA-256 with the target's chunk index.
// Progress goes to stderr. Exit codes: 0 copied and verified, 1 failed (message says why),
// 2 usage, 3 verification found a difference, 5 an engine could not be reached.
#ifndef COFFER_SERVER_MIGRATE_H_
#define COFFER_SERVER_MIGRATE_H_

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "coffer/status.h"
#include "store/blob_store.h"
#include "store/meta_store.h"

namespace coffer::server {

struct MigrateCounts {
  uint64_t accounts = 0;
  uint64_t devices = 0;
  uint64_t chain_entries = 0;
  uint64_t sealed_keys = 0;
  uint64_t keyrings = 0;
  uint64_t collections = 0;
  uint64_t revisions = 0;
  uint64_t checkpoints = 0;
  uint64_t chunks = 0;
  uint64_t chunk_bytes = 0;  // sizes recorded in the chunk index
  uint64_t settings = 0;
};

struct MigrateReport {
  MigrateCounts copied;    // written to the target by this run
  MigrateCounts verified;  // present in the target and checked at the end
  uint64_t blobs_rechecked = 0;
};

// The stores of one side. `blobs` may be null on both sides (metadata only).
struct MigrateEndpoints {
  store::MetaStore* meta = nullptr;
  store::BlobStore* blobs = nullptr;
};

// Copies, then verifies. `progress` (may be null) receives human-readable lines.
// kFailedPrecondition: the target diverged from the source (see above); kDataLoss: a source
// chunk's bytes do not match its recorded SHA-256, or verification found a difference.
StatusOr<MigrateReport> Migrate(const MigrateEndpoints& from, const MigrateEndpoints& to, std::ostream* progress);

// Only the verification pass.
StatusOr<MigrateReport> VerifyMigration(const MigrateEndpoints& from, const MigrateEndpoints& to,
                                        std::ostream* progress);

// `args` are the words after "migrate". Opens the engines by URL (store/open.h), runs
// Migrate and prints a summary; returns the exit code.
int MigrateMain(const std::vector<std::string>& args);

}  // namespace coffer::server

#endif  // COFFER_SERVER_MIGRATE_H_
