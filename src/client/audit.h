// `coffer audit`: the account's access log (G6), verified.
//
// The server appends a signed, hash-chained entry for every staff call (reads included),
// every grant use and every owner action on grants or reset codes (docs/FORMAT.md §16).
// RunAudit fetches the whole log and the global log and checks, failing with kSecurity
// (exit 3) and a message naming what failed:
//   - the log key: pinned on first sight in the local state DB; a different key is reported;
//   - every entry: format, signature, account, position (seq) and link to the previous one,
//     from entry 0;
//   - against what this device verified before (its remembered head): fewer entries
//     ("cut back") or another entry at the remembered position ("rewritten");
//   - the global log: its own chain and signatures, and that every head it records for this
//     account is a prefix of this log and the newest one is this log's head ("forked").
// Only when everything holds is the new head remembered.
#ifndef COFFER_CLIENT_AUDIT_H_
#define COFFER_CLIENT_AUDIT_H_

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "client/vault.h"
#include "coffer/status.h"
#include "staff/formats/staff_formats.h"

namespace coffer::client {

struct AuditReport {
  std::vector<staff::LogEntry> entries;
  uint64_t previously_verified = 0;  // entries this device had verified before this run
  uint64_t global_length = 0;
  std::string log_public_key_hex;
  bool key_pinned_now = false;  // first audit on this device
};

// `vault` must be open and enrolled; it need not be unlocked (only the account id and a
// session are needed, not the keys), so the log of a LOCKED account stays readable.
StatusOr<AuditReport> RunAudit(Vault& vault, const std::string& ca_file);

nlohmann::json AuditJson(const AuditReport& report);
// One line per entry, e.g. "#3 2026-01-01 10:00 staff alice (support) metadata done, grant
// 1a2b..., reason: ticket 42", then a summary. Staff-supplied text is made printable.
std::string AuditText(const AuditReport& report);

}  // namespace coffer::client

#endif  // COFFER_CLIENT_AUDIT_H_
