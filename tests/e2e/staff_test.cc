// End-to-end tests of the support console (issue 5): real coffer-server, coffer and
// coffer-staff processes. What they pin down:
//   - staff with every verb and a copy of the server's data directory see no plaintext;
//   - every staff action (reads and refusals too) is in `coffer audit` with actor, action
//     and reason; editing or deleting a log row in the database, or cutting the log back
//     below what a device verified, makes `coffer audit` fail with exit code 3;
//   - metadata / restore-trash need a grant for that account and scope that has neither
//     expired nor been revoked, and every refusal is logged;
//   - reset-login lets the owner set a password, which gives no keys: a new device with it is
//     pending until an enrolled device approves it.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <chrono>
#include <nlohmann/json.hpp>
#include <thread>

#include "client/api_client.h"
#include "crypto/password.h"
#include "crypto/secret.h"
#include "crypto/sign.h"
#include "harness.h"

namespace coffer::e2e {
namespace {

using nlohmann::json;

class StaffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>(tmp_.path() / "server");
    server_->Start();
    support_cred_ = AddStaff("sam", "support");
    admin_cred_ = AddStaff("ada", "admin");
    RunResult sam = Staff(support_home_, {"login"}, support_cred_);
    ASSERT_EQ(sam.exit_code, 0) << sam.err;
    RunResult ada = Staff(admin_home_, {"login"}, admin_cred_);
    ASSERT_EQ(ada.exit_code, 0) << ada.err;
  }

  std::string AddStaff(const std::string& name, const std::string& role) {
    RunResult r = RunProcess({COFFER_SERVER, "staff", "add", name, "--role", role, "--data",
                              server_->data_dir().string()},
                             {});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    std::string cred = r.out.substr(0, r.out.find('\n'));
    EXPECT_EQ(cred.rfind("cs1:" + name + ":", 0), 0u) << r.out;
    return cred;
  }

  // Runs coffer-staff; everything it prints is kept for the no-plaintext check.
  RunResult Staff(const fs::path& home, std::vector<std::string> args, const std::string& credential = "") {
    std::vector<std::string> argv = {COFFER_STAFF, "--home", home.string(), "--server", server_->url()};
    argv.insert(argv.end(), args.begin(), args.end());
    std::map<std::string, std::string> env;
    if (!credential.empty()) env["COFFER_STAFF_CREDENTIAL"] = credential;
    RunResult r = RunProcess(argv, env);
    staff_output_ += r.out + r.err;
    return r;
  }
  RunResult Support(std::vector<std::string> args) { return Staff(support_home_, std::move(args)); }
  RunResult Admin(std::vector<std::string> args) { return Staff(admin_home_, std::move(args)); }

  Device NewDevice(const std::string& name) { return Device(tmp_.path() / ("home-" + name), server_->url()); }

  void CreateAccount(const Device& d, const std::string& email) {
    RunResult r = d.Run({"account", "create", "--email", email, "--device-name", "laptop", "--recovery-key-file",
                         (tmp_.path() / (email + ".rk")).string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  std::string Grant(const Device& d, const std::string& scope, const std::string& duration = "2h") {
    RunResult r = d.Run({"--json", "support", "grant", "--scope", scope, "--for", duration, "--reason", "ticket 77"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return JsonField(r.out, "code");
  }

  json Audit(const Device& d, int expect_exit = 0) {
    RunResult r = d.Run({"--json", "audit"});
    EXPECT_EQ(r.exit_code, expect_exit) << r.out << r.err;
    return json::parse(r.out);
  }

  fs::path Db() const { return server_->data_dir() / "meta.sqlite"; }
  std::string AccountId(const std::string& email) {
    // Sql binds parameters as blobs, which never equal TEXT columns: quote the (test) email.
    auto rows = Sql(Db(), "SELECT account_id FROM accounts WHERE email = '" + email + "'");
    return rows.empty() ? "" : rows[0];
  }

  TempDir tmp_;
  std::unique_ptr<Server> server_;
  fs::path support_home_ = tmp_.path() / "staff-sam";
  fs::path admin_home_ = tmp_.path() / "staff-ada";
  std::string support_cred_, admin_cred_;
  std::string staff_output_;
};

// Whether `entries` (coffer audit --json) has one by `actor` with `action`, `outcome`, `reason`.
bool HasEntry(const json& audit, const std::string& actor, const std::string& action, const std::string& outcome,
              const std::string& reason) {
  for (const auto& e : audit["entries"]) {
    if (e["actor"] == actor && e["action"] == action && e["outcome"] == outcome && e["reason"] == reason) return true;
  }
  return false;
}

TEST_F(StaffTest, StaffWithEveryVerbAndTheDataDirectorySeeNoPlaintext) {
  Device laptop = NewDevice("laptop");
  CreateAccount(laptop, "victim@example.org");
  const std::string content_marker = "BLACKMAIL-MATERIAL-7f3a91";
  const std::string name_marker = "secret-diary-QZX81";
  WriteFile(tmp_.path() / "mine" / (name_marker + ".txt"), "Dear diary: " + content_marker + "\n");
  WriteFile(tmp_.path() / "mine" / "photos" / "holiday.jpg", std::string(200000, 'p') + content_marker);
  ASSERT_EQ(laptop.Run({"put", (tmp_.path() / "mine").string(), "/"}).exit_code, 0);
  ASSERT_EQ(laptop.Run({"rm", "/mine/photos"}).exit_code, 0);
  const std::string meta_grant = Grant(laptop, "metadata");
  const std::string trash_grant = Grant(laptop, "restore-trash");

  const std::string email = "victim@example.org";
  EXPECT_EQ(Support({"lookup", email, "--reason", "ticket 1"}).exit_code, 0);
  EXPECT_EQ(Support({"--json", "metadata", email, "--reason", "ticket 1", "--grant", meta_grant}).exit_code, 0);
  EXPECT_EQ(Support({"restore-trash", email, "--reason", "ticket 1", "--grant", trash_grant}).exit_code, 0);
  EXPECT_EQ(Admin({"lock", email, "--reason", "ticket 1"}).exit_code, 0);
  EXPECT_EQ(Admin({"unlock", email, "--reason", "ticket 1"}).exit_code, 0);
  EXPECT_EQ(Support({"--json", "reset-login", email, "--reason", "ticket 1"}).exit_code, 0);
  EXPECT_EQ(Admin({"--json", "lookup", email, "--reason", "ticket 1"}).exit_code, 0);

  TempDir copy;
  CopyTree(server_->data_dir(), copy.path() / "data");
  for (const std::string& marker : {content_marker, name_marker, std::string("Dear diary"), std::string("holiday")}) {
    EXPECT_EQ(staff_output_.find(marker), std::string::npos) << "coffer-staff printed " << marker;
    EXPECT_EQ(FindBytes(copy.path(), marker), "") << marker << " is in the server's data directory";
  }
  // The staff console's own profile holds a session, nothing of the account.
  EXPECT_EQ(FindBytes(support_home_, content_marker), "");
  // Sanity: the markers are findable where they exist (the search works).
  EXPECT_NE(FindBytes(tmp_.path() / "mine", content_marker), "");
}

TEST_F(StaffTest, EveryStaffActionIsInTheAuditWithActorActionAndReason) {
  Device laptop = NewDevice("laptop");
  CreateAccount(laptop, "owner@example.org");
  const std::string email = "owner@example.org";
  const std::string meta_grant = Grant(laptop, "metadata");
  const std::string trash_grant = Grant(laptop, "restore-trash");

  ASSERT_EQ(Support({"lookup", email, "--reason", "ticket 1: cannot log in"}).exit_code, 0);
  ASSERT_EQ(Admin({"lock", email, "--reason", "ticket 2: reported stolen phone"}).exit_code, 0);
  RunResult locked = laptop.Run({"ls", "/"});
  EXPECT_NE(locked.exit_code, 0);
  EXPECT_NE(locked.err.find("locked"), std::string::npos) << locked.err;
  ASSERT_EQ(Admin({"unlock", email, "--reason", "ticket 2: owner verified"}).exit_code, 0);
  RunResult wrong_role = Support({"lock", email, "--reason", "ticket 3: trying"});
  EXPECT_EQ(wrong_role.exit_code, 4);
  EXPECT_NE(wrong_role.err.find("may not lock"), std::string::npos) << wrong_role.err;
  ASSERT_EQ(Support({"reset-login", email, "--reason", "ticket 4: forgot password"}).exit_code, 0);
  ASSERT_EQ(Support({"metadata", email, "--reason", "ticket 5: quota question", "--grant", meta_grant}).exit_code, 0);
  ASSERT_EQ(Support({"restore-trash", email, "--reason", "ticket 6: deleted by mistake", "--grant", trash_grant})
                .exit_code,
            0);

  json audit = Audit(laptop);
  EXPECT_TRUE(HasEntry(audit, "sam", "lookup", "done", "ticket 1: cannot log in"));
  EXPECT_TRUE(HasEntry(audit, "ada", "lock", "done", "ticket 2: reported stolen phone"));
  EXPECT_TRUE(HasEntry(audit, "ada", "unlock", "done", "ticket 2: owner verified"));
  EXPECT_TRUE(HasEntry(audit, "sam", "lock", "denied", "ticket 3: trying"));
  EXPECT_TRUE(HasEntry(audit, "sam", "reset-login", "done", "ticket 4: forgot password"));
  EXPECT_TRUE(HasEntry(audit, "sam", "metadata", "done", "ticket 5: quota question"));
  EXPECT_TRUE(HasEntry(audit, "sam", "restore-trash", "done", "ticket 6: deleted by mistake"));
  for (const auto& e : audit["entries"]) {
    if (e["actor_kind"] == "staff") {
      EXPECT_EQ(e["role"], e["actor"] == "ada" ? "admin" : "support") << e.dump();
    }
  }
  // 2 grant registrations + 7 staff calls.
  EXPECT_EQ(audit["length"], 9u);
  RunResult text = laptop.Run({"audit"});
  EXPECT_EQ(text.exit_code, 0);
  EXPECT_NE(text.out.find("staff ada (admin)  lock  done"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("restore items from your trash"), std::string::npos) << text.out;

  // A staff token is no user token and vice versa.
  const json session = json::parse(ReadFile(support_home_ / "session.json"));
  auto api = client::ApiClient::Create(server_->url());
  ASSERT_TRUE(api.ok());
  (*api)->set_token(session["token"].get<std::string>());
  EXPECT_EQ((*api)->GetAccount().status().code(), StatusCode::kUnauthenticated);
  EXPECT_EQ((*api)->ListCollections().status().code(), StatusCode::kUnauthenticated);
}

TEST_F(StaffTest, EditedDeletedOrCutBackLogRowsAreReported) {
  // Three accounts, one tampering each.
  Device a = NewDevice("a"), b = NewDevice("b"), c = NewDevice("c");
  CreateAccount(a, "edit@example.org");
  CreateAccount(b, "delete@example.org");
  CreateAccount(c, "cut@example.org");
  for (const char* email : {"edit@example.org", "delete@example.org", "cut@example.org"}) {
    for (int i = 0; i < 4; ++i) {
      ASSERT_EQ(Support({"lookup", email, "--reason", "routine check " + std::to_string(i)}).exit_code, 0);
    }
  }
  for (const Device* d : {&a, &b, &c}) {
    json ok = Audit(*d);
    EXPECT_EQ(ok["length"], 4u);
  }

  // Edit: one byte of entry 1's reason.
  const std::string id_a = AccountId("edit@example.org");
  auto rows = Sql(Db(), "SELECT entry FROM access_log WHERE account_id = '" + id_a + "' AND seq = 1");
  ASSERT_EQ(rows.size(), 1u);
  std::string edited = rows[0];
  const size_t at = edited.find("routine check 1");
  ASSERT_NE(at, std::string::npos);
  edited[at] = 'R';
  Sql(Db(), "UPDATE access_log SET entry = ? WHERE account_id = '" + id_a + "' AND seq = 1", {edited});
  RunResult ra = a.Run({"audit"});
  EXPECT_EQ(ra.exit_code, 3) << ra.out << ra.err;
  EXPECT_NE(ra.err.find("entry 1 has a bad signature"), std::string::npos) << ra.err;

  // Delete: entry 2 of the second account.
  const std::string id_b = AccountId("delete@example.org");
  Sql(Db(), "DELETE FROM access_log WHERE account_id = '" + id_b + "' AND seq = 2");
  RunResult rb = b.Run({"audit"});
  EXPECT_EQ(rb.exit_code, 3) << rb.out << rb.err;
  EXPECT_NE(rb.err.find("removed or reordered"), std::string::npos) << rb.err;

  // Cut back below the head the device verified: the last two entries.
  const std::string id_c = AccountId("cut@example.org");
  Sql(Db(), "DELETE FROM access_log WHERE account_id = '" + id_c + "' AND seq >= 2");
  RunResult rc = c.Run({"audit"});
  EXPECT_EQ(rc.exit_code, 3) << rc.out << rc.err;
  EXPECT_NE(rc.err.find("cut back: this device verified 4 entries before, the server now shows 2"),
            std::string::npos)
      << rc.err;
  // A fresh device of the same account, which remembers nothing, still sees the fork in the
  // global log.
  Device c2 = NewDevice("c2");
  fs::path out = tmp_.path() / "link.out";
  pid_t pid = c2.Spawn({"--json", "device", "link", "--email", "cut@example.org", "--name", "c2", "--timeout", "60"},
                       out);
  std::string code;
  for (int i = 0; i < 600 && code.empty(); ++i) {
    code = JsonField(ReadFile(out), "pairing_code");
    if (code.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(code.empty()) << ReadFile(out) << ReadFile(out.string() + ".err");
  ASSERT_EQ(c.Run({"device", "approve", code}).exit_code, 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(out.string() + ".err");
  RunResult rc2 = c2.Run({"audit"});
  EXPECT_EQ(rc2.exit_code, 3) << rc2.out << rc2.err;
  EXPECT_NE(rc2.err.find("forked"), std::string::npos) << rc2.err;
}

TEST_F(StaffTest, GrantVerbsNeedAValidGrantForThatAccountAndScope) {
  Device owner = NewDevice("owner"), other = NewDevice("other");
  CreateAccount(owner, "owner@example.org");
  CreateAccount(other, "other@example.org");
  const std::string email = "owner@example.org";
  auto expect_denied = [&](const std::string& verb, const std::string& grant, const std::string& why,
                           const std::string& reason) {
    std::vector<std::string> args = {verb, email, "--reason", reason};
    if (!grant.empty()) args.insert(args.end(), {"--grant", grant});
    RunResult r = Support(args);
    EXPECT_EQ(r.exit_code, 4) << verb << " " << reason << ": " << r.out << r.err;
    EXPECT_NE(r.err.find(why), std::string::npos) << r.err;
  };

  for (const std::string verb : {"metadata", "restore-trash"}) {
    const std::string other_scope = verb == "metadata" ? "restore-trash" : "metadata";
    expect_denied(verb, "", "needs a grant", "no grant " + verb);
    expect_denied(verb, Grant(other, verb), "another account", "other account " + verb);
    expect_denied(verb, Grant(owner, other_scope), "does not cover", "other scope " + verb);

    const std::string good = Grant(owner, verb);
    RunResult ok = Support({verb, email, "--reason", "valid " + verb, "--grant", good});
    EXPECT_EQ(ok.exit_code, 0) << ok.err;

    RunResult listed = owner.Run({"--json", "support", "list"});
    ASSERT_EQ(listed.exit_code, 0) << listed.err;
    const json grants = json::parse(listed.out)["grants"];
    std::string good_id;
    for (const auto& g : grants) {
      if (g["scopes"] == verb && g["revoked_at"] == 0) {
        good_id = g["grant_id"];  // the newest one (the list is newest first): `good`
        break;
      }
    }
    ASSERT_FALSE(good_id.empty()) << listed.out;
    ASSERT_EQ(owner.Run({"support", "revoke", good_id}).exit_code, 0);
    expect_denied(verb, good, "revoked", "revoked " + verb);

    const std::string short_lived = Grant(owner, verb, "1s");
    // Expiry is a matter of wall-clock time passing; nothing to wait on but the clock.
    std::this_thread::sleep_for(std::chrono::milliseconds(2100));
    expect_denied(verb, short_lived, "expired", "expired " + verb);
  }

  // Every refusal is in the owner's log with its reason; the other account's log has none
  // of them (its grant was refused on the owner's account).
  json audit = Audit(owner);
  for (const std::string verb : {"metadata", "restore-trash"}) {
    for (const std::string what : {"no grant ", "other account ", "other scope ", "revoked ", "expired "}) {
      EXPECT_TRUE(HasEntry(audit, "sam", verb, "denied", what + verb)) << what << verb;
    }
    EXPECT_TRUE(HasEntry(audit, "sam", verb, "done", "valid " + verb));
  }
  json other_audit = Audit(other);
  for (const auto& e : other_audit["entries"]) EXPECT_NE(e["actor_kind"], "staff") << e.dump();
}

TEST_F(StaffTest, ResetLoginGivesNoFileAccessUntilADeviceApproves) {
  Device laptop = NewDevice("laptop");
  CreateAccount(laptop, "forgetful@example.org");
  WriteFile(tmp_.path() / "files" / "note.txt", "only for my devices\n");
  ASSERT_EQ(laptop.Run({"put", (tmp_.path() / "files").string(), "/"}).exit_code, 0);

  RunResult reset = Support({"--json", "reset-login", "forgetful@example.org", "--reason", "ticket 9: lost password"});
  ASSERT_EQ(reset.exit_code, 0) << reset.err;
  const std::string code = JsonField(reset.out, "reset_code");
  ASSERT_FALSE(code.empty()) << reset.out;

  Device fresh = NewDevice("fresh");
  RunResult bad = fresh.Run({"account", "reset-login", "--email", "forgetful@example.org", "--code",
                             "00000000-00000000-00000000-00000000"},
                            {{"COFFER_NEW_PASSWORD", "a brand new password"}});
  EXPECT_EQ(bad.exit_code, 4) << bad.err;
  RunResult redeemed = fresh.Run({"account", "reset-login", "--email", "forgetful@example.org", "--code", code},
                                 {{"COFFER_NEW_PASSWORD", "a brand new password"}});
  ASSERT_EQ(redeemed.exit_code, 0) << redeemed.err;
  // The code is one-time.
  RunResult again = fresh.Run({"account", "reset-login", "--email", "forgetful@example.org", "--code", code},
                              {{"COFFER_NEW_PASSWORD", "another password"}});
  EXPECT_EQ(again.exit_code, 4) << again.err;

  // With the new password, a new device key gets only a pending session: no keys, no data.
  ASSERT_TRUE(crypto::Init().ok());
  auto api = client::ApiClient::Create(server_->url());
  ASSERT_TRUE(api.ok());
  auto params = (*api)->GetLoginParams("forgetful@example.org");
  ASSERT_TRUE(params.ok()) << params.status().ToString();
  crypto::SecretBytes pw = crypto::SecretBytes::FromBytes(AsBytes(std::string("a brand new password")));
  auto verifier = crypto::DerivePasswordKey(pw, params->salt, {params->ops, params->mem});
  ASSERT_TRUE(verifier.ok());
  crypto::SigningKey device_key = crypto::SigningKey::Generate();
  client::LoginRequest login;
  login.email = "forgetful@example.org";
  login.device.id = HexEncode(crypto::RandomBytes(16));
  login.device.sign_pk = device_key.public_key();
  login.device.box_pk = crypto::RandomBytes(32);
  login.device.name = "attacker";
  login.time = static_cast<int64_t>(std::time(nullptr));
  login.signature = device_key.Sign(AsBytes("coffer-login-v1\nforgetful@example.org\n" + login.device.id + "\n" +
                                            std::to_string(login.time)));
  login.verifier = ToBytes(verifier->Reveal(crypto::SecretAccess::Get()));
  auto session = (*api)->Login(login);
  ASSERT_TRUE(session.ok()) << session.status().ToString();
  EXPECT_EQ(session->session_kind, "pending");
  (*api)->set_token(session->token);
  EXPECT_EQ((*api)->GetKeyring().status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ((*api)->GetSealedKey(login.device.id).status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ((*api)->ListCollections().status().code(), StatusCode::kPermissionDenied);
  EXPECT_EQ((*api)->GetRecoveryBlob().status().code(), StatusCode::kPermissionDenied);

  // The fresh profile has nothing until an enrolled device approves it.
  EXPECT_NE(fresh.Run({"get", "/files/note.txt", (tmp_.path() / "early").string()}).exit_code, 0);
  fresh.set_password("a brand new password");
  fs::path out = tmp_.path() / "link.out";
  pid_t pid = fresh.Spawn(
      {"--json", "device", "link", "--email", "forgetful@example.org", "--name", "new", "--timeout", "60"}, out);
  std::string pairing;
  for (int i = 0; i < 600 && pairing.empty(); ++i) {
    pairing = JsonField(ReadFile(out), "pairing_code");
    if (pairing.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ASSERT_FALSE(pairing.empty()) << ReadFile(out) << ReadFile(out.string() + ".err");
  ASSERT_EQ(laptop.Run({"device", "approve", pairing}).exit_code, 0);
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(out.string() + ".err");
  RunResult got = fresh.Run({"get", "/files/note.txt", (tmp_.path() / "late").string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_EQ(ReadFile(tmp_.path() / "late"), "only for my devices\n");

  json audit = Audit(laptop);
  EXPECT_TRUE(HasEntry(audit, "sam", "reset-login", "done", "ticket 9: lost password"));
  bool used = false;
  for (const auto& e : audit["entries"]) used |= e["action"] == "reset-login-used";
  EXPECT_TRUE(used);
}

// The owner of a LOCKED account can still read the log that explains the lock (the log
// routes stay open on a locked account), while everything else stays locked.
TEST_F(StaffTest, AuditWorksOnALockedAccountAndNothingElseDoes) {
  Device laptop = NewDevice("laptop");
  const std::string email = "locked@example.org";
  CreateAccount(laptop, email);
  ASSERT_EQ(Support({"lookup", email, "--reason", "ticket 10: suspicious logins"}).exit_code, 0);
  ASSERT_EQ(Audit(laptop)["length"], 1u);
  // A session the server dropped is replaced (device-key login) while the account is open.
  Sql(Db(), "DELETE FROM sessions WHERE account_id = '" + AccountId(email) + "'");
  ASSERT_EQ(Audit(laptop)["length"], 1u);
  ASSERT_EQ(Admin({"lock", email, "--reason", "ticket 10: account takeover suspected"}).exit_code, 0);

  RunResult ls = laptop.Run({"ls", "/"});
  EXPECT_NE(ls.exit_code, 0);
  EXPECT_NE(ls.err.find("locked"), std::string::npos) << ls.err;
  RunResult grant = laptop.Run({"support", "grant", "--scope", "metadata", "--for", "1h"});
  EXPECT_NE(grant.exit_code, 0) << grant.out;

  json audit = Audit(laptop);
  EXPECT_EQ(audit["length"], 2u);
  EXPECT_TRUE(HasEntry(audit, "ada", "lock", "done", "ticket 10: account takeover suspected"));
  RunResult text = laptop.Run({"audit"});
  EXPECT_EQ(text.exit_code, 0) << text.err;
  EXPECT_NE(text.out.find("ticket 10: account takeover suspected"), std::string::npos) << text.out;
  // Still locked afterwards: reading the log did not open anything else.
  EXPECT_NE(laptop.Run({"ls", "/"}).exit_code, 0);

  // The head verified while locked is remembered: cutting the log back is reported.
  const std::string account = AccountId(email);
  ASSERT_FALSE(account.empty());
  Sql(Db(), "DELETE FROM access_log WHERE account_id = '" + account + "' AND seq = 1");
  RunResult cut = laptop.Run({"audit"});
  EXPECT_EQ(cut.exit_code, 3) << cut.out << cut.err;

  // A locked account gets no new session: without a live one, audit says what to do.
  Sql(Db(), "DELETE FROM sessions WHERE account_id = '" + account + "'");
  RunResult no_session = laptop.Run({"audit"});
  EXPECT_NE(no_session.exit_code, 0);
  EXPECT_NE(no_session.err.find("ask support to unlock"), std::string::npos) << no_session.err;
}

}  // namespace
}  // namespace coffer::e2e
