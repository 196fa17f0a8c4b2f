#include "client/keys.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <ctime>
#include <fstream>

#include "crypto/hash.h"

namespace coffer::client {
namespace {

constexpr char kBase32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

std::string Base32(ByteView data) {
  std::string out;
  uint32_t buffer = 0;
  int bits = 0;
  for (uint8_t b : data) {
    buffer = (buffer << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out.push_back(kBase32[(buffer >> (bits - 5)) & 31]);
      bits -= 5;
    }
  }
  if (bits > 0) out.push_back(kBase32[(buffer << (5 - bits)) & 31]);
  return out;
}

// Decodes base32, ignoring dashes/spaces and case; common look-alikes are mapped
// (0->O, 1->I, 8->B) because people type these codes.
StatusOr<Bytes> FromBase32(std::string_view text, size_t want_bytes) {
  Bytes out;
  uint32_t buffer = 0;
  int bits = 0;
  for (char ch : text) {
    if (ch == '-' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') continue;
    char c = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (c == '0') c = 'O';
    if (c == '1') c = 'I';
    if (c == '8') c = 'B';
    const char* p = std::strchr(kBase32, c);
    if (c == '\0' || p == nullptr) return InvalidArgumentError(std::string("invalid character '") + ch + "'");
    buffer = (buffer << 5) | static_cast<uint32_t>(p - kBase32);
    bits += 5;
    if (bits >= 8) {
      out.push_back(static_cast<uint8_t>(buffer >> (bits - 8)));
      bits -= 8;
    }
  }
  // Exactly the characters an encoder writes: no spare character, and the unused low bits
  // of the last one are zero.
  if (out.size() != want_bytes || bits >= 5 || (buffer & ((1u << bits) - 1)) != 0) {
    return InvalidArgumentError("wrong length");
  }
  return out;
}

std::string Group(const std::string& s, size_t n) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (i > 0 && i % n == 0) out.push_back('-');
    out.push_back(s[i]);
  }
  return out;
}

}  // namespace

Hash32 HashOf(ByteView data) {
  Bytes h = crypto::Hash(data);
  Hash32 out;
  std::copy(h.begin(), h.end(), out.begin());
  return out;
}

DeviceKeys DeviceKeys::Generate(std::string name) {
  return DeviceKeys{RandomId(), std::move(name), crypto::SigningKey::Generate(), crypto::BoxKeyPair::Generate()};
}

Identity Identity::Generate() { return Identity{crypto::SigningKey::Generate(), crypto::BoxKeyPair::Generate()}; }

Status DeviceKeys::Save(const std::string& path) const {
  ByteWriter w;
  w.Raw(std::string_view("CFDK", 4));
  w.U8(kFormatVersion);
  w.Raw(device_id);
  w.Raw(sign.seed().Reveal(crypto::SecretAccess::Get()));
  w.Raw(box.secret_key().Reveal(crypto::SecretAccess::Get()));
  w.Str(name);
  Bytes data = w.Take();
  const std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    sodium_memzero(data.data(), data.size());
    return UnavailableError("cannot write device key file " + tmp + ": " + std::strerror(errno));
  }
  bool ok = ::write(fd, data.data(), data.size()) == static_cast<ssize_t>(data.size()) && ::fsync(fd) == 0;
  ::close(fd);
  sodium_memzero(data.data(), data.size());
  if (!ok || ::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return UnavailableError("cannot write device key file " + path + ": " + std::strerror(errno));
  }
  return OkStatus();
}

StatusOr<DeviceKeys> DeviceKeys::Load(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFoundError("no device key at " + path);
  crypto::SecretBytes buf(4096);
  auto span = buf.MutableReveal(crypto::SecretAccess::Get());
  ssize_t n = ::read(fd, span.data(), span.size());
  ::close(fd);
  if (n <= 0) return DataLossError("device key file " + path + " is empty or unreadable");
  ByteReader r(ByteView(span.data(), static_cast<size_t>(n)), "device key file " + path);
  COFFER_ASSIGN_OR_RETURN(ByteView magic, r.Raw(5));
  if (std::memcmp(magic.data(), "CFDK", 4) != 0 || magic[4] != kFormatVersion) {
    return DataLossError("device key file " + path + " is not a Coffer device key");
  }
  DeviceKeys keys;
  COFFER_ASSIGN_OR_RETURN(ByteView id, r.Raw(kIdBytes));
  std::copy(id.begin(), id.end(), keys.device_id.begin());
  COFFER_ASSIGN_OR_RETURN(ByteView seed, r.Raw(32));
  COFFER_ASSIGN_OR_RETURN(ByteView box_sk, r.Raw(32));
  COFFER_ASSIGN_OR_RETURN(keys.name, r.Str(256));
  COFFER_RETURN_IF_ERROR(r.ExpectEnd());
  COFFER_ASSIGN_OR_RETURN(keys.sign, crypto::SigningKey::FromSeed(crypto::SecretBytes::FromBytes(seed)));
  COFFER_ASSIGN_OR_RETURN(keys.box, crypto::BoxKeyPair::FromSecretKey(crypto::SecretBytes::FromBytes(box_sk)));
  return keys;
}

Bytes MakeChainEntry(uint64_t seq, const Hash32& prev_hash, const Id& account_id, ChainAction action,
                     const Id& device_id, ByteView device_sign_pk, ByteView device_box_pk,
                     const crypto::SigningKey& before, const Identity& after) {
  ChainEntry e;
  e.seq = seq;
  e.prev_hash = prev_hash;
  e.account_id = account_id;
  e.action = action;
  e.time = static_cast<int64_t>(std::time(nullptr));
  e.device_id = device_id;
  e.device_sign_pk = ToBytes(device_sign_pk);
  e.device_box_pk = ToBytes(device_box_pk);
  e.identity_sign_pk = after.sign.public_key();
  e.identity_box_pk = after.box.public_key();
  Bytes signed_part = e.SignedPart();
  e.sig_prev_identity = before.Sign(signed_part);
  e.sig_new_identity = after.sign.Sign(signed_part);
  return e.Encode();
}

StatusOr<ChainState> VerifyChain(const std::vector<Bytes>& entries, const Id& account_id,
                                 const Hash32& pinned_genesis) {
  if (entries.empty()) return SecurityError("the server returned an empty device chain");
  ChainState st;
  st.account_id = account_id;
  for (size_t i = 0; i < entries.size(); ++i) {
    const std::string where = "device chain entry " + std::to_string(i);
    auto decoded = ChainEntry::Decode(entries[i]);
    if (!decoded.ok()) return SecurityError(where + ": " + decoded.status().message());
    const ChainEntry& e = *decoded;
    const Hash32 h = HashOf(entries[i]);
    if (e.seq != i) return SecurityError(where + " has sequence number " + std::to_string(e.seq) + " (re-ordered chain)");
    if (e.account_id != account_id) return SecurityError(where + " belongs to another account");
    const Bytes signed_part = e.SignedPart();
    if (i == 0) {
      if (e.action != ChainAction::kGenesis || !IsZero(e.prev_hash)) {
        return SecurityError(where + " is not a genesis entry");
      }
      if (h != pinned_genesis) {
        return SecurityError("the device chain does not start with the genesis this device pinned "
                             "(the server substituted the account's device chain)");
      }
      if (!crypto::VerifySignature(e.identity_sign_pk, signed_part, e.sig_prev_identity).ok()) {
        return SecurityError(where + ": bad identity signature");
      }
    } else {
      if (e.action == ChainAction::kGenesis) return SecurityError(where + " is a second genesis entry");
      if (e.prev_hash != st.head_hash) return SecurityError(where + " does not link to the previous entry");
      if (!crypto::VerifySignature(st.identity_sign_pk, signed_part, e.sig_prev_identity).ok()) {
        return SecurityError(where + " is not signed by the account identity (injected device?)");
      }
    }
    if (!crypto::VerifySignature(e.identity_sign_pk, signed_part, e.sig_new_identity).ok()) {
      return SecurityError(where + ": the new identity's signature is invalid");
    }
    switch (e.action) {
      case ChainAction::kGenesis:
      case ChainAction::kAdd: {
        if (st.devices.count(e.device_id)) return SecurityError(where + " adds a device that was already added");
        if (e.action == ChainAction::kAdd && e.identity_sign_pk != st.identity_sign_pk) {
          return SecurityError(where + " changes the identity without a revocation");
        }
        ChainDevice d;
        d.device_id = e.device_id;
        d.sign_pk = e.device_sign_pk;
        d.box_pk = e.device_box_pk;
        d.added_at_seq = i;
        d.added_time = e.time;
        st.devices[e.device_id] = std::move(d);
        break;
      }
      case ChainAction::kRevoke: {
        auto it = st.devices.find(e.device_id);
        if (it == st.devices.end() || !it->second.active()) {
          return SecurityError(where + " revokes a device that is not active");
        }
        if (e.identity_sign_pk == st.identity_sign_pk) {
          return SecurityError(where + " revokes a device without rotating the identity");
        }
        it->second.revoked_at_seq = i;
        break;
      }
    }
    st.identity_sign_pk = e.identity_sign_pk;
    st.identity_box_pk = e.identity_box_pk;
    st.head_hash = h;
    if (i == 0) st.genesis_hash = h;
  }
  st.length = entries.size();
  return st;
}

Status CheckChainExtends(const std::vector<Bytes>& entries, uint64_t seen_len, const Hash32& seen_head) {
  if (seen_len == 0) return OkStatus();
  if (entries.size() < seen_len) {
    return SecurityError("rollback detected: the server shows a device chain of " + std::to_string(entries.size()) +
                         " entries, but this device has already seen " + std::to_string(seen_len));
  }
  if (HashOf(entries[seen_len - 1]) != seen_head) {
    return SecurityError("fork detected: the device chain entry " + std::to_string(seen_len - 1) +
                         " differs from the one this device saw before");
  }
  return OkStatus();
}

std::string FormatRecoveryKey(const crypto::SecretBytes& key) {
  ByteView k = key.Reveal(crypto::SecretAccess::Get());
  Bytes data(k.begin(), k.end());
  Bytes check = crypto::Hash(data);
  data.push_back(check[0]);
  data.push_back(check[1]);
  std::string s = Base32(data);  // 34 bytes -> 55 characters
  sodium_memzero(data.data(), data.size());
  std::string out = Group(s, 5);
  sodium_memzero(s.data(), s.size());
  return out;
}

StatusOr<crypto::SecretBytes> ParseRecoveryKey(std::string_view text) {
  auto decoded = FromBase32(text, 34);
  if (!decoded.ok()) {
    return InvalidArgumentError("this is not a Coffer recovery key (" + decoded.status().message() +
                                "); it has 11 groups of 5 letters and digits");
  }
  Bytes& data = *decoded;
  Bytes check = crypto::Hash(ByteView(data.data(), 32));
  bool ok = check[0] == data[32] && check[1] == data[33];
  auto key = crypto::SecretBytes::FromBytes(ByteView(data.data(), 32));
  sodium_memzero(data.data(), data.size());
  if (!ok) return InvalidArgumentError("the recovery key has a typo (its checksum does not match)");
  return key;
}

std::string FormatPairingCode(const crypto::SecretBytes& secret) {
  return Group(Base32(secret.Reveal(crypto::SecretAccess::Get())), 4);
}

StatusOr<crypto::SecretBytes> ParsePairingCode(std::string_view text) {
  auto decoded = FromBase32(text, 16);
  if (!decoded.ok()) {
    return InvalidArgumentError("this is not a pairing code (" + decoded.status().message() +
                                "); copy it exactly as `coffer device link` shows it");
  }
  auto s = crypto::SecretBytes::FromBytes(*decoded);
  sodium_memzero(decoded->data(), decoded->size());
  return s;
}

}  // namespace coffer::client
