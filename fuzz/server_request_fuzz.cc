// The server's request handling (Api::Check, then Api::Handle), without sockets, on a real
// SqliteMetaStore + LocalBlobStore in a scratch directory (tmpfs when available), with the
// staff console (server/staff_api.h) on a real SqliteStaffStore in the same database.
//
// One Api lives for the whole run, with an account created at start-up whose session the
// input may use (fuzz_common.h documents the input layout). State persists between inputs,
// as on a real server: chunks, revisions and accounts a previous input created are there.
// If an input ends the session (logout, revoking the device, a staff lock), the next input
// gets a fresh account; if it ends the staff session, the next one logs the staff member in again.
//
// Must never crash. A finding (abort) is also: a status outside 100..599; a JSON reply that
// is not JSON; a body on 204 or on a successful HEAD; Check() and Handle() disagreeing on a routing/size
// rejection; Check() refusing the session but Handle() answering 2xx; and a 500 (an
// exception or kInternal inside a handler) unless COFFER_FUZZ_ALLOW_500=1.
#include <unistd.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "crypto/hash.h"
#include "crypto/secret.h"
#include "crypto/sign.h"
#include "fuzz_common.h"
#include "server/api.h"
#include "server/log.h"
#include "server/staff_admin.h"
#include "staff/formats/staff_formats.h"
#include "store/local/local_blob_store.h"
#include "store/sqlite/sqlite_meta_store.h"
#include "store/sqlite/sqlite_staff_store.h"
#include "util/bytes.h"

using namespace coffer;
using namespace coffer::server;
using coffer::fuzz::Finding;
using nlohmann::json;

namespace {

struct State {
  std::string dir;
  std::unique_ptr<store::SqliteMetaStore> meta;
  std::unique_ptr<store::LocalBlobStore> blobs;
  std::unique_ptr<store::SqliteStaffStore> staff;
  std::unique_ptr<Api> api;
  std::optional<crypto::SigningKey> device_key;
  std::string account_id;
  std::string device_id;
  std::string email;
  std::string token;
  std::string staff_credential;  // cs1:NAME:SECRET of the fuzzer's admin
  std::string staff_token;
  int staff_members = 0;
  int accounts = 0;
  bool allow_500 = false;
  bool trace = false;  // COFFER_FUZZ_TRACE=1: one line per request on stderr
};

State* g = nullptr;

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

std::string LoginSignature(const std::string& email, const std::string& device_id, int64_t time) {
  const std::string msg = "coffer-login-v1\n" + email + "\n" + device_id + "\n" + std::to_string(time);
  return Base64Encode(g->device_key->Sign(AsBytes(msg)));
}

Response Send(const std::string& method, const std::string& target, const std::string& body,
              const std::string& token = "") {
  Request r;
  r.method = method;
  r.target = target;
  if (!token.empty()) r.authorization = "Bearer " + token;
  r.body = ToBytes(body);
  // Not the inputs' address: inputs may exhaust the per-address limit on failed logins and
  // refused sign-ups, which must not stop the harness from making a new account.
  r.peer = "198.51.100.1";
  return g->api->Handle(r);
}

// A fresh account whose session the inputs use. The first one has the fixed ids of
// fuzz_common.h; later ones (after an input ended the session) random ones.
void NewAccount() {
  const int n = g->accounts++;
  g->account_id = n == 0 ? coffer::fuzz::kFuzzAccountId : HexEncode(crypto::RandomBytes(16));
  g->device_id = n == 0 ? coffer::fuzz::kFuzzDeviceId : HexEncode(crypto::RandomBytes(16));
  g->email = n == 0 ? coffer::fuzz::kFuzzEmail : "fuzz" + std::to_string(n) + "@example.org";
  const int64_t now = Now();
  json req{{"account_id", g->account_id},
           {"email", g->email},
           {"login",
            {{"salt", Base64Encode(crypto::RandomBytes(16))},
             {"ops", 2},
             {"mem", 16 << 20},
             {"verifier", Base64Encode(crypto::RandomBytes(32))}}},
           {"recovery",
            {{"verifier", Base64Encode(crypto::RandomBytes(32))},
             {"blob", Base64Encode(AsBytes("recovery blob"))}}},
           {"device",
            {{"id", g->device_id},
             {"sign_pk", Base64Encode(g->device_key->public_key())},
             {"box_pk", Base64Encode(crypto::RandomBytes(32))},
             {"name", "fuzz device"}}},
           {"chain_entry", Base64Encode(AsBytes("chain entry 0"))},
           {"sealed_key", {{"epoch", 1}, {"blob", Base64Encode(AsBytes("sealed key"))}}},
           {"keyring", Base64Encode(AsBytes("keyring v1"))},
           {"time", now},
           {"signature", LoginSignature(g->email, g->device_id, now)}};
  Response r = Send("POST", "/v1/accounts", req.dump());
  if (r.status != 201) Finding("could not create the fuzzing account:", std::string(AsChars(r.body)));
  g->token = json::parse(AsChars(r.body)).value("token", "");
  // Some state for the inputs to find: a chunk, a revision, a pairing message.
  Request put;
  put.method = "PUT";
  put.target = std::string("/v1/chunks/") + coffer::fuzz::kFuzzChunkId;
  put.authorization = "Bearer " + g->token;
  put.body = ToBytes("chunk data");
  put.content_sha256 = HexEncode(crypto::Sha256(put.body));
  put.peer = "198.51.100.1";
  (void)g->api->Handle(put);
  (void)Send("PUT", std::string("/v1/collections/") + coffer::fuzz::kFuzzCollectionId + "/revisions/1",
             "revision 1", g->token);
  (void)Send("PUT", std::string("/v1/pairing/") + coffer::fuzz::kFuzzPairingId, "pairing request", g->token);
}

// Logs the fuzzer's staff admin in (again): inputs use the session with auth mode 2 and an
// empty fuzzed string.
// Inputs may exhaust the failed-login limit of that staff name (they can name it with a wrong
// secret): then the harness adds another admin.
void StaffLogin() {
  Response r = Send("POST", "/v1/staff/login", json{{"credential", g->staff_credential}}.dump());
  if (r.status != 201) {  // the limit answers 507 RESOURCE_EXHAUSTED
    auto credential = AddStaff(*g->staff, "fuzz-admin-" + std::to_string(++g->staff_members), "admin", Now());
    if (!credential.ok()) Finding("AddStaff:", credential.status().ToString());
    g->staff_credential = *credential;
    r = Send("POST", "/v1/staff/login", json{{"credential", g->staff_credential}}.dump());
  }
  if (r.status != 201) Finding("could not log the fuzzing staff member in:", std::string(AsChars(r.body)));
  g->staff_token = json::parse(AsChars(r.body)).value("token", "");
}

void Cleanup() {
  if (g == nullptr) return;
  std::error_code ec;
  std::filesystem::remove_all(g->dir, ec);
}

// Reads a u8-length-prefixed string.
std::string TakeString(const uint8_t*& p, const uint8_t* end) {
  if (p >= end) return "";
  size_t n = *p++;
  if (n > static_cast<size_t>(end - p)) n = static_cast<size_t>(end - p);
  std::string s(reinterpret_cast<const char*>(p), n);
  p += n;
  return s;
}

std::string FillCapture(std::string_view name, int mode, const std::string& fuzzed) {
  const size_t hex_len = name == "chunk_id" ? 64 : 32;  // grant_id: 32 too
  switch (mode) {
    case 0:
      if (name == "device_id") return g->device_id;
      if (name == "collection_id") return coffer::fuzz::kFuzzCollectionId;
      if (name == "chunk_id") return coffer::fuzz::kFuzzChunkId;
      if (name == "pairing_id") return coffer::fuzz::kFuzzPairingId;
      if (name == "n") return "1";
      return fuzzed;
    case 1:
      return fuzzed;
    case 2: {
      std::string hex = HexEncode(AsBytes(fuzzed));
      hex.resize(hex_len, '0');
      return hex;
    }
    default: {
      uint64_t v = 0;
      for (unsigned char c : fuzzed) v = v * 251 + c;
      return std::to_string(v);
    }
  }
}

// Re-signs what the fuzzer could not sign itself: the time, sign_pk and signature of a login
// or account-creation body, and a "grant" field (base64 of a Grant for POST
// /v1/support/grants, a grant code for the staff verbs), which becomes a grant of the
// fuzzer's account and device, issued now and signed with the fuzzer's device key.
std::string Resign(const std::string& body) {
  json j = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object()) return body;
  const int64_t now = Now();
  if (j.contains("email") && j["email"].is_string() && j.contains("device") && j["device"].is_object() &&
      j["device"].contains("id") && j["device"]["id"].is_string()) {
    j["time"] = now;
    j["device"]["sign_pk"] = Base64Encode(g->device_key->public_key());
    j["signature"] = LoginSignature(j["email"].get<std::string>(), j["device"]["id"].get<std::string>(), now);
  }
  if (j.contains("grant") && j["grant"].is_string()) {
    const std::string text = j["grant"].get<std::string>();
    std::optional<staff::Grant> grant;
    bool as_code = false;
    if (auto raw = Base64Decode(text); raw.ok()) {
      if (auto decoded = staff::Grant::Decode(*raw); decoded.ok()) grant = std::move(decoded).value();
    }
    if (!grant) {
      if (auto parsed = staff::ParseGrantCode(text); parsed.ok()) {
        grant = std::move(parsed).value();
        as_code = true;
      }
    }
    auto account = staff::Id16FromHex(g->account_id);
    auto device = staff::Id16FromHex(g->device_id);
    if (grant && account.ok() && device.ok()) {
      int64_t lifetime = 0;
      if (__builtin_sub_overflow(grant->expires_at, grant->issued_at, &lifetime) || lifetime > (int64_t{1} << 40) ||
          lifetime < -(int64_t{1} << 40))
        lifetime = 3600;
      grant->account_id = *account;
      grant->device_id = *device;
      grant->issued_at = now;
      grant->expires_at = now + lifetime;
      staff::SignGrant(*grant, *g->device_key);
      j["grant"] = as_code ? staff::FormatGrantCode(*grant) : Base64Encode(grant->Encode());
    }
  }
  try {
    return j.dump();
  } catch (const std::exception&) {
    return body;  // invalid UTF-8 inside a string
  }
}

bool IsRoutingOrSizeStatus(int s) { return s == 400 || s == 404 || s == 405 || s == 413; }

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  setenv("COFFER_TEST_FAST_KDF", "1", 1);
  SetVerboseLogging(false);
  g = new State;
  const char* allow = std::getenv("COFFER_FUZZ_ALLOW_500");
  g->allow_500 = allow != nullptr && std::string_view(allow) == "1";
  const char* trace = std::getenv("COFFER_FUZZ_TRACE");
  g->trace = trace != nullptr && std::string_view(trace) == "1";
  g->dir = coffer::fuzz::ScratchDir("server");
  std::atexit(Cleanup);
  auto meta = store::SqliteMetaStore::Open(g->dir + "/meta.sqlite");
  if (!meta.ok()) Finding("SqliteMetaStore::Open:", meta.status().ToString());
  g->meta = std::move(meta).value();
  auto blobs = store::LocalBlobStore::Open(g->dir + "/blobs");
  if (!blobs.ok()) Finding("LocalBlobStore::Open:", blobs.status().ToString());
  g->blobs = std::move(blobs).value();
  auto staff = store::SqliteStaffStore::Open(g->dir + "/meta.sqlite");
  if (!staff.ok()) Finding("SqliteStaffStore::Open:", staff.status().ToString());
  g->staff = std::move(staff).value();
  auto credential = AddStaff(*g->staff, "fuzz-admin", "admin", Now());
  if (!credential.ok()) Finding("AddStaff:", credential.status().ToString());
  g->staff_credential = *credential;
  ApiOptions options;
  options.gc_grace_seconds = 0;
  options.staff = g->staff.get();
  options.log_key_file = g->dir + "/staff-log.key";
  auto api = Api::Create(*g->meta, *g->blobs, std::move(options));
  if (!api.ok()) Finding("Api::Create:", api.status().ToString());
  g->api = std::move(api).value();
  g->device_key = crypto::SigningKey::Generate();
  NewAccount();
  StaffLogin();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 4) return 0;
  const uint8_t* p = data + 4;
  const uint8_t* end = data + size;
  const std::string method = coffer::fuzz::kServerMethods[data[0] % coffer::fuzz::kNumServerMethods];
  const std::string pattern = coffer::fuzz::kServerTargets[data[1] % coffer::fuzz::kNumServerTargets];
  const uint8_t flags = data[2];
  const uint8_t captures = data[3];
  const std::string caps[2] = {TakeString(p, end), TakeString(p, end)};
  const std::string query = TakeString(p, end);
  const std::string auth_fuzz = TakeString(p, end);

  Request req;
  req.method = method;
  // Fill the {captures} of the pattern.
  int cap_index = 0;
  for (size_t i = 0; i < pattern.size();) {
    if (pattern[i] == '{') {
      const size_t close = pattern.find('}', i);
      const std::string name = pattern.substr(i + 1, close - i - 1);
      const int which = cap_index < 2 ? cap_index : 1;
      const int mode = (captures >> (2 * which)) & 3;
      req.target += name == "raw" ? caps[which] : FillCapture(name, mode, caps[which]);
      ++cap_index;
      i = close + 1;
    } else {
      req.target.push_back(pattern[i++]);
    }
  }
  if (flags & 0x10) req.target += "?" + query;

  const bool real_session = (flags & 3) == 1;
  switch (flags & 3) {
    case 1:
      req.authorization = "Bearer " + g->token;
      break;
    case 2:
      req.authorization = "Bearer " + (auth_fuzz.empty() ? g->staff_token : auth_fuzz);
      break;
    case 3:
      req.authorization = auth_fuzz;
      break;
    default:
      break;
  }
  std::string body(reinterpret_cast<const char*>(p), static_cast<size_t>(end - p));
  if (flags & 0x20) body = Resign(body);
  req.body = ToBytes(body);
  switch ((flags >> 2) & 3) {
    case 1:
      req.content_sha256 = HexEncode(crypto::Sha256(req.body));
      break;
    case 2:
      req.content_sha256 = auth_fuzz;
      break;
    case 3: {
      req.content_sha256 = HexEncode(crypto::Sha256(req.body));
      for (char& c : req.content_sha256) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      break;
    }
    default:
      break;
  }
  req.peer = "192.0.2.1";

  std::optional<uint64_t> content_length;
  switch (flags >> 6) {
    case 0:
      content_length = req.body.size();
      break;
    case 1:
      break;
    case 2:
      content_length = req.body.size() + (uint64_t{1} << 20);
      break;
    default:
      content_length = UINT64_MAX;
      break;
  }

  const Preflight pre = g->api->Check(req.method, req.target, req.authorization, content_length);
  if (pre.reject) {
    if (pre.reject->status < 100 || pre.reject->status > 599)
      Finding("Check() answered an invalid HTTP status");
    if (pre.reject->status == 500 && !g->allow_500)
      Finding("Check() answered 500 for", req.method + " " + req.target.substr(0, 200));
  } else if (content_length && *content_length > pre.body_limit) {
    Finding("Check() accepted a Content-Length above the route's body limit");
  }

  const Response resp = g->api->Handle(req);
  const std::string where =
      req.method + " " + req.target.substr(0, 200) + " -> " + std::to_string(resp.status);
  if (g->trace)
    std::fprintf(stderr, "%s %.200s\n", where.c_str(),
                 std::string(AsChars(resp.body)).substr(0, 200).c_str());
  if (resp.status < 100 || resp.status > 599) Finding("Handle() answered an invalid HTTP status:", where);
  if (resp.status == 500 && !g->allow_500)
    Finding("Handle() answered 500 (exception or kInternal in a handler):",
            where + " " + std::string(AsChars(resp.body)));
  if (resp.content_type == "application/json" && !json::accept(resp.body.begin(), resp.body.end()))
    Finding("Handle() answered a JSON reply that does not parse:", where);
  if (resp.status == 204 && !resp.body.empty()) Finding("Handle() answered 204 with a body:", where);
  // The HTTP layer drops the body of every HEAD reply; a successful HEAD must not build one.
  if (req.method == "HEAD" && resp.status < 300 && !resp.body.empty())
    Finding("Handle() answered a successful HEAD with a body:", where);
  if (pre.reject && content_length == req.body.size()) {
    if (IsRoutingOrSizeStatus(pre.reject->status) && resp.status != pre.reject->status)
      Finding("Check() and Handle() disagree:",
              where + " but Check() said " + std::to_string(pre.reject->status));
    if ((pre.reject->status == 401 || pre.reject->status == 403 || pre.reject->status == 423) &&
        resp.status < 300)
      Finding("Check() refused the session but Handle() answered success:", where);
  }

  // Did this input end our session (logout, revoked device) or lock our account? Then start
  // over with a new account so that later inputs still reach the authenticated handlers.
  // Likewise for the staff session (logout).
  if (real_session && (resp.status == 401 || resp.status == 403 || resp.status == 204 || resp.status == 423)) {
    if (Send("GET", "/v1/account", "", g->token).status != 200) NewAccount();
  }
  const bool staff_session = (flags & 3) == 2 && auth_fuzz.empty();
  if (staff_session && (resp.status == 401 || resp.status == 204)) {
    if (Send("POST", "/v1/staff/lookup", "{}", g->staff_token).status == 401) StaffLogin();
  }
  return 0;
}
