// Accounts, login and sessions: docs/API.md "Login and sessions".
//
// What the server can and cannot learn: it stores slow hashes of the login and recovery
// verifiers (never the password), and answers the same way, after the same work, whether an
// email has an account or not.
#include <algorithm>

#include "crypto/hash.h"
#include "crypto/password.h"
#include "crypto/sign.h"
#include "server/handlers.h"
#include "server/log.h"
#include "server/validate.h"

namespace coffer::server {
namespace {

using nlohmann::json;

constexpr size_t kVerifierBytes = 32;
constexpr size_t kSaltBytes = crypto::kPasswordSaltBytes;
constexpr size_t kPublicKeyBytes = 32;
constexpr size_t kMaxDeviceName = 256;
constexpr size_t kMaxBlobBytes = 512 * kKiB;  // recovery blob, chain entry, sealed key, keyring
// libsodium's crypto_pwhash limits on 64-bit platforms; a client asking for more cannot work.
constexpr uint64_t kMaxOpsLimit = 4294967295ull;
constexpr uint64_t kMaxMemLimit = 4398046510080ull;
constexpr std::string_view kWrongCredentials = "wrong email or password";

struct DeviceIn {
  std::string id;
  Bytes sign_pk;
  Bytes box_pk;
  std::string name;
};

StatusOr<DeviceIn> ParseDevice(const JsonFields& f) {
  DeviceIn d;
  COFFER_ASSIGN_OR_RETURN(d.id, f.HexId("id", kShortIdHexLen));
  COFFER_ASSIGN_OR_RETURN(d.sign_pk, f.Base64Exact("sign_pk", kPublicKeyBytes));
  COFFER_ASSIGN_OR_RETURN(d.box_pk, f.Base64Exact("box_pk", kPublicKeyBytes));
  COFFER_ASSIGN_OR_RETURN(d.name, f.String("name", 0, kMaxDeviceName));
  return d;
}

std::string LoginMessage(std::string_view email, std::string_view device_id, int64_t time) {
  return "coffer-login-v1\n" + std::string(email) + "\n" + std::string(device_id) + "\n" +
         std::to_string(time);
}

// The device proves possession of its signing key over a fresh timestamp. The email is
// covered exactly as the client sent it (before lower-casing), so a client signs what it sends.
Status CheckLoginSignature(const Call& c, std::string_view email_as_sent, const DeviceIn& device,
                           int64_t time, ByteView signature) {
  const int64_t skew = time - c.now;
  if (skew > kLoginClockSkew || skew < -kLoginClockSkew) {
    return UnauthenticatedError("login time is " + std::to_string(skew < 0 ? -skew : skew) + " s " +
                                (skew < 0 ? "behind" : "ahead of") + " the server clock (at most " +
                                std::to_string(kLoginClockSkew) + " s allowed); fix this device's clock");
  }
  Status sig = crypto::VerifySignature(device.sign_pk, AsBytes(LoginMessage(email_as_sent, device.id, time)),
                                       signature);
  if (!sig.ok()) {
    return UnauthenticatedError("login signature does not verify with the device's sign_pk");
  }
  return OkStatus();
}

StatusOr<uint64_t> ParseOps(const JsonFields& f) { return f.Uint("ops", crypto::kMinOpsLimit, kMaxOpsLimit); }
StatusOr<uint64_t> ParseMem(const JsonFields& f) { return f.Uint("mem", crypto::kMinMemLimit, kMaxMemLimit); }

Bytes NewToken() { return crypto::RandomBytes(32); }

// Creates a session and returns the token (hex). Only the SHA-256 of the token is stored, so
// a read of the database does not yield usable tokens.
StatusOr<std::pair<std::string, int64_t>> StartSession(const Services& s, const std::string& account_id,
                                                       const std::string& device_id, store::SessionKind kind,
                                                       int64_t now) {
  Bytes token = NewToken();
  store::SessionRecord rec;
  rec.token_hash = crypto::Sha256(token);
  rec.account_id = account_id;
  rec.device_id = device_id;
  rec.kind = kind;
  rec.created_at = now;
  rec.expires_at = now + (kind == store::SessionKind::kPending ? kPendingSessionTtl : kDeviceSessionTtl);
  COFFER_RETURN_IF_ERROR(s.meta.CreateSession(rec));
  return std::make_pair(HexEncode(token), rec.expires_at);
}

std::string EmailKey(const std::string& email) { return "email:" + email; }
std::string PeerKey(const std::string& peer) { return "ip:" + peer; }

// Seconds until the number of failures for `key` inside the window drops below `limit`.
// The store only counts, so this finds by bisection the earliest `since` at which fewer than
// `limit` failures remain; the window then has to slide that far. Runs only on the refusal
// path, so the dozen queries cost nothing in normal use.
int64_t RetryAfter(const Services& s, const std::string& key, int limit, int64_t now) {
  int64_t lo = now - kLoginFailureWindow;  // count(lo) >= limit
  int64_t hi = now + 1;                    // count(hi) == 0 < limit
  while (hi - lo > 1) {
    int64_t mid = lo + (hi - lo) / 2;
    auto n = s.meta.CountLoginFailures(key, mid);
    if (!n.ok()) return kLoginFailureWindow;
    if (*n >= limit)
      lo = mid;
    else
      hi = mid;
  }
  return std::max<int64_t>(1, hi - (now - kLoginFailureWindow));
}

// 429 if this email or this client address has used up its failures; nullopt otherwise.
StatusOr<std::optional<Response>> CheckRateLimit(const Services& s, const std::string& email,
                                                 const std::string& peer, int64_t now) {
  const int64_t since = now - kLoginFailureWindow;
  struct Limit {
    std::string key;
    int max;
    const char* what;
  };
  std::vector<Limit> limits = {{EmailKey(email), kMaxFailuresPerEmail, "this email"}};
  if (!peer.empty()) limits.push_back({PeerKey(peer), kMaxFailuresPerPeer, "this address"});
  for (const Limit& l : limits) {
    COFFER_ASSIGN_OR_RETURN(int count, s.meta.CountLoginFailures(l.key, since));
    if (count < l.max) continue;
    const int64_t retry = RetryAfter(s, l.key, l.max, now);
    return std::optional<Response>(RateLimitedResponse(
        std::string("too many failed logins for ") + l.what + "; try again in " + std::to_string(retry) + " s", retry));
  }
  return std::optional<Response>();
}

void RecordFailure(const Services& s, const std::string& email, const std::string& peer, int64_t now) {
  Status a = s.meta.RecordLoginFailure(EmailKey(email), now);
  Status b = peer.empty() ? OkStatus() : s.meta.RecordLoginFailure(PeerKey(peer), now);
  if (!a.ok() || !b.ok()) LogLine("could not record a login failure: " + (a.ok() ? b : a).ToString());
}

json SessionJson(const std::string& account_id, const std::pair<std::string, int64_t>& token,
                 store::SessionKind kind, store::DeviceStatus device_status) {
  return json{{"account_id", account_id},
              {"token", token.first},
              {"expires_at", token.second},
              {"session_kind", SessionKindName(kind)},
              {"device_status", DeviceStatusName(device_status)}};
}

}  // namespace

std::string DeviceStatusName(store::DeviceStatus status) {
  switch (status) {
    case store::DeviceStatus::kPending:
      return "pending";
    case store::DeviceStatus::kActive:
      return "active";
    case store::DeviceStatus::kRevoked:
      return "revoked";
  }
  return "unknown";
}

std::string SessionKindName(store::SessionKind kind) {
  switch (kind) {
    case store::SessionKind::kDevice:
      return "device";
    case store::SessionKind::kPending:
      return "pending";
    case store::SessionKind::kRecovery:
      return "recovery";
  }
  return "unknown";
}

StatusOr<std::string> HashVerifier(ByteView verifier) {
  auto hash = crypto::HashForStorage(verifier);
  if (!hash.ok())
    return UnavailableError("server is short of memory for hashing (" + hash.status().message() + "); retry");
  return hash;
}

StatusOr<Caller> Authenticate(const Services& s, std::string_view authorization, int64_t now) {
  if (authorization.empty()) {
    return UnauthenticatedError("missing Authorization: Bearer <token> header; log in first");
  }
  constexpr std::string_view kScheme = "bearer ";
  std::string scheme(authorization.substr(0, kScheme.size()));
  std::transform(scheme.begin(), scheme.end(), scheme.begin(),
                 [](unsigned char ch) { return std::tolower(ch); });
  std::string_view token = authorization.size() > kScheme.size() ? authorization.substr(kScheme.size()) : "";
  if (scheme != kScheme || !IsLowerHex(token, 64)) {
    return UnauthenticatedError("Authorization header must be \"Bearer <64 lowercase hex characters>\"");
  }
  auto raw = HexDecode(token);
  if (!raw.ok()) return UnauthenticatedError("malformed bearer token");
  const Bytes token_hash = crypto::Sha256(*raw);
  auto session = s.meta.GetSession(token_hash, now);
  if (!session.ok()) {
    if (session.status().code() == StatusCode::kNotFound) {
      return UnauthenticatedError("session expired or unknown; log in again");
    }
    return session.status();
  }
  auto account = s.meta.GetAccount(session->account_id);
  if (!account.ok()) {
    if (account.status().code() == StatusCode::kNotFound) {
      return UnauthenticatedError("session expired or unknown; log in again");
    }
    return account.status();
  }
  // Revocation deletes the device's sessions; checking the device too covers a crash between
  // marking it revoked and deleting its sessions.
  auto device = s.meta.GetDevice(session->account_id, session->device_id);
  if (device.ok() && device->status == store::DeviceStatus::kRevoked) {
    return PermissionDeniedError("this device was revoked");
  }
  if (!device.ok() && device.status().code() != StatusCode::kNotFound) return device.status();
  return Caller{std::move(session).value(), std::move(account).value()};
}

StatusOr<Response> HandleHealth(const Services& s, const Call& c) {
  return JsonResponse(200, json{{"ok", true}, {"version", kServerVersion}});
}

StatusOr<Response> HandleLoginParams(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
  JsonFields f(body, "");
  COFFER_ASSIGN_OR_RETURN(std::string email_in, f.String("email", 0, 1024));
  COFFER_ASSIGN_OR_RETURN(std::string email, NormalizeEmail(email_in));
  auto account = s.meta.GetAccountByEmail(email);
  if (account.ok()) {
    return JsonResponse(200, json{{"salt", Base64Encode(account->login_salt)},
                                  {"ops", account->kdf_ops},
                                  {"mem", account->kdf_mem}});
  }
  if (account.status().code() != StatusCode::kNotFound) return account.status();
  // Unknown email: a salt that is stable for this email (so repeated queries agree) and
  // unpredictable without the server secret, with the defaults new accounts get.
  Bytes fake = crypto::KeyedHash(s.server_secret, AsBytes(email));
  fake.resize(kSaltBytes);
  const crypto::KdfParams defaults = crypto::DefaultKdfParams();
  return JsonResponse(
      200, json{{"salt", Base64Encode(fake)}, {"ops", defaults.ops_limit}, {"mem", defaults.mem_limit}});
}

StatusOr<Response> HandleCreateAccount(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
  JsonFields f(body, "");
  COFFER_ASSIGN_OR_RETURN(std::string account_id, f.HexId("account_id", kShortIdHexLen));
  COFFER_ASSIGN_OR_RETURN(std::string email_in, f.String("email", 0, 1024));
  COFFER_ASSIGN_OR_RETURN(std::string email, NormalizeEmail(email_in));
  COFFER_ASSIGN_OR_RETURN(JsonFields login, f.Object("login"));
  COFFER_ASSIGN_OR_RETURN(Bytes salt, login.Base64Exact("salt", kSaltBytes));
  COFFER_ASSIGN_OR_RETURN(uint64_t ops, ParseOps(login));
  COFFER_ASSIGN_OR_RETURN(uint64_t mem, ParseMem(login));
  COFFER_ASSIGN_OR_RETURN(Bytes verifier, login.Base64Exact("verifier", kVerifierBytes));
  COFFER_ASSIGN_OR_RETURN(JsonFields recovery, f.Object("recovery"));
  COFFER_ASSIGN_OR_RETURN(Bytes recovery_verifier, recovery.Base64Exact("verifier", kVerifierBytes));
  COFFER_ASSIGN_OR_RETURN(Bytes recovery_blob, recovery.Base64("blob", 1, kMaxBlobBytes));
  COFFER_ASSIGN_OR_RETURN(JsonFields device_f, f.Object("device"));
  COFFER_ASSIGN_OR_RETURN(DeviceIn device, ParseDevice(device_f));
  COFFER_ASSIGN_OR_RETURN(Bytes chain_entry, f.Base64("chain_entry", 1, kMaxBlobBytes));
  COFFER_ASSIGN_OR_RETURN(JsonFields sealed, f.Object("sealed_key"));
  COFFER_ASSIGN_OR_RETURN(uint64_t sealed_epoch, sealed.Uint("epoch", 0, kMaxJsonInt));
  COFFER_ASSIGN_OR_RETURN(Bytes sealed_blob, sealed.Base64("blob", 1, kMaxBlobBytes));
  COFFER_ASSIGN_OR_RETURN(Bytes keyring, f.Base64("keyring", 1, kMaxBlobBytes));
  COFFER_ASSIGN_OR_RETURN(int64_t time, f.Int("time", 0, static_cast<int64_t>(kMaxJsonInt)));
  COFFER_ASSIGN_OR_RETURN(Bytes signature, f.Base64Exact("signature", crypto::kSignatureBytes));
  COFFER_RETURN_IF_ERROR(CheckLoginSignature(c, email_in, device, time, signature));
  // A 409 tells whether an email has an account, so sign-up could be used to enumerate
  // emails that /v1/login/params keeps hidden. Refused sign-ups count against the client
  // address like failed logins, which caps that at 20 guesses per 15 minutes.
  const std::string& peer = c.request.peer;
  if (!peer.empty()) {
    COFFER_ASSIGN_OR_RETURN(int failures,
                            s.meta.CountLoginFailures(PeerKey(peer), c.now - kLoginFailureWindow));
    if (failures >= kMaxFailuresPerPeer) {
      const int64_t retry = RetryAfter(s, PeerKey(peer), kMaxFailuresPerPeer, c.now);
      return RateLimitedResponse(
          "too many failed logins or sign-ups from this address; try again in " + std::to_string(retry) + " s", retry);
    }
  }

  COFFER_ASSIGN_OR_RETURN(std::string login_hash, HashVerifier(verifier));
  COFFER_ASSIGN_OR_RETURN(std::string recovery_hash, HashVerifier(recovery_verifier));
  store::AccountRecord account;
  account.account_id = account_id;
  account.email = email;
  account.created_at = c.now;
  account.login_hash = login_hash;
  account.login_salt = salt;
  account.kdf_ops = ops;
  account.kdf_mem = mem;
  account.recovery_hash = recovery_hash;
  account.recovery_blob = recovery_blob;
  account.quota_bytes = s.options.default_quota_bytes;
  account.last_activity = c.now;

  Status created = s.meta.CreateAccount(account);
  if (created.code() == StatusCode::kAlreadyExists) {
    // The store has no multi-step transaction, so creation is several writes. If a previous
    // attempt stopped half-way (crash, lost connection), the same client may repeat the exact
    // request to finish it: same id and email, the same login verifier, and a chain that is
    // still empty or holds exactly this entry 0. Anyone else gets 409.
    auto existing = s.meta.GetAccount(account_id);
    bool resumable =
        existing.ok() && existing->email == email && crypto::VerifyStored(existing->login_hash, verifier);
    if (resumable) {
      COFFER_ASSIGN_OR_RETURN(std::vector<Bytes> chain, s.meta.GetChain(account_id, 0));
      resumable = chain.empty() || (chain.size() == 1 && chain[0] == chain_entry);
      auto dev = s.meta.GetDevice(account_id, device.id);
      if (dev.ok() &&
          (dev->status == store::DeviceStatus::kRevoked || dev->sign_public_key != device.sign_pk)) {
        resumable = false;
      }
    }
    if (!resumable) {
      if (!peer.empty()) {
        Status recorded = s.meta.RecordLoginFailure(PeerKey(peer), c.now);
        if (!recorded.ok()) LogLine("could not record a refused sign-up: " + recorded.ToString());
      }
      return AlreadyExistsError("an account with this email or account id already exists; log in instead");
    }
  } else if (!created.ok()) {
    return created;
  }

  store::DeviceRecord dev;
  dev.account_id = account_id;
  dev.device_id = device.id;
  dev.sign_public_key = device.sign_pk;
  dev.box_public_key = device.box_pk;
  dev.name = device.name;
  dev.status = store::DeviceStatus::kActive;
  dev.created_at = c.now;
  COFFER_RETURN_IF_ERROR(s.meta.PutDevice(dev));
  COFFER_ASSIGN_OR_RETURN(std::vector<Bytes> chain, s.meta.GetChain(account_id, 0));
  if (chain.empty()) COFFER_RETURN_IF_ERROR(s.meta.AppendChainEntry(account_id, 0, chain_entry));
  COFFER_RETURN_IF_ERROR(s.meta.PutSealedKey(account_id, device.id, sealed_epoch, sealed_blob));
  auto ring = s.meta.GetKeyring(account_id);
  if (!ring.ok()) {
    if (ring.status().code() != StatusCode::kNotFound) return ring.status();
    COFFER_RETURN_IF_ERROR(s.meta.PutKeyring(account_id, 1, keyring));
  }
  COFFER_ASSIGN_OR_RETURN(auto token,
                          StartSession(s, account_id, device.id, store::SessionKind::kDevice, c.now));
  return JsonResponse(
      201, SessionJson(account_id, token, store::SessionKind::kDevice, store::DeviceStatus::kActive));
}

StatusOr<Response> HandleLogin(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
  JsonFields f(body, "");
  COFFER_ASSIGN_OR_RETURN(std::string email_in, f.String("email", 0, 1024));
  COFFER_ASSIGN_OR_RETURN(std::string email, NormalizeEmail(email_in));
  COFFER_ASSIGN_OR_RETURN(JsonFields device_f, f.Object("device"));
  COFFER_ASSIGN_OR_RETURN(DeviceIn device, ParseDevice(device_f));
  COFFER_ASSIGN_OR_RETURN(int64_t time, f.Int("time", 0, static_cast<int64_t>(kMaxJsonInt)));
  COFFER_ASSIGN_OR_RETURN(Bytes signature, f.Base64Exact("signature", crypto::kSignatureBytes));
  std::optional<Bytes> verifier;
  std::optional<Bytes> recovery_verifier;
  if (f.Has("verifier")) {
    COFFER_ASSIGN_OR_RETURN(verifier, f.Base64Exact("verifier", kVerifierBytes));
  }
  if (f.Has("recovery_verifier")) {
    COFFER_ASSIGN_OR_RETURN(recovery_verifier, f.Base64Exact("recovery_verifier", kVerifierBytes));
  }
  if (verifier && recovery_verifier) {
    return InvalidArgumentError("send either \"verifier\" (password) or \"recovery_verifier\", not both");
  }
  const bool guesses_secret = verifier.has_value() || recovery_verifier.has_value();

  // Only logins that present a guessable secret are rate limited: a device-key login is an
  // Ed25519 signature, and limiting it would let anyone lock the owner's devices out by
  // failing 5 password guesses on their email.
  if (guesses_secret) {
    COFFER_ASSIGN_OR_RETURN(std::optional<Response> limited, CheckRateLimit(s, email, c.request.peer, c.now));
    if (limited) return std::move(*limited);
  }
  // Checked before the account lookup, so its answer is the same for every email.
  COFFER_RETURN_IF_ERROR(CheckLoginSignature(c, email_in, device, time, signature));

  auto account_or = s.meta.GetAccountByEmail(email);
  if (!account_or.ok()) {
    if (account_or.status().code() != StatusCode::kNotFound) return account_or.status();
    if (!guesses_secret) {
      return UnauthenticatedError(
          "no active device with this id on this account; log in with the password "
          "or the recovery key");
    }
    // Same work as a real check, so the reply time does not tell which emails exist.
    (void)crypto::VerifyStored(s.dummy_login_hash, verifier ? *verifier : *recovery_verifier);
    RecordFailure(s, email, c.request.peer, c.now);
    return UnauthenticatedError(std::string(kWrongCredentials));
  }
  const store::AccountRecord& account = *account_or;

  auto known = s.meta.GetDevice(account.account_id, device.id);
  if (!known.ok() && known.status().code() != StatusCode::kNotFound) return known.status();
  if (known.ok()) {
    if (known->sign_public_key != device.sign_pk) {
      return PermissionDeniedError("this device id is registered with a different signing key");
    }
    if (known->status == store::DeviceStatus::kRevoked)
      return PermissionDeniedError("this device was revoked");
  }
  const bool active = known.ok() && known->status == store::DeviceStatus::kActive;

  if (guesses_secret) {
    const bool ok = verifier ? crypto::VerifyStored(account.login_hash, *verifier)
                             : crypto::VerifyStored(account.recovery_hash, *recovery_verifier);
    if (!ok) {
      RecordFailure(s, email, c.request.peer, c.now);
      return UnauthenticatedError(std::string(verifier ? kWrongCredentials : "wrong email or recovery key"));
    }
    // Only the email's counter is cleared: clearing the address's counter would let one
    // valid account reset the limit for guessing at others.
    Status cleared = s.meta.ClearLoginFailures(EmailKey(email));
    if (!cleared.ok()) LogLine("could not clear login failures: " + cleared.ToString());
  } else if (!active) {
    return UnauthenticatedError(
        "no active device with this id on this account; log in with the password "
        "or the recovery key");
  }

  // Credentials are good; only now may the answer reveal that the account is locked.
  if (account.locked) {
    return Response(
        ErrorResponse(423, "PERMISSION_DENIED",
                      "this account is locked by the operator's staff; contact support to unlock it"));
  }

  store::SessionKind kind = store::SessionKind::kDevice;
  store::DeviceStatus device_status = store::DeviceStatus::kActive;
  if (!active) {
    kind = recovery_verifier ? store::SessionKind::kRecovery : store::SessionKind::kPending;
    device_status = store::DeviceStatus::kPending;
    if (!known.ok()) {
      store::DeviceRecord rec;
      rec.account_id = account.account_id;
      rec.device_id = device.id;
      rec.sign_public_key = device.sign_pk;
      rec.box_public_key = device.box_pk;
      rec.name = device.name;
      rec.status = store::DeviceStatus::kPending;
      rec.created_at = c.now;
      COFFER_RETURN_IF_ERROR(s.meta.PutDevice(rec));
    }
  }
  COFFER_ASSIGN_OR_RETURN(auto token, StartSession(s, account.account_id, device.id, kind, c.now));
  Status touched = s.meta.TouchActivity(account.account_id, c.now);
  if (!touched.ok()) LogLine("could not record account activity: " + touched.ToString());
  return JsonResponse(201, SessionJson(account.account_id, token, kind, device_status));
}

StatusOr<Response> HandleLogout(const Services& s, const Call& c) {
  COFFER_RETURN_IF_ERROR(s.meta.DeleteSession(c.caller->session.token_hash));
  return EmptyResponse(204);
}

}  // namespace coffer::server
