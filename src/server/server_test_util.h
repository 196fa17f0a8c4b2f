// Test fixture for handler-level server tests: a real SqliteMetaStore and LocalBlobStore in a
// fresh temp directory, an Api with a fake clock, and helpers that build valid requests
// (signed logins, accounts) so each test only spells out what it is about.
#ifndef COFFER_SERVER_SERVER_TEST_UTIL_H_
#define COFFER_SERVER_SERVER_TEST_UTIL_H_

#include <gtest/gtest.h>
#include <stdlib.h>

#include <ctime>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "crypto/hash.h"
#include "crypto/secret.h"
#include "crypto/sign.h"
#include "server/api.h"
#include "server/log.h"
#include "store/local/local_blob_store.h"
#include "store/sqlite/sqlite_meta_store.h"
#include "util/bytes.h"

namespace coffer::server::testing {

using nlohmann::json;

inline std::string RandomHex(size_t bytes) { return HexEncode(crypto::RandomBytes(bytes)); }
inline std::string B64(ByteView b) { return Base64Encode(b); }
inline std::string B64(std::string_view s) { return Base64Encode(AsBytes(s)); }

struct TestDevice {
  std::string id = RandomHex(16);
  crypto::SigningKey key = crypto::SigningKey::Generate();
  Bytes box_pk = crypto::RandomBytes(32);
  std::string name = "test device";

  json Json() const {
    return json{{"id", id}, {"sign_pk", B64(key.public_key())}, {"box_pk", B64(box_pk)}, {"name", name}};
  }
  std::string Sign(const std::string& email, int64_t time) const {
    const std::string msg = "coffer-login-v1\n" + email + "\n" + id + "\n" + std::to_string(time);
    return B64(key.Sign(AsBytes(msg)));
  }
};

struct TestAccount {
  std::string account_id;
  std::string email;
  std::string token;
  TestDevice device;
  Bytes verifier;
  Bytes recovery_verifier;
  Bytes chain_entry0;
};

inline json ParseBody(const Response& r) {
  return json::parse(r.body.begin(), r.body.end(), nullptr, /*allow_exceptions=*/false);
}

// "CODE" of an error body, or "" if the body is not an error body.
inline std::string ErrorCode(const Response& r) {
  json j = ParseBody(r);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return "";
  return j["error"].value("code", "");
}

inline std::string ErrorMessage(const Response& r) {
  json j = ParseBody(r);
  if (!j.is_object() || !j.contains("error") || !j["error"].is_object()) return "";
  return j["error"].value("message", "");
}

class ApiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    setenv("COFFER_TEST_FAST_KDF", "1", 0);
    // Start the fake clock at the real time: MetaStore::PutMessage takes no `now` and the
    // SQLite store reads the wall clock there, so a fake clock far in the past would make
    // every pairing message look expired to it.
    now_ = static_cast<int64_t>(std::time(nullptr));
    SetVerboseLogging(false);
    char tmpl[] = "/tmp/coffer-server-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto meta = store::SqliteMetaStore::Open(dir_ + "/meta.sqlite");
    ASSERT_TRUE(meta.ok()) << meta.status().ToString();
    meta_ = std::move(meta).value();
    auto blobs = store::LocalBlobStore::Open(dir_ + "/blobs");
    ASSERT_TRUE(blobs.ok()) << blobs.status().ToString();
    blobs_ = std::move(blobs).value();
    MakeApi();
  }

  void TearDown() override {
    api_.reset();
    meta_.reset();
    blobs_.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void MakeApi() {
    ApiOptions options;
    options.default_quota_bytes = quota_;
    options.gc_grace_seconds = gc_grace_;
    options.clock = [this] { return now_; };
    auto api = Api::Create(*meta_, *blobs_, std::move(options));
    ASSERT_TRUE(api.ok()) << api.status().ToString();
    api_ = std::move(api).value();
  }

  Response Send(const std::string& method, const std::string& target, const Bytes& body = {},
                const std::string& token = "", const std::string& sha256 = "") {
    Request r;
    r.method = method;
    r.target = target;
    if (!token.empty()) r.authorization = "Bearer " + token;
    r.content_sha256 = sha256;
    r.body = body;
    r.peer = peer_;
    return api_->Handle(r);
  }
  Response SendJson(const std::string& method, const std::string& target, const json& body,
                    const std::string& token = "") {
    return Send(method, target, ToBytes(body.dump()), token);
  }

  json NewAccountRequest(const std::string& email, TestAccount* out) {
    out->account_id = RandomHex(16);
    out->email = email;
    out->verifier = crypto::RandomBytes(32);
    out->recovery_verifier = crypto::RandomBytes(32);
    out->chain_entry0 = ToBytes("chain entry 0 of " + email);
    return json{{"account_id", out->account_id},
                {"email", email},
                {"login",
                 {{"salt", B64(crypto::RandomBytes(16))},
                  {"ops", 2},
                  {"mem", 16 << 20},
                  {"verifier", B64(out->verifier)}}},
                {"recovery", {{"verifier", B64(out->recovery_verifier)}, {"blob", B64("recovery blob")}}},
                {"device", out->device.Json()},
                {"chain_entry", B64(out->chain_entry0)},
                {"sealed_key", {{"epoch", 1}, {"blob", B64("sealed key")}}},
                {"keyring", B64("keyring v1")},
                {"time", now_},
                {"signature", out->device.Sign(email, now_)}};
  }

  TestAccount CreateAccount(const std::string& email) {
    TestAccount a;
    json req = NewAccountRequest(email, &a);
    Response r = SendJson("POST", "/v1/accounts", req);
    EXPECT_EQ(r.status, 201) << AsChars(r.body);
    a.token = ParseBody(r).value("token", "");
    return a;
  }

  // A login request; `secret` is "password", "recovery" or "" (device key).
  json LoginRequest(const std::string& email, const TestDevice& device, const std::string& secret,
                    const Bytes& value) {
    json j{
        {"email", email}, {"device", device.Json()}, {"time", now_}, {"signature", device.Sign(email, now_)}};
    if (secret == "password") j["verifier"] = B64(value);
    if (secret == "recovery") j["recovery_verifier"] = B64(value);
    return j;
  }
  Response Login(const std::string& email, const TestDevice& device, const std::string& secret,
                 const Bytes& value) {
    return SendJson("POST", "/v1/sessions", LoginRequest(email, device, secret, value));
  }

  // Puts a chunk with a correct checksum header.
  Response PutChunk(const std::string& token, const std::string& id, const Bytes& data) {
    return Send("PUT", "/v1/chunks/" + id, data, token, HexEncode(crypto::Sha256(data)));
  }

  std::string dir_;
  std::unique_ptr<store::SqliteMetaStore> meta_;
  std::unique_ptr<store::LocalBlobStore> blobs_;
  std::unique_ptr<Api> api_;
  int64_t now_ = 1'700'000'000;
  uint64_t quota_ = 0;
  int64_t gc_grace_ = 3600;
  std::string peer_ = "192.0.2.1";
};

}  // namespace coffer::server::testing

#endif  // COFFER_SERVER_SERVER_TEST_UTIL_H_
