#include "server/staff_admin.h"

#include <sodium.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>

#include "crypto/password.h"
#include "server/config.h"
#include "crypto/secret.h"
#include "store/open.h"

namespace coffer::server {
namespace {

constexpr const char* kStaffUsage =
    "usage: coffer-server staff add NAME --role support|admin (--data DIR | --meta-url URL)\n"
    "       coffer-server staff list (--data DIR | --meta-url URL)\n"
    "       coffer-server staff disable NAME (--data DIR | --meta-url URL)\n"
    "\n"
    "  NAME: 1-64 characters of a-z 0-9 . _ -\n"
    "  add prints the staff member's credential once; give it to them over a private channel.\n"
    "  Roles: support (lookup, reset-login, and with an owner's grant metadata / restore-trash);\n"
    "         admin (all of that, plus lock and unlock). See docs/THREAT_MODEL.md.\n";

bool ValidName(const std::string& name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
  });
}

int Usage(const std::string& message) {
  std::fprintf(stderr, "coffer-server staff: %s\n\n%s", message.c_str(), kStaffUsage);
  return 2;
}

int Failed(const Status& st) {
  std::fprintf(stderr, "coffer-server staff: %s\n", st.message().c_str());
  return 1;
}

}  // namespace

StatusOr<std::string> AddStaff(store::StaffStore& store, const std::string& name, const std::string& role,
                               int64_t now) {
  COFFER_RETURN_IF_ERROR(crypto::Init());
  if (!ValidName(name)) return InvalidArgumentError("staff name must be 1-64 characters of a-z 0-9 . _ -");
  if (role != "support" && role != "admin") return InvalidArgumentError("role must be support or admin");
  Bytes secret = crypto::RandomBytes(32);
  auto hash = crypto::HashForStorage(secret);
  if (!hash.ok()) {
    sodium_memzero(secret.data(), secret.size());
    return hash.status();
  }
  store::StaffRecord rec;
  rec.staff_id = HexEncode(crypto::RandomBytes(16));
  rec.name = name;
  rec.role = role;
  rec.secret_hash = *hash;
  rec.created_at = now;
  Status created = store.CreateStaff(rec);
  if (!created.ok()) {
    sodium_memzero(secret.data(), secret.size());
    if (created.code() == StatusCode::kAlreadyExists) return AlreadyExistsError("staff member " + name + " exists");
    return created;
  }
  std::string credential = "cs1:" + name + ":" + HexEncode(secret);
  sodium_memzero(secret.data(), secret.size());
  return credential;
}

Status DisableStaff(store::StaffStore& store, const std::string& name) {
  COFFER_ASSIGN_OR_RETURN(store::StaffRecord rec, store.GetStaffByName(name));
  return store.SetStaffDisabled(rec.staff_id, true);
}

int StaffAdminMain(const std::vector<std::string>& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h") return Usage("which staff command?");
  const std::string verb = args[0];
  std::vector<std::string> positional;
  std::string role, data_dir, meta_url;
  for (size_t i = 1; i < args.size(); ++i) {
    const std::string& a = args[i];
    auto value = [&](std::string& out) {
      if (i + 1 >= args.size()) return false;
      out = args[++i];
      return true;
    };
    if (a == "--role") {
      if (!value(role)) return Usage("--role needs a value");
    } else if (a == "--data") {
      if (!value(data_dir)) return Usage("--data needs a value");
    } else if (a == "--meta-url") {
      if (!value(meta_url)) return Usage("--meta-url needs a value");
    } else if (a.rfind("--", 0) == 0) {
      return Usage("unknown option " + a);
    } else {
      positional.push_back(a);
    }
  }
  if (meta_url.empty()) {
    if (data_dir.empty()) return Usage("--data DIR or --meta-url URL is required");
    std::error_code ec;
    const auto abs = std::filesystem::absolute(data_dir, ec);
    if (ec || !std::filesystem::is_directory(abs)) {
      return Usage("data directory " + data_dir + " does not exist (start coffer-server on it once first)");
    }
    meta_url = "sqlite://" + (abs / "meta.sqlite").string();
  }
  auto store = store::OpenStaffStore(meta_url);
  if (!store.ok()) return Failed(store.status().WithContext("open " + RedactUrl(meta_url)));
  const int64_t now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();

  if (verb == "add") {
    if (positional.size() != 1) return Usage("staff add takes exactly one NAME");
    if (role.empty()) return Usage("staff add needs --role support|admin");
    auto credential = AddStaff(**store, positional[0], role, now);
    if (!credential.ok()) return Failed(credential.status());
    std::printf("%s\n", credential->c_str());
    std::fprintf(stderr,
                 "Staff member %s (%s) added. The line above is their credential, shown once: give it to them "
                 "privately; they log in with `coffer-staff login`.\n",
                 positional[0].c_str(), role.c_str());
    return 0;
  }
  if (verb == "list") {
    auto all = (*store)->ListStaff();
    if (!all.ok()) return Failed(all.status());
    for (const auto& s : *all) {
      std::printf("%-24s %-8s %s%s\n", s.name.c_str(), s.role.c_str(), s.staff_id.c_str(),
                  s.disabled ? "  (disabled)" : "");
    }
    return 0;
  }
  if (verb == "disable") {
    if (positional.size() != 1) return Usage("staff disable takes exactly one NAME");
    Status st = DisableStaff(**store, positional[0]);
    if (!st.ok()) return Failed(st);
    std::printf("Staff member %s disabled; their sessions ended.\n", positional[0].c_str());
    return 0;
  }
  return Usage("unknown staff command \"" + verb + "\"");
}

}  // namespace coffer::server
