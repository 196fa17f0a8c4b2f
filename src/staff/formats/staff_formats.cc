#include "staff/formats/staff_formats.h"

#include <algorithm>
#include <cctype>

#include "crypto/hash.h"

namespace coffer::staff {
namespace {

constexpr std::string_view kGrantMagic = "CFGR";
constexpr std::string_view kLogEntryMagic = "CFLE";
constexpr std::string_view kGlobalMagic = "CFLH";
constexpr std::string_view kGrantCodePrefix = "CG1-";
constexpr size_t kChecksumBytes = 4;
// Largest encoding a grant code may carry: fixed fields, a full note, the signature.
constexpr size_t kMaxGrantBytes = 4 + 1 + 3 * kStaffIdBytes + 4 + 8 + 8 + 4 + kMaxGrantNote + crypto::kSignatureBytes;

void Header(ByteWriter& w, std::string_view magic) {
  w.Raw(magic);
  w.U8(kStaffFormatVersion);
}

Status ReadHeader(ByteReader& r, std::string_view magic, std::string_view what) {
  COFFER_ASSIGN_OR_RETURN(ByteView m, r.Raw(4));
  if (AsChars(m) != magic) return DataLossError(std::string(what) + " has a wrong magic number");
  COFFER_ASSIGN_OR_RETURN(uint8_t version, r.U8());
  if (version != kStaffFormatVersion) {
    return DataLossError(std::string(what) + " has format version " + std::to_string(version) +
                         "; this build reads version 1 only");
  }
  return OkStatus();
}

template <size_t N>
Status ReadFixed(ByteReader& r, std::array<uint8_t, N>& out) {
  COFFER_ASSIGN_OR_RETURN(ByteView v, r.Raw(N));
  std::copy(v.begin(), v.end(), out.begin());
  return OkStatus();
}

StatusOr<Bytes> ReadSignature(ByteReader& r) {
  COFFER_ASSIGN_OR_RETURN(ByteView sig, r.Raw(crypto::kSignatureBytes));
  COFFER_RETURN_IF_ERROR(r.ExpectEnd());
  return ToBytes(sig);
}

std::string Base64UrlNoPad(ByteView data) {
  std::string s = Base64Encode(data);
  while (!s.empty() && s.back() == '=') s.pop_back();
  for (char& c : s) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return s;
}

StatusOr<Bytes> FromBase64UrlNoPad(std::string s) {
  for (char& c : s) {
    if (c == '+' || c == '/' || c == '=') return InvalidArgumentError("not base64url");
    if (c == '-') c = '+';
    if (c == '_') c = '/';
  }
  if (s.size() % 4 == 1) return InvalidArgumentError("not base64url");
  while (s.size() % 4 != 0) s.push_back('=');
  return Base64Decode(s);
}

}  // namespace

StatusOr<uint32_t> ScopeFromName(std::string_view name) {
  if (name == "metadata") return kScopeMetadata;
  if (name == "restore-trash") return kScopeRestoreTrash;
  return InvalidArgumentError("unknown grant scope \"" + std::string(name.substr(0, 40)) +
                              "\" (scopes: metadata, restore-trash)");
}

std::string ScopeNames(uint32_t scopes) {
  std::string out;
  auto add = [&](std::string_view s) { out += (out.empty() ? "" : ",") + std::string(s); };
  if (scopes & kScopeMetadata) add("metadata");
  if (scopes & kScopeRestoreTrash) add("restore-trash");
  if (scopes & ~kAllScopes) add("unknown-bits-" + std::to_string(scopes & ~kAllScopes));
  return out;
}

std::string_view OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kDone: return "done";
    case Outcome::kDenied: return "denied";
    case Outcome::kFailed: return "failed";
  }
  return "unknown";
}

// ---- grant ----

Bytes Grant::SignedPart() const {
  ByteWriter w;
  Header(w, kGrantMagic);
  w.Raw(grant_id);
  w.Raw(account_id);
  w.Raw(device_id);
  w.U32(scopes);
  w.U64(static_cast<uint64_t>(issued_at));
  w.U64(static_cast<uint64_t>(expires_at));
  w.Str(note);
  return w.Take();
}

Bytes Grant::Encode() const {
  Bytes out = SignedPart();
  out.insert(out.end(), signature.begin(), signature.end());
  return out;
}

StatusOr<Grant> Grant::Decode(ByteView data) {
  ByteReader r(data, "access grant");
  COFFER_RETURN_IF_ERROR(ReadHeader(r, kGrantMagic, "access grant"));
  Grant g;
  COFFER_RETURN_IF_ERROR(ReadFixed(r, g.grant_id));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, g.account_id));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, g.device_id));
  COFFER_ASSIGN_OR_RETURN(g.scopes, r.U32());
  COFFER_ASSIGN_OR_RETURN(uint64_t issued, r.U64());
  COFFER_ASSIGN_OR_RETURN(uint64_t expires, r.U64());
  g.issued_at = static_cast<int64_t>(issued);
  g.expires_at = static_cast<int64_t>(expires);
  COFFER_ASSIGN_OR_RETURN(g.note, r.Str(kMaxGrantNote));
  COFFER_ASSIGN_OR_RETURN(g.signature, ReadSignature(r));
  return g;
}

void SignGrant(Grant& grant, const crypto::SigningKey& device_key) {
  grant.signature = device_key.Sign(grant.SignedPart());
}

Status VerifyGrantSignature(const Grant& grant, ByteView device_sign_pk) {
  if (!crypto::VerifySignature(device_sign_pk, grant.SignedPart(), grant.signature).ok()) {
    return SecurityError("the grant's signature does not verify with the key of device " +
                         Id16Hex(grant.device_id));
  }
  return OkStatus();
}

std::string FormatGrantCode(const Grant& grant) {
  Bytes payload = grant.Encode();
  const Bytes check = crypto::Hash(payload);
  payload.insert(payload.end(), check.begin(), check.begin() + kChecksumBytes);
  return std::string(kGrantCodePrefix) + Base64UrlNoPad(payload);
}

StatusOr<Grant> ParseGrantCode(std::string_view text) {
  std::string compact;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) compact.push_back(c);
  }
  if (compact.rfind(kGrantCodePrefix, 0) != 0) {
    return InvalidArgumentError("a grant code starts with \"CG1-\"; ask the account owner for the code that "
                                "`coffer support grant` printed");
  }
  compact.erase(0, kGrantCodePrefix.size());
  if (compact.size() > (kMaxGrantBytes + kChecksumBytes) * 4 / 3 + 4) {
    return InvalidArgumentError("grant code is too long");
  }
  auto raw = FromBase64UrlNoPad(compact);
  if (!raw.ok() || raw->size() <= kChecksumBytes) {
    return InvalidArgumentError("grant code is damaged (not base64url); copy it again");
  }
  const ByteView payload = ByteView(*raw).first(raw->size() - kChecksumBytes);
  const Bytes check = crypto::Hash(payload);
  if (!std::equal(check.begin(), check.begin() + kChecksumBytes, raw->end() - kChecksumBytes)) {
    return InvalidArgumentError("grant code checksum does not match (a character was changed); copy it again");
  }
  auto grant = Grant::Decode(payload);
  if (!grant.ok()) return InvalidArgumentError("grant code does not hold a grant: " + grant.status().message());
  return grant;
}

// ---- access log entry ----

Bytes LogEntry::SignedPart() const {
  ByteWriter w;
  Header(w, kLogEntryMagic);
  w.Raw(account_id);
  w.U64(seq);
  w.Raw(prev_hash);
  w.U64(static_cast<uint64_t>(time));
  w.U8(static_cast<uint8_t>(actor_kind));
  w.Str(actor_id);
  w.Str(actor_name);
  w.Str(role);
  w.Str(action);
  w.U8(static_cast<uint8_t>(outcome));
  w.Str(reason);
  w.Raw(grant_id);
  w.Str(detail);
  return w.Take();
}

StatusOr<LogEntry> LogEntry::Decode(ByteView data, Bytes* signature) {
  ByteReader r(data, "access log entry");
  COFFER_RETURN_IF_ERROR(ReadHeader(r, kLogEntryMagic, "access log entry"));
  LogEntry e;
  COFFER_RETURN_IF_ERROR(ReadFixed(r, e.account_id));
  COFFER_ASSIGN_OR_RETURN(e.seq, r.U64());
  COFFER_RETURN_IF_ERROR(ReadFixed(r, e.prev_hash));
  COFFER_ASSIGN_OR_RETURN(uint64_t time, r.U64());
  e.time = static_cast<int64_t>(time);
  COFFER_ASSIGN_OR_RETURN(uint8_t kind, r.U8());
  if (kind != static_cast<uint8_t>(ActorKind::kStaff) && kind != static_cast<uint8_t>(ActorKind::kOwner)) {
    return DataLossError("access log entry has unknown actor kind " + std::to_string(kind));
  }
  e.actor_kind = static_cast<ActorKind>(kind);
  COFFER_ASSIGN_OR_RETURN(e.actor_id, r.Str(kMaxActorField));
  COFFER_ASSIGN_OR_RETURN(e.actor_name, r.Str(kMaxActorField));
  COFFER_ASSIGN_OR_RETURN(e.role, r.Str(kMaxRoleField));
  COFFER_ASSIGN_OR_RETURN(e.action, r.Str(kMaxActionField));
  COFFER_ASSIGN_OR_RETURN(uint8_t outcome, r.U8());
  if (outcome < 1 || outcome > 3) {
    return DataLossError("access log entry has unknown outcome " + std::to_string(outcome));
  }
  e.outcome = static_cast<Outcome>(outcome);
  COFFER_ASSIGN_OR_RETURN(e.reason, r.Str(kMaxReasonField));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, e.grant_id));
  COFFER_ASSIGN_OR_RETURN(e.detail, r.Str(kMaxDetailField));
  COFFER_ASSIGN_OR_RETURN(Bytes sig, ReadSignature(r));
  if (signature != nullptr) *signature = std::move(sig);
  return e;
}

Bytes SignLogEntry(const LogEntry& entry, const crypto::SigningKey& log_key) {
  Bytes out = entry.SignedPart();
  const Bytes sig = log_key.Sign(out);
  out.insert(out.end(), sig.begin(), sig.end());
  return out;
}

// ---- global log entry ----

Bytes GlobalLogEntry::SignedPart() const {
  ByteWriter w;
  Header(w, kGlobalMagic);
  w.U64(seq);
  w.Raw(prev_hash);
  w.Raw(account_id);
  w.U64(account_length);
  w.Raw(account_head);
  w.U64(static_cast<uint64_t>(time));
  return w.Take();
}

StatusOr<GlobalLogEntry> GlobalLogEntry::Decode(ByteView data, Bytes* signature) {
  ByteReader r(data, "global log entry");
  COFFER_RETURN_IF_ERROR(ReadHeader(r, kGlobalMagic, "global log entry"));
  GlobalLogEntry e;
  COFFER_ASSIGN_OR_RETURN(e.seq, r.U64());
  COFFER_RETURN_IF_ERROR(ReadFixed(r, e.prev_hash));
  COFFER_RETURN_IF_ERROR(ReadFixed(r, e.account_id));
  COFFER_ASSIGN_OR_RETURN(e.account_length, r.U64());
  COFFER_RETURN_IF_ERROR(ReadFixed(r, e.account_head));
  COFFER_ASSIGN_OR_RETURN(uint64_t time, r.U64());
  e.time = static_cast<int64_t>(time);
  COFFER_ASSIGN_OR_RETURN(Bytes sig, ReadSignature(r));
  if (signature != nullptr) *signature = std::move(sig);
  return e;
}

Bytes SignGlobalLogEntry(const GlobalLogEntry& entry, const crypto::SigningKey& log_key) {
  Bytes out = entry.SignedPart();
  const Bytes sig = log_key.Sign(out);
  out.insert(out.end(), sig.begin(), sig.end());
  return out;
}

Hash32 EntryHash(ByteView encoded) {
  const Bytes h = crypto::Hash(encoded);
  Hash32 out{};
  std::copy(h.begin(), h.end(), out.begin());
  return out;
}

std::string Id16Hex(const Id16& id) { return HexEncode(id); }

StatusOr<Id16> Id16FromHex(std::string_view hex) {
  bool ok = hex.size() == 2 * kStaffIdBytes &&
            std::all_of(hex.begin(), hex.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
  if (!ok) return InvalidArgumentError("expected an id of 32 lowercase hex characters");
  COFFER_ASSIGN_OR_RETURN(Bytes raw, HexDecode(hex));
  Id16 out{};
  std::copy(raw.begin(), raw.end(), out.begin());
  return out;
}

}  // namespace coffer::staff
