#include "client/support.h"

#include <algorithm>
#include <cctype>
#include <ctime>

#include "client/http_transport.h"
#include "crypto/password.h"
#include "staff/formats/staff_formats.h"

namespace coffer::client {
namespace {

using nlohmann::json;

constexpr size_t kMaxSupportReply = 8 * 1024 * 1024;  // 1000 log entries of at most ~2.5 KiB
constexpr int64_t kMaxGrantSeconds = 30 * 24 * 3600;

StatusCode CodeFromName(const std::string& name, long http_status) {
  static const std::pair<std::string_view, StatusCode> kCodes[] = {
      {"INVALID_ARGUMENT", StatusCode::kInvalidArgument},   {"UNAUTHENTICATED", StatusCode::kUnauthenticated},
      {"PERMISSION_DENIED", StatusCode::kPermissionDenied}, {"NOT_FOUND", StatusCode::kNotFound},
      {"ALREADY_EXISTS", StatusCode::kAlreadyExists},       {"RESOURCE_EXHAUSTED", StatusCode::kResourceExhausted},
      {"FAILED_PRECONDITION", StatusCode::kFailedPrecondition}, {"ABORTED", StatusCode::kAborted},
      {"UNAVAILABLE", StatusCode::kUnavailable},
  };
  for (const auto& [n, c] : kCodes) {
    if (n == name) return c;
  }
  if (http_status == 401) return StatusCode::kUnauthenticated;
  if (http_status == 403 || http_status == 423) return StatusCode::kPermissionDenied;
  if (http_status == 404) return StatusCode::kNotFound;
  if (http_status == 503) return StatusCode::kUnavailable;
  return http_status >= 500 ? StatusCode::kInternal : StatusCode::kInvalidArgument;
}

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

}  // namespace

std::string PrintableText(std::string_view text, size_t max_len) {
  std::string out;
  for (char c : text.substr(0, max_len)) {
    const auto u = static_cast<unsigned char>(c);
    out.push_back(u < 0x20 || u == 0x7f ? '?' : c);
  }
  if (text.size() > max_len) out += "...";
  return out;
}

StatusOr<json> SupportHttpCall(const std::string& base_url, const std::string& ca_file,
                               const std::string& bearer_token, const std::string& method, const std::string& path,
                               const json* body) {
  COFFER_ASSIGN_OR_RETURN(auto transport, internal::HttpTransport::Create(base_url, ca_file));
  internal::HttpRequest req;
  req.method = method;
  req.path = path;
  std::string text;
  if (body != nullptr) {
    text = body->dump();
    req.content_type = "application/json";
    req.body = AsBytes(text);
  }
  req.max_reply_bytes = kMaxSupportReply;
  const std::string what = method + " " + path.substr(0, path.find('?'));
  COFFER_ASSIGN_OR_RETURN(internal::HttpResponse r, transport->Perform(req, bearer_token, nullptr));
  json reply;
  if (!r.body.empty()) {
    try {
      reply = json::parse(r.body);
    } catch (const std::exception&) {
      if (r.status >= 200 && r.status < 300) return DataLossError("malformed reply from server to " + what);
    }
  }
  if (r.status >= 200 && r.status < 300) return reply.is_object() ? reply : json::object();
  std::string code, message;
  if (reply.is_object() && reply.contains("error") && reply["error"].is_object()) {
    const json& e = reply["error"];
    if (e.contains("code") && e["code"].is_string()) code = e["code"].get<std::string>();
    if (e.contains("message") && e["message"].is_string()) message = PrintableText(e["message"].get<std::string>());
  }
  if (message.empty()) message = what + " failed with HTTP " + std::to_string(r.status);
  if (r.status == 423) message = "account locked: " + message;
  return Status(CodeFromName(code, r.status), message);
}

StatusOr<int64_t> ParseGrantDuration(std::string_view text) {
  if (text.empty()) return InvalidArgumentError("empty duration; use e.g. 30m, 2h or 7d");
  int64_t unit = 1;
  std::string_view digits = text;
  switch (text.back()) {
    case 's': unit = 1; digits.remove_suffix(1); break;
    case 'm': unit = 60; digits.remove_suffix(1); break;
    case 'h': unit = 3600; digits.remove_suffix(1); break;
    case 'd': unit = 86400; digits.remove_suffix(1); break;
    default: break;
  }
  if (digits.empty() || digits.size() > 9 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    return InvalidArgumentError("duration \"" + std::string(text.substr(0, 20)) + "\": use e.g. 30m, 2h or 7d");
  }
  const int64_t seconds = std::stoll(std::string(digits)) * unit;
  if (seconds < 1 || seconds > kMaxGrantSeconds) return InvalidArgumentError("a grant lasts from 1 second to 30 days");
  return seconds;
}

StatusOr<GrantView> IssueGrant(Vault& vault, const std::string& ca_file, const GrantRequest& request) {
  const ChainDevice* me = vault.chain().Find(vault.device().device_id);
  if (me == nullptr || !me->active()) {
    return PermissionDeniedError("this device is not active in the verified device chain; it cannot sign grants");
  }
  if (request.scopes.empty()) return InvalidArgumentError("name at least one --scope (metadata, restore-trash)");
  if (request.note.size() > staff::kMaxGrantNote) return InvalidArgumentError("--reason is longer than 256 bytes");
  staff::Grant g;
  for (const auto& s : request.scopes) {
    COFFER_ASSIGN_OR_RETURN(uint32_t bit, staff::ScopeFromName(s));
    g.scopes |= bit;
  }
  const Id grant_id = RandomId();
  std::copy(grant_id.begin(), grant_id.end(), g.grant_id.begin());
  std::copy(vault.account_id().begin(), vault.account_id().end(), g.account_id.begin());
  std::copy(vault.device().device_id.begin(), vault.device().device_id.end(), g.device_id.begin());
  g.issued_at = Now();
  g.expires_at = g.issued_at + request.duration_seconds;
  g.note = request.note;
  staff::SignGrant(g, vault.device().sign);
  const json body = {{"grant", Base64Encode(g.Encode())}};
  COFFER_ASSIGN_OR_RETURN(json reply, SupportHttpCall(vault.server_url(), ca_file, vault.api().token(), "POST",
                                                      "/v1/support/grants", &body));
  GrantView v;
  v.grant_id = staff::Id16Hex(g.grant_id);
  v.device_id = staff::Id16Hex(g.device_id);
  v.scopes = staff::ScopeNames(g.scopes);
  v.issued_at = g.issued_at;
  v.expires_at = g.expires_at;
  v.note = g.note;
  v.code = staff::FormatGrantCode(g);
  return v;
}

Status RevokeGrant(Vault& vault, const std::string& ca_file, const std::string& grant_id) {
  COFFER_RETURN_IF_ERROR(staff::Id16FromHex(grant_id).status().WithContext("grant id"));
  return SupportHttpCall(vault.server_url(), ca_file, vault.api().token(), "DELETE", "/v1/support/grants/" + grant_id,
                         nullptr)
      .status();
}

StatusOr<std::vector<GrantView>> ListGrants(Vault& vault, const std::string& ca_file) {
  COFFER_ASSIGN_OR_RETURN(json reply, SupportHttpCall(vault.server_url(), ca_file, vault.api().token(), "GET",
                                                      "/v1/support/grants", nullptr));
  if (!reply.contains("grants") || !reply["grants"].is_array()) {
    return DataLossError("malformed reply from server to GET /v1/support/grants");
  }
  std::vector<GrantView> out;
  for (const json& item : reply["grants"]) {
    if (!item.is_object() || !item.contains("grant") || !item["grant"].is_string() || !item.contains("revoked_at") ||
        !item["revoked_at"].is_number_integer()) {
      return DataLossError("malformed grant in the server's reply");
    }
    COFFER_ASSIGN_OR_RETURN(Bytes encoded, Base64Decode(item["grant"].get<std::string>()));
    auto g = staff::Grant::Decode(encoded);
    if (!g.ok()) return SecurityError("the server listed a grant that does not parse: " + g.status().message());
    Id device_id{};
    std::copy(g->device_id.begin(), g->device_id.end(), device_id.begin());
    const ChainDevice* signer = vault.chain().Find(device_id);
    if (staff::Id16Hex(g->account_id) != IdHex(vault.account_id()) || signer == nullptr ||
        !staff::VerifyGrantSignature(*g, signer->sign_pk).ok()) {
      return SecurityError("the server lists grant " + staff::Id16Hex(g->grant_id) +
                           " that no device of this account signed");
    }
    GrantView v;
    v.grant_id = staff::Id16Hex(g->grant_id);
    v.device_id = staff::Id16Hex(g->device_id);
    v.scopes = staff::ScopeNames(g->scopes);
    v.issued_at = g->issued_at;
    v.expires_at = g->expires_at;
    v.revoked_at = item["revoked_at"].get<int64_t>();
    v.note = g->note;
    out.push_back(std::move(v));
  }
  return out;
}

Status RedeemResetCode(const std::string& server_url, const std::string& ca_file, const std::string& email,
                       const std::string& code, const crypto::SecretBytes& new_password) {
  if (server_url.empty()) return InvalidArgumentError("no server: pass --server URL or set COFFER_SERVER");
  const Bytes salt = crypto::RandomBytes(crypto::kPasswordSaltBytes);
  const crypto::KdfParams params = crypto::DefaultKdfParams();
  COFFER_ASSIGN_OR_RETURN(crypto::SecretBytes verifier, crypto::DerivePasswordKey(new_password, salt, params));
  const json body = {{"email", email},
                     {"code", code},
                     {"login",
                      {{"salt", Base64Encode(salt)},
                       {"ops", params.ops_limit},
                       {"mem", params.mem_limit},
                       {"verifier", Base64Encode(verifier.Reveal(crypto::SecretAccess::Get()))}}}};
  return SupportHttpCall(server_url, ca_file, "", "POST", "/v1/account/login-reset", &body).status();
}

}  // namespace coffer::client
