#include "client/audit.h"

#include <ctime>

#include "client/support.h"
#include "crypto/sign.h"

namespace coffer::client {
namespace {

using nlohmann::json;

// Local state keys (the profile's state.db key/value table).
constexpr std::string_view kPinnedKey = "audit/log_public_key";
constexpr std::string_view kVerifiedLength = "audit/log_length";
constexpr std::string_view kVerifiedHead = "audit/log_head";
constexpr uint64_t kMaxEntries = 10'000'000;

struct Page {
  Bytes public_key;
  uint64_t length = 0;
  std::vector<Bytes> entries;
};

// Fetches every entry of one log, page by page.
StatusOr<Page> FetchAll(Vault& vault, const std::string& ca_file, const std::string& path) {
  Page all;
  bool first = true;
  while (true) {
    const std::string target = path + "?from=" + std::to_string(all.entries.size());
    COFFER_ASSIGN_OR_RETURN(json reply,
                            SupportHttpCall(vault.server_url(), ca_file, vault.api().token(), "GET", target, nullptr));
    if (!reply.contains("public_key") || !reply["public_key"].is_string() || !reply.contains("length") ||
        !reply["length"].is_number_unsigned() || !reply.contains("entries") || !reply["entries"].is_array()) {
      return DataLossError("malformed reply from server to GET " + path);
    }
    COFFER_ASSIGN_OR_RETURN(Bytes key, Base64Decode(reply["public_key"].get<std::string>()));
    const uint64_t length = reply["length"].get<uint64_t>();
    if (length > kMaxEntries) return DataLossError("server claims an absurd log length");
    if (first) {
      all.public_key = key;
      all.length = length;
      first = false;
    } else if (key != all.public_key) {
      return SecurityError("the server changed its log key in the middle of an audit");
    }
    const json& entries = reply["entries"];
    for (const json& e : entries) {
      if (!e.is_string()) return DataLossError("malformed entry in the reply to GET " + path);
      COFFER_ASSIGN_OR_RETURN(Bytes raw, Base64Decode(e.get<std::string>()));
      all.entries.push_back(std::move(raw));
    }
    if (entries.empty() || all.entries.size() >= all.length) break;
  }
  if (all.entries.size() != all.length) {
    return SecurityError("the server says " + std::string(path) + " has " + std::to_string(all.length) +
                         " entries but returned " + std::to_string(all.entries.size()));
  }
  return all;
}

std::string FormatTime(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", std::localtime(&tt));
  return buf;
}

bool IsZeroId(const staff::Id16& id) {
  for (uint8_t b : id) {
    if (b != 0) return false;
  }
  return true;
}

}  // namespace

StatusOr<AuditReport> RunAudit(Vault& vault, const std::string& ca_file) {
  AuditReport report;
  LocalState& state = vault.state();
  // A session, not the keys: the log must stay readable on an account staff locked, where
  // Unlock() fails with 423. A locked account gets no new session, so this works with the
  // session this device already holds (device sessions last 7 days).
  auto explain_locked = [](const Status& st) {
    if (st.code() == StatusCode::kPermissionDenied && st.message().find("locked") != std::string::npos) {
      return PermissionDeniedError(st.message() +
                                   ". `coffer audit` reads the log of a locked account with the session this "
                                   "device already holds, and it has none left; ask support to unlock the account");
    }
    return st;
  };
  if (Status connected = vault.Connect(); !connected.ok()) return explain_locked(connected);
  const std::string account_hex = IdHex(vault.account_id());

  auto fetched = FetchAll(vault, ca_file, "/v1/log");
  if (fetched.status().code() == StatusCode::kUnauthenticated) {
    // The server dropped this device's session: Unlock() logs in again with the device key
    // (and answers 423 if the account is locked, which then needs the unlock first).
    if (Status relogin = vault.Unlock(); !relogin.ok()) return explain_locked(relogin);
    fetched = FetchAll(vault, ca_file, "/v1/log");
  }
  COFFER_ASSIGN_OR_RETURN(Page log, std::move(fetched));
  if (log.public_key.size() != crypto::kSignPublicKeyBytes) {
    return SecurityError("the server's access-log key is malformed");
  }
  const std::optional<Bytes> pinned = state.Get(kPinnedKey);
  if (pinned && *pinned != log.public_key) {
    return SecurityError("the server's access-log key changed since this device pinned it (pinned " +
                         HexEncode(*pinned).substr(0, 16) + "..., now " + HexEncode(log.public_key).substr(0, 16) +
                         "...): the log could have been re-signed");
  }
  report.key_pinned_now = !pinned.has_value();
  report.log_public_key_hex = HexEncode(log.public_key);

  // The account's log, from entry 0.
  std::vector<staff::Hash32> hashes;
  staff::Hash32 prev{};
  for (size_t i = 0; i < log.entries.size(); ++i) {
    Bytes signature;
    auto e = staff::LogEntry::Decode(log.entries[i], &signature);
    if (!e.ok()) return SecurityError("access log entry " + std::to_string(i) + " is malformed: " + e.status().message());
    if (!crypto::VerifySignature(log.public_key, e->SignedPart(), signature).ok()) {
      return SecurityError("access log entry " + std::to_string(i) +
                           " has a bad signature: it was edited or forged after the server wrote it");
    }
    if (staff::Id16Hex(e->account_id) != account_hex) {
      return SecurityError("access log entry " + std::to_string(i) + " belongs to another account");
    }
    if (e->seq != i) {
      return SecurityError("access log entry at position " + std::to_string(i) + " says it is entry " +
                           std::to_string(e->seq) + ": entries were removed or reordered");
    }
    if (e->prev_hash != prev) {
      return SecurityError("access log entry " + std::to_string(i) +
                           " does not link to the entry before it: the log was rewritten");
    }
    prev = staff::EntryHash(log.entries[i]);
    hashes.push_back(prev);
    report.entries.push_back(std::move(e).value());
  }

  // Against what this device verified before.
  const uint64_t seen = static_cast<uint64_t>(state.GetInt(kVerifiedLength, 0));
  report.previously_verified = seen;
  if (seen > hashes.size()) {
    return SecurityError("the access log was cut back: this device verified " + std::to_string(seen) +
                         " entries before, the server now shows " + std::to_string(hashes.size()));
  }
  if (seen > 0) {
    auto remembered = HexDecode(state.GetString(kVerifiedHead));
    const staff::Hash32& at = hashes[seen - 1];
    if (!remembered.ok() || !std::equal(at.begin(), at.end(), remembered->begin(), remembered->end())) {
      return SecurityError("the access log was rewritten: entry " + std::to_string(seen - 1) +
                           " differs from the one this device verified before");
    }
  }

  // The global log: its chain, and every head it records for this account.
  COFFER_ASSIGN_OR_RETURN(Page global, FetchAll(vault, ca_file, "/v1/log/global"));
  if (global.public_key != log.public_key) return SecurityError("the global log is signed by another key");
  staff::Hash32 gprev{};
  uint64_t last_recorded = 0;
  for (size_t i = 0; i < global.entries.size(); ++i) {
    Bytes signature;
    auto g = staff::GlobalLogEntry::Decode(global.entries[i], &signature);
    if (!g.ok()) return SecurityError("global log entry " + std::to_string(i) + " is malformed: " + g.status().message());
    if (!crypto::VerifySignature(log.public_key, g->SignedPart(), signature).ok()) {
      return SecurityError("global log entry " + std::to_string(i) + " has a bad signature");
    }
    if (g->seq != i || g->prev_hash != gprev) {
      return SecurityError("global log entry " + std::to_string(i) + " is out of place: the global log was rewritten");
    }
    gprev = staff::EntryHash(global.entries[i]);
    if (staff::Id16Hex(g->account_id) != account_hex) continue;
    if (g->account_length == 0 || g->account_length > hashes.size() ||
        hashes[g->account_length - 1] != g->account_head) {
      return SecurityError("the global log records a head of this account's log (entry " +
                           std::to_string(g->account_length == 0 ? 0 : g->account_length - 1) +
                           ") that this log does not have: the log was forked, cut back or rewritten");
    }
    last_recorded = g->account_length;
  }
  if (last_recorded != hashes.size()) {
    return SecurityError("the global log's newest head for this account is entry " + std::to_string(last_recorded) +
                         " of " + std::to_string(hashes.size()) + ": the account's log was forked");
  }
  report.global_length = global.entries.size();

  // Everything verified: remember it.
  COFFER_RETURN_IF_ERROR(state.Begin());
  Status st = state.Put(kPinnedKey, log.public_key);
  if (st.ok()) st = state.PutInt(kVerifiedLength, static_cast<int64_t>(hashes.size()));
  if (st.ok()) st = state.PutString(kVerifiedHead, hashes.empty() ? "" : HexEncode(hashes.back()));
  if (st.ok()) st = state.Commit();
  if (!st.ok()) {
    state.Rollback();
    return st;
  }
  return report;
}

json AuditJson(const AuditReport& report) {
  json entries = json::array();
  for (const auto& e : report.entries) {
    entries.push_back(json{{"seq", e.seq},
                           {"time", e.time},
                           {"actor_kind", e.actor_kind == staff::ActorKind::kStaff ? "staff" : "owner"},
                           {"actor_id", e.actor_id},
                           {"actor", e.actor_name},
                           {"role", e.role},
                           {"action", e.action},
                           {"outcome", std::string(staff::OutcomeName(e.outcome))},
                           {"reason", e.reason},
                           {"grant_id", IsZeroId(e.grant_id) ? "" : staff::Id16Hex(e.grant_id)},
                           {"detail", e.detail}});
  }
  return json{{"entries", entries},
              {"verified", true},
              {"length", report.entries.size()},
              {"previously_verified", report.previously_verified},
              {"global_length", report.global_length},
              {"log_public_key", report.log_public_key_hex},
              {"key_pinned_now", report.key_pinned_now}};
}

std::string AuditText(const AuditReport& report) {
  std::string text;
  for (const auto& e : report.entries) {
    text += "#" + std::to_string(e.seq) + "  " + FormatTime(e.time) + "  ";
    if (e.actor_kind == staff::ActorKind::kStaff) {
      text += "staff " + PrintableText(e.actor_name, 64) + " (" + PrintableText(e.role, 16) + ")";
    } else {
      text += PrintableText(e.actor_name, 64) + (e.actor_id.empty() ? "" : " " + e.actor_id.substr(0, 8));
    }
    text += "  " + PrintableText(e.action, 64) + "  " + std::string(staff::OutcomeName(e.outcome));
    if (!IsZeroId(e.grant_id)) text += "  grant " + staff::Id16Hex(e.grant_id).substr(0, 12);
    if (!e.reason.empty()) text += "\n      reason: " + PrintableText(e.reason);
    if (!e.detail.empty()) text += "\n      " + PrintableText(e.detail);
    if (e.action == "restore-trash" && e.outcome == staff::Outcome::kDone) {
      text += "\n      support asks you to restore items from your trash: see `coffer trash list` and "
              "`coffer trash restore`";
    }
    text += "\n";
  }
  if (report.entries.empty()) text += "No staff access and no grant activity on this account.\n";
  text += "Access log verified: " + std::to_string(report.entries.size()) + " entries, signed by log key " +
          report.log_public_key_hex.substr(0, 16) + "..." +
          (report.key_pinned_now ? " (pinned now, first audit on this device)" : "") + "; global log " +
          std::to_string(report.global_length) + " entries.";
  return text;
}

}  // namespace coffer::client
