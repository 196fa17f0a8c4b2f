// Account record, devices and the device chain, sealed keys, keyring: docs/API.md "Account",
// "Devices and the device chain", "Keyring".
//
// The chain entries are signed data the server cannot read. What it can act on is the
// `effect` that comes with each entry: whom to admit and whom to refuse. Clients trust only
// the signed chain, never the server's device list.
#include "crypto/password.h"
#include "server/handlers.h"
#include "server/log.h"
#include "server/validate.h"

namespace coffer::server {
namespace {

using nlohmann::json;

constexpr size_t kVerifierBytes = 32;
constexpr size_t kPublicKeyBytes = 32;
constexpr size_t kMaxDeviceName = 256;
constexpr size_t kMaxBlobBytes = 512 * kKiB;
constexpr uint64_t kMaxOpsLimit = 4294967295ull;
constexpr uint64_t kMaxMemLimit = 4398046510080ull;

struct Effect {
  bool add = false;
  store::DeviceRecord device;  // for add: id, keys, name; for revoke: only device_id
};

StatusOr<Effect> ParseEffect(const JsonFields& f, const std::string& account_id) {
  Effect e;
  e.device.account_id = account_id;
  COFFER_ASSIGN_OR_RETURN(std::string action, f.String("action", 1, 16));
  if (action == "add") {
    e.add = true;
    COFFER_ASSIGN_OR_RETURN(JsonFields d, f.Object("device"));
    COFFER_ASSIGN_OR_RETURN(e.device.device_id, d.HexId("id", kShortIdHexLen));
    COFFER_ASSIGN_OR_RETURN(e.device.sign_public_key, d.Base64Exact("sign_pk", kPublicKeyBytes));
    COFFER_ASSIGN_OR_RETURN(e.device.box_public_key, d.Base64Exact("box_pk", kPublicKeyBytes));
    COFFER_ASSIGN_OR_RETURN(e.device.name, d.String("name", 0, kMaxDeviceName));
  } else if (action == "revoke") {
    COFFER_ASSIGN_OR_RETURN(e.device.device_id, f.HexId("device_id", kShortIdHexLen));
  } else {
    return InvalidArgumentError("field \"effect.action\" must be \"add\" or \"revoke\"");
  }
  return e;
}

// Makes the server's device table and sessions follow a chain entry. Idempotent, so a
// retried request can apply it again.
Status ApplyEffect(const Services& s, const std::string& account_id, const Effect& e, int64_t now) {
  auto existing = s.meta.GetDevice(account_id, e.device.device_id);
  if (!existing.ok() && existing.status().code() != StatusCode::kNotFound) return existing.status();
  if (!e.add) {
    if (!existing.ok())
      return NotFoundError("device " + e.device.device_id + " is not registered on this account");
    store::DeviceRecord dev = *existing;
    dev.status = store::DeviceStatus::kRevoked;
    COFFER_RETURN_IF_ERROR(s.meta.PutDevice(dev));
    return s.meta.DeleteDeviceSessions(account_id, dev.device_id);
  }
  store::DeviceRecord dev = e.device;
  dev.status = store::DeviceStatus::kActive;
  dev.created_at = existing.ok() ? existing->created_at : now;
  COFFER_RETURN_IF_ERROR(s.meta.PutDevice(dev));
  if (existing.ok() && existing->sign_public_key != dev.sign_public_key) {
    // The sessions were opened by whoever held the *old* key; the chain admitted a different
    // key, so those sessions must not be upgraded. The admitted device logs in again.
    return s.meta.DeleteDeviceSessions(account_id, dev.device_id);
  }
  return s.meta.SetDeviceSessionsKind(account_id, dev.device_id, store::SessionKind::kDevice);
}

StatusOr<uint64_t> ChainLength(const Services& s, const std::string& account_id) {
  // The interface has no length query; entries are small and chains short (one per device
  // change), so reading them is cheap.
  COFFER_ASSIGN_OR_RETURN(std::vector<Bytes> chain, s.meta.GetChain(account_id, 0));
  return chain.size();
}

}  // namespace

std::string ChunkBlobKey(const std::string& account_id, const std::string& chunk_id) {
  return account_id + "/" + chunk_id;
}

std::string PackBlobKey(const std::string& account_id, const std::string& pack_id) {
  return account_id + "/packs/" + pack_id;
}

StatusOr<Bytes> ReadChunkBytes(store::BlobStore& blobs, const std::string& account_id, const store::ChunkRecord& rec) {
  if (rec.pack_id.empty()) return blobs.Get(ChunkBlobKey(account_id, rec.chunk_id));
  if (rec.size == 0) return DataLossError("chunk " + rec.chunk_id + " is indexed with size 0");
  auto data = blobs.GetRange(PackBlobKey(account_id, rec.pack_id), rec.pack_offset, rec.size);
  // A pack shorter than the index says is damage to this chunk's copy, like a missing blob.
  if (!data.ok() && data.status().code() == StatusCode::kOutOfRange) {
    return DataLossError("pack " + rec.pack_id + " ends before chunk " + rec.chunk_id);
  }
  return data;
}

Response CasConflict(std::string_view message, std::string_view field, uint64_t value) {
  return ErrorResponse(409, "ABORTED", message, json{{std::string(field), value}});
}

Response QuotaExceeded(const store::AccountRecord& account, uint64_t adding) {
  return ErrorResponse(507, "RESOURCE_EXHAUSTED",
                       "account quota exceeded: " + std::to_string(account.used_bytes) + " of " +
                           std::to_string(account.quota_bytes) + " bytes used, this write needs " +
                           std::to_string(adding) + " more; free space (gc) or ask the operator for more");
}

StatusOr<Response> HandleGetAccount(const Services& s, const Call& c) {
  // Re-read: the caller's copy was taken before this request and may be a moment old.
  COFFER_ASSIGN_OR_RETURN(store::AccountRecord a, s.meta.GetAccount(c.account_id()));
  COFFER_ASSIGN_OR_RETURN(std::vector<store::DeviceRecord> devices, s.meta.ListDevices(c.account_id()));
  uint64_t active = 0;
  for (const auto& d : devices) active += d.status == store::DeviceStatus::kActive ? 1 : 0;
  return JsonResponse(200, json{{"account_id", a.account_id},
                                {"email", a.email},
                                {"created_at", a.created_at},
                                {"used_bytes", a.used_bytes},
                                {"quota_bytes", a.quota_bytes},
                                {"device_count", active},
                                {"locked", a.locked}});
}

StatusOr<Response> HandleGetRecovery(const Services& s, const Call& c) {
  return JsonResponse(200, json{{"blob", Base64Encode(c.caller->account.recovery_blob)}});
}

StatusOr<Response> HandlePutLogin(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
  JsonFields f(body, "");
  COFFER_ASSIGN_OR_RETURN(Bytes salt, f.Base64Exact("salt", crypto::kPasswordSaltBytes));
  COFFER_ASSIGN_OR_RETURN(uint64_t ops, f.Uint("ops", crypto::kMinOpsLimit, kMaxOpsLimit));
  COFFER_ASSIGN_OR_RETURN(uint64_t mem, f.Uint("mem", crypto::kMinMemLimit, kMaxMemLimit));
  COFFER_ASSIGN_OR_RETURN(Bytes verifier, f.Base64Exact("verifier", kVerifierBytes));
  COFFER_ASSIGN_OR_RETURN(std::string hash, HashVerifier(verifier));
  COFFER_RETURN_IF_ERROR(s.meta.UpdateLogin(c.account_id(), hash, salt, ops, mem));
  return EmptyResponse(204);
}

StatusOr<Response> HandlePutRecovery(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
  JsonFields f(body, "");
  COFFER_ASSIGN_OR_RETURN(Bytes blob, f.Base64("blob", 1, kMaxBlobBytes));
  // "verifier" is optional: a device rotating keys re-wraps the blob but does not hold the
  // recovery key, so the stored recovery verifier hash stays as it is.
  std::string hash;
  if (f.Has("verifier")) {
    COFFER_ASSIGN_OR_RETURN(Bytes verifier, f.Base64Exact("verifier", kVerifierBytes));
    COFFER_ASSIGN_OR_RETURN(hash, HashVerifier(verifier));
  } else {
    COFFER_ASSIGN_OR_RETURN(store::AccountRecord account, s.meta.GetAccount(c.account_id()));
    hash = account.recovery_hash;
  }
  COFFER_RETURN_IF_ERROR(s.meta.UpdateRecovery(c.account_id(), hash, blob));
  return EmptyResponse(204);
}

StatusOr<Response> HandleListDevices(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(std::vector<store::DeviceRecord> devices, s.meta.ListDevices(c.account_id()));
  json list = json::array();
  for (const auto& d : devices) {
    list.push_back(json{{"id", d.device_id},
                        {"sign_pk", Base64Encode(d.sign_public_key)},
                        {"box_pk", Base64Encode(d.box_public_key)},
                        {"name", d.name},
                        {"status", DeviceStatusName(d.status)},
                        {"created_at", d.created_at}});
  }
  return JsonResponse(200, json{{"devices", std::move(list)}});
}

StatusOr<Response> HandleGetChain(const Services& s, const Call& c) {
  uint64_t from = 0;
  if (auto it = c.query.find("from"); it != c.query.end()) {
    COFFER_ASSIGN_OR_RETURN(from, ParseUint(it->second, "query parameter \"from\"", 0, kMaxJsonInt));
  }
  COFFER_ASSIGN_OR_RETURN(std::vector<Bytes> entries, s.meta.GetChain(c.account_id(), from));
  json list = json::array();
  for (const Bytes& e : entries) list.push_back(Base64Encode(e));
  return JsonResponse(200, json{{"from", from}, {"entries", std::move(list)}});
}

StatusOr<Response> HandleAppendChain(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
  JsonFields f(body, "");
  COFFER_ASSIGN_OR_RETURN(uint64_t seq, f.Uint("seq", 0, kMaxJsonInt));
  COFFER_ASSIGN_OR_RETURN(Bytes entry, f.Base64("entry", 1, kMaxBlobBytes));
  COFFER_ASSIGN_OR_RETURN(JsonFields effect_f, f.Object("effect"));
  COFFER_ASSIGN_OR_RETURN(Effect effect, ParseEffect(effect_f, c.account_id()));
  const std::string& account_id = c.account_id();

  COFFER_ASSIGN_OR_RETURN(uint64_t length, ChainLength(s, account_id));
  if (seq != length) {
    // A retry of the entry that landed last (its reply was lost) succeeds again and
    // re-applies its effect; only the newest entry qualifies, so an old "add" can never be
    // replayed over a later "revoke".
    if (length > 0 && seq == length - 1) {
      COFFER_ASSIGN_OR_RETURN(std::vector<Bytes> last, s.meta.GetChain(account_id, seq));
      if (!last.empty() && last[0] == entry) {
        COFFER_RETURN_IF_ERROR(ApplyEffect(s, account_id, effect, c.now));
        return JsonResponse(201, json{{"seq", seq}});
      }
    }
    return CasConflict("device chain has " + std::to_string(length) + " entries, so the next seq is " +
                           std::to_string(length) + ", not " + std::to_string(seq) +
                           "; fetch the chain and retry",
                       "current", length);
  }
  // Order matters for crash safety: a revoke takes effect before the entry is stored (a
  // crash then leaves the device refused, the safe side); an add takes effect only after its
  // entry is stored (a crash never leaves an admitted device without its entry).
  if (!effect.add) COFFER_RETURN_IF_ERROR(ApplyEffect(s, account_id, effect, c.now));
  Status appended = s.meta.AppendChainEntry(account_id, seq, entry);
  if (appended.code() == StatusCode::kAborted) {
    COFFER_ASSIGN_OR_RETURN(uint64_t now_length, ChainLength(s, account_id));
    return CasConflict("another device appended to the chain first; fetch the chain and retry", "current",
                       now_length);
  }
  COFFER_RETURN_IF_ERROR(appended);
  if (effect.add) COFFER_RETURN_IF_ERROR(ApplyEffect(s, account_id, effect, c.now));
  return JsonResponse(201, json{{"seq", seq}});
}

StatusOr<Response> HandlePutSealedKey(const Services& s, const Call& c) {
  const std::string& device_id = c.path.at("device_id");
  COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
  JsonFields f(body, "");
  COFFER_ASSIGN_OR_RETURN(uint64_t epoch, f.Uint("epoch", 0, kMaxJsonInt));
  COFFER_ASSIGN_OR_RETURN(Bytes blob, f.Base64("blob", 1, kMaxBlobBytes));
  auto device = s.meta.GetDevice(c.account_id(), device_id);
  if (!device.ok()) {
    if (device.status().code() == StatusCode::kNotFound) {
      return NotFoundError("device " + device_id + " is not registered on this account");
    }
    return device.status();
  }
  if (device->status == store::DeviceStatus::kRevoked) {
    return FailedPreconditionError("device " + device_id +
                                   " is revoked; keys are not sealed to revoked devices");
  }
  COFFER_RETURN_IF_ERROR(s.meta.PutSealedKey(c.account_id(), device_id, epoch, blob));
  return EmptyResponse(204);
}

StatusOr<Response> HandleGetSealedKey(const Services& s, const Call& c) {
  const std::string& device_id = c.path.at("device_id");
  auto key = s.meta.GetSealedKey(c.account_id(), device_id);
  if (!key.ok()) {
    if (key.status().code() == StatusCode::kNotFound) {
      return NotFoundError("no sealed key for device " + device_id + " on this account");
    }
    return key.status();
  }
  return JsonResponse(200, json{{"epoch", key->first}, {"blob", Base64Encode(key->second)}});
}

StatusOr<Response> HandleGetKeyring(const Services& s, const Call& c) {
  auto ring = s.meta.GetKeyring(c.account_id());
  if (!ring.ok()) {
    if (ring.status().code() == StatusCode::kNotFound)
      return NotFoundError("this account has no keyring yet");
    return ring.status();
  }
  return JsonResponse(200, json{{"version", ring->first}, {"blob", Base64Encode(ring->second)}});
}

StatusOr<Response> HandlePutKeyring(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(json body, ParseJsonObject(c.request.body));
  JsonFields f(body, "");
  COFFER_ASSIGN_OR_RETURN(uint64_t version, f.Uint("version", 1, kMaxJsonInt));
  COFFER_ASSIGN_OR_RETURN(Bytes blob, f.Base64("blob", 1, kMaxBlobBytes));
  Status put = s.meta.PutKeyring(c.account_id(), version, blob);
  if (put.code() == StatusCode::kAborted) {
    uint64_t current = 0;
    auto ring = s.meta.GetKeyring(c.account_id());
    if (ring.ok())
      current = ring->first;
    else if (ring.status().code() != StatusCode::kNotFound)
      return ring.status();
    return CasConflict("keyring is at version " + std::to_string(current) + ", so the next version is " +
                           std::to_string(current + 1) + "; fetch it, merge and retry",
                       "current", current);
  }
  COFFER_RETURN_IF_ERROR(put);
  return EmptyResponse(204);
}

}  // namespace coffer::server
