// `coffer verify`: checks everything the server holds for this account.
//
// Re-verifies the device chain, sealed key and keyring (Unlock), replays every collection's
// journal from revision 1 into a scratch in-memory state (so the local cache is not trusted),
// and downloads, decrypts and checks every chunk of every file version, live or in the trash.
#ifndef COFFER_CLIENT_VERIFY_H_
#define COFFER_CLIENT_VERIFY_H_

#include <functional>
#include <string>
#include <vector>

#include "client/vault.h"

namespace coffer::client {

struct VerifyReport {
  uint64_t collections = 0;
  uint64_t revisions = 0;
  uint64_t items = 0;
  uint64_t versions = 0;
  uint64_t chunks = 0;
  uint64_t bytes = 0;
  std::vector<std::string> errors;  // one line per failed object
  bool ok() const { return errors.empty(); }
};

// Returns a report; a non-OK Status only when verification could not run at all (network,
// login). Failures of the data itself are listed in the report.
StatusOr<VerifyReport> VerifyAccount(Vault& vault, const std::function<void(const std::string&)>& on_progress);

// Collects every chunk id referenced by any version in any collection and asks the server to
// delete the others (older than its grace period). Returns {deleted, freed bytes}.
StatusOr<std::pair<uint64_t, uint64_t>> CollectGarbage(Vault& vault);

}  // namespace coffer::client

#endif  // COFFER_CLIENT_VERIFY_H_
