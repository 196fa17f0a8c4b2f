// StaffStore: what the support console needs on the server, kept apart from MetaStore so
// that the metadata interface does not change (issue 5, docs/THREAT_MODEL.md "Staff").
//
//   - staff accounts (role, slow hash of the credential secret) and their sessions;
//   - access grants an owner's device signed, and their revocation;
//   - one-time login-reset codes (only their SHA-256);
//   - the per-account access log: signed, hash-chained entries numbered from 0, appended
//     together with one entry of the global log (a hash chain over every account's log
//     heads, so that an auditor can see that no account's log was forked).
//
// The store keeps bytes; the server builds and signs the log entries (docs/FORMAT.md §16)
// and clients verify them. Like MetaStore, every implementation must be thread-safe, make
// each method atomic (a crash leaves all of it or none), be durable when it returns OK, and
// pass store/testing/staff_store_conformance. Ids are lowercase hex (staff, grant, account
// and device ids: 32 hex). Times are unix seconds.
#ifndef COFFER_STORE_STAFF_STORE_H_
#define COFFER_STORE_STAFF_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "coffer/status.h"
#include "util/bytes.h"

namespace coffer::store {

struct StaffRecord {
  std::string staff_id;       // 32 hex, random
  std::string name;           // unique, [a-z0-9._-]{1,64}
  std::string role;           // "support" | "admin" (the server decides what each may do)
  std::string secret_hash;    // slow hash of the credential's secret part
  int64_t created_at = 0;
  bool disabled = false;
};

struct StaffSessionRecord {
  Bytes token_hash;  // SHA-256 of the bearer token; the token is never stored
  std::string staff_id;
  int64_t created_at = 0;
  int64_t expires_at = 0;
};

struct GrantRecord {
  std::string grant_id;    // 32 hex, chosen by the owner's device
  std::string account_id;
  std::string device_id;   // the device that signed it
  uint32_t scopes = 0;     // bit set, docs/FORMAT.md §16
  int64_t issued_at = 0;
  int64_t expires_at = 0;
  int64_t revoked_at = 0;  // 0 = not revoked
  Bytes encoded;           // the signed grant as the device produced it
};

struct LogHead {
  uint64_t length = 0;  // number of entries; 0 = empty log
  Bytes head_hash;      // hash of entry length-1 (32 bytes), empty when length is 0
};

struct LogEntryRecord {
  uint64_t seq = 0;
  Bytes data;
};

class StaffStore {
 public:
  virtual ~StaffStore() = default;

  // --- staff accounts ---
  // kAlreadyExists if the name or id is taken.
  virtual Status CreateStaff(const StaffRecord& staff) = 0;
  virtual StatusOr<StaffRecord> GetStaff(const std::string& staff_id) = 0;  // kNotFound
  virtual StatusOr<StaffRecord> GetStaffByName(const std::string& name) = 0;  // kNotFound
  // Ordered by name.
  virtual StatusOr<std::vector<StaffRecord>> ListStaff() = 0;
  // Disabling also deletes the staff member's sessions. kNotFound if unknown.
  virtual Status SetStaffDisabled(const std::string& staff_id, bool disabled) = 0;

  // --- staff sessions ---
  virtual Status CreateStaffSession(const StaffSessionRecord& session) = 0;
  // kNotFound if unknown or expired at `now` (expires_at <= now).
  virtual StatusOr<StaffSessionRecord> GetStaffSession(ByteView token_hash, int64_t now) = 0;
  virtual Status DeleteStaffSession(ByteView token_hash) = 0;  // OK if absent

  // --- grants ---
  // kAlreadyExists if grant_id exists (for any account).
  virtual Status PutGrant(const GrantRecord& grant) = 0;
  virtual StatusOr<GrantRecord> GetGrant(const std::string& grant_id) = 0;  // kNotFound
  // The account's grants, newest issued_at first.
  virtual StatusOr<std::vector<GrantRecord>> ListGrants(const std::string& account_id) = 0;
  // Sets revoked_at = now unless already revoked (then nothing changes). kNotFound unless
  // the grant exists and belongs to `account_id`, so that one account cannot revoke (or
  // learn about) another's grants.
  virtual Status RevokeGrant(const std::string& account_id, const std::string& grant_id, int64_t now) = 0;

  // --- login-reset codes: at most one per account ---
  // Replaces any earlier code of the account.
  virtual Status PutResetCode(const std::string& account_id, ByteView code_hash, int64_t expires_at) = 0;
  // The code's hash; kNotFound if none or expired at `now`.
  virtual StatusOr<Bytes> GetResetCode(const std::string& account_id, int64_t now) = 0;
  virtual Status DeleteResetCode(const std::string& account_id) = 0;  // OK if absent

  // --- access log ---
  virtual StatusOr<LogHead> GetLogHead(const std::string& account_id) = 0;
  virtual StatusOr<LogHead> GetGlobalLogHead() = 0;
  // In one transaction: appends `entry` as number `seq` of the account's log (its hash
  // `entry_hash` becomes the account's head) and `global_entry` as number `global_seq` of the
  // global log (hash `global_hash`). kAborted unless seq == the account log's length and
  // global_seq == the global log's length (another writer got there first: rebuild both
  // entries on the new heads and retry). Nothing is ever updated or deleted in either log.
  virtual Status AppendLogEntry(const std::string& account_id, uint64_t seq, ByteView entry,
                                ByteView entry_hash, uint64_t global_seq, ByteView global_entry,
                                ByteView global_hash) = 0;
  // Entries with seq >= from, ascending, at most `limit`.
  virtual StatusOr<std::vector<LogEntryRecord>> GetLogEntries(const std::string& account_id, uint64_t from,
                                                              size_t limit) = 0;
  virtual StatusOr<std::vector<LogEntryRecord>> GetGlobalLogEntries(uint64_t from, size_t limit) = 0;
};

}  // namespace coffer::store

#endif  // COFFER_STORE_STAFF_STORE_H_
