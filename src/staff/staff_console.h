// coffer-staff: the support console. It talks only to the staff API (/v1/staff/...), with a
// staff session obtained from the staff member's own credential; it has no keys of any
// account and links no code that could decrypt (it uses the client library's HTTP helper
// only). The session lives in the console's profile directory (mode 0700, session file 0600).
#ifndef COFFER_STAFF_STAFF_CONSOLE_H_
#define COFFER_STAFF_STAFF_CONSOLE_H_

#include <nlohmann/json.hpp>
#include <string>

#include "coffer/status.h"

namespace coffer::staff {

struct ConsoleOptions {
  std::string home;    // profile directory
  std::string server;  // overrides the saved server when non-empty
  std::string ca_file;
};

class Console {
 public:
  explicit Console(ConsoleOptions options) : options_(std::move(options)) {}

  // Exchanges the credential ("cs1:NAME:SECRET") for a staff session and saves it.
  StatusOr<nlohmann::json> Login(const std::string& credential);
  Status Logout();
  // One account verb: lookup, lock, unlock, reset-login, metadata, restore-trash. `grant` is
  // the owner's grant code (empty = none). The reply is the server's JSON.
  StatusOr<nlohmann::json> AccountVerb(const std::string& verb, const std::string& email, const std::string& reason,
                                       const std::string& grant);

 private:
  struct Session {
    std::string server;
    std::string token;
  };
  StatusOr<Session> LoadSession() const;
  Status SaveSession(const Session& session) const;
  std::string SessionPath() const;
  ConsoleOptions options_;
};

// Text for a verb's reply (the --json form is the reply itself).
std::string DescribeReply(const std::string& verb, const nlohmann::json& reply);

}  // namespace coffer::staff

#endif  // COFFER_STAFF_STAFF_CONSOLE_H_
