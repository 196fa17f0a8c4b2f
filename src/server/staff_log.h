// The server side of the access log (G6): the log signing key and appends.
//
// The log key is an Ed25519 key kept in a file of its own (default DIR/staff-log.key, mode
// 0600, 32-byte seed), NOT in the metadata database: someone who can write the database
// (a DBA, a restored backup, a support employee with a copy) then still cannot forge or
// re-sign entries, and clients that pinned the public key detect any edit. Whoever can read
// the key file can sign; that is the server operator, whom docs/THREAT_MODEL.md treats
// separately.
#ifndef COFFER_SERVER_STAFF_LOG_H_
#define COFFER_SERVER_STAFF_LOG_H_

#include <memory>
#include <mutex>
#include <string>

#include "coffer/status.h"
#include "crypto/sign.h"
#include "staff/formats/staff_formats.h"
#include "store/staff_store.h"

namespace coffer::server {

// Reads the key from `path`, or creates it (O_EXCL, 0600) if the file does not exist.
// kDataLoss if the file is not a 32-byte seed; kFailedPrecondition if it is readable by
// group or others.
StatusOr<crypto::SigningKey> LoadOrCreateLogKey(const std::string& path);

class AccessLog {
 public:
  AccessLog(store::StaffStore& store, crypto::SigningKey key) : store_(store), key_(std::move(key)) {}

  // Appends `entry` (its account_id, time and content; seq and prev_hash are filled in) to
  // its account's log and a matching entry to the global log, in one store transaction.
  // Retries when another process appended first. Returns the entry's seq.
  StatusOr<uint64_t> Append(staff::LogEntry entry);

  const Bytes& public_key() const { return key_.public_key(); }

 private:
  store::StaffStore& store_;
  crypto::SigningKey key_;
  std::mutex mu_;  // one appender at a time in this process: no self-inflicted retries
};

}  // namespace coffer::server

#endif  // COFFER_SERVER_STAFF_LOG_H_
