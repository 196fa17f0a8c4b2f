// Authorization of EVERY endpoint (issue 6), driven through Api::Check and Api::Handle on real
// stores, without a network.
//
// The route tables are data (Api::RouteTable, StaffApi::RouteTable). This file keeps its own
// table, RouteSpecs(): for each route the access level it must have, why it is public if it
// is, and how to build a request for it. Every test below walks the server's tables, not this
// one, and `EveryRouteOfTheServerIsCoveredHere` fails as soon as a route is added, removed or
// changes its access level without this file saying so.
//
// Each non-public route must refuse: no session, an unknown or malformed token, a staff token
// on a user route (and a user token on a staff route), an expired session, a session of a
// revoked device (sessions deleted, or left over by a crash), a pending device where full
// access is required, and another account's session, which must not see or change anything
// of the first account: what it gets back for the first account's ids is exactly what it
// gets for ids nobody ever used, and contains none of the first account's bytes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "chunk/pack_wire.h"
#include "crypto/hash.h"
#include "crypto/sign.h"
#include "server/handlers.h"
#include "server/server_test_util.h"
#include "server/staff_admin.h"
#include "server/staff_api.h"
#include "staff/formats/staff_formats.h"
#include "store/sqlite/sqlite_staff_store.h"

namespace coffer::server::testing {
namespace {

constexpr std::string_view kMarker = "ALICE-SECRET";

// The ids a request names: the victim's, or fresh ones nobody has used.
struct Ids {
  std::string account = RandomHex(16);
  std::string email = "nobody-" + RandomHex(4) + "@example.com";
  std::string device = RandomHex(16);
  std::string collection = RandomHex(16);
  std::string chunk = RandomHex(32);
  std::string pairing = RandomHex(16);
  std::string grant = RandomHex(16);
};

// One concrete request for a route.
struct Probe {
  std::string method;
  std::string target;
  Bytes body;
  std::string content_sha256;
};

using BodyFn = std::function<Bytes(const Ids& ids, const TestDevice& signer, int64_t now)>;

struct RouteSpec {
  std::string access;  // as RouteInfo::access
  std::string why_public;
  BodyFn body;  // null: the route takes no body
};

std::string RouteKey(std::string_view method, std::string_view pattern) {
  return std::string(method) + " " + std::string(pattern);
}

Bytes JsonBytes(const json& j) { return ToBytes(j.dump()); }

// The test's own account of every route. Public routes say why they are public.
const std::map<std::string, RouteSpec>& RouteSpecs() {
  static auto* specs = new std::map<std::string, RouteSpec>{
      // ---- user routes (src/server/api.cc) ----
      {"GET /v1/health",
       {"public", "liveness probe for load balancers; answers only ok and the version", nullptr}},
      {"POST /v1/login/params",
       {"public",
        "a client needs the KDF salt before it can log in; unknown emails get a stable fake salt so this "
        "does not reveal which emails have accounts",
        [](const Ids& ids, const TestDevice&, int64_t) {
          return JsonBytes({{"email", ids.email}});
        }}},
      {"POST /v1/accounts",
       {"public", "sign-up: no session can exist before the account does; proven by the device signature",
        [](const Ids& ids, const TestDevice&, int64_t) {
          return JsonBytes({{"account_id", ids.account}});
        }}},
      {"POST /v1/sessions",
       {"public", "login itself: the credential is the device signature plus a verifier, rate-limited",
        [](const Ids& ids, const TestDevice&, int64_t) {
          return JsonBytes({{"email", ids.email}});
        }}},
      {"DELETE /v1/sessions/current", {"any-session", "", nullptr}},
      {"GET /v1/account", {"any-session", "", nullptr}},
      {"GET /v1/account/recovery", {"full-session", "", nullptr}},
      {"PUT /v1/account/login",
       {"full-session", "",
        [](const Ids&, const TestDevice&, int64_t) {
          return JsonBytes({{"salt", B64(crypto::RandomBytes(16))},
                            {"ops", 2},
                            {"mem", 16 << 20},
                            {"verifier", B64(crypto::RandomBytes(32))}});
        }}},
      {"PUT /v1/account/recovery",
       {"full-session", "",
        [](const Ids&, const TestDevice&, int64_t) {
          return JsonBytes(
              {{"blob", B64("attacker recovery blob")}, {"verifier", B64(crypto::RandomBytes(32))}});
        }}},
      {"GET /v1/devices", {"full-session", "", nullptr}},
      {"GET /v1/chain", {"full-session", "", nullptr}},
      {"POST /v1/chain",
       {"full-session", "",
        [](const Ids& ids, const TestDevice&, int64_t) {
          return JsonBytes({{"seq", 1},
                            {"entry", B64("attacker revokes " + ids.device)},
                            {"effect", {{"action", "revoke"}, {"device_id", ids.device}}}});
        }}},
      {"PUT /v1/keys/sealed/{device_id}",
       {"full-session", "",
        [](const Ids&, const TestDevice&, int64_t) {
          return JsonBytes({{"epoch", 9}, {"blob", B64("attacker sealed key")}});
        }}},
      {"GET /v1/keys/sealed/{device_id}", {"full-session", "", nullptr}},
      {"GET /v1/keyring", {"full-session", "", nullptr}},
      {"PUT /v1/keyring",
       {"full-session", "",
        [](const Ids&, const TestDevice&, int64_t) {
          return JsonBytes({{"version", 3}, {"blob", B64("attacker keyring")}});
        }}},
      {"GET /v1/collections", {"full-session", "", nullptr}},
      {"GET /v1/collections/{collection_id}/revisions", {"full-session", "", nullptr}},
      {"PUT /v1/collections/{collection_id}/revisions/{n}",
       {"full-session", "",
        [](const Ids&, const TestDevice&, int64_t) { return ToBytes("attacker revision"); }}},
      {"GET /v1/collections/{collection_id}/checkpoint", {"full-session", "", nullptr}},
      {"PUT /v1/collections/{collection_id}/checkpoint/{n}",
       {"full-session", "",
        [](const Ids&, const TestDevice&, int64_t) { return ToBytes("attacker checkpoint"); }}},
      {"PUT /v1/chunks/{chunk_id}",
       {"full-session", "",
        [](const Ids&, const TestDevice&, int64_t) { return ToBytes("attacker chunk"); }}},
      {"HEAD /v1/chunks/{chunk_id}", {"full-session", "", nullptr}},
      {"GET /v1/chunks/{chunk_id}", {"full-session", "", nullptr}},
      {"POST /v1/chunks/missing",
       {"full-session", "",
        [](const Ids& ids, const TestDevice&, int64_t) {
          return JsonBytes({{"ids", {ids.chunk}}});
        }}},
      {"POST /v1/chunks/pack",
       {"full-session", "",
        [](const Ids& ids, const TestDevice&, int64_t) {
          const Bytes data = ToBytes("attacker chunk in a pack");
          chunk::RawId id{}, sha{};
          const Bytes raw_id = *HexDecode(ids.chunk);
          std::copy(raw_id.begin(), raw_id.end(), id.begin());
          const Bytes digest = crypto::Sha256(data);
          std::copy(digest.begin(), digest.end(), sha.begin());
          chunk::PackWriter w;
          w.Add(id, sha, data);
          return w.Finish();
        }}},
      {"POST /v1/chunks/fetch",
       {"full-session", "",
        [](const Ids& ids, const TestDevice&, int64_t) {
          return JsonBytes({{"ids", {ids.chunk}}});
        }}},
      {"GET /v1/chunks", {"full-session", "", nullptr}},
      {"POST /v1/gc",
       {"full-session", "",
        [](const Ids&, const TestDevice&, int64_t) {
          return JsonBytes({{"live", json::array()}});
        }}},
      {"PUT /v1/pairing/{pairing_id}",
       {"any-session", "",
        [](const Ids&, const TestDevice&, int64_t) { return ToBytes("attacker pairing"); }}},
      {"GET /v1/pairing/{pairing_id}", {"full-session", "", nullptr}},
      {"PUT /v1/pairing/{pairing_id}/response",
       {"full-session", "",
        [](const Ids&, const TestDevice&, int64_t) { return ToBytes("attacker pairing response"); }}},
      {"GET /v1/pairing/{pairing_id}/response", {"any-session", "", nullptr}},

      // ---- staff module (src/server/staff_api.cc) ----
      {"POST /v1/staff/login",
       {"public", "staff log in with the operator-issued credential in the body; refusals are rate-limited",
        [](const Ids&, const TestDevice&, int64_t) {
          return JsonBytes({{"credential", "cs1:nobody:x"}});
        }}},
      {"POST /v1/account/login-reset",
       {"public",
        "the one-time reset code in the body is the credential (its holder has no session: they forgot the "
        "password); wrong codes are rate-limited per email",
        [](const Ids& ids, const TestDevice&, int64_t) {
          return JsonBytes({{"email", ids.email}, {"code", "0000"}});
        }}},
      {"POST /v1/staff/logout", {"staff", "", nullptr}},
      {"POST /v1/support/grants",
       {"owner", "",
        [](const Ids& ids, const TestDevice& signer, int64_t now) {
          staff::Grant g;
          g.grant_id = *staff::Id16FromHex(ids.grant);
          g.account_id = *staff::Id16FromHex(ids.account);
          g.device_id = *staff::Id16FromHex(signer.id);
          g.scopes = staff::kScopeMetadata;
          g.issued_at = now;
          g.expires_at = now + 3600;
          g.note = "attacker grant";
          staff::SignGrant(g, signer.key);
          return JsonBytes({{"grant", B64(g.Encode())}});
        }}},
      {"GET /v1/support/grants", {"owner", "", nullptr}},
      {"DELETE /v1/support/grants/{grant_id}", {"owner", "", nullptr}},
      {"GET /v1/log", {"owner-even-if-locked", "", nullptr}},
      {"GET /v1/log/global", {"owner-even-if-locked", "", nullptr}},
  };
  // The account verbs of staff all take {email, reason} for the account they act on.
  static bool verbs_added = [] {
    for (const char* verb : {"lookup", "lock", "unlock", "reset-login", "metadata", "restore-trash"}) {
      specs->emplace(std::string("POST /v1/staff/") + verb,
                     RouteSpec{"staff", "", [](const Ids& ids, const TestDevice&, int64_t) {
                                 return JsonBytes({{"email", ids.email}, {"reason", "ticket 1"}});
                               }});
    }
    return true;
  }();
  (void)verbs_added;
  return *specs;
}

// What the server serves, as its tables say.
std::vector<RouteInfo> ServedRoutes() {
  std::vector<RouteInfo> all = Api::RouteTable();
  for (const RouteInfo& r : StaffApi::RouteTable()) all.push_back(r);
  return all;
}

// The served routes with the access level THIS file requires of them, so that a route whose
// level is lowered in the table is still tested as it should be. A route without an entry in
// RouteSpecs() is left out here; EveryRouteOfTheServerIsCoveredHere fails for it.
std::vector<RouteInfo> AllRoutes() {
  std::vector<RouteInfo> out;
  for (const RouteInfo& r : ServedRoutes()) {
    auto spec = RouteSpecs().find(RouteKey(r.method, r.pattern));
    if (spec != RouteSpecs().end()) out.push_back(RouteInfo{r.method, r.pattern, spec->second.access});
  }
  return out;
}

int NonPublicRouteCount() {
  int n = 0;
  for (const RouteInfo& r : ServedRoutes()) n += r.access != "public";
  return n;
}

bool IsUserSessionRoute(const std::string& access) {
  return access == "any-session" || access == "full-session" || access == "owner" ||
         access == "owner-even-if-locked";
}

// `pattern` with its {captures} replaced by `ids`; "" if it has a capture this file does not know.
std::string Fill(std::string_view pattern, const Ids& ids) {
  const std::map<std::string, std::string> values{
      {"{device_id}", ids.device},   {"{collection_id}", ids.collection}, {"{chunk_id}", ids.chunk},
      {"{pairing_id}", ids.pairing}, {"{grant_id}", ids.grant},           {"{n}", "1"}};
  std::string out(pattern);
  for (const auto& [name, value] : values) {
    for (size_t at = out.find(name); at != std::string::npos; at = out.find(name))
      out.replace(at, name.size(), value);
  }
  return out.find('{') == std::string::npos ? out : "";
}

class ApiAuthzTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    auto staff = store::SqliteStaffStore::Open(dir_ + "/meta.sqlite");
    ASSERT_TRUE(staff.ok()) << staff.status().ToString();
    staff_ = std::move(staff).value();
    ApiOptions options;
    options.gc_grace_seconds = gc_grace_;
    options.clock = [this] { return now_; };
    options.staff = staff_.get();
    options.log_key_file = dir_ + "/staff-log.key";
    auto api = Api::Create(*meta_, *blobs_, std::move(options));
    ASSERT_TRUE(api.ok()) << api.status().ToString();
    api_ = std::move(api).value();

    auto credential = AddStaff(*staff_, "sam", "admin", now_);
    ASSERT_TRUE(credential.ok()) << credential.status().ToString();
    Response login = SendJson("POST", "/v1/staff/login", json{{"credential", *credential}});
    ASSERT_EQ(login.status, 201) << AsChars(login.body);
    staff_token_ = ParseBody(login).value("token", "");

    FillAlice();
  }

  void TearDown() override {
    api_.reset();
    staff_.reset();
    ApiTest::TearDown();
  }

  Bytes Secret(const std::string& what) {
    Bytes b = ToBytes(std::string(kMarker) + " " + what);
    alice_blobs_.push_back(b);
    return b;
  }

  // Alice gets one of everything the server keeps for an account, each blob marked.
  void FillAlice() {
    alice_ = CreateAccount("alice@example.com");
    alice_ids_.account = alice_.account_id;
    alice_ids_.email = alice_.email;
    alice_ids_.device = alice_.device.id;
    const std::string& t = alice_.token;

    Response tablet_login = Login(alice_.email, tablet_, "password", alice_.verifier);
    ASSERT_EQ(tablet_login.status, 201) << AsChars(tablet_login.body);
    ASSERT_EQ(SendJson("POST", "/v1/chain",
                       json{{"seq", 1},
                            {"entry", B64(Secret("chain entry 1"))},
                            {"effect", {{"action", "add"}, {"device", tablet_.Json()}}}},
                       t)
                  .status,
              201);
    ASSERT_EQ(SendJson("PUT", "/v1/keys/sealed/" + alice_.device.id,
                       json{{"epoch", 2}, {"blob", B64(Secret("sealed key"))}}, t)
                  .status,
              204);
    ASSERT_EQ(
        SendJson("PUT", "/v1/keyring", json{{"version", 2}, {"blob", B64(Secret("keyring"))}}, t).status,
        204);
    ASSERT_EQ(SendJson("PUT", "/v1/account/recovery", json{{"blob", B64(Secret("recovery blob"))}}, t).status,
              204);
    alice_chunk_ = Secret("chunk");
    ASSERT_EQ(PutChunk(t, alice_ids_.chunk, alice_chunk_).status, 201);
    const std::string base = "/v1/collections/" + alice_ids_.collection;
    ASSERT_EQ(Send("PUT", base + "/revisions/1", Secret("revision 1"), t).status, 201);
    ASSERT_EQ(Send("PUT", base + "/revisions/2", Secret("revision 2"), t).status, 201);
    ASSERT_EQ(Send("PUT", base + "/checkpoint/2", Secret("checkpoint"), t).status, 204);

    // Past the GC grace period, so that a GC scoped to the wrong account would delete
    // Alice's chunk instead of sparing it as young.
    now_ += gc_grace_ + 1;
    // Pairing messages last 15 minutes: put after the jump.
    ASSERT_EQ(Send("PUT", "/v1/pairing/" + alice_ids_.pairing, Secret("pairing request"), t).status, 201);
    ASSERT_EQ(
        Send("PUT", "/v1/pairing/" + alice_ids_.pairing + "/response", Secret("pairing response"), t).status,
        201);
    const Bytes grant = RouteSpecs().at("POST /v1/support/grants").body(alice_ids_, alice_.device, now_);
    ASSERT_EQ(Send("POST", "/v1/support/grants", grant, t).status, 201);
  }

  Probe MakeProbe(const RouteInfo& route, const Ids& ids, const TestDevice& signer) {
    const RouteSpec& spec = RouteSpecs().at(RouteKey(route.method, route.pattern));
    Probe p{std::string(route.method), Fill(route.pattern, ids), {}, ""};
    if (spec.body) p.body = spec.body(ids, signer, now_);
    if (route.method == "PUT" && route.pattern == "/v1/chunks/{chunk_id}") {
      p.content_sha256 = HexEncode(crypto::Sha256(p.body));
    }
    return p;
  }

  // Sends `probe` through the preflight and, if that lets it through, the full handler, as
  // the HTTP layer does. `authorization` is the raw header value.
  Response SendRaw(const Probe& probe, const std::string& authorization) {
    const Preflight pre = api_->Check(probe.method, probe.target, authorization, probe.body.size());
    Request r;
    r.method = probe.method;
    r.target = probe.target;
    r.authorization = authorization;
    r.content_sha256 = probe.content_sha256;
    r.body = probe.body;
    r.peer = peer_;
    Response handled = api_->Handle(r);
    // The preflight must never let through what the handler refuses for want of a session,
    // nor refuse differently.
    if (pre.reject && (pre.reject->status == 401 || pre.reject->status == 403)) {
      EXPECT_EQ(pre.reject->status, handled.status) << "preflight and handler disagree";
    }
    if (handled.status == 401 || handled.status == 403) {
      EXPECT_TRUE(pre.reject.has_value()) << "the preflight lets a refused caller send a body";
    }
    return handled;
  }

  // The route must refuse `authorization` with `status` (and the matching error code).
  void ExpectRefused(const RouteInfo& route, const std::string& authorization, int status,
                     const TestDevice& signer) {
    const Probe p = MakeProbe(route, alice_ids_, signer);
    const Response r = SendRaw(p, authorization);
    EXPECT_EQ(r.status, status) << p.method << " " << p.target << ": " << AsChars(r.body);
    EXPECT_EQ(ErrorCode(r), status == 401 ? "UNAUTHENTICATED" : "PERMISSION_DENIED")
        << p.method << " " << p.target;
    ExpectNothingOfAlice(r, p);
  }

  void ExpectNothingOfAlice(const Response& r, const Probe& p) {
    const std::string body = std::string(AsChars(r.body));
    EXPECT_EQ(body.find(kMarker), std::string::npos) << p.method << " " << p.target << " leaked: " << body;
    EXPECT_EQ(body.find(alice_.email), std::string::npos)
        << p.method << " " << p.target << " leaked the email";
    for (const Bytes& blob : alice_blobs_) {
      EXPECT_EQ(body.find(B64(blob)), std::string::npos)
          << p.method << " " << p.target << " leaked " << AsChars(blob);
    }
  }

  // Everything Alice's device can read of her account, and what the store holds about her
  // login, in one string: equal before and after means nothing was changed or deleted.
  std::string AliceState() {
    Send("GET", "/v1/account", {}, alice_.token);  // settles last_activity first
    const std::string base = "/v1/collections/" + alice_ids_.collection;
    std::string out;
    for (const auto& [method, target] : std::vector<std::pair<std::string, std::string>>{
             {"GET", "/v1/account"},
             {"GET", "/v1/account/recovery"},
             {"GET", "/v1/devices"},
             {"GET", "/v1/chain"},
             {"GET", "/v1/keys/sealed/" + alice_.device.id},
             {"GET", "/v1/keys/sealed/" + tablet_.id},
             {"GET", "/v1/keyring"},
             {"GET", "/v1/collections"},
             {"GET", base + "/revisions"},
             {"GET", base + "/checkpoint"},
             {"GET", "/v1/chunks"},
             {"GET", "/v1/chunks/" + alice_ids_.chunk},
             {"GET", "/v1/pairing/" + alice_ids_.pairing},
             {"GET", "/v1/pairing/" + alice_ids_.pairing + "/response"},
             {"GET", "/v1/support/grants"},
             {"GET", "/v1/log"}}) {
      const Response r = Send(method, target, {}, alice_.token);
      out += method + " " + target + " -> " + std::to_string(r.status) + " " + std::string(AsChars(r.body)) +
             "\n";
    }
    auto account = meta_->GetAccount(alice_.account_id);
    EXPECT_TRUE(account.ok());
    if (account.ok()) {
      out += "login " + account->login_hash + " " + HexEncode(account->login_salt) + " recovery " +
             account->recovery_hash + " locked " + std::to_string(account->locked) + " used " +
             std::to_string(account->used_bytes) + "\n";
    }
    return out;
  }

  std::unique_ptr<store::SqliteStaffStore> staff_;
  std::string staff_token_;
  TestAccount alice_;
  TestDevice tablet_;  // Alice's second device, active
  Ids alice_ids_;
  std::vector<Bytes> alice_blobs_;
  Bytes alice_chunk_;
};

TEST_F(ApiAuthzTest, EveryRouteOfTheServerIsCoveredHere) {
  std::set<std::string> served;
  for (const RouteInfo& r : ServedRoutes()) {
    const std::string key = RouteKey(r.method, r.pattern);
    SCOPED_TRACE(key);
    EXPECT_TRUE(served.insert(key).second) << "listed twice in the route tables";
    auto spec = RouteSpecs().find(key);
    if (spec == RouteSpecs().end()) {
      ADD_FAILURE()
          << "route " << key << " (access " << r.access
          << ") has no entry in RouteSpecs() of api_authz_test.cc: add one, with the access level it "
             "must have, so that its authorization is tested";
      continue;
    }
    EXPECT_EQ(r.access, spec->second.access) << "the route's access level changed; is that intended?";
    EXPECT_EQ(r.access == "public", !spec->second.why_public.empty())
        << "public routes, and only they, say why they are public";
    EXPECT_FALSE(Fill(r.pattern, alice_ids_).empty()) << "the pattern has a capture Fill() does not know";
    // The probe reaches this route and no other: the router prefers literal segments, so a
    // probe of "/v1/chunks/{chunk_id}" must not be "/v1/chunks/missing".
    const Probe p = MakeProbe(r, alice_ids_, alice_.device);
    const Preflight pre = api_->Check(p.method, p.target, "", p.body.size());
    if (r.access == "public") {
      EXPECT_FALSE(pre.reject.has_value()) << AsChars(pre.reject->body);
    } else {
      ASSERT_TRUE(pre.reject.has_value());
      EXPECT_EQ(pre.reject->status, 401) << AsChars(pre.reject->body);
    }
  }
  for (const auto& [key, spec] : RouteSpecs()) {
    EXPECT_TRUE(served.count(key)) << key << " is in RouteSpecs() but the server has no such route";
  }
}

TEST_F(ApiAuthzTest, EveryNonPublicRouteRefusesMissingForeignAndMalformedCredentials) {
  const std::string before = AliceState();
  std::string alice_upper = alice_.token;
  for (char& c : alice_upper) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  const std::vector<std::pair<std::string, std::string>> bogus{
      {"no Authorization header", ""},
      {"an unknown token", "Bearer " + RandomHex(32)},
      {"a short token", "Bearer " + alice_.token.substr(0, 63)},
      {"a token with trailing bytes", "Bearer " + alice_.token + "0"},
      {"an upper-case copy of a valid token", "Bearer " + alice_upper},
      {"another scheme", "Basic " + alice_.token},
      {"no scheme", alice_.token},
      {"garbage", "Bearer \x01\xff not a token"},
  };
  int checked = 0;
  for (const RouteInfo& r : AllRoutes()) {
    if (r.access == "public") continue;
    SCOPED_TRACE(RouteKey(r.method, r.pattern));
    for (const auto& [what, header] : bogus) {
      SCOPED_TRACE(what);
      ExpectRefused(r, header, 401, alice_.device);
    }
    // Staff and user tokens are different kinds: neither opens the other's routes.
    if (IsUserSessionRoute(std::string(r.access))) {
      SCOPED_TRACE("a staff token on a user route");
      ExpectRefused(r, "Bearer " + staff_token_, 401, alice_.device);
    } else {
      ASSERT_EQ(r.access, "staff");
      SCOPED_TRACE("a user's device session on a staff route");
      ExpectRefused(r, "Bearer " + alice_.token, 401, alice_.device);
    }
    ++checked;
  }
  EXPECT_EQ(checked, NonPublicRouteCount());
  EXPECT_EQ(AliceState(), before);
}

TEST_F(ApiAuthzTest, ExpiredSessionsAreRefusedOnEveryRoute) {
  TestDevice laptop;
  Response pending = Login(alice_.email, laptop, "password", alice_.verifier);
  ASSERT_EQ(pending.status, 201);
  const std::string pending_token = ParseBody(pending)["token"];
  const std::string device_token = alice_.token;
  // Valid one second before: expiry is what refuses them below.
  now_ += kPendingSessionTtl - 1;
  ASSERT_EQ(Send("GET", "/v1/account", {}, pending_token).status, 200);
  now_ += 2;
  for (const RouteInfo& r : AllRoutes()) {
    if (r.access == "public") continue;
    SCOPED_TRACE(RouteKey(r.method, r.pattern));
    ExpectRefused(r, "Bearer " + pending_token, 401, laptop);
  }
  now_ += kDeviceSessionTtl;
  for (const RouteInfo& r : AllRoutes()) {
    if (r.access == "public") continue;
    SCOPED_TRACE(RouteKey(r.method, r.pattern));
    ExpectRefused(r, "Bearer " + device_token, 401, alice_.device);
  }
  // The staff session expires too (8 h, long past), and opens nothing.
  for (const RouteInfo& r : AllRoutes()) {
    if (r.access != "staff") continue;
    SCOPED_TRACE(RouteKey(r.method, r.pattern));
    ExpectRefused(r, "Bearer " + staff_token_, 401, alice_.device);
  }
}

TEST_F(ApiAuthzTest, RevokedDevicesAreRefusedOnEveryRoute) {
  // The tablet is active and logs in with its device key; a phone the same way.
  Response tablet = Login(alice_.email, tablet_, "", {});
  ASSERT_EQ(tablet.status, 201) << AsChars(tablet.body);
  const std::string tablet_token = ParseBody(tablet)["token"];
  TestDevice phone;
  ASSERT_EQ(Login(alice_.email, phone, "password", alice_.verifier).status, 201);
  ASSERT_EQ(SendJson("POST", "/v1/chain",
                     json{{"seq", 2},
                          {"entry", B64("add phone")},
                          {"effect", {{"action", "add"}, {"device", phone.Json()}}}},
                     alice_.token)
                .status,
            201);
  Response phone_login = Login(alice_.email, phone, "", {});
  ASSERT_EQ(phone_login.status, 201);
  const std::string phone_token = ParseBody(phone_login)["token"];
  ASSERT_EQ(Send("GET", "/v1/keyring", {}, tablet_token).status, 200);
  ASSERT_EQ(Send("GET", "/v1/keyring", {}, phone_token).status, 200);

  // The tablet is revoked through the chain: its sessions are deleted.
  ASSERT_EQ(SendJson("POST", "/v1/chain",
                     json{{"seq", 3},
                          {"entry", B64("revoke tablet")},
                          {"effect", {{"action", "revoke"}, {"device_id", tablet_.id}}}},
                     alice_.token)
                .status,
            201);
  // The phone is marked revoked but its session row survives (a crash between the two
  // steps of a revocation): the device check must refuse it anyway.
  auto phone_record = meta_->GetDevice(alice_.account_id, phone.id);
  ASSERT_TRUE(phone_record.ok());
  phone_record->status = store::DeviceStatus::kRevoked;
  ASSERT_TRUE(meta_->PutDevice(*phone_record).ok());

  const std::string before = AliceState();
  for (const RouteInfo& r : AllRoutes()) {
    if (r.access == "public") continue;
    SCOPED_TRACE(RouteKey(r.method, r.pattern));
    ExpectRefused(r, "Bearer " + tablet_token, 401, tablet_);
    // A staff route does not know user sessions at all: 401 there, 403 "revoked" elsewhere.
    ExpectRefused(r, "Bearer " + phone_token, r.access == "staff" ? 401 : 403, phone);
  }
  EXPECT_EQ(AliceState(), before);
}

TEST_F(ApiAuthzTest, APendingDeviceGetsOnlyTheShortList) {
  TestDevice laptop;
  Response pending = Login(alice_.email, laptop, "password", alice_.verifier);
  ASSERT_EQ(pending.status, 201);
  const std::string pending_token = ParseBody(pending)["token"];
  const std::string before = AliceState();
  std::vector<RouteInfo> allowed;
  for (const RouteInfo& r : AllRoutes()) {
    if (r.access == "public") continue;
    SCOPED_TRACE(RouteKey(r.method, r.pattern));
    if (r.access == "any-session") {
      allowed.push_back(r);
      continue;
    }
    ExpectRefused(r, "Bearer " + pending_token, r.access == "staff" ? 401 : 403, laptop);
  }
  EXPECT_EQ(AliceState(), before);

  // The short list works for it (on fresh ids: it may write only its own pairing request),
  // logging out last.
  std::stable_partition(allowed.begin(), allowed.end(),
                        [](const RouteInfo& r) { return r.method != "DELETE"; });
  const Ids fresh;
  for (const RouteInfo& r : allowed) {
    SCOPED_TRACE(RouteKey(r.method, r.pattern));
    const Probe p = MakeProbe(r, fresh, laptop);
    const Response got = SendRaw(p, "Bearer " + pending_token);
    EXPECT_NE(got.status, 401) << AsChars(got.body);
    EXPECT_NE(got.status, 403) << AsChars(got.body);
    // It is Alice's own device (it knew her password), so it may see her email; never a blob.
    EXPECT_EQ(AsChars(got.body).find(kMarker), std::string::npos) << AsChars(got.body);
  }
  EXPECT_EQ(Send("GET", "/v1/account", {}, pending_token).status, 401);  // logged out
}

TEST_F(ApiAuthzTest, AnotherAccountsSessionNeverReachesTheFirstAccountsData) {
  const std::string before = AliceState();
  int checked = 0;
  int attacker = 0;
  for (const RouteInfo& r : AllRoutes()) {
    if (r.access == "public") continue;
    const std::string key = RouteKey(r.method, r.pattern);
    SCOPED_TRACE(key);
    // A fresh attacker per route, so that what one route wrote cannot change the next one's
    // answer.
    TestAccount mallory = CreateAccount("mallory" + std::to_string(attacker++) + "@example.com");
    ASSERT_FALSE(mallory.token.empty());
    const Probe at_alice = MakeProbe(r, alice_ids_, mallory.device);
    const Response got = SendRaw(at_alice, "Bearer " + mallory.token);
    ExpectNothingOfAlice(got, at_alice);
    EXPECT_EQ(AliceState(), before) << "mallory's " << key << " changed alice's account";
    if (r.access == "staff") {
      EXPECT_EQ(got.status, 401);
      ++checked;
      continue;
    }

    // The same request naming ids nobody ever used must get the same answer: then the reply
    // says nothing about whether Alice's objects exist, let alone what they hold.
    Ids fresh;
    fresh.email = alice_ids_.email;  // emails are not ids of Alice's objects; staff verbs only
    const Probe at_nobody = MakeProbe(r, fresh, mallory.device);
    if (at_nobody.target == at_alice.target && at_nobody.body == at_alice.body) {
      ++checked;  // names no id: it can only act on mallory's own account (checked above)
      continue;
    }
    const Response nobody = SendRaw(at_nobody, "Bearer " + mallory.token);
    std::string alice_reply = std::string(AsChars(got.body));
    for (const auto& [mine, theirs] :
         std::vector<std::pair<std::string, std::string>>{{alice_ids_.account, fresh.account},
                                                          {alice_ids_.device, fresh.device},
                                                          {alice_ids_.collection, fresh.collection},
                                                          {alice_ids_.chunk, fresh.chunk},
                                                          {alice_ids_.pairing, fresh.pairing},
                                                          {alice_ids_.grant, fresh.grant}}) {
      for (size_t at = alice_reply.find(mine); at != std::string::npos; at = alice_reply.find(mine, at)) {
        alice_reply.replace(at, mine.size(), theirs);
        at += theirs.size();
      }
    }
    EXPECT_EQ(got.status, nobody.status) << AsChars(got.body) << " vs " << AsChars(nobody.body);
    EXPECT_EQ(alice_reply, AsChars(nobody.body));
    EXPECT_EQ(got.head_content_length, nobody.head_content_length);
    // Reads of an object named in the path find nothing (an unknown collection's journal is
    // the empty journal).
    if ((r.method == "GET" || r.method == "HEAD") &&
        std::string_view(r.pattern).find('{') != std::string_view::npos) {
      if (r.pattern == "/v1/collections/{collection_id}/revisions") {
        EXPECT_EQ(got.status, 200);
        EXPECT_EQ(ParseBody(got)["head"], 0);
        EXPECT_TRUE(ParseBody(got)["revisions"].empty());
      } else {
        EXPECT_TRUE(got.status == 404 || got.status == 403) << got.status;
      }
    }
    ++checked;
  }
  EXPECT_EQ(checked, NonPublicRouteCount());
  // Alice's own device still reads everything it wrote.
  EXPECT_EQ(Send("GET", "/v1/chunks/" + alice_ids_.chunk, {}, alice_.token).body, alice_chunk_);
}

}  // namespace
}  // namespace coffer::server::testing
