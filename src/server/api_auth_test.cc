// Accounts, login, sessions, rate limits, session kinds, revocation and locking, at the
// handler level on real stores.
#include <gtest/gtest.h>

#include "crypto/password.h"
#include "server/server_test_util.h"

namespace coffer::server::testing {
namespace {

TEST_F(ApiTest, HealthAnswersWithoutAuth) {
  Response r = Send("GET", "/v1/health");
  EXPECT_EQ(r.status, 200);
  EXPECT_EQ(ParseBody(r)["ok"], true);
  EXPECT_EQ(ParseBody(r)["version"], std::string(kServerVersion));
}

TEST_F(ApiTest, CreateAccountStoresEverythingAndReturnsDeviceSession) {
  TestAccount a;
  json req = NewAccountRequest("Alice@Example.COM", &a);
  Response r = SendJson("POST", "/v1/accounts", req);
  ASSERT_EQ(r.status, 201) << AsChars(r.body);
  json body = ParseBody(r);
  EXPECT_EQ(body["account_id"], a.account_id);
  EXPECT_EQ(body["session_kind"], "device");
  EXPECT_EQ(body["expires_at"], now_ + 7 * 24 * 3600);
  const std::string token = body["token"];
  EXPECT_EQ(token.size(), 64u);

  auto account = meta_->GetAccount(a.account_id);
  ASSERT_TRUE(account.ok());
  EXPECT_EQ(account->email, "alice@example.com");  // lower-cased
  EXPECT_EQ(account->created_at, now_);
  // Only a slow hash of the verifier is stored, never the verifier itself.
  EXPECT_TRUE(crypto::VerifyStored(account->login_hash, a.verifier));
  EXPECT_EQ(account->login_hash.find(B64(a.verifier)), std::string::npos);
  EXPECT_TRUE(crypto::VerifyStored(account->recovery_hash, a.recovery_verifier));
  EXPECT_EQ(account->kdf_ops, 2u);
  EXPECT_EQ(AsChars(account->recovery_blob), "recovery blob");

  auto device = meta_->GetDevice(a.account_id, a.device.id);
  ASSERT_TRUE(device.ok());
  EXPECT_EQ(device->status, store::DeviceStatus::kActive);
  EXPECT_EQ(device->sign_public_key, a.device.key.public_key());
  auto chain = meta_->GetChain(a.account_id, 0);
  ASSERT_TRUE(chain.ok());
  ASSERT_EQ(chain->size(), 1u);
  EXPECT_EQ((*chain)[0], a.chain_entry0);
  auto sealed = meta_->GetSealedKey(a.account_id, a.device.id);
  ASSERT_TRUE(sealed.ok());
  EXPECT_EQ(sealed->first, 1u);
  auto ring = meta_->GetKeyring(a.account_id);
  ASSERT_TRUE(ring.ok());
  EXPECT_EQ(ring->first, 1u);

  // The session token is stored only as its SHA-256.
  auto raw = HexDecode(token);
  ASSERT_TRUE(raw.ok());
  auto session = meta_->GetSession(crypto::Sha256(*raw), now_);
  ASSERT_TRUE(session.ok());
  EXPECT_EQ(session->kind, store::SessionKind::kDevice);

  Response me = Send("GET", "/v1/account", {}, token);
  ASSERT_EQ(me.status, 200);
  EXPECT_EQ(ParseBody(me)["email"], "alice@example.com");
  EXPECT_EQ(ParseBody(me)["device_count"], 1);
  EXPECT_EQ(ParseBody(me)["locked"], false);
}

TEST_F(ApiTest, CreateAccountConflictsAndResume) {
  TestAccount a;
  json req = NewAccountRequest("bob@example.com", &a);
  ASSERT_EQ(SendJson("POST", "/v1/accounts", req).status, 201);

  // Same email, other id.
  TestAccount b;
  json other = NewAccountRequest("BOB@example.com", &b);
  Response r = SendJson("POST", "/v1/accounts", other);
  EXPECT_EQ(r.status, 409);
  EXPECT_EQ(ErrorCode(r), "ALREADY_EXISTS");
  // Same id, other email.
  TestAccount c;
  json same_id = NewAccountRequest("carol@example.com", &c);
  same_id["account_id"] = a.account_id;
  EXPECT_EQ(SendJson("POST", "/v1/accounts", same_id).status, 409);
  EXPECT_EQ(meta_->GetAccountByEmail("carol@example.com").status().code(), StatusCode::kNotFound);

  // The identical request again (a client whose first reply was lost) completes and logs in.
  Response again = SendJson("POST", "/v1/accounts", req);
  EXPECT_EQ(again.status, 201) << AsChars(again.body);
  // ...but not once the chain has moved on.
  ASSERT_TRUE(meta_->AppendChainEntry(a.account_id, 1, ToBytes("entry 1")).ok());
  EXPECT_EQ(SendJson("POST", "/v1/accounts", req).status, 409);
}

TEST_F(ApiTest, RefusedSignUpsAreRateLimitedPerAddress) {
  CreateAccount("taken@example.com");
  for (int i = 0; i < 20; ++i) {
    TestAccount dup;
    EXPECT_EQ(SendJson("POST", "/v1/accounts", NewAccountRequest("taken@example.com", &dup)).status, 409)
        << i;
  }
  TestAccount probe;
  Response limited = SendJson("POST", "/v1/accounts", NewAccountRequest("other@example.com", &probe));
  EXPECT_EQ(limited.status, 429);
  EXPECT_TRUE(ParseBody(limited)["retry_after"].is_number_unsigned());
  EXPECT_EQ(meta_->GetAccount(probe.account_id).status().code(), StatusCode::kNotFound);
  peer_ = "198.51.100.20";
  EXPECT_EQ(SendJson("POST", "/v1/accounts", NewAccountRequest("other@example.com", &probe)).status, 201);
}

TEST_F(ApiTest, CreateAccountChecksTheSignatureAndClock) {
  TestAccount a;
  json req = NewAccountRequest("dan@example.com", &a);
  json bad_sig = req;
  bad_sig["signature"] = TestDevice().Sign("dan@example.com", now_);
  Response r = SendJson("POST", "/v1/accounts", bad_sig);
  EXPECT_EQ(r.status, 401);
  json skewed = req;
  skewed["time"] = now_ - 301;
  skewed["signature"] = a.device.Sign("dan@example.com", now_ - 301);
  r = SendJson("POST", "/v1/accounts", skewed);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(ErrorMessage(r).find("clock"), std::string::npos);
  EXPECT_EQ(meta_->GetAccount(a.account_id).status().code(), StatusCode::kNotFound);
}

TEST_F(ApiTest, LoginParamsRealAndFake) {
  TestAccount a;
  json req = NewAccountRequest("erin@example.com", &a);
  ASSERT_EQ(SendJson("POST", "/v1/accounts", req).status, 201);

  Response real = SendJson("POST", "/v1/login/params", json{{"email", "ERIN@example.com"}});
  ASSERT_EQ(real.status, 200);
  EXPECT_EQ(ParseBody(real)["salt"], req["login"]["salt"]);
  EXPECT_EQ(ParseBody(real)["ops"], 2);
  EXPECT_EQ(ParseBody(real)["mem"], 16 << 20);

  Response fake1 = SendJson("POST", "/v1/login/params", json{{"email", "nobody@example.com"}});
  Response fake2 = SendJson("POST", "/v1/login/params", json{{"email", "nobody@example.com"}});
  Response fake3 = SendJson("POST", "/v1/login/params", json{{"email", "someone@example.com"}});
  ASSERT_EQ(fake1.status, 200);
  EXPECT_EQ(ParseBody(fake1)["salt"], ParseBody(fake2)["salt"]);  // stable
  EXPECT_NE(ParseBody(fake1)["salt"], ParseBody(fake3)["salt"]);
  auto salt = Base64Decode(ParseBody(fake1)["salt"].get<std::string>());
  ASSERT_TRUE(salt.ok());
  EXPECT_EQ(salt->size(), 16u);
  // The same shape as a real answer.
  EXPECT_TRUE(ParseBody(fake1)["ops"].is_number_unsigned());
  EXPECT_TRUE(ParseBody(fake1)["mem"].is_number_unsigned());

  // The fake salt survives a restart (the server secret is persisted).
  MakeApi();
  Response fake4 = SendJson("POST", "/v1/login/params", json{{"email", "nobody@example.com"}});
  EXPECT_EQ(ParseBody(fake1)["salt"], ParseBody(fake4)["salt"]);
}

TEST_F(ApiTest, PasswordLoginFromNewDeviceIsPendingAndRestricted) {
  TestAccount a = CreateAccount("fay@example.com");
  TestDevice laptop;
  Response r = Login("fay@example.com", laptop, "password", a.verifier);
  ASSERT_EQ(r.status, 201) << AsChars(r.body);
  json body = ParseBody(r);
  EXPECT_EQ(body["session_kind"], "pending");
  EXPECT_EQ(body["device_status"], "pending");
  EXPECT_EQ(body["account_id"], a.account_id);
  EXPECT_EQ(body["expires_at"], now_ + 3600);
  const std::string pending = body["token"];
  auto dev = meta_->GetDevice(a.account_id, laptop.id);
  ASSERT_TRUE(dev.ok());
  EXPECT_EQ(dev->status, store::DeviceStatus::kPending);

  // Allowed for pending sessions.
  EXPECT_EQ(Send("GET", "/v1/account", {}, pending).status, 200);
  const std::string pairing = RandomHex(16);
  EXPECT_EQ(Send("PUT", "/v1/pairing/" + pairing, ToBytes("hello"), pending).status, 201);
  EXPECT_EQ(Send("GET", "/v1/pairing/" + pairing + "/response", {}, pending).status, 404);
  // Everything else is refused.
  for (auto [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/keyring"},
                                                        {"GET", "/v1/devices"},
                                                        {"GET", "/v1/chain"},
                                                        {"GET", "/v1/collections"},
                                                        {"GET", "/v1/chunks"},
                                                        {"GET", "/v1/account/recovery"},
                                                        {"GET", "/v1/pairing/" + pairing},
                                                        {"GET", "/v1/keys/sealed/" + laptop.id}}) {
    Response denied = Send(method, target, {}, pending);
    EXPECT_EQ(denied.status, 403) << method << " " << target;
    EXPECT_EQ(ErrorMessage(denied),
              "this device is not approved yet; approve it from one of your enrolled devices");
  }
  Response chunk = PutChunk(pending, RandomHex(32), ToBytes("data"));
  EXPECT_EQ(chunk.status, 403);
  EXPECT_EQ(SendJson("PUT", "/v1/keyring", json{{"version", 2}, {"blob", B64("x")}}, pending).status, 403);

  // The approving device answers the pairing and adds the laptop to the chain; the pending
  // session becomes a device session.
  EXPECT_EQ(Send("GET", "/v1/pairing/" + pairing, {}, a.token).status, 200);
  EXPECT_EQ(Send("PUT", "/v1/pairing/" + pairing + "/response", ToBytes("welcome"), a.token).status, 201);
  Response resp = Send("GET", "/v1/pairing/" + pairing + "/response", {}, pending);
  EXPECT_EQ(resp.status, 200);
  EXPECT_EQ(AsChars(resp.body), "welcome");
  json add{
      {"seq", 1}, {"entry", B64("add laptop")}, {"effect", {{"action", "add"}, {"device", laptop.Json()}}}};
  ASSERT_EQ(SendJson("POST", "/v1/chain", add, a.token).status, 201);
  EXPECT_EQ(meta_->GetDevice(a.account_id, laptop.id)->status, store::DeviceStatus::kActive);
  EXPECT_EQ(Send("GET", "/v1/keyring", {}, pending).status, 200);

  // Now the laptop logs in with its device key alone.
  Response device_login = Login("fay@example.com", laptop, "", {});
  ASSERT_EQ(device_login.status, 201) << AsChars(device_login.body);
  EXPECT_EQ(ParseBody(device_login)["session_kind"], "device");
  EXPECT_EQ(ParseBody(device_login)["device_status"], "active");
}

TEST_F(ApiTest, AddEffectWithADifferentKeyDropsThePendingSessions) {
  TestAccount a = CreateAccount("gil@example.com");
  TestDevice impostor;
  Response r = Login("gil@example.com", impostor, "password", a.verifier);
  ASSERT_EQ(r.status, 201);
  const std::string pending = ParseBody(r)["token"];
  // The chain admits this device id, but with the key the owner verified out of band.
  TestDevice real;
  real.id = impostor.id;
  json add{{"seq", 1}, {"entry", B64("add")}, {"effect", {{"action", "add"}, {"device", real.Json()}}}};
  ASSERT_EQ(SendJson("POST", "/v1/chain", add, a.token).status, 201);
  EXPECT_EQ(Send("GET", "/v1/account", {}, pending).status, 401);
  EXPECT_EQ(Login("gil@example.com", real, "", {}).status, 201);
}

TEST_F(ApiTest, DeviceKeyLoginNeedsAnActiveDevice) {
  TestAccount a = CreateAccount("hal@example.com");
  Response ok = Login("hal@example.com", a.device, "", {});
  ASSERT_EQ(ok.status, 201);
  EXPECT_EQ(ParseBody(ok)["session_kind"], "device");
  // An active device that also sends a password must send the right one.
  EXPECT_EQ(Login("hal@example.com", a.device, "password", a.verifier).status, 201);
  EXPECT_EQ(Login("hal@example.com", a.device, "password", crypto::RandomBytes(32)).status, 401);

  Response unknown = Login("hal@example.com", TestDevice(), "", {});
  EXPECT_EQ(unknown.status, 401);
  // Unknown email: the very same answer.
  Response nobody = Login("nobody@example.com", TestDevice(), "", {});
  EXPECT_EQ(nobody.status, 401);
  EXPECT_EQ(ErrorMessage(unknown), ErrorMessage(nobody));
  // A known device id with another key.
  TestDevice thief;
  thief.id = a.device.id;
  EXPECT_EQ(Login("hal@example.com", thief, "", {}).status, 403);
  // A valid device but a signature over something else.
  json bad = LoginRequest("hal@example.com", a.device, "", {});
  bad["time"] = now_ + 1;
  EXPECT_EQ(SendJson("POST", "/v1/sessions", bad).status, 401);
}

TEST_F(ApiTest, RecoveryLoginGivesARecoverySession) {
  TestAccount a = CreateAccount("ida@example.com");
  TestDevice fresh;
  Response r = Login("ida@example.com", fresh, "recovery", a.recovery_verifier);
  ASSERT_EQ(r.status, 201) << AsChars(r.body);
  EXPECT_EQ(ParseBody(r)["session_kind"], "recovery");
  EXPECT_EQ(ParseBody(r)["device_status"], "pending");
  const std::string token = ParseBody(r)["token"];
  // A recovery session may do what a device session does: read the recovery blob, enrol.
  Response blob = Send("GET", "/v1/account/recovery", {}, token);
  ASSERT_EQ(blob.status, 200);
  EXPECT_EQ(ParseBody(blob)["blob"], B64("recovery blob"));
  json add{{"seq", 1},
           {"entry", B64("add by recovery")},
           {"effect", {{"action", "add"}, {"device", fresh.Json()}}}};
  EXPECT_EQ(SendJson("POST", "/v1/chain", add, token).status, 201);
  // The password verifier is not the recovery verifier.
  EXPECT_EQ(Login("ida@example.com", TestDevice(), "recovery", a.verifier).status, 401);
  // Both at once is a malformed request.
  json both = LoginRequest("ida@example.com", fresh, "password", a.verifier);
  both["recovery_verifier"] = B64(a.recovery_verifier);
  EXPECT_EQ(SendJson("POST", "/v1/sessions", both).status, 400);
}

TEST_F(ApiTest, WrongPasswordIs401AndUnknownEmailLooksTheSame) {
  TestAccount a = CreateAccount("jo@example.com");
  Response wrong = Login("jo@example.com", TestDevice(), "password", crypto::RandomBytes(32));
  EXPECT_EQ(wrong.status, 401);
  EXPECT_EQ(ErrorCode(wrong), "UNAUTHENTICATED");
  EXPECT_EQ(ErrorMessage(wrong), "wrong email or password");
  Response unknown = Login("nobody@example.com", TestDevice(), "password", crypto::RandomBytes(32));
  EXPECT_EQ(unknown.status, 401);
  EXPECT_EQ(ErrorMessage(unknown), ErrorMessage(wrong));
  // A failed login registers no device.
  auto devices = meta_->ListDevices(a.account_id);
  ASSERT_TRUE(devices.ok());
  EXPECT_EQ(devices->size(), 1u);
}

TEST_F(ApiTest, RateLimitAfterFiveFailuresPerEmail) {
  TestAccount a = CreateAccount("kim@example.com");
  TestDevice d;
  for (int i = 0; i < 5; ++i) {
    now_ += 10;
    EXPECT_EQ(Login("kim@example.com", d, "password", crypto::RandomBytes(32)).status, 401) << i;
  }
  now_ += 10;
  Response limited = Login("kim@example.com", d, "password", a.verifier);  // even the right one
  ASSERT_EQ(limited.status, 429);
  EXPECT_EQ(ErrorCode(limited), "RESOURCE_EXHAUSTED");
  std::string retry_after;
  for (const auto& [k, v] : limited.headers) {
    if (k == "Retry-After") retry_after = v;
  }
  ASSERT_FALSE(retry_after.empty());
  const int64_t retry = std::stoll(retry_after);
  EXPECT_EQ(ParseBody(limited)["retry_after"], retry);
  // The first failure was 50 s ago; it leaves the 15-minute window in 850 s (give or take
  // the boundary second).
  EXPECT_GE(retry, 849);
  EXPECT_LE(retry, 852);
  // The same email is limited whatever the address; device-key logins are not limited.
  peer_ = "198.51.100.7";
  EXPECT_EQ(Login("kim@example.com", d, "password", a.verifier).status, 429);
  EXPECT_EQ(Login("kim@example.com", a.device, "", {}).status, 201);
  // Once the window has slid past, the right password works and clears the count.
  now_ += retry;
  EXPECT_EQ(Login("kim@example.com", d, "password", a.verifier).status, 201);
  auto count = meta_->CountLoginFailures("email:kim@example.com", now_ - 900);
  ASSERT_TRUE(count.ok());
  EXPECT_EQ(*count, 0);
}

TEST_F(ApiTest, RateLimitAfterTwentyFailuresPerAddress) {
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(
        Login("user" + std::to_string(i) + "@example.com", TestDevice(), "password", crypto::RandomBytes(32))
            .status,
        401);
  }
  Response limited = Login("fresh@example.com", TestDevice(), "password", crypto::RandomBytes(32));
  EXPECT_EQ(limited.status, 429);
  EXPECT_NE(ErrorMessage(limited).find("address"), std::string::npos);
  peer_ = "203.0.113.9";  // another address is not affected
  EXPECT_EQ(Login("fresh@example.com", TestDevice(), "password", crypto::RandomBytes(32)).status, 401);
}

TEST_F(ApiTest, LoginTimeMustBeNearTheServerClock) {
  TestAccount a = CreateAccount("lee@example.com");
  json req = LoginRequest("lee@example.com", a.device, "", {});
  req["time"] = now_ + 301;
  req["signature"] = a.device.Sign("lee@example.com", now_ + 301);
  Response r = SendJson("POST", "/v1/sessions", req);
  EXPECT_EQ(r.status, 401);
  EXPECT_NE(ErrorMessage(r).find("clock"), std::string::npos);
  req["time"] = now_ - 300;
  req["signature"] = a.device.Sign("lee@example.com", now_ - 300);
  EXPECT_EQ(SendJson("POST", "/v1/sessions", req).status, 201);
}

TEST_F(ApiTest, RevokedDeviceIsRefused) {
  TestAccount a = CreateAccount("mo@example.com");
  TestDevice phone;
  // Enrol the phone, then revoke it.
  Response pending = Login("mo@example.com", phone, "password", a.verifier);
  ASSERT_EQ(pending.status, 201);
  json add{
      {"seq", 1}, {"entry", B64("add phone")}, {"effect", {{"action", "add"}, {"device", phone.Json()}}}};
  ASSERT_EQ(SendJson("POST", "/v1/chain", add, a.token).status, 201);
  Response phone_session = Login("mo@example.com", phone, "", {});
  ASSERT_EQ(phone_session.status, 201);
  const std::string phone_token = ParseBody(phone_session)["token"];
  EXPECT_EQ(Send("GET", "/v1/keyring", {}, phone_token).status, 200);

  json revoke{{"seq", 2},
              {"entry", B64("revoke phone")},
              {"effect", {{"action", "revoke"}, {"device_id", phone.id}}}};
  ASSERT_EQ(SendJson("POST", "/v1/chain", revoke, a.token).status, 201);
  EXPECT_EQ(meta_->GetDevice(a.account_id, phone.id)->status, store::DeviceStatus::kRevoked);
  // Its sessions are gone, and it cannot log in again, not even with the password.
  EXPECT_EQ(Send("GET", "/v1/keyring", {}, phone_token).status, 401);
  Response again = Login("mo@example.com", phone, "", {});
  EXPECT_EQ(again.status, 403);
  EXPECT_EQ(ErrorMessage(again), "this device was revoked");
  EXPECT_EQ(Login("mo@example.com", phone, "password", a.verifier).status, 403);
  // Keys are not sealed to it any more.
  EXPECT_EQ(
      SendJson("PUT", "/v1/keys/sealed/" + phone.id, json{{"epoch", 2}, {"blob", B64("k")}}, a.token).status,
      412);
  // Revoking an unknown device is refused without touching the chain.
  json ghost{{"seq", 3},
             {"entry", B64("revoke ghost")},
             {"effect", {{"action", "revoke"}, {"device_id", RandomHex(16)}}}};
  EXPECT_EQ(SendJson("POST", "/v1/chain", ghost, a.token).status, 404);
  EXPECT_EQ(meta_->GetChain(a.account_id, 0)->size(), 3u);
}

TEST_F(ApiTest, RevokedDeviceLeftoverSessionIsRefused) {
  // A crash between marking a device revoked and deleting its sessions must not leave the
  // sessions usable.
  TestAccount a = CreateAccount("nia@example.com");
  auto dev = *meta_->GetDevice(a.account_id, a.device.id);
  dev.status = store::DeviceStatus::kRevoked;
  ASSERT_TRUE(meta_->PutDevice(dev).ok());
  Response r = Send("GET", "/v1/account", {}, a.token);
  EXPECT_EQ(r.status, 403);
  EXPECT_EQ(ErrorMessage(r), "this device was revoked");
}

TEST_F(ApiTest, SessionsExpire) {
  TestAccount a = CreateAccount("ola@example.com");
  Response p = Login("ola@example.com", TestDevice(), "password", a.verifier);
  const std::string pending = ParseBody(p)["token"];
  now_ += 3600 + 1;
  EXPECT_EQ(Send("GET", "/v1/account", {}, pending).status, 401);
  EXPECT_EQ(Send("GET", "/v1/account", {}, a.token).status, 200);
  now_ += 7 * 24 * 3600;
  Response expired = Send("GET", "/v1/account", {}, a.token);
  EXPECT_EQ(expired.status, 401);
  EXPECT_EQ(ErrorMessage(expired), "session expired or unknown; log in again");
}

TEST_F(ApiTest, LogoutEndsTheSession) {
  TestAccount a = CreateAccount("pat@example.com");
  EXPECT_EQ(Send("DELETE", "/v1/sessions/current", {}, a.token).status, 204);
  EXPECT_EQ(Send("GET", "/v1/account", {}, a.token).status, 401);
  EXPECT_EQ(Send("DELETE", "/v1/sessions/current", {}, a.token).status, 401);
}

TEST_F(ApiTest, BadAuthorizationHeaders) {
  TestAccount a = CreateAccount("quinn@example.com");
  for (const std::string& auth :
       {std::string(""), std::string("Bearer"), std::string("Bearer "), "Basic " + a.token,
        "Bearer " + a.token.substr(1), "Bearer " + a.token + "0", "Bearer " + std::string(64, 'G'),
        "Bearer " + RandomHex(32)}) {
    Request r;
    r.method = "GET";
    r.target = "/v1/account";
    r.authorization = auth;
    Response resp = api_->Handle(r);
    EXPECT_EQ(resp.status, 401) << auth;
    EXPECT_EQ(ErrorCode(resp), "UNAUTHENTICATED");
  }
  // The scheme is case-insensitive (RFC 7235).
  Request r;
  r.method = "GET";
  r.target = "/v1/account";
  r.authorization = "bearer " + a.token;
  EXPECT_EQ(api_->Handle(r).status, 200);
}

TEST_F(ApiTest, LockedAccountGets423EverywhereButHealth) {
  TestAccount a = CreateAccount("ray@example.com");
  ASSERT_TRUE(meta_->SetLocked(a.account_id, true).ok());
  for (auto [method, target] :
       std::vector<std::pair<std::string, std::string>>{{"GET", "/v1/account"},
                                                        {"GET", "/v1/keyring"},
                                                        {"GET", "/v1/chunks"},
                                                        {"DELETE", "/v1/sessions/current"}}) {
    Response r = Send(method, target, {}, a.token);
    EXPECT_EQ(r.status, 423) << target;
    EXPECT_FALSE(ErrorMessage(r).empty());
  }
  EXPECT_EQ(Send("GET", "/v1/health").status, 200);
  // Right credentials: 423. Wrong ones: still the ordinary 401, so the lock is not revealed
  // to someone who does not know the password.
  EXPECT_EQ(Login("ray@example.com", a.device, "", {}).status, 423);
  EXPECT_EQ(Login("ray@example.com", TestDevice(), "password", a.verifier).status, 423);
  EXPECT_EQ(Login("ray@example.com", TestDevice(), "password", crypto::RandomBytes(32)).status, 401);
  // The preflight answers the same before any body is read.
  Preflight pre = api_->Check("PUT", "/v1/chunks/" + RandomHex(32), "Bearer " + a.token, 10);
  ASSERT_TRUE(pre.reject.has_value());
  EXPECT_EQ(pre.reject->status, 423);
  ASSERT_TRUE(meta_->SetLocked(a.account_id, false).ok());
  EXPECT_EQ(Send("GET", "/v1/account", {}, a.token).status, 200);
}

TEST_F(ApiTest, AccountLoginAndRecoveryCanBeChanged) {
  TestAccount a = CreateAccount("sam@example.com");
  const Bytes new_verifier = crypto::RandomBytes(32);
  const std::string new_salt = B64(crypto::RandomBytes(16));
  json login{{"salt", new_salt}, {"ops", 3}, {"mem", 32 << 20}, {"verifier", B64(new_verifier)}};
  ASSERT_EQ(SendJson("PUT", "/v1/account/login", login, a.token).status, 204);
  EXPECT_EQ(Login("sam@example.com", TestDevice(), "password", a.verifier).status, 401);
  EXPECT_EQ(Login("sam@example.com", TestDevice(), "password", new_verifier).status, 201);
  Response params = SendJson("POST", "/v1/login/params", json{{"email", "sam@example.com"}});
  EXPECT_EQ(ParseBody(params)["salt"], new_salt);
  EXPECT_EQ(ParseBody(params)["ops"], 3);

  const Bytes new_recovery = crypto::RandomBytes(32);
  json rec{{"verifier", B64(new_recovery)}, {"blob", B64("rewrapped")}};
  ASSERT_EQ(SendJson("PUT", "/v1/account/recovery", rec, a.token).status, 204);
  EXPECT_EQ(ParseBody(Send("GET", "/v1/account/recovery", {}, a.token))["blob"], B64("rewrapped"));
  EXPECT_EQ(Login("sam@example.com", TestDevice(), "recovery", a.recovery_verifier).status, 401);
  EXPECT_EQ(Login("sam@example.com", TestDevice(), "recovery", new_recovery).status, 201);

  // Without "verifier" only the blob is replaced (a device re-wrapping after key rotation
  // does not hold the recovery key); JSON null counts as absent.
  ASSERT_EQ(SendJson("PUT", "/v1/account/recovery", json{{"blob", B64("rotated")}}, a.token).status, 204);
  ASSERT_EQ(SendJson("PUT", "/v1/account/recovery", json{{"blob", B64("rotated 2")}, {"verifier", nullptr}},
                     a.token)
                .status,
            204);
  EXPECT_EQ(ParseBody(Send("GET", "/v1/account/recovery", {}, a.token))["blob"], B64("rotated 2"));
  EXPECT_EQ(Login("sam@example.com", TestDevice(), "recovery", new_recovery).status, 201);
}

TEST_F(ApiTest, DevicesListAndActivity) {
  TestAccount a = CreateAccount("tia@example.com");
  TestDevice other;
  ASSERT_EQ(Login("tia@example.com", other, "password", a.verifier).status, 201);
  Response r = Send("GET", "/v1/devices", {}, a.token);
  ASSERT_EQ(r.status, 200);
  json devices = ParseBody(r)["devices"];
  ASSERT_EQ(devices.size(), 2u);
  int active = 0, pending = 0;
  for (const auto& d : devices) {
    if (d["status"] == "active") {
      ++active;
      EXPECT_EQ(d["id"], a.device.id);
      EXPECT_EQ(d["sign_pk"], B64(a.device.key.public_key()));
      EXPECT_EQ(d["name"], "test device");
      EXPECT_EQ(d["created_at"], now_);
    }
    if (d["status"] == "pending") ++pending;
  }
  EXPECT_EQ(active, 1);
  EXPECT_EQ(pending, 1);

  now_ += 1000;
  ASSERT_EQ(Send("GET", "/v1/account", {}, a.token).status, 200);
  EXPECT_EQ(meta_->GetAccount(a.account_id)->last_activity, now_);
}

}  // namespace
}  // namespace coffer::server::testing
