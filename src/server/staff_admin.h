// `coffer-server staff ...`: staff accounts, managed by the operator on the server host
// (there is deliberately no HTTP API for this: whoever can add staff can already run the
// server binary against its database).
//
//   coffer-server staff add NAME --role support|admin (--data DIR | --meta-url URL)
//   coffer-server staff list (--data DIR | --meta-url URL)
//   coffer-server staff disable NAME (--data DIR | --meta-url URL)
//
// `add` prints the new credential ("cs1:NAME:SECRET") once on stdout; only a slow hash of
// the secret is stored. Exit codes: 0 ok, 1 failed, 2 usage.
#ifndef COFFER_SERVER_STAFF_ADMIN_H_
#define COFFER_SERVER_STAFF_ADMIN_H_

#include <string>
#include <vector>

#include "coffer/status.h"
#include "store/staff_store.h"

namespace coffer::server {

// `args` are the words after "staff". Writes results to stdout and errors to stderr.
int StaffAdminMain(const std::vector<std::string>& args);

// The operations, on an open store (also used by tests). AddStaff returns the credential.
StatusOr<std::string> AddStaff(store::StaffStore& store, const std::string& name, const std::string& role,
                               int64_t now);
Status DisableStaff(store::StaffStore& store, const std::string& name);

}  // namespace coffer::server

#endif  // COFFER_SERVER_STAFF_ADMIN_H_
