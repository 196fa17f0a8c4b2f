// The owner's side of the support console (issue 5): device-signed access grants.
//
// `coffer support grant` builds a grant (docs/FORMAT.md §16) for the chosen scopes and
// lifetime, signs it with this device's key (the device must be active in the verified
// device chain), registers it with the server and returns the grant code the owner gives to
// support. The server checks the signature, account, scope, expiry and revocation each time
// staff present the code; `coffer support revoke` ends it early. Every registration,
// revocation and use appears in the access log (`coffer audit`).
//
// Also here: the small JSON-over-HTTP helper the support console's calls share (the owner's
// routes and coffer-staff), so both map server errors the same way.
// Thread-safety: functions on one Vault, from one thread.
#ifndef COFFER_CLIENT_SUPPORT_H_
#define COFFER_CLIENT_SUPPORT_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "client/vault.h"
#include "coffer/status.h"

namespace coffer::client {

// One request with a JSON body (or none) and a JSON reply. HTTP errors become the Status of
// the server's error body (its message with control characters replaced), unreachable
// servers kUnavailable, unparsable replies kDataLoss. 204 yields an empty object.
StatusOr<nlohmann::json> SupportHttpCall(const std::string& base_url, const std::string& ca_file,
                                         const std::string& bearer_token, const std::string& method,
                                         const std::string& path, const nlohmann::json* body);

// Text from the server or from staff, made safe to print on a terminal (control characters
// become '?', length capped).
std::string PrintableText(std::string_view text, size_t max_len = 1024);

// "90m", "2h", "7d", "3600s" or plain seconds -> seconds (1 s .. 30 days).
StatusOr<int64_t> ParseGrantDuration(std::string_view text);

struct GrantRequest {
  std::vector<std::string> scopes;  // "metadata", "restore-trash"
  int64_t duration_seconds = 0;
  std::string note;                 // shown to support and in the log (e.g. the ticket)
};

struct GrantView {
  std::string grant_id;
  std::string device_id;
  std::string scopes;  // comma-separated names
  int64_t issued_at = 0;
  int64_t expires_at = 0;
  int64_t revoked_at = 0;
  std::string note;
  std::string code;    // the grant code (only shown by IssueGrant)
};

// `vault` must be unlocked. Returns the registered grant with its code.
StatusOr<GrantView> IssueGrant(Vault& vault, const std::string& ca_file, const GrantRequest& request);
Status RevokeGrant(Vault& vault, const std::string& ca_file, const std::string& grant_id);
// Grants of the account, newest first; each one's signature is checked against the verified
// device chain (a grant the account's devices did not sign is kSecurity).
StatusOr<std::vector<GrantView>> ListGrants(Vault& vault, const std::string& ca_file);

// Sets a new password with the one-time code staff obtained with `coffer-staff reset-login`
// and delivered out of band. It changes only the login: a profile that then logs in with the
// new password is a pending device until an enrolled device approves it or the recovery key
// is used (no key is reachable with a password).
Status RedeemResetCode(const std::string& server_url, const std::string& ca_file, const std::string& email,
                       const std::string& code, const crypto::SecretBytes& new_password);

}  // namespace coffer::client

#endif  // COFFER_CLIENT_SUPPORT_H_
