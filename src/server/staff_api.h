// The support console's HTTP API and the owner's side of it (docs/API.md "Staff console"):
//
//   /v1/staff/...            staff sessions (their own bearer tokens, never valid on user
//                            routes and vice versa); every account verb needs a reason and
//                            is written to the account's access log BEFORE it runs
//   /v1/support/grants...    the owner registers, lists and revokes device-signed grants
//   /v1/log, /v1/log/global  the owner reads the signed access log and the global log
//   /v1/account/login-reset  whoever holds a reset code (printed to staff by reset-login,
//                            delivered to the owner out of band) sets a new password
//
// Roles (docs/THREAT_MODEL.md "Staff roles"): support = lookup, reset-login, and metadata /
// restore-trash with a grant; admin = all of that plus lock/unlock. No role sees content:
// the server has none to show.
//
// Thread-safety: like Api, Check and Handle may run on many threads at once.
#ifndef COFFER_SERVER_STAFF_API_H_
#define COFFER_SERVER_STAFF_API_H_

#include <memory>
#include <optional>
#include <string_view>
#include <vector>

#include "crypto/sign.h"
#include "server/api.h"
#include "server/handlers.h"
#include "server/response.h"
#include "server/staff_log.h"
#include "store/staff_store.h"

namespace coffer::server {

inline constexpr int64_t kStaffSessionTtl = 8 * 3600;
inline constexpr int64_t kResetCodeTtl = 24 * 3600;
inline constexpr int64_t kMaxGrantSeconds = 30 * 24 * 3600;
inline constexpr uint64_t kStaffBodyLimit = 64 * kKiB;
inline constexpr size_t kMaxLogPage = 1000;

class StaffApi {
 public:
  // `services` (the user API's) and `staff` must outlive the StaffApi.
  StaffApi(const Services& services, store::StaffStore& staff, crypto::SigningKey log_key);
  ~StaffApi();

  // Whether `target` (path and query) belongs to this module.
  static bool Owns(std::string_view target);
  // This module's routes, read-only (see RouteInfo); {grant_id} marks the id suffix.
  static std::vector<RouteInfo> RouteTable();

  Preflight Check(std::string_view method, std::string_view target, std::string_view authorization,
                  std::optional<uint64_t> content_length, int64_t now) const;
  // Never throws (the caller catches anyway).
  Response Handle(const Request& request, int64_t now) const;

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace coffer::server

#endif  // COFFER_SERVER_STAFF_API_H_
