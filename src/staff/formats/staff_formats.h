// Byte formats of the support console (docs/FORMAT.md §16), shared by the server (which
// signs log entries and checks grants) and the client (which signs grants and verifies the
// log). Only util and crypto are linked, so the server still never links the client library.
//
//   CFGR  access grant: signed by an owner's device, pasted to support as a grant code
//   CFLE  access log entry: one per staff call or grant use, hash-chained per account,
//         signed by the server's log key
//   CFLH  global log entry: the new head of one account's log, hash-chained over all
//         accounts, signed by the log key (lets an auditor see that no account log forked)
//
// Decoders only parse (bounds-checked, kDataLoss on anything malformed, unknown versions
// refused); signatures are checked by the Verify* functions.
#ifndef COFFER_STAFF_FORMATS_STAFF_FORMATS_H_
#define COFFER_STAFF_FORMATS_STAFF_FORMATS_H_

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "coffer/status.h"
#include "crypto/sign.h"
#include "util/bytes.h"

namespace coffer::staff {

inline constexpr uint8_t kStaffFormatVersion = 1;
inline constexpr size_t kStaffIdBytes = 16;
inline constexpr size_t kStaffHashBytes = 32;
inline constexpr size_t kMaxGrantNote = 256;
inline constexpr size_t kMaxActorField = 64;
inline constexpr size_t kMaxRoleField = 16;
inline constexpr size_t kMaxActionField = 64;
inline constexpr size_t kMaxReasonField = 1024;
inline constexpr size_t kMaxDetailField = 1024;

using Id16 = std::array<uint8_t, kStaffIdBytes>;
using Hash32 = std::array<uint8_t, kStaffHashBytes>;

// Grant scopes (bit set).
inline constexpr uint32_t kScopeMetadata = 1u << 0;
inline constexpr uint32_t kScopeRestoreTrash = 1u << 1;
inline constexpr uint32_t kAllScopes = kScopeMetadata | kScopeRestoreTrash;
// "metadata" / "restore-trash" -> bit; kInvalidArgument for anything else.
StatusOr<uint32_t> ScopeFromName(std::string_view name);
// "metadata,restore-trash" (names of the set bits, comma-separated; unknown bits as hex).
std::string ScopeNames(uint32_t scopes);

struct Grant {
  Id16 grant_id{};
  Id16 account_id{};
  Id16 device_id{};  // the signing device
  uint32_t scopes = 0;
  int64_t issued_at = 0;
  int64_t expires_at = 0;
  std::string note;  // the owner's words for support (e.g. the ticket), <= 256 bytes
  Bytes signature;   // by the device's Ed25519 key over SignedPart()

  Bytes SignedPart() const;
  Bytes Encode() const;
  static StatusOr<Grant> Decode(ByteView data);
};

// Signs `grant` in place with the device key.
void SignGrant(Grant& grant, const crypto::SigningKey& device_key);
// kSecurity unless the signature verifies under `device_sign_pk`.
Status VerifyGrantSignature(const Grant& grant, ByteView device_sign_pk);

// The text form the owner pastes: "CG1-" + base64url (no padding) of encoding || 4-byte
// checksum (the first 4 bytes of H(encoding)); the checksum catches a mangled paste
// before any network call. Whitespace inside the code is ignored when parsing.
std::string FormatGrantCode(const Grant& grant);
StatusOr<Grant> ParseGrantCode(std::string_view text);

enum class ActorKind : uint8_t { kStaff = 1, kOwner = 2 };
enum class Outcome : uint8_t { kDone = 1, kDenied = 2, kFailed = 3 };
std::string_view OutcomeName(Outcome outcome);

struct LogEntry {
  Id16 account_id{};
  uint64_t seq = 0;
  Hash32 prev_hash{};  // H of entry seq-1; zero for entry 0
  int64_t time = 0;
  ActorKind actor_kind = ActorKind::kStaff;
  std::string actor_id;    // staff id (32 hex) or device id of an owner action
  std::string actor_name;  // staff name, or "" for the owner
  std::string role;        // "support" | "admin" | "owner"
  std::string action;      // "lookup", "lock", "metadata", "grant-use", ...
  Outcome outcome = Outcome::kDone;
  std::string reason;      // the ticket/reason text staff had to give
  Id16 grant_id{};         // zero when no grant was presented
  std::string detail;      // why it was denied, or what happened

  Bytes SignedPart() const;
  static StatusOr<LogEntry> Decode(ByteView data, Bytes* signature);
};

// Encoding of `entry` signed by the log key (SignedPart || signature).
Bytes SignLogEntry(const LogEntry& entry, const crypto::SigningKey& log_key);

struct GlobalLogEntry {
  uint64_t seq = 0;
  Hash32 prev_hash{};
  Id16 account_id{};
  uint64_t account_length = 0;  // the account log's length after the append
  Hash32 account_head{};        // H of its last entry
  int64_t time = 0;

  Bytes SignedPart() const;
  static StatusOr<GlobalLogEntry> Decode(ByteView data, Bytes* signature);
};

Bytes SignGlobalLogEntry(const GlobalLogEntry& entry, const crypto::SigningKey& log_key);

// H (BLAKE2b-256) of a complete encoding: the chain link of both logs.
Hash32 EntryHash(ByteView encoded);

// Hex of a 16-byte id; and back (kInvalidArgument unless 32 lowercase hex).
std::string Id16Hex(const Id16& id);
StatusOr<Id16> Id16FromHex(std::string_view hex);

}  // namespace coffer::staff

#endif  // COFFER_STAFF_FORMATS_STAFF_FORMATS_H_
