// G9: malformed requests to every endpoint get a 4xx with a JSON error body, and change
// nothing in the stores.
//
// For each JSON endpoint a valid request is taken apart field by field: each field removed,
// replaced by every wrong JSON type, and (by field kind) by wrong sizes, bad base64, bad ids.
// For raw-body endpoints: bad path ids, bad numbers, empty and oversized bodies, bad checksum
// headers. After each, a snapshot of everything the stores hold for the accounts must equal
// the snapshot before. Finally the valid request itself must succeed, which proves the
// failures came from the mutation and not from a template that was wrong to begin with.
#include <gtest/gtest.h>

#include <algorithm>
#include <functional>
#include <set>
#include <sstream>

#include "server/server_test_util.h"

namespace coffer::server::testing {
namespace {

class MalformedTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    a_ = CreateAccount("victim@example.com");
    // Some state to damage: a pending device, a revision, a chunk, a pairing request.
    ASSERT_EQ(Login("victim@example.com", pending_device_, "password", a_.verifier).status, 201);
    ASSERT_EQ(Send("PUT", "/v1/collections/" + cid_ + "/revisions/1", ToBytes("r1"), a_.token).status, 201);
    ASSERT_EQ(PutChunk(a_.token, chunk_, ToBytes("chunk")).status, 201);
    ASSERT_EQ(Send("PUT", "/v1/pairing/" + pairing_, ToBytes("pairing"), a_.token).status, 201);
  }

  // Everything the stores hold that a request could change (last_activity aside).
  std::string Snapshot() {
    std::ostringstream out;
    for (const std::string& email : {std::string("victim@example.com"), std::string("new@example.com")}) {
      auto acc = meta_->GetAccountByEmail(email);
      if (!acc.ok()) {
        out << email << " absent\n";
        continue;
      }
      const std::string& id = acc->account_id;
      out << id << acc->email << acc->login_hash << HexEncode(acc->login_salt) << acc->kdf_ops << acc->kdf_mem
          << acc->recovery_hash << HexEncode(acc->recovery_blob) << acc->quota_bytes << acc->used_bytes
          << acc->locked << "\n";
      // Each StatusOr is held in a local: ranging over `*Temp()` would dangle.
      auto devices = meta_->ListDevices(id);
      for (const auto& d : *devices) {
        out << d.device_id << HexEncode(d.sign_public_key) << HexEncode(d.box_public_key) << d.name
            << static_cast<int>(d.status) << "\n";
        auto sealed = meta_->GetSealedKey(id, d.device_id);
        if (sealed.ok()) out << sealed->first << HexEncode(sealed->second) << "\n";
      }
      auto chain = meta_->GetChain(id, 0);
      for (const Bytes& e : *chain) out << HexEncode(e) << "\n";
      auto ring = meta_->GetKeyring(id);
      if (ring.ok()) out << ring->first << HexEncode(ring->second) << "\n";
      auto collections = meta_->ListCollections(id);
      for (const auto& c : *collections) {
        out << c.collection_id << c.head << "\n";
        auto revisions = meta_->GetRevisions(id, c.collection_id, 0, 100000, 1 << 30);
        for (const auto& r : *revisions) {
          out << r.number << HexEncode(r.data) << "\n";
        }
        auto cp = meta_->GetCheckpoint(id, c.collection_id);
        if (cp.ok()) out << cp->number << HexEncode(cp->data) << "\n";
      }
      EXPECT_TRUE(meta_
                      ->ListChunks(id,
                                   [&](const store::ChunkRecord& r) {
                                     out << r.chunk_id << r.size << HexEncode(r.sha256) << "\n";
                                     return true;
                                   })
                      .ok());
      std::vector<std::string> keys;
      EXPECT_TRUE(blobs_->List(id + "/", [&](const std::string& k) { return keys.push_back(k), true; }).ok());
      std::sort(keys.begin(), keys.end());
      for (const auto& k : keys) out << k << "\n";
      for (const std::string& box : {"pairing", "pairing_response"}) {
        auto m = meta_->GetMessage(id, box, pairing_, now_);
        out << box << (m.ok() ? HexEncode(*m) : "none") << "\n";
      }
    }
    return out.str();
  }

  // Sends and checks: a 4xx, a JSON error body with a code and a message, nothing changed.
  void ExpectRejected(const std::string& what, const Request& request) {
    const std::string before = Snapshot();
    Response r = api_->Handle(request);
    EXPECT_GE(r.status, 400) << what;
    EXPECT_LT(r.status, 500) << what << ": " << AsChars(r.body);
    if (request.method != "HEAD") {
      EXPECT_EQ(r.content_type, "application/json") << what;
      EXPECT_FALSE(ErrorCode(r).empty()) << what << ": " << AsChars(r.body);
      EXPECT_FALSE(ErrorMessage(r).empty()) << what;
    }
    EXPECT_EQ(Snapshot(), before) << what << " changed the store";
    ++checked_;
  }

  Request Make(const std::string& method, const std::string& target, Bytes body, const std::string& token,
               const std::string& sha = "") {
    Request r;
    r.method = method;
    r.target = target;
    r.body = std::move(body);
    if (!token.empty()) r.authorization = "Bearer " + token;
    r.content_sha256 = sha;
    r.peer = peer_;
    return r;
  }

  // Field-kind specific wrong values; type-changing ones are added for every field.
  std::vector<json> WrongValuesFor(const std::string& name) {
    static const std::set<std::string> kExactB64 = {"salt",    "verifier", "recovery_verifier",
                                                    "sign_pk", "box_pk",   "signature"};
    static const std::set<std::string> kBlobB64 = {"blob", "chain_entry", "keyring", "entry"};
    static const std::set<std::string> kIds = {"account_id", "id", "device_id"};
    std::vector<json> v;
    if (kExactB64.count(name)) {
      v = {"QUJD", "@@@@", "QUI", B64(Bytes(1000, 1)), ""};
    } else if (kBlobB64.count(name)) {
      v = {"@@@@", "QQ", "", "QQ==QQ=="};
      if (name != "keyring" && name != "chain_entry") v.push_back(B64(Bytes(600 * 1024, 1)));  // over 512 KiB
    } else if (kIds.count(name)) {
      v = {"ABCDEF0123456789ABCDEF0123456789", "abc", std::string(32, 'z'), RandomHex(16) + "0", ""};
    } else if (name == "email") {
      v = {"no-at-sign", "a@b@c", "@example.com", "x@", std::string(300, 'a') + "@x.com", "", "a b@c.d"};
    } else if (name == "name") {
      v = {std::string(1000, 'n')};
    } else if (name == "action") {
      v = {"delete", "ADD", ""};
    } else if (name == "ops") {
      v = {0, 1, json(uint64_t{1} << 40)};
    } else if (name == "mem") {
      v = {0, 1024, json(uint64_t{1} << 50)};
    } else if (name == "version") {
      v = {0};
    } else if (name == "time") {
      v = {json(uint64_t{1} << 60)};
    } else if (name == "ids" || name == "live") {
      v = {json::array({"xyz"}), json::array({123}), json::array({RandomHex(16)}),
           json::array({json::array()}), json::array({std::string(64, 'A')})};
      if (name == "ids") v.push_back(json(std::vector<std::string>(100001, RandomHex(32))));
    }
    return v;
  }

  // Every way to break the object at `path` inside `body`.
  void Mutate(const std::string& what, const json& valid, const json::json_pointer& path,
              const std::set<std::string>& optional,
              const std::function<void(const std::string&, const json&)>& send) {
    const json& node = valid[path];
    if (node.is_object()) {
      for (auto it = node.begin(); it != node.end(); ++it)
        Mutate(what, valid, path / it.key(), optional, send);
    }
    if (path.empty()) return;
    const std::string name = path.back();
    const std::string where = what + " " + path.to_string();
    if (!optional.count(path.to_string())) {
      json copy = valid;
      copy[path.parent_pointer()].erase(name);
      send(where + " removed", copy);
    }
    std::vector<json> wrong;
    if (node.is_string()) wrong = {12345, json::object(), json::array(), true, 1.5};
    if (node.is_number()) wrong = {"1", -1, 1.5, 1e30, json::object(), false};
    if (node.is_object()) wrong = {json::array(), "x", 7};
    for (const json& w : WrongValuesFor(name)) wrong.push_back(w);
    for (const json& w : wrong) {
      json copy = valid;
      copy[path] = w;
      std::string shown = w.dump();
      if (shown.size() > 40) shown = shown.substr(0, 40) + "...";
      send(where + " = " + shown, copy);
    }
  }

  // `optional`: JSON pointers of fields the endpoint accepts without.
  void CheckJsonEndpoint(const std::string& method, const std::string& target, const json& valid,
                         const std::string& token, int expect_ok,
                         const std::set<std::string>& optional = {}) {
    const std::string what = method + " " + target;
    // Not JSON at all, and not an object.
    for (const std::string& raw :
         {std::string(""), std::string("{"), std::string("null"), std::string("[]"), std::string("\"x\""),
          std::string("42"), std::string("{\"a\":1}{}"), std::string("\xff\xfe{}"),
          std::string("{\"email\":\"\xc3\x28@x.y\"}"), std::string(100, '[') + std::string(100, ']')}) {
      ExpectRejected(what + " body " + raw.substr(0, 20), Make(method, target, ToBytes(raw), token));
    }
    // Over the body limit (1 MiB for JSON endpoints; 16 MiB for the id lists).
    const size_t limit = (target == "/v1/chunks/missing" || target == "/v1/gc") ? 16 << 20 : 1 << 20;
    ExpectRejected(what + " oversized", Make(method, target, Bytes(limit + 1, ' '), token));
    Mutate(what, valid, json::json_pointer(), optional, [&](const std::string& where, const json& body) {
      ExpectRejected(where, Make(method, target, ToBytes(body.dump()), token));
    });
    // The template itself is fine.
    Response ok = api_->Handle(Make(method, target, ToBytes(valid.dump()), token));
    EXPECT_EQ(ok.status, expect_ok) << what << " valid template: " << AsChars(ok.body);
  }

  TestAccount a_;
  TestDevice pending_device_;
  std::string cid_ = RandomHex(16);
  std::string chunk_ = RandomHex(32);
  std::string pairing_ = RandomHex(16);
  int checked_ = 0;
};

TEST_F(MalformedTest, JsonEndpoints) {
  TestDevice d;
  TestAccount fresh;
  json create = NewAccountRequest("new@example.com", &fresh);
  CheckJsonEndpoint("POST", "/v1/login/params", json{{"email", "victim@example.com"}}, "", 200);
  // A device that is not active, so that dropping the verifier cannot turn the request into
  // a valid device-key login.
  CheckJsonEndpoint("POST", "/v1/sessions",
                    LoginRequest("victim@example.com", pending_device_, "password", a_.verifier), "", 201);
  CheckJsonEndpoint("PUT", "/v1/account/login",
                    json{{"salt", B64(crypto::RandomBytes(16))},
                         {"ops", 2},
                         {"mem", 16 << 20},
                         {"verifier", B64(a_.verifier)}},
                    a_.token, 204);
  CheckJsonEndpoint("PUT", "/v1/account/recovery",
                    json{{"verifier", B64(a_.recovery_verifier)}, {"blob", B64("r2")}}, a_.token, 204,
                    {"/verifier"});
  CheckJsonEndpoint(
      "POST", "/v1/chain",
      json{{"seq", 1}, {"entry", B64("e1")}, {"effect", {{"action", "add"}, {"device", d.Json()}}}}, a_.token,
      201);
  CheckJsonEndpoint("POST", "/v1/chain",
                    json{{"seq", 2},
                         {"entry", B64("e2")},
                         {"effect", {{"action", "revoke"}, {"device_id", pending_device_.id}}}},
                    a_.token, 201);
  CheckJsonEndpoint("PUT", "/v1/keys/sealed/" + a_.device.id, json{{"epoch", 2}, {"blob", B64("k2")}},
                    a_.token, 204);
  CheckJsonEndpoint("PUT", "/v1/keyring", json{{"version", 2}, {"blob", B64("ring2")}}, a_.token, 204);
  CheckJsonEndpoint("POST", "/v1/chunks/missing", json{{"ids", {chunk_, RandomHex(32)}}}, a_.token, 200);
  CheckJsonEndpoint("POST", "/v1/gc", json{{"live", {chunk_}}}, a_.token, 200);
  // Last, because it creates the account the snapshot also watches.
  CheckJsonEndpoint("POST", "/v1/accounts", create, "", 201);
  EXPECT_GT(checked_, 500);
}

TEST_F(MalformedTest, PathIdsQueryParamsAndRawBodies) {
  const std::string t = a_.token;
  const std::vector<std::string> bad_short = {
      "ABCDEF0123456789ABCDEF0123456789", "abc", std::string(32, 'g'), RandomHex(16) + "00", "%2e%2e", ".."};
  const std::vector<std::string> bad_chunk = {std::string(64, 'A'), RandomHex(16), RandomHex(32) + "0",
                                              std::string(64, 'x'), "..",          "missing%20"};
  for (const std::string& id : bad_short) {
    ExpectRejected("sealed PUT " + id,
                   Make("PUT", "/v1/keys/sealed/" + id, ToBytes(R"({"epoch":1,"blob":"QQ=="})"), t));
    ExpectRejected("sealed GET " + id, Make("GET", "/v1/keys/sealed/" + id, {}, t));
    ExpectRejected("revisions GET " + id, Make("GET", "/v1/collections/" + id + "/revisions", {}, t));
    ExpectRejected("revision PUT " + id,
                   Make("PUT", "/v1/collections/" + id + "/revisions/2", ToBytes("r"), t));
    ExpectRejected("checkpoint GET " + id, Make("GET", "/v1/collections/" + id + "/checkpoint", {}, t));
    ExpectRejected("checkpoint PUT " + id,
                   Make("PUT", "/v1/collections/" + id + "/checkpoint/1", ToBytes("c"), t));
    ExpectRejected("pairing PUT " + id, Make("PUT", "/v1/pairing/" + id, ToBytes("p"), t));
    ExpectRejected("pairing GET " + id, Make("GET", "/v1/pairing/" + id, {}, t));
    ExpectRejected("pairing response PUT " + id,
                   Make("PUT", "/v1/pairing/" + id + "/response", ToBytes("p"), t));
    ExpectRejected("pairing response GET " + id, Make("GET", "/v1/pairing/" + id + "/response", {}, t));
  }
  for (const std::string& id : bad_chunk) {
    const Bytes data = ToBytes("x");
    const std::string sha = HexEncode(crypto::Sha256(data));
    ExpectRejected("chunk PUT " + id, Make("PUT", "/v1/chunks/" + id, data, t, sha));
    ExpectRejected("chunk GET " + id, Make("GET", "/v1/chunks/" + id, {}, t));
    ExpectRejected("chunk HEAD " + id, Make("HEAD", "/v1/chunks/" + id, {}, t));
  }
  for (const std::string& n :
       {"0", "-1", "abc", "1.5", "+2", "9007199254740992", "99999999999999999999999", ""}) {
    ExpectRejected("revision n=" + std::string(n),
                   Make("PUT", "/v1/collections/" + cid_ + "/revisions/" + n, ToBytes("r"), t));
    ExpectRejected("checkpoint n=" + std::string(n),
                   Make("PUT", "/v1/collections/" + cid_ + "/checkpoint/" + n, ToBytes("c"), t));
  }
  for (const std::string& q : {"from=-1", "from=abc", "limit=0", "limit=10001", "limit=", "x=1",
                               "from=1&from=2", "=3", "from=1e3"}) {
    ExpectRejected("revisions ?" + std::string(q),
                   Make("GET", "/v1/collections/" + cid_ + "/revisions?" + q, {}, t));
  }
  for (const std::string& q : {"from=-1", "from=x", "to=3"}) {
    ExpectRejected("chain ?" + std::string(q), Make("GET", "/v1/chain?" + q, {}, t));
  }
  ExpectRejected("keyring with query", Make("GET", "/v1/keyring?x=1", {}, t));

  // Raw bodies: empty, and wrong numbers (CAS) or unknown ids.
  ExpectRejected("empty revision", Make("PUT", "/v1/collections/" + cid_ + "/revisions/2", {}, t));
  ExpectRejected("revision gap", Make("PUT", "/v1/collections/" + cid_ + "/revisions/3", ToBytes("r3"), t));
  ExpectRejected("revision rewrite",
                 Make("PUT", "/v1/collections/" + cid_ + "/revisions/1", ToBytes("evil"), t));
  ExpectRejected("empty checkpoint", Make("PUT", "/v1/collections/" + cid_ + "/checkpoint/1", {}, t));
  ExpectRejected("checkpoint past head",
                 Make("PUT", "/v1/collections/" + cid_ + "/checkpoint/2", ToBytes("c"), t));
  ExpectRejected("checkpoint unknown collection",
                 Make("PUT", "/v1/collections/" + RandomHex(16) + "/checkpoint/1", ToBytes("c"), t));
  ExpectRejected("empty chunk",
                 Make("PUT", "/v1/chunks/" + RandomHex(32), {}, t, HexEncode(crypto::Sha256({}))));
  const Bytes data = ToBytes("chunk bytes");
  ExpectRejected("chunk without sha", Make("PUT", "/v1/chunks/" + RandomHex(32), data, t));
  ExpectRejected("chunk bad sha", Make("PUT", "/v1/chunks/" + RandomHex(32), data, t, "zz"));
  ExpectRejected("chunk wrong sha", Make("PUT", "/v1/chunks/" + RandomHex(32), data, t,
                                         HexEncode(crypto::Sha256(ToBytes("other")))));
  ExpectRejected("chunk oversized", Make("PUT", "/v1/chunks/" + RandomHex(32), Bytes((16 << 20) + 1, 1), t));
  ExpectRejected("empty pairing", Make("PUT", "/v1/pairing/" + RandomHex(16), {}, t));
  ExpectRejected("pairing again", Make("PUT", "/v1/pairing/" + pairing_, ToBytes("again"), t));
  ExpectRejected("oversized pairing",
                 Make("PUT", "/v1/pairing/" + RandomHex(16), Bytes(64 * 1024 + 1, 1), t));
  ExpectRejected("response to unknown pairing",
                 Make("PUT", "/v1/pairing/" + RandomHex(16) + "/response", ToBytes("r"), t));
  ExpectRejected("empty pairing response", Make("PUT", "/v1/pairing/" + pairing_ + "/response", {}, t));

  // Unknown ids.
  ExpectRejected("unknown chunk", Make("GET", "/v1/chunks/" + RandomHex(32), {}, t));
  ExpectRejected("unknown chunk HEAD", Make("HEAD", "/v1/chunks/" + RandomHex(32), {}, t));
  ExpectRejected("unknown sealed key", Make("GET", "/v1/keys/sealed/" + RandomHex(16), {}, t));
  ExpectRejected("unknown checkpoint",
                 Make("GET", "/v1/collections/" + RandomHex(16) + "/checkpoint", {}, t));
  ExpectRejected("unknown pairing", Make("GET", "/v1/pairing/" + RandomHex(16), {}, t));

  // Bodies where none belongs.
  ExpectRejected("GET with body", Make("GET", "/v1/keyring", ToBytes("{}"), t));
  ExpectRejected("health with body", Make("GET", "/v1/health", ToBytes("x"), ""));
}

TEST_F(MalformedTest, RoutingAndAuth) {
  const std::string t = a_.token;
  for (const std::string& target :
       std::vector<std::string>{"/", "/v1", "/v1/", "/v2/health", "/v1/health/", "/v1//health", "/v1/nope",
                                "/v1/chunks/" + RandomHex(32) + "/x", "v1/health", "", "*",
                                "http://example.com/v1/health", std::string(2000, '/')}) {
    ExpectRejected("target " + target.substr(0, 40), Make("GET", target, {}, t));
  }
  Response not_allowed = api_->Handle(Make("DELETE", "/v1/keyring", {}, t));
  EXPECT_EQ(not_allowed.status, 405);
  bool has_allow = false;
  for (const auto& [k, v] : not_allowed.headers) has_allow = has_allow || (k == "Allow" && v == "GET, PUT");
  EXPECT_TRUE(has_allow);
  for (const std::string& m : {"POST", "PATCH", "BREW", "get", ""}) {
    ExpectRejected("method " + m, Make(m, "/v1/keyring", {}, t));
  }
  EXPECT_EQ(api_->Handle(Make("GET", "/v1/chunks/missing", {}, t)).status, 405);  // literal beats {chunk_id}

  // Every authenticated endpoint without a token, and with an unknown one.
  const std::vector<std::pair<std::string, std::string>> authed = {
      {"DELETE", "/v1/sessions/current"},
      {"GET", "/v1/account"},
      {"GET", "/v1/account/recovery"},
      {"PUT", "/v1/account/login"},
      {"PUT", "/v1/account/recovery"},
      {"GET", "/v1/devices"},
      {"GET", "/v1/chain"},
      {"POST", "/v1/chain"},
      {"PUT", "/v1/keys/sealed/" + a_.device.id},
      {"GET", "/v1/keys/sealed/" + a_.device.id},
      {"GET", "/v1/keyring"},
      {"PUT", "/v1/keyring"},
      {"GET", "/v1/collections"},
      {"GET", "/v1/collections/" + cid_ + "/revisions"},
      {"PUT", "/v1/collections/" + cid_ + "/revisions/2"},
      {"GET", "/v1/collections/" + cid_ + "/checkpoint"},
      {"PUT", "/v1/collections/" + cid_ + "/checkpoint/1"},
      {"PUT", "/v1/chunks/" + chunk_},
      {"HEAD", "/v1/chunks/" + chunk_},
      {"GET", "/v1/chunks/" + chunk_},
      {"POST", "/v1/chunks/missing"},
      {"GET", "/v1/chunks"},
      {"POST", "/v1/gc"},
      {"PUT", "/v1/pairing/" + pairing_},
      {"GET", "/v1/pairing/" + pairing_},
      {"PUT", "/v1/pairing/" + pairing_ + "/response"},
      {"GET", "/v1/pairing/" + pairing_ + "/response"},
  };
  for (const auto& [method, target] : authed) {
    const Bytes body = (method == "GET" || method == "HEAD" || method == "DELETE") ? Bytes() : ToBytes("{}");
    for (const std::string& token : {std::string(""), RandomHex(32)}) {
      Request r = Make(method, target, body, token);
      ExpectRejected(method + " " + target + (token.empty() ? " no token" : " unknown token"), r);
      EXPECT_EQ(api_->Handle(r).status, 401) << method << " " << target;
      Preflight pre = api_->Check(method, target, r.authorization, body.size());
      ASSERT_TRUE(pre.reject.has_value()) << target;
      EXPECT_EQ(pre.reject->status, 401);
    }
  }
}

TEST_F(MalformedTest, PreflightRefusesOversizedBodiesBeforeReading) {
  const std::string auth = "Bearer " + a_.token;
  struct Case {
    std::string method, target;
    uint64_t limit;
  };
  const std::vector<Case> cases = {
      {"POST", "/v1/accounts", 1 << 20},
      {"POST", "/v1/sessions", 1 << 20},
      {"POST", "/v1/login/params", 1 << 20},
      {"PUT", "/v1/keyring", 1 << 20},
      {"POST", "/v1/chunks/missing", 16 << 20},
      {"POST", "/v1/gc", 16 << 20},
      {"PUT", "/v1/chunks/" + RandomHex(32), 16 << 20},
      {"PUT", "/v1/collections/" + cid_ + "/revisions/2", 32 << 20},
      {"PUT", "/v1/collections/" + cid_ + "/checkpoint/1", uint64_t{256} << 20},
      {"PUT", "/v1/pairing/" + RandomHex(16), 64 << 10},
      {"GET", "/v1/keyring", 0},
  };
  for (const Case& c : cases) {
    Preflight ok = api_->Check(c.method, c.target, auth, c.limit);
    EXPECT_FALSE(ok.reject.has_value()) << c.target << ": " << (ok.reject ? AsChars(ok.reject->body) : "");
    EXPECT_EQ(ok.body_limit, c.limit) << c.target;
    Preflight big = api_->Check(c.method, c.target, auth, c.limit + 1);
    ASSERT_TRUE(big.reject.has_value()) << c.target;
    EXPECT_EQ(big.reject->status, 413) << c.target;
    EXPECT_FALSE(ErrorMessage(*big.reject).empty());
  }
  // Huge declared lengths on unauthenticated requests are refused too, before any session
  // lookup or body read.
  Preflight huge = api_->Check("PUT", "/v1/collections/" + cid_ + "/checkpoint/1", "", UINT64_MAX);
  ASSERT_TRUE(huge.reject.has_value());
  EXPECT_EQ(huge.reject->status, 413);
  // Within the limit but without a session: 401 before the body is read.
  Preflight anon = api_->Check("PUT", "/v1/collections/" + cid_ + "/checkpoint/1", "", 100);
  ASSERT_TRUE(anon.reject.has_value());
  EXPECT_EQ(anon.reject->status, 401);
}

}  // namespace
}  // namespace coffer::server::testing
