#include "server/staff_api.h"

#include <sodium.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <vector>

#include "crypto/hash.h"
#include "crypto/password.h"
#include "crypto/secret.h"
#include "server/log.h"
#include "server/validate.h"

namespace coffer::server {

using nlohmann::json;

namespace {

constexpr size_t kReasonMin = 3;
constexpr size_t kMaxStaffName = 64;
constexpr size_t kCredentialSecretBytes = 32;
constexpr size_t kResetCodeBytes = 16;
constexpr int64_t kGrantClockSkew = 300;
constexpr int kMaxStaffLoginFailures = 5;
constexpr int kMaxResetFailures = 5;
constexpr uint64_t kMaxOpsLimit = 4294967295ull;
constexpr uint64_t kMaxMemLimit = 4398046510080ull;

enum class Who { kPublic, kStaff, kOwner, kOwnerEvenIfLocked };

struct StaffCaller {
  store::StaffRecord staff;
  Bytes token_hash;
};

struct StaffCall {
  const Request& request;
  std::map<std::string, std::string> query;
  std::string path_id;  // the {grant_id} of DELETE /v1/support/grants/{grant_id}
  int64_t now = 0;
  std::optional<StaffCaller> staff;
  std::optional<Caller> owner;
};

std::string_view PathOf(std::string_view target) { return target.substr(0, target.find('?')); }

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// "Bearer <64 hex>" -> SHA-256 of the token.
StatusOr<Bytes> BearerTokenHash(std::string_view authorization, std::string_view who) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.empty()) {
    return UnauthenticatedError("missing Authorization: Bearer <token> header; " + std::string(who));
  }
  const std::string scheme = Lower(std::string(authorization.substr(0, kScheme.size())));
  std::string_view token = authorization.size() > kScheme.size() ? authorization.substr(kScheme.size()) : "";
  if (scheme != kScheme || !IsLowerHex(token, 64)) {
    return UnauthenticatedError("Authorization header must be \"Bearer <64 lowercase hex characters>\"");
  }
  COFFER_ASSIGN_OR_RETURN(Bytes raw, HexDecode(token));
  return crypto::Sha256(raw);
}

bool IsStaffName(std::string_view name) {
  return !name.empty() && name.size() <= kMaxStaffName &&
         std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
         });
}

// What each role may do. Grants are needed on top for the grant verbs, whatever the role.
bool RoleAllows(const std::string& role, std::string_view action) {
  if (role == "admin") return true;
  if (role == "support") return action != "lock" && action != "unlock";
  return false;
}

}  // namespace

struct StaffApi::Impl {
  const Services& services;
  store::StaffStore& staff;
  mutable AccessLog log;

  // ---- authentication ----

  StatusOr<StaffCaller> AuthenticateStaff(std::string_view authorization, int64_t now) const {
    COFFER_ASSIGN_OR_RETURN(Bytes hash, BearerTokenHash(authorization, "log in with `coffer-staff login`"));
    auto session = staff.GetStaffSession(hash, now);
    if (!session.ok()) {
      if (session.status().code() == StatusCode::kNotFound) {
        return UnauthenticatedError("staff session expired or unknown; log in with `coffer-staff login`");
      }
      return session.status();
    }
    auto member = staff.GetStaff(session->staff_id);
    if (!member.ok() || member->disabled) {
      return UnauthenticatedError("this staff account is disabled or gone");
    }
    return StaffCaller{std::move(member).value(), std::move(hash)};
  }

  StatusOr<Caller> AuthenticateOwner(std::string_view authorization, int64_t now, bool allow_locked) const {
    COFFER_ASSIGN_OR_RETURN(Caller caller, Authenticate(services, authorization, now));
    if (caller.account.locked && !allow_locked) {
      return PermissionDeniedError("this account is locked by the operator's staff; contact support to unlock it");
    }
    if (caller.session.kind == store::SessionKind::kPending) {
      return PermissionDeniedError("this device is not approved yet; approve it from one of your enrolled devices");
    }
    return caller;
  }

  // ---- the access log ----

  Status Record(const store::AccountRecord& account, const StaffCaller* by_staff, const Caller* by_owner,
                std::string_view action, staff::Outcome outcome, std::string_view reason,
                const staff::Id16& grant_id, std::string_view detail, int64_t now) const {
    staff::LogEntry e;
    COFFER_ASSIGN_OR_RETURN(e.account_id, staff::Id16FromHex(account.account_id));
    e.time = now;
    if (by_staff != nullptr) {
      e.actor_kind = staff::ActorKind::kStaff;
      e.actor_id = by_staff->staff.staff_id;
      e.actor_name = by_staff->staff.name;
      e.role = by_staff->staff.role;
    } else {
      e.actor_kind = staff::ActorKind::kOwner;
      e.actor_id = by_owner != nullptr ? by_owner->session.device_id : "";
      e.actor_name = by_owner != nullptr ? "owner device" : "holder of the reset code";
      e.role = "owner";
    }
    e.action = std::string(action.substr(0, staff::kMaxActionField));
    e.outcome = outcome;
    e.reason = std::string(reason.substr(0, staff::kMaxReasonField));
    e.grant_id = grant_id;
    e.detail = std::string(detail.substr(0, staff::kMaxDetailField));
    auto appended = log.Append(std::move(e));
    if (!appended.ok()) {
      LogLine("access log append failed, refusing the action: " + appended.status().ToString());
      return UnavailableError("the access log could not be written, so the action was not performed; retry");
    }
    return OkStatus();
  }

  // Logs the refusal, then returns it (403 unless `refusal` says otherwise).
  Status Deny(const store::AccountRecord& account, const StaffCaller& by, std::string_view action,
              std::string_view reason, const staff::Id16& grant_id, const Status& refusal, int64_t now) const {
    COFFER_RETURN_IF_ERROR(
        Record(account, &by, nullptr, action, staff::Outcome::kDenied, reason, grant_id, refusal.message(), now));
    return refusal;
  }

  // ---- staff verbs ----

  struct AccountVerb {
    json body;
    std::string reason;
    store::AccountRecord account;
  };

  // Parses {email, reason}, finds the account and checks the role (a wrong role is logged).
  StatusOr<AccountVerb> BeginAccountVerb(const StaffCall& c, std::string_view action) const {
    COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
    JsonFields f(body, "");
    AccountVerb v;
    COFFER_ASSIGN_OR_RETURN(v.reason, f.String("reason", kReasonMin, staff::kMaxReasonField));
    COFFER_ASSIGN_OR_RETURN(std::string email_in, f.String("email", 0, 1024));
    COFFER_ASSIGN_OR_RETURN(std::string email, NormalizeEmail(email_in));
    auto account = services.meta.GetAccountByEmail(email);
    if (!account.ok()) {
      if (account.status().code() == StatusCode::kNotFound) return NotFoundError("no account with email " + email);
      return account.status();
    }
    v.account = std::move(account).value();
    v.body = std::move(body);
    if (!RoleAllows(c.staff->staff.role, action)) {
      return Deny(v.account, *c.staff, action, v.reason, {},
                  PermissionDeniedError("role \"" + c.staff->staff.role + "\" may not " + std::string(action) +
                                        " (see docs/THREAT_MODEL.md, staff roles)"),
                  c.now);
    }
    return v;
  }

  // Checks the grant code in the body for `scope` on `account`; every refusal is logged.
  StatusOr<staff::Grant> RequireGrant(const StaffCall& c, const AccountVerb& v, std::string_view action,
                                      uint32_t scope) const {
    JsonFields f(v.body, "");
    auto deny = [&](const staff::Id16& grant_id, const std::string& why) -> Status {
      return Deny(v.account, *c.staff, action, v.reason, grant_id, PermissionDeniedError(why), c.now);
    };
    if (!f.Has("grant")) {
      return deny({}, std::string(action) +
                          " needs a grant from the account owner: they run `coffer support grant --scope " +
                          staff::ScopeNames(scope) + "` and give you the code");
    }
    COFFER_ASSIGN_OR_RETURN(std::string code, f.String("grant", 1, 4096));
    auto grant = staff::ParseGrantCode(code);
    if (!grant.ok()) return deny({}, "the grant code is not valid: " + grant.status().message());
    const staff::Id16 gid = grant->grant_id;
    if (staff::Id16Hex(grant->account_id) != v.account.account_id) {
      return deny(gid, "the grant is for another account");
    }
    if ((grant->scopes & scope) == 0) {
      return deny(gid, "the grant does not cover " + staff::ScopeNames(scope) + " (it covers " +
                           staff::ScopeNames(grant->scopes) + ")");
    }
    if (c.now >= grant->expires_at) return deny(gid, "the grant expired; ask the owner for a new one");
    auto record = staff.GetGrant(staff::Id16Hex(gid));
    if (!record.ok()) {
      if (record.status().code() != StatusCode::kNotFound) return record.status();
      return deny(gid, "the grant was never registered by the owner's device");
    }
    if (record->account_id != v.account.account_id || record->encoded != grant->Encode()) {
      return deny(gid, "the grant does not match the one the owner registered");
    }
    if (record->revoked_at != 0) return deny(gid, "the owner revoked this grant");
    auto device = services.meta.GetDevice(v.account.account_id, staff::Id16Hex(grant->device_id));
    if (!device.ok() || device->status != store::DeviceStatus::kActive) {
      return deny(gid, "the device that signed the grant is not an active device of the account");
    }
    if (!staff::VerifyGrantSignature(*grant, device->sign_public_key).ok()) {
      return deny(gid, "the grant's signature does not verify with the signing device's key");
    }
    return grant;
  }

  StatusOr<uint64_t> CountDevices(const std::string& account_id) const {
    COFFER_ASSIGN_OR_RETURN(auto devices, services.meta.ListDevices(account_id));
    return static_cast<uint64_t>(std::count_if(devices.begin(), devices.end(), [](const store::DeviceRecord& d) {
      return d.status == store::DeviceStatus::kActive;
    }));
  }

  StatusOr<Response> StaffLogin(const StaffCall& c) const {
    COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
    JsonFields f(body, "");
    COFFER_ASSIGN_OR_RETURN(std::string credential, f.String("credential", 1, 256));
    // cs1:<name>:<64 hex>
    const size_t first = credential.find(':');
    const size_t last = credential.rfind(':');
    if (credential.rfind("cs1:", 0) != 0 || first == last) {
      return InvalidArgumentError("a staff credential looks like cs1:NAME:SECRET, as `coffer-server staff add` "
                                  "printed it");
    }
    const std::string name = credential.substr(first + 1, last - first - 1);
    const std::string secret_hex = credential.substr(last + 1);
    if (!IsStaffName(name) || !IsLowerHex(secret_hex, 2 * kCredentialSecretBytes)) {
      return InvalidArgumentError("malformed staff credential");
    }
    const std::string limit_key = "staff:" + name;
    COFFER_ASSIGN_OR_RETURN(int failures, services.meta.CountLoginFailures(limit_key, c.now - kLoginFailureWindow));
    if (failures >= kMaxStaffLoginFailures) {
      return ResourceExhaustedError("too many failed staff logins for " + name + "; wait 15 minutes");
    }
    COFFER_ASSIGN_OR_RETURN(Bytes secret, HexDecode(secret_hex));
    auto member = staff.GetStaffByName(name);
    const bool ok = member.ok() && !member->disabled && crypto::VerifyStored(member->secret_hash, secret);
    sodium_memzero(secret.data(), secret.size());
    if (!ok) {
      if (!member.ok() && member.status().code() != StatusCode::kNotFound) return member.status();
      Status recorded = services.meta.RecordLoginFailure(limit_key, c.now);
      if (!recorded.ok()) LogLine("could not record a staff login failure: " + recorded.ToString());
      return UnauthenticatedError("wrong staff credential, or the staff account is disabled");
    }
    Bytes token = crypto::RandomBytes(32);
    store::StaffSessionRecord session{crypto::Sha256(token), member->staff_id, c.now, c.now + kStaffSessionTtl};
    COFFER_RETURN_IF_ERROR(staff.CreateStaffSession(session));
    LogLine("staff " + name + " (" + member->role + ") logged in");
    return JsonResponse(201, json{{"token", HexEncode(token)},
                                  {"expires_at", session.expires_at},
                                  {"staff_id", member->staff_id},
                                  {"name", member->name},
                                  {"role", member->role}});
  }

  StatusOr<Response> StaffLogout(const StaffCall& c) const {
    COFFER_RETURN_IF_ERROR(staff.DeleteStaffSession(c.staff->token_hash));
    return EmptyResponse(204);
  }

  StatusOr<Response> Lookup(const StaffCall& c) const {
    COFFER_ASSIGN_OR_RETURN(AccountVerb v, BeginAccountVerb(c, "lookup"));
    COFFER_RETURN_IF_ERROR(Record(v.account, &*c.staff, nullptr, "lookup", staff::Outcome::kDone, v.reason, {},
                                  "bare account record", c.now));
    COFFER_ASSIGN_OR_RETURN(uint64_t devices, CountDevices(v.account.account_id));
    return JsonResponse(200, json{{"account_id", v.account.account_id},
                                  {"email", v.account.email},
                                  {"created_at", v.account.created_at},
                                  {"used_bytes", v.account.used_bytes},
                                  {"quota_bytes", v.account.quota_bytes},
                                  {"device_count", devices},
                                  {"locked", v.account.locked},
                                  {"last_activity", v.account.last_activity}});
  }

  StatusOr<Response> SetLock(const StaffCall& c, bool locked) const {
    const std::string action = locked ? "lock" : "unlock";
    COFFER_ASSIGN_OR_RETURN(AccountVerb v, BeginAccountVerb(c, action));
    COFFER_RETURN_IF_ERROR(
        Record(v.account, &*c.staff, nullptr, action, staff::Outcome::kDone, v.reason, {}, "", c.now));
    Status st = services.meta.SetLocked(v.account.account_id, locked);
    if (!st.ok()) {
      (void)Record(v.account, &*c.staff, nullptr, action, staff::Outcome::kFailed, v.reason, {}, st.message(), c.now);
      return st;
    }
    return JsonResponse(200, json{{"account_id", v.account.account_id}, {"locked", locked}});
  }

  StatusOr<Response> ResetLogin(const StaffCall& c) const {
    COFFER_ASSIGN_OR_RETURN(AccountVerb v, BeginAccountVerb(c, "reset-login"));
    COFFER_RETURN_IF_ERROR(Record(v.account, &*c.staff, nullptr, "reset-login", staff::Outcome::kDone, v.reason, {},
                                  "one-time reset code issued; it sets a password, which gives no keys", c.now));
    Bytes code = crypto::RandomBytes(kResetCodeBytes);
    Status st = staff.PutResetCode(v.account.account_id, crypto::Sha256(code), c.now + kResetCodeTtl);
    if (!st.ok()) {
      (void)Record(v.account, &*c.staff, nullptr, "reset-login", staff::Outcome::kFailed, v.reason, {}, st.message(),
                   c.now);
      return st;
    }
    const std::string hex = HexEncode(code);
    std::string formatted;
    for (size_t i = 0; i < hex.size(); i += 8) formatted += (i ? "-" : "") + hex.substr(i, 8);
    return JsonResponse(200, json{{"account_id", v.account.account_id},
                                  {"reset_code", formatted},
                                  {"expires_at", c.now + kResetCodeTtl}});
  }

  StatusOr<Response> Metadata(const StaffCall& c) const {
    COFFER_ASSIGN_OR_RETURN(AccountVerb v, BeginAccountVerb(c, "metadata"));
    COFFER_ASSIGN_OR_RETURN(staff::Grant grant, RequireGrant(c, v, "metadata", staff::kScopeMetadata));
    COFFER_RETURN_IF_ERROR(Record(v.account, &*c.staff, nullptr, "metadata", staff::Outcome::kDone, v.reason,
                                  grant.grant_id, "collection sizes, revision counts, chunk totals, devices", c.now));
    const std::string& id = v.account.account_id;
    COFFER_ASSIGN_OR_RETURN(auto collections, services.meta.ListCollections(id));
    json cols = json::array();
    for (const auto& col : collections) {
      cols.push_back(json{{"collection_id", col.collection_id}, {"revisions", col.head}});
    }
    uint64_t chunk_count = 0, chunk_bytes = 0;
    COFFER_RETURN_IF_ERROR(services.meta.ListChunks(id, [&](const store::ChunkRecord& chunk) {
      ++chunk_count;
      chunk_bytes += chunk.size;
      return true;
    }));
    COFFER_ASSIGN_OR_RETURN(auto devices, services.meta.ListDevices(id));
    json devs = json::array();
    for (const auto& d : devices) {
      devs.push_back(json{{"device_id", d.device_id}, {"status", DeviceStatusName(d.status)},
                          {"created_at", d.created_at}});
    }
    return JsonResponse(200, json{{"account_id", id},
                                  {"collections", cols},
                                  {"chunk_count", chunk_count},
                                  {"chunk_bytes", chunk_bytes},
                                  {"devices", devs},
                                  {"grant_id", staff::Id16Hex(grant.grant_id)}});
  }

  // The trash lives inside encrypted revisions the server cannot read, so the server cannot
  // restore anything itself. What a grant lets support do is put a signed request into the
  // account's access log; the owner's client shows it (`coffer support list`, `coffer
  // audit`) and the owner restores with their own keys (`coffer trash restore`).
  StatusOr<Response> RestoreTrash(const StaffCall& c) const {
    COFFER_ASSIGN_OR_RETURN(AccountVerb v, BeginAccountVerb(c, "restore-trash"));
    COFFER_ASSIGN_OR_RETURN(staff::Grant grant, RequireGrant(c, v, "restore-trash", staff::kScopeRestoreTrash));
    COFFER_RETURN_IF_ERROR(Record(v.account, &*c.staff, nullptr, "restore-trash", staff::Outcome::kDone, v.reason,
                                  grant.grant_id,
                                  "restore request for the owner's client; the server cannot read the trash", c.now));
    return JsonResponse(200, json{{"account_id", v.account.account_id},
                                  {"requested", true},
                                  {"grant_id", staff::Id16Hex(grant.grant_id)},
                                  {"note", "the owner's client shows the request; the server cannot read or "
                                           "restore the encrypted trash itself"}});
  }

  // ---- owner routes ----

  StatusOr<Response> RegisterGrant(const StaffCall& c) const {
    const Caller& owner = *c.owner;
    if (owner.session.kind != store::SessionKind::kDevice) {
      return PermissionDeniedError("grants are signed by an enrolled device; this session is not a device session");
    }
    COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
    JsonFields f(body, "");
    COFFER_ASSIGN_OR_RETURN(Bytes encoded, f.Base64("grant", 1, 4096));
    auto grant = staff::Grant::Decode(encoded);
    if (!grant.ok()) return InvalidArgumentError("field \"grant\": " + grant.status().message());
    if (staff::Id16Hex(grant->account_id) != owner.account.account_id) {
      return InvalidArgumentError("the grant names another account");
    }
    if (staff::Id16Hex(grant->device_id) != owner.session.device_id) {
      return InvalidArgumentError("the grant must be signed by the device of this session");
    }
    if (grant->scopes == 0 || (grant->scopes & ~staff::kAllScopes) != 0) {
      return InvalidArgumentError("the grant's scopes must be a non-empty set of metadata, restore-trash");
    }
    const int64_t skew = grant->issued_at - c.now;
    if (skew > kGrantClockSkew || skew < -kGrantClockSkew) {
      return InvalidArgumentError("the grant's issue time is off by more than 5 minutes; fix this device's clock");
    }
    if (grant->expires_at <= grant->issued_at || grant->expires_at - grant->issued_at > kMaxGrantSeconds) {
      return InvalidArgumentError("a grant lasts between 1 second and 30 days");
    }
    COFFER_ASSIGN_OR_RETURN(store::DeviceRecord device,
                            services.meta.GetDevice(owner.account.account_id, owner.session.device_id));
    COFFER_RETURN_IF_ERROR(staff::VerifyGrantSignature(*grant, device.sign_public_key).ok()
                               ? OkStatus()
                               : InvalidArgumentError("the grant's signature does not verify with this device's key"));
    store::GrantRecord rec;
    rec.grant_id = staff::Id16Hex(grant->grant_id);
    rec.account_id = owner.account.account_id;
    rec.device_id = owner.session.device_id;
    rec.scopes = grant->scopes;
    rec.issued_at = grant->issued_at;
    rec.expires_at = grant->expires_at;
    rec.encoded = encoded;
    // Refused before it is logged, so that the log never says "done" for a grant that was not
    // stored (PutGrant still refuses a duplicate that races in between).
    auto existing = staff.GetGrant(rec.grant_id);
    if (existing.ok()) return AlreadyExistsError("grant " + rec.grant_id + " is already registered");
    if (existing.status().code() != StatusCode::kNotFound) return existing.status();
    COFFER_RETURN_IF_ERROR(Record(owner.account, nullptr, &owner, "grant-create", staff::Outcome::kDone,
                                  grant->note, grant->grant_id,
                                  "scopes " + staff::ScopeNames(grant->scopes) + ", expires " +
                                      std::to_string(grant->expires_at),
                                  c.now));
    COFFER_RETURN_IF_ERROR(staff.PutGrant(rec));
    return JsonResponse(201, json{{"grant_id", rec.grant_id}, {"expires_at", rec.expires_at}});
  }

  StatusOr<Response> ListGrants(const StaffCall& c) const {
    COFFER_ASSIGN_OR_RETURN(auto grants, staff.ListGrants(c.owner->account.account_id));
    json out = json::array();
    for (const auto& g : grants) {
      out.push_back(json{{"grant_id", g.grant_id}, {"device_id", g.device_id}, {"scopes", staff::ScopeNames(g.scopes)},
                         {"issued_at", g.issued_at}, {"expires_at", g.expires_at}, {"revoked_at", g.revoked_at},
                         {"grant", Base64Encode(g.encoded)}});
    }
    return JsonResponse(200, json{{"grants", out}});
  }

  StatusOr<Response> RevokeGrant(const StaffCall& c) const {
    const Caller& owner = *c.owner;
    // Another account's grant and no grant at all get the same answer: no existence oracle.
    auto g = staff.GetGrant(c.path_id);
    if (!g.ok() && g.status().code() != StatusCode::kNotFound) return g.status();
    if (!g.ok() || g->account_id != owner.account.account_id) {
      return NotFoundError("this account has no grant " + c.path_id);
    }
    COFFER_ASSIGN_OR_RETURN(staff::Id16 gid, staff::Id16FromHex(c.path_id));
    COFFER_RETURN_IF_ERROR(
        Record(owner.account, nullptr, &owner, "grant-revoke", staff::Outcome::kDone, "", gid, "", c.now));
    COFFER_RETURN_IF_ERROR(staff.RevokeGrant(owner.account.account_id, c.path_id, c.now));
    return EmptyResponse(204);
  }

  StatusOr<uint64_t> FromParam(const StaffCall& c) const {
    auto it = c.query.find("from");
    if (it == c.query.end()) return uint64_t{0};
    return ParseUint(it->second, "query parameter from", 0, kMaxJsonInt);
  }

  StatusOr<Response> GetLog(const StaffCall& c, bool global) const {
    COFFER_ASSIGN_OR_RETURN(uint64_t from, FromParam(c));
    std::vector<store::LogEntryRecord> entries;
    store::LogHead head;
    if (global) {
      COFFER_ASSIGN_OR_RETURN(head, staff.GetGlobalLogHead());
      COFFER_ASSIGN_OR_RETURN(entries, staff.GetGlobalLogEntries(from, kMaxLogPage));
    } else {
      COFFER_ASSIGN_OR_RETURN(head, staff.GetLogHead(c.owner->account.account_id));
      COFFER_ASSIGN_OR_RETURN(entries, staff.GetLogEntries(c.owner->account.account_id, from, kMaxLogPage));
    }
    json arr = json::array();
    for (const auto& e : entries) arr.push_back(Base64Encode(e.data));
    return JsonResponse(200, json{{"public_key", Base64Encode(log.public_key())},
                                  {"length", head.length},
                                  {"from", from},
                                  {"entries", arr}});
  }

  StatusOr<Response> RedeemResetCode(const StaffCall& c) const {
    COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
    JsonFields f(body, "");
    COFFER_ASSIGN_OR_RETURN(std::string email_in, f.String("email", 0, 1024));
    COFFER_ASSIGN_OR_RETURN(std::string email, NormalizeEmail(email_in));
    COFFER_ASSIGN_OR_RETURN(std::string code_in, f.String("code", 1, 128));
    COFFER_ASSIGN_OR_RETURN(JsonFields login, f.Object("login"));
    COFFER_ASSIGN_OR_RETURN(Bytes salt, login.Base64Exact("salt", crypto::kPasswordSaltBytes));
    COFFER_ASSIGN_OR_RETURN(uint64_t ops, login.Uint("ops", crypto::kMinOpsLimit, kMaxOpsLimit));
    COFFER_ASSIGN_OR_RETURN(uint64_t mem, login.Uint("mem", crypto::kMinMemLimit, kMaxMemLimit));
    COFFER_ASSIGN_OR_RETURN(Bytes verifier, login.Base64Exact("verifier", 32));
    std::string code_hex;
    for (char ch : code_in) {
      if (ch == '-' || ch == ' ') continue;
      code_hex.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(ch))));
    }
    const std::string limit_key = "reset:" + email;
    COFFER_ASSIGN_OR_RETURN(int failures, services.meta.CountLoginFailures(limit_key, c.now - kLoginFailureWindow));
    if (failures >= kMaxResetFailures) {
      return ResourceExhaustedError("too many wrong reset codes for this email; wait 15 minutes");
    }
    const Status wrong = UnauthenticatedError("wrong or expired reset code; ask support for a new one");
    auto account = services.meta.GetAccountByEmail(email);
    bool ok = false;
    if (account.ok() && IsLowerHex(code_hex, 2 * kResetCodeBytes)) {
      auto stored = staff.GetResetCode(account->account_id, c.now);
      if (!stored.ok() && stored.status().code() != StatusCode::kNotFound) return stored.status();
      if (stored.ok()) {
        COFFER_ASSIGN_OR_RETURN(Bytes raw, HexDecode(code_hex));
        ok = crypto::ConstantTimeEqual(crypto::Sha256(raw), *stored);
      }
    } else if (!account.ok() && account.status().code() != StatusCode::kNotFound) {
      return account.status();
    }
    if (!ok) {
      Status recorded = services.meta.RecordLoginFailure(limit_key, c.now);
      if (!recorded.ok()) LogLine("could not record a failed reset: " + recorded.ToString());
      return wrong;
    }
    COFFER_ASSIGN_OR_RETURN(std::string login_hash, HashVerifier(verifier));
    COFFER_RETURN_IF_ERROR(Record(*account, nullptr, nullptr, "reset-login-used", staff::Outcome::kDone, "", {},
                                  "password replaced with a reset code; devices and keys unchanged", c.now));
    COFFER_RETURN_IF_ERROR(services.meta.UpdateLogin(account->account_id, login_hash, salt, ops, mem));
    COFFER_RETURN_IF_ERROR(staff.DeleteResetCode(account->account_id));
    Status cleared = services.meta.ClearLoginFailures(limit_key);
    if (!cleared.ok()) LogLine("could not clear reset failures: " + cleared.ToString());
    return EmptyResponse(204);
  }

  // ---- routing ----

  using Handler = StatusOr<Response> (Impl::*)(const StaffCall&) const;
  struct StaffRoute {
    std::string_view method;
    std::string_view path;  // exact, or a prefix ending in '/' for {grant_id}
    Who who;
    bool has_id;
    std::vector<std::string_view> query;
    StatusOr<Response> (*fn)(const Impl&, const StaffCall&);
  };

  static const std::vector<StaffRoute>& Routes() {
    static const auto* routes = new std::vector<StaffRoute>{
        {"POST", "/v1/staff/login", Who::kPublic, false, {}, [](const Impl& i, const StaffCall& c) { return i.StaffLogin(c); }},
        {"POST", "/v1/staff/logout", Who::kStaff, false, {}, [](const Impl& i, const StaffCall& c) { return i.StaffLogout(c); }},
        {"POST", "/v1/staff/lookup", Who::kStaff, false, {}, [](const Impl& i, const StaffCall& c) { return i.Lookup(c); }},
        {"POST", "/v1/staff/lock", Who::kStaff, false, {}, [](const Impl& i, const StaffCall& c) { return i.SetLock(c, true); }},
        {"POST", "/v1/staff/unlock", Who::kStaff, false, {}, [](const Impl& i, const StaffCall& c) { return i.SetLock(c, false); }},
        {"POST", "/v1/staff/reset-login", Who::kStaff, false, {}, [](const Impl& i, const StaffCall& c) { return i.ResetLogin(c); }},
        {"POST", "/v1/staff/metadata", Who::kStaff, false, {}, [](const Impl& i, const StaffCall& c) { return i.Metadata(c); }},
        {"POST", "/v1/staff/restore-trash", Who::kStaff, false, {}, [](const Impl& i, const StaffCall& c) { return i.RestoreTrash(c); }},
        {"POST", "/v1/support/grants", Who::kOwner, false, {}, [](const Impl& i, const StaffCall& c) { return i.RegisterGrant(c); }},
        {"GET", "/v1/support/grants", Who::kOwner, false, {}, [](const Impl& i, const StaffCall& c) { return i.ListGrants(c); }},
        {"DELETE", "/v1/support/grants/", Who::kOwner, true, {}, [](const Impl& i, const StaffCall& c) { return i.RevokeGrant(c); }},
        {"GET", "/v1/log", Who::kOwnerEvenIfLocked, false, {"from"}, [](const Impl& i, const StaffCall& c) { return i.GetLog(c, false); }},
        {"GET", "/v1/log/global", Who::kOwnerEvenIfLocked, false, {"from"}, [](const Impl& i, const StaffCall& c) { return i.GetLog(c, true); }},
        {"POST", "/v1/account/login-reset", Who::kPublic, false, {}, [](const Impl& i, const StaffCall& c) { return i.RedeemResetCode(c); }},
    };
    return *routes;
  }

  struct Matched {
    const StaffRoute* route = nullptr;
    std::string id;
    std::optional<Response> error;
  };

  static Matched Match(std::string_view method, std::string_view target) {
    Matched m;
    const std::string_view path = PathOf(target);
    std::string allow;
    for (const StaffRoute& r : Routes()) {
      std::string id;
      if (r.has_id) {
        if (!path.starts_with(r.path)) continue;
        id = std::string(path.substr(r.path.size()));
      } else if (path != r.path) {
        continue;
      }
      if (r.method != method) {
        allow += (allow.empty() ? "" : ", ") + std::string(r.method);
        continue;
      }
      if (r.has_id) {
        Status st = CheckHexId(id, kShortIdHexLen, "grant id in the path");
        if (!st.ok()) {
          m.error = ErrorResponse(st);
          return m;
        }
      }
      m.route = &r;
      m.id = std::move(id);
      return m;
    }
    if (!allow.empty()) {
      m.error = ErrorResponse(405, "INVALID_ARGUMENT",
                              std::string(method.substr(0, 16)) + " is not allowed here; use " + allow);
      m.error->headers.emplace_back("Allow", allow);
    } else {
      m.error = ErrorResponse(404, "NOT_FOUND",
                              "no such endpoint: " + std::string(path.substr(0, 200)) + " (see docs/API.md)");
    }
    return m;
  }

  // Authenticates the caller for `route`; an error response or nullopt.
  std::optional<Response> Authorize(const StaffRoute& route, std::string_view authorization, int64_t now,
                                    StaffCall* call) const {
    if (route.who == Who::kStaff) {
      auto s = AuthenticateStaff(authorization, now);
      if (!s.ok()) return ErrorResponse(s.status());
      if (call != nullptr) call->staff = std::move(s).value();
    } else if (route.who == Who::kOwner || route.who == Who::kOwnerEvenIfLocked) {
      auto o = AuthenticateOwner(authorization, now, route.who == Who::kOwnerEvenIfLocked);
      if (!o.ok()) {
        if (o.status().message().find("locked") != std::string::npos) {
          return ErrorResponse(423, "PERMISSION_DENIED", o.status().message());
        }
        return ErrorResponse(o.status());
      }
      if (call != nullptr) call->owner = std::move(o).value();
    }
    return std::nullopt;
  }
};

StaffApi::StaffApi(const Services& services, store::StaffStore& staff, crypto::SigningKey log_key)
    : impl_(new Impl{services, staff, AccessLog(staff, std::move(log_key))}) {}

StaffApi::~StaffApi() = default;

bool StaffApi::Owns(std::string_view target) {
  const std::string_view path = PathOf(target);
  return path.starts_with("/v1/staff/") || path == "/v1/support/grants" || path.starts_with("/v1/support/") ||
         path == "/v1/log" || path == "/v1/log/global" || path == "/v1/account/login-reset";
}

std::vector<RouteInfo> StaffApi::RouteTable() {
  constexpr std::string_view kGrantIdPattern = "/v1/support/grants/{grant_id}";
  std::vector<RouteInfo> out;
  for (const Impl::StaffRoute& r : Impl::Routes()) {
    const std::string_view access = r.who == Who::kPublic  ? "public"
                                    : r.who == Who::kStaff ? "staff"
                                    : r.who == Who::kOwner ? "owner"
                                                           : "owner-even-if-locked";
    // An id route is a path prefix; the grants one is named like docs/API.md. Any other keeps
    // its bare prefix, which no test knows, so it cannot pass as covered.
    const bool grant_id = r.has_id && r.path == "/v1/support/grants/";
    out.push_back(RouteInfo{r.method, grant_id ? kGrantIdPattern : r.path, access});
  }
  return out;
}

Preflight StaffApi::Check(std::string_view method, std::string_view target, std::string_view authorization,
                          std::optional<uint64_t> content_length, int64_t now) const {
  Preflight out;
  Impl::Matched m = Impl::Match(method, target);
  if (m.error) {
    out.reject = std::move(m.error);
    return out;
  }
  out.body_limit = m.route->method == "GET" || m.route->method == "DELETE" ? 0 : kStaffBodyLimit;
  if (content_length && *content_length > out.body_limit) {
    out.reject = ErrorResponse(413, "INVALID_ARGUMENT",
                               "request body is " + std::to_string(*content_length) + " bytes; this endpoint accepts "
                               "at most " + std::to_string(out.body_limit));
    return out;
  }
  out.reject = impl_->Authorize(*m.route, authorization, now, nullptr);
  return out;
}

Response StaffApi::Handle(const Request& request, int64_t now) const {
  Impl::Matched m = Impl::Match(request.method, request.target);
  if (m.error) return std::move(*m.error);
  const uint64_t limit = m.route->method == "GET" || m.route->method == "DELETE" ? 0 : kStaffBodyLimit;
  if (request.body.size() > limit) {
    return ErrorResponse(413, "INVALID_ARGUMENT", "request body is too large for this endpoint");
  }
  const std::string_view target = request.target;
  const size_t q = target.find('?');
  auto query = ParseQuery(q == std::string_view::npos ? std::string_view() : target.substr(q + 1), m.route->query);
  if (!query.ok()) return ErrorResponse(query.status());
  StaffCall call{request, std::move(query).value(), m.id, now, std::nullopt, std::nullopt};
  if (auto denied = impl_->Authorize(*m.route, request.authorization, now, &call)) return std::move(*denied);
  StatusOr<Response> result = m.route->fn(*impl_, call);
  if (!result.ok()) {
    const Status& st = result.status();
    if (st.code() == StatusCode::kInternal || st.code() == StatusCode::kUnavailable ||
        st.code() == StatusCode::kDataLoss) {
      LogLine(request.method + " " + std::string(PathOf(target)) + ": " + st.ToString());
    }
    if (st.code() == StatusCode::kResourceExhausted) {
      // Staff endpoints store no user data, so the only budget a caller can use up here is
      // its failure budget (staff logins, reset codes): that is a rate limit, 429, and the
      // window bounds when it lifts.
      return RateLimitedResponse(st.message(), kLoginFailureWindow);
    }
    return ErrorResponse(st);
  }
  return std::move(result).value();
}

}  // namespace coffer::server
