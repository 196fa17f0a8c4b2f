// Handler-level tests of the staff API (server/staff_api.h) driven through Api::Handle on a
// real SqliteMetaStore + SqliteStaffStore, without a network: who may call each staff route,
// the reason requirement, roles, every grant refusal, and that refusals are themselves in
// the account's signed, hash-chained access log.
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "crypto/hash.h"
#include "crypto/sign.h"
#include "server/server_test_util.h"
#include "server/staff_admin.h"
#include "server/staff_api.h"
#include "staff/formats/staff_formats.h"
#include "store/sqlite/sqlite_staff_store.h"

namespace coffer::server::testing {
namespace {

const std::vector<std::string> kAccountVerbs = {"lookup", "lock", "unlock", "reset-login", "metadata",
                                                "restore-trash"};

// The real store, except that appends to the access log can be made to fail (a full disk, a
// lost database connection): the API must then refuse the action instead of acting unlogged.
class AppendFailingStaffStore : public store::StaffStore {
 public:
  explicit AppendFailingStaffStore(store::StaffStore& real) : real_(real) {}
  bool fail_appends = false;

  Status CreateStaff(const store::StaffRecord& s) override { return real_.CreateStaff(s); }
  StatusOr<store::StaffRecord> GetStaff(const std::string& id) override { return real_.GetStaff(id); }
  StatusOr<store::StaffRecord> GetStaffByName(const std::string& n) override { return real_.GetStaffByName(n); }
  StatusOr<std::vector<store::StaffRecord>> ListStaff() override { return real_.ListStaff(); }
  Status SetStaffDisabled(const std::string& id, bool d) override { return real_.SetStaffDisabled(id, d); }
  Status CreateStaffSession(const store::StaffSessionRecord& s) override { return real_.CreateStaffSession(s); }
  StatusOr<store::StaffSessionRecord> GetStaffSession(ByteView h, int64_t now) override {
    return real_.GetStaffSession(h, now);
  }
  Status DeleteStaffSession(ByteView h) override { return real_.DeleteStaffSession(h); }
  Status PutGrant(const store::GrantRecord& g) override { return real_.PutGrant(g); }
  StatusOr<store::GrantRecord> GetGrant(const std::string& id) override { return real_.GetGrant(id); }
  StatusOr<std::vector<store::GrantRecord>> ListGrants(const std::string& a) override { return real_.ListGrants(a); }
  Status RevokeGrant(const std::string& a, const std::string& g, int64_t now) override {
    return real_.RevokeGrant(a, g, now);
  }
  Status PutResetCode(const std::string& a, ByteView h, int64_t e) override { return real_.PutResetCode(a, h, e); }
  StatusOr<Bytes> GetResetCode(const std::string& a, int64_t now) override { return real_.GetResetCode(a, now); }
  Status DeleteResetCode(const std::string& a) override { return real_.DeleteResetCode(a); }
  StatusOr<store::LogHead> GetLogHead(const std::string& a) override { return real_.GetLogHead(a); }
  StatusOr<store::LogHead> GetGlobalLogHead() override { return real_.GetGlobalLogHead(); }
  Status AppendLogEntry(const std::string& account_id, uint64_t seq, ByteView entry, ByteView entry_hash,
                        uint64_t global_seq, ByteView global_entry, ByteView global_hash) override {
    if (fail_appends) return UnavailableError("test: the log store is unavailable");
    return real_.AppendLogEntry(account_id, seq, entry, entry_hash, global_seq, global_entry, global_hash);
  }
  StatusOr<std::vector<store::LogEntryRecord>> GetLogEntries(const std::string& a, uint64_t from,
                                                             size_t limit) override {
    return real_.GetLogEntries(a, from, limit);
  }
  StatusOr<std::vector<store::LogEntryRecord>> GetGlobalLogEntries(uint64_t from, size_t limit) override {
    return real_.GetGlobalLogEntries(from, limit);
  }

 private:
  store::StaffStore& real_;
};

class StaffApiTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    ASSERT_TRUE(crypto::Init().ok());
    auto staff = store::SqliteStaffStore::Open(dir_ + "/meta.sqlite");
    ASSERT_TRUE(staff.ok()) << staff.status().ToString();
    staff_ = std::move(staff).value();
    logged_store_ = std::make_unique<AppendFailingStaffStore>(*staff_);
    ApiOptions options;
    options.default_quota_bytes = quota_;
    options.gc_grace_seconds = gc_grace_;
    options.clock = [this] { return now_; };
    options.staff = logged_store_.get();
    options.log_key_file = dir_ + "/staff-log.key";
    auto api = Api::Create(*meta_, *blobs_, std::move(options));
    ASSERT_TRUE(api.ok()) << api.status().ToString();
    api_ = std::move(api).value();

    support_token_ = StaffLogin("sam", "support");
    admin_token_ = StaffLogin("ada", "admin");
    alice_ = CreateAccount("alice@example.com");
    bob_ = CreateAccount("bob@example.com");
  }

  void TearDown() override {
    api_.reset();
    logged_store_.reset();
    staff_.reset();
    ApiTest::TearDown();
  }

  std::string StaffLogin(const std::string& name, const std::string& role) {
    auto credential = AddStaff(*staff_, name, role, now_);
    EXPECT_TRUE(credential.ok()) << credential.status().ToString();
    Response r = SendJson("POST", "/v1/staff/login", json{{"credential", *credential}});
    EXPECT_EQ(r.status, 201) << AsChars(r.body);
    return ParseBody(r).value("token", "");
  }

  Response Staff(const std::string& verb, const std::string& token, const TestAccount& account,
                 const std::string& reason = "ticket 4711", const std::string& grant = "") {
    json body{{"email", account.email}};
    if (!reason.empty()) body["reason"] = reason;
    if (!grant.empty()) body["grant"] = grant;
    return SendJson("POST", "/v1/staff/" + verb, body, token);
  }

  // A grant signed by `owner`'s device, registered through the owner's route unless told
  // otherwise. Returns the grant code support would be given.
  std::string MakeGrant(const TestAccount& owner, uint32_t scopes, int64_t lifetime, bool register_it = true,
                        staff::Grant* out = nullptr) {
    staff::Grant g;
    auto gid = staff::Id16FromHex(RandomHex(16));
    auto account = staff::Id16FromHex(owner.account_id);
    auto device = staff::Id16FromHex(owner.device.id);
    EXPECT_TRUE(gid.ok() && account.ok() && device.ok());
    g.grant_id = *gid;
    g.account_id = *account;
    g.device_id = *device;
    g.scopes = scopes;
    g.issued_at = now_;
    g.expires_at = now_ + lifetime;
    g.note = "for ticket 4711";
    staff::SignGrant(g, owner.device.key);
    if (register_it) {
      Response r = SendJson("POST", "/v1/support/grants", json{{"grant", B64(g.Encode())}}, owner.token);
      EXPECT_EQ(r.status, 201) << AsChars(r.body);
    }
    if (out != nullptr) *out = g;
    return staff::FormatGrantCode(g);
  }

  // The account's log through the owner's route, every entry's signature and chain link
  // checked against the key the route reports.
  std::vector<staff::LogEntry> Log(const TestAccount& owner) {
    Response r = Send("GET", "/v1/log", {}, owner.token);
    EXPECT_EQ(r.status, 200) << AsChars(r.body);
    const json j = ParseBody(r);
    auto pk = Base64Decode(j.value("public_key", ""));
    EXPECT_TRUE(pk.ok());
    std::vector<staff::LogEntry> out;
    staff::Hash32 prev{};
    for (const auto& item : j["entries"]) {
      auto raw = Base64Decode(item.get<std::string>());
      EXPECT_TRUE(raw.ok());
      Bytes sig;
      auto e = staff::LogEntry::Decode(*raw, &sig);
      EXPECT_TRUE(e.ok()) << e.status().ToString();
      if (!e.ok()) break;
      EXPECT_TRUE(crypto::VerifySignature(*pk, e->SignedPart(), sig).ok()) << "entry " << out.size();
      EXPECT_EQ(e->seq, out.size());
      EXPECT_EQ(e->prev_hash, prev) << "entry " << out.size() << " does not link to the one before";
      EXPECT_EQ(staff::Id16Hex(e->account_id), owner.account_id);
      prev = staff::EntryHash(*raw);
      out.push_back(*e);
    }
    EXPECT_EQ(j.value("length", uint64_t{0}), out.size());
    return out;
  }

  // The newest entry must be a denial of `action` by sam (support) naming `grant_id` and
  // with `why` in its detail.
  void ExpectDeniedEntry(const TestAccount& owner, const std::string& action, const std::string& why,
                         const staff::Id16& grant_id = {}) {
    const auto log = Log(owner);
    ASSERT_FALSE(log.empty());
    const staff::LogEntry& e = log.back();
    EXPECT_EQ(e.action, action);
    EXPECT_EQ(e.outcome, staff::Outcome::kDenied);
    EXPECT_EQ(e.actor_kind, staff::ActorKind::kStaff);
    EXPECT_EQ(e.actor_name, "sam");
    EXPECT_EQ(e.role, "support");
    EXPECT_EQ(e.reason, "ticket 4711");
    EXPECT_EQ(e.grant_id, grant_id);
    EXPECT_NE(e.detail.find(why), std::string::npos) << e.detail;
  }

  std::unique_ptr<store::SqliteStaffStore> staff_;
  std::unique_ptr<AppendFailingStaffStore> logged_store_;  // what the Api uses
  std::string support_token_;
  std::string admin_token_;
  TestAccount alice_;
  TestAccount bob_;
};

TEST_F(StaffApiTest, EveryStaffRouteRefusesCallersWithoutAStaffSession) {
  const std::string unknown_staff = RandomHex(32);
  for (const std::string& verb : kAccountVerbs) {
    SCOPED_TRACE(verb);
    EXPECT_EQ(Staff(verb, "", alice_).status, 401);
    // A user's device session is not a staff session, even for the user's own account.
    Response user = Staff(verb, alice_.token, alice_);
    EXPECT_EQ(user.status, 401);
    EXPECT_EQ(ErrorCode(user), "UNAUTHENTICATED");
    EXPECT_EQ(Staff(verb, unknown_staff, alice_).status, 401);
    // Check (the preflight before the body is read) refuses them too.
    const Preflight pre = api_->Check("POST", "/v1/staff/" + verb, "Bearer " + alice_.token, 10);
    ASSERT_TRUE(pre.reject.has_value());
    EXPECT_EQ(pre.reject->status, 401);
  }
  EXPECT_EQ(Send("POST", "/v1/staff/logout", {}, alice_.token).status, 401);
  // And a staff session is no user session.
  EXPECT_EQ(Send("GET", "/v1/account", {}, support_token_).status, 401);
  EXPECT_EQ(Send("GET", "/v1/log", {}, support_token_).status, 401);
  // None of it was attributable to staff, so nothing was logged.
  EXPECT_TRUE(Log(alice_).empty());
  EXPECT_FALSE(meta_->GetAccount(alice_.account_id)->locked);
}

TEST_F(StaffApiTest, ExpiredLoggedOutAndDisabledStaffSessionsAreRefused) {
  ASSERT_EQ(Staff("lookup", support_token_, alice_).status, 200);
  now_ += kStaffSessionTtl + 1;
  EXPECT_EQ(Staff("lookup", support_token_, alice_).status, 401);

  const std::string again = StaffLogin("sam2", "support");
  ASSERT_EQ(Staff("lookup", again, alice_).status, 200);
  EXPECT_EQ(Send("POST", "/v1/staff/logout", {}, again).status, 204);
  EXPECT_EQ(Staff("lookup", again, alice_).status, 401);

  const std::string third = StaffLogin("sam3", "support");
  ASSERT_TRUE(DisableStaff(*staff_, "sam3").ok());
  EXPECT_EQ(Staff("lookup", third, alice_).status, 401);
}

TEST_F(StaffApiTest, RepeatedWrongStaffCredentialsAreRateLimitedWith429) {
  auto credential = AddStaff(*staff_, "eve", "support", now_);
  ASSERT_TRUE(credential.ok()) << credential.status().ToString();
  // The same name with a wrong secret: five refusals, then the limit, even for the right one.
  std::string wrong = *credential;
  wrong.back() = wrong.back() == '0' ? '1' : '0';
  for (int i = 0; i < 5; ++i) {
    EXPECT_EQ(SendJson("POST", "/v1/staff/login", json{{"credential", wrong}}).status, 401) << i;
  }
  Response limited = SendJson("POST", "/v1/staff/login", json{{"credential", *credential}});
  EXPECT_EQ(limited.status, 429) << AsChars(limited.body);
  EXPECT_NE(ErrorMessage(limited).find("too many failed staff logins"), std::string::npos) << ErrorMessage(limited);
  bool retry_after = false;
  for (const auto& [name, value] : limited.headers) retry_after |= name == "Retry-After" && !value.empty();
  EXPECT_TRUE(retry_after);
  // The window passes: the right credential works again.
  now_ += 15 * 60 + 1;
  EXPECT_EQ(SendJson("POST", "/v1/staff/login", json{{"credential", *credential}}).status, 201);
}

TEST_F(StaffApiTest, RepeatedWrongResetCodesAreRateLimitedWith429) {
  auto redeem = [&](const std::string& code) {
    json body{{"email", alice_.email},
              {"code", code},
              {"login",
               {{"salt", B64(crypto::RandomBytes(16))}, {"ops", 2}, {"mem", 16 << 20}, {"verifier", B64(crypto::RandomBytes(32))}}}};
    return SendJson("POST", "/v1/account/login-reset", body);
  };
  for (int i = 0; i < 5; ++i) EXPECT_EQ(redeem(std::string(32, 'a')).status, 401) << i;
  Response limited = redeem(std::string(32, 'b'));
  EXPECT_EQ(limited.status, 429) << AsChars(limited.body);
  EXPECT_NE(ErrorMessage(limited).find("too many wrong reset codes"), std::string::npos) << ErrorMessage(limited);
}

TEST_F(StaffApiTest, EveryAccountVerbNeedsAReason) {
  for (const std::string& verb : kAccountVerbs) {
    SCOPED_TRACE(verb);
    Response missing = Staff(verb, admin_token_, alice_, "");
    EXPECT_EQ(missing.status, 400);
    EXPECT_NE(ErrorMessage(missing).find("reason"), std::string::npos) << ErrorMessage(missing);
    Response too_short = Staff(verb, admin_token_, alice_, "x");
    EXPECT_EQ(too_short.status, 400);
    EXPECT_NE(ErrorMessage(too_short).find("reason"), std::string::npos) << ErrorMessage(too_short);
  }
  // Nothing ran: no reason, no action.
  EXPECT_FALSE(meta_->GetAccount(alice_.account_id)->locked);
  auto reset = staff_->GetResetCode(alice_.account_id, now_);
  EXPECT_EQ(reset.status().code(), StatusCode::kNotFound);
}

TEST_F(StaffApiTest, SupportMayNotLockAndTheRefusalIsLogged) {
  for (const std::string verb : {"lock", "unlock"}) {
    SCOPED_TRACE(verb);
    Response r = Staff(verb, support_token_, alice_);
    EXPECT_EQ(r.status, 403);
    EXPECT_NE(ErrorMessage(r).find("role \"support\""), std::string::npos) << ErrorMessage(r);
    ExpectDeniedEntry(alice_, verb, "role \"support\" may not " + verb);
  }
  EXPECT_FALSE(meta_->GetAccount(alice_.account_id)->locked);

  ASSERT_EQ(Staff("lock", admin_token_, alice_).status, 200);
  EXPECT_TRUE(meta_->GetAccount(alice_.account_id)->locked);
  const auto log = Log(alice_);
  ASSERT_EQ(log.size(), 3u);
  EXPECT_EQ(log.back().action, "lock");
  EXPECT_EQ(log.back().outcome, staff::Outcome::kDone);
  EXPECT_EQ(log.back().actor_name, "ada");
  EXPECT_EQ(log.back().role, "admin");
  EXPECT_TRUE(Log(bob_).empty()) << "another account's log changed";
}

TEST_F(StaffApiTest, TheLockedOwnerStillReadsTheLogButNothingElse) {
  ASSERT_EQ(Staff("lock", admin_token_, alice_).status, 200);
  Response account = Send("GET", "/v1/account", {}, alice_.token);
  EXPECT_EQ(account.status, 423);
  EXPECT_EQ(Send("GET", "/v1/devices", {}, alice_.token).status, 423);
  EXPECT_EQ(Send("GET", "/v1/support/grants", {}, alice_.token).status, 423);
  // The log that explains the lock is readable, and so is the global log.
  const auto log = Log(alice_);
  ASSERT_EQ(log.size(), 1u);
  EXPECT_EQ(log[0].action, "lock");
  EXPECT_EQ(Send("GET", "/v1/log/global", {}, alice_.token).status, 200);
}

TEST_F(StaffApiTest, GrantVerbsWithoutAGrantAreRefusedAndLogged) {
  for (const std::string verb : {"metadata", "restore-trash"}) {
    SCOPED_TRACE(verb);
    Response r = Staff(verb, support_token_, alice_);
    EXPECT_EQ(r.status, 403);
    EXPECT_NE(ErrorMessage(r).find("needs a grant"), std::string::npos) << ErrorMessage(r);
    ExpectDeniedEntry(alice_, verb, "needs a grant");
    Response garbage = Staff(verb, support_token_, alice_, "ticket 4711", "CG1-not-a-grant");
    EXPECT_EQ(garbage.status, 403);
    ExpectDeniedEntry(alice_, verb, "not valid");
  }
}

TEST_F(StaffApiTest, AValidGrantWorksAndItsUseIsLogged) {
  staff::Grant g;
  const std::string code = MakeGrant(alice_, staff::kAllScopes, 3600, true, &g);
  Response meta = Staff("metadata", support_token_, alice_, "ticket 4711", code);
  ASSERT_EQ(meta.status, 200) << AsChars(meta.body);
  EXPECT_EQ(ParseBody(meta).value("grant_id", ""), staff::Id16Hex(g.grant_id));
  Response trash = Staff("restore-trash", support_token_, alice_, "ticket 4711", code);
  ASSERT_EQ(trash.status, 200) << AsChars(trash.body);
  const auto log = Log(alice_);
  ASSERT_EQ(log.size(), 3u);  // grant-create by the owner, then the two uses
  EXPECT_EQ(log[0].action, "grant-create");
  EXPECT_EQ(log[0].actor_kind, staff::ActorKind::kOwner);
  for (size_t i = 1; i < 3; ++i) {
    EXPECT_EQ(log[i].outcome, staff::Outcome::kDone);
    EXPECT_EQ(log[i].grant_id, g.grant_id);
    EXPECT_EQ(log[i].actor_name, "sam");
  }
  EXPECT_EQ(log[1].action, "metadata");
  EXPECT_EQ(log[2].action, "restore-trash");
}

TEST_F(StaffApiTest, ADuplicateGrantIsRefusedPlainlyAndNotLogged) {
  staff::Grant g;
  MakeGrant(alice_, staff::kAllScopes, 3600, true, &g);
  Response again = SendJson("POST", "/v1/support/grants", json{{"grant", B64(g.Encode())}}, alice_.token);
  EXPECT_EQ(again.status, 409) << AsChars(again.body);
  const std::string message = ErrorMessage(again);
  EXPECT_NE(message.find("already registered"), std::string::npos) << message;
  for (const char* engine_text : {"UNIQUE", "constraint", "grants.", "sqlite", "duplicate key"}) {
    EXPECT_EQ(message.find(engine_text), std::string::npos) << message;
  }
  EXPECT_EQ(Log(alice_).size(), 1u);  // the first registration only
}

TEST_F(StaffApiTest, AnExpiredGrantIsRefusedAndLogged) {
  staff::Grant g;
  const std::string code = MakeGrant(alice_, staff::kScopeMetadata, 600, true, &g);
  ASSERT_EQ(Staff("metadata", support_token_, alice_, "ticket 4711", code).status, 200);
  now_ += 600;
  Response r = Staff("metadata", support_token_, alice_, "ticket 4711", code);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(ErrorMessage(r).find("expired"), std::string::npos) << ErrorMessage(r);
  ExpectDeniedEntry(alice_, "metadata", "expired", g.grant_id);
}

TEST_F(StaffApiTest, ARevokedGrantIsRefusedAndLogged) {
  staff::Grant g;
  const std::string code = MakeGrant(alice_, staff::kScopeRestoreTrash, 3600, true, &g);
  ASSERT_EQ(Staff("restore-trash", support_token_, alice_, "ticket 4711", code).status, 200);
  // Only the owner revokes, and only their own grants.
  EXPECT_EQ(Send("DELETE", "/v1/support/grants/" + staff::Id16Hex(g.grant_id), {}, bob_.token).status, 404);
  EXPECT_EQ(Send("DELETE", "/v1/support/grants/" + staff::Id16Hex(g.grant_id), {}, support_token_).status, 401);
  ASSERT_EQ(Send("DELETE", "/v1/support/grants/" + staff::Id16Hex(g.grant_id), {}, alice_.token).status, 204);
  Response r = Staff("restore-trash", support_token_, alice_, "ticket 4711", code);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(ErrorMessage(r).find("revoked"), std::string::npos) << ErrorMessage(r);
  ExpectDeniedEntry(alice_, "restore-trash", "revoked", g.grant_id);
}

TEST_F(StaffApiTest, AGrantForAnotherAccountIsRefusedAndLoggedOnTheTargetAccount) {
  staff::Grant g;
  const std::string bobs = MakeGrant(bob_, staff::kAllScopes, 3600, true, &g);
  const size_t bob_log = Log(bob_).size();
  Response r = Staff("metadata", support_token_, alice_, "ticket 4711", bobs);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(ErrorMessage(r).find("another account"), std::string::npos) << ErrorMessage(r);
  ExpectDeniedEntry(alice_, "metadata", "another account", g.grant_id);
  EXPECT_EQ(Log(bob_).size(), bob_log);
}

TEST_F(StaffApiTest, AGrantForAnotherScopeIsRefusedAndLogged) {
  staff::Grant g;
  const std::string code = MakeGrant(alice_, staff::kScopeMetadata, 3600, true, &g);
  Response r = Staff("restore-trash", support_token_, alice_, "ticket 4711", code);
  EXPECT_EQ(r.status, 403);
  EXPECT_NE(ErrorMessage(r).find("does not cover restore-trash"), std::string::npos) << ErrorMessage(r);
  ExpectDeniedEntry(alice_, "restore-trash", "does not cover restore-trash", g.grant_id);
}

TEST_F(StaffApiTest, AGrantTheOwnerNeverRegisteredIsRefusedAndLogged) {
  staff::Grant g;
  const std::string code = MakeGrant(alice_, staff::kScopeMetadata, 3600, /*register_it=*/false, &g);
  Response r = Staff("metadata", support_token_, alice_, "ticket 4711", code);
  EXPECT_EQ(r.status, 403);
  ExpectDeniedEntry(alice_, "metadata", "never registered", g.grant_id);
}

TEST_F(StaffApiTest, AWidenedGrantDoesNotMatchTheRegisteredOne) {
  staff::Grant g;
  MakeGrant(alice_, staff::kScopeMetadata, 600, true, &g);
  // Support (or anyone) extends the expiry and re-encodes: the checksum is fine, but the
  // grant no longer matches what the owner's device registered (nor its signature).
  g.expires_at += 3600;
  Response r = Staff("metadata", support_token_, alice_, "ticket 4711", staff::FormatGrantCode(g));
  EXPECT_EQ(r.status, 403);
  ExpectDeniedEntry(alice_, "metadata", "does not match", g.grant_id);
}

TEST_F(StaffApiTest, WhenTheLogCannotBeWrittenNothingHappens) {
  staff::Grant g;
  const std::string code = MakeGrant(alice_, staff::kAllScopes, 3600, true, &g);
  const size_t before = Log(alice_).size();
  logged_store_->fail_appends = true;

  auto expect_unavailable = [](const Response& r) {
    EXPECT_EQ(r.status, 503) << AsChars(r.body);
    EXPECT_NE(ErrorMessage(r).find("not performed"), std::string::npos) << ErrorMessage(r);
  };
  Response lock = Staff("lock", admin_token_, alice_);
  expect_unavailable(lock);
  EXPECT_FALSE(meta_->GetAccount(alice_.account_id)->locked);

  Response reset = Staff("reset-login", support_token_, alice_);
  expect_unavailable(reset);
  EXPECT_FALSE(ParseBody(reset).contains("reset_code"));
  EXPECT_EQ(staff_->GetResetCode(alice_.account_id, now_).status().code(), StatusCode::kNotFound);

  Response lookup = Staff("lookup", support_token_, alice_);
  expect_unavailable(lookup);
  EXPECT_FALSE(ParseBody(lookup).contains("email"));
  Response meta = Staff("metadata", support_token_, alice_, "ticket 4711", code);
  expect_unavailable(meta);
  EXPECT_FALSE(ParseBody(meta).contains("collections"));
  // A refusal that cannot be logged is still a refusal.
  EXPECT_EQ(Staff("metadata", support_token_, alice_).status, 503);

  // The owner's side: a grant is neither registered nor revoked unlogged.
  staff::Grant unregistered;
  MakeGrant(alice_, staff::kScopeMetadata, 3600, /*register_it=*/false, &unregistered);
  expect_unavailable(SendJson("POST", "/v1/support/grants", json{{"grant", B64(unregistered.Encode())}}, alice_.token));
  EXPECT_EQ(staff_->GetGrant(staff::Id16Hex(unregistered.grant_id)).status().code(), StatusCode::kNotFound);
  expect_unavailable(Send("DELETE", "/v1/support/grants/" + staff::Id16Hex(g.grant_id), {}, alice_.token));
  EXPECT_EQ(staff_->GetGrant(staff::Id16Hex(g.grant_id))->revoked_at, 0);

  logged_store_->fail_appends = false;
  EXPECT_EQ(Log(alice_).size(), before);
}

}  // namespace
}  // namespace coffer::server::testing
