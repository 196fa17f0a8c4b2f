#include "client/vault.h"

#include <sodium.h>
#include <sys/stat.h>

#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <thread>

#include "client/journal.h"
#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/password.h"

namespace coffer::client {
namespace fs = std::filesystem;
namespace {

int64_t Now() { return static_cast<int64_t>(std::time(nullptr)); }

Hash32 ToHash32(ByteView b) {
  Hash32 h{};
  if (b.size() == h.size()) std::copy(b.begin(), b.end(), h.begin());
  return h;
}

crypto::SecretBytes SecretFrom(const Bytes& b) { return crypto::SecretBytes::FromBytes(b); }

Bytes Reveal(const crypto::SecretBytes& s) {
  ByteView v = s.Reveal(crypto::SecretAccess::Get());
  return Bytes(v.begin(), v.end());
}

std::string PairingId(const crypto::SecretBytes& secret) {
  crypto::SecretBytes id = crypto::DeriveKey(secret, "pairing-id", 16);
  return HexEncode(id.Reveal(crypto::SecretAccess::Get()));
}

// Keyring contents from unlocked keys (the caller wipes the result).
KeyringContents ContentsOf(const UnlockedKeys& k) {
  KeyringContents c;
  c.identity_sign_seed = Reveal(k.identity.sign.seed());
  c.identity_box_sk = Reveal(k.identity.box.secret_key());
  c.genesis_hash = k.genesis_hash;
  c.recovery_public_key = k.recovery_public_key;
  for (const auto& [epoch, ck] : k.content) {
    c.content.push_back({epoch, Reveal(ck.chunk_id_key), Reveal(ck.chunk_enc_key), Reveal(ck.gear_key)});
  }
  for (const auto& [id, coll] : k.collections) {
    CollectionKeys ck;
    ck.collection_id = id;
    ck.name = coll.name;
    ck.kind = coll.kind;
    for (const auto& [epoch, key] : coll.keys) ck.keys.emplace_back(epoch, Reveal(key));
    c.collections.push_back(std::move(ck));
  }
  for (const auto& [id, name] : k.device_names) c.device_names.emplace_back(id, name);
  return c;
}

ContentEpochKeys NewContentEpoch(uint32_t epoch) {
  return ContentEpochKeys{epoch, crypto::SecretBytes::Random(32), crypto::SecretBytes::Random(32),
                          crypto::SecretBytes::Random(32)};
}

// The server chooses nothing here: it only returns what the account was created with, and a
// hostile server may lie in either direction (a downgrade, or a memory bomb).
Status CheckKdfParams(const LoginParams& p) {
  if (p.ops < crypto::kMinOpsLimit || p.mem < crypto::kMinMemLimit) {
    return SecurityError("the server asks for password hashing parameters below the minimum; refusing (downgrade)");
  }
  if (p.ops > 64 || p.mem > (4ull << 30)) {
    return SecurityError("the server asks for password hashing parameters far above any Coffer default; refusing");
  }
  return OkStatus();
}

Bytes RecoveryBlobFor(const UnlockedKeys& k, const Id& account_id) {
  RecoveryBlob blob;
  blob.account_id = account_id;
  blob.ak_epoch = k.ak_epoch;
  Bytes plain = Reveal(k.account_key);
  plain.insert(plain.end(), k.genesis_hash.begin(), k.genesis_hash.end());
  blob.ciphertext = *crypto::SealToPublicKey(k.recovery_public_key, plain);
  sodium_memzero(plain.data(), plain.size());
  blob.signature = k.identity.sign.Sign(blob.SignedPart());
  return blob.Encode();
}

}  // namespace

Bytes SealKeyring(const UnlockedKeys& keys, const Id& account_id, uint64_t version, uint64_t chain_len) {
  KeyringBlob blob;
  blob.header = KeyringHeader{account_id, version, keys.ak_epoch, chain_len};
  KeyringContents contents = ContentsOf(keys);
  Bytes plain = contents.Encode();
  contents.Wipe();
  crypto::SecretBytes wrap = crypto::DeriveKey(keys.account_key, "keyring");
  blob.ciphertext = *crypto::AeadSeal(wrap, plain, blob.header.Encode());
  sodium_memzero(plain.data(), plain.size());
  blob.signature = keys.identity.sign.Sign(blob.SignedPart());
  return blob.Encode();
}

// Every check the server could defeat by lying is here, on bytes it returned; see vault.h.
StatusOr<std::unique_ptr<UnlockedKeys>> OpenAccountKeys(const ChainState& chain, const DeviceKeys& device,
                                                        const Id& account_id, uint64_t seen_ak_epoch,
                                                        uint64_t seen_keyring_version, ByteView sealed_key,
                                                        ByteView keyring) {
  // Sealed account key: signed by the current identity, not older than seen.
  auto env = SealedKeyEnvelope::Decode(sealed_key);
  if (!env.ok()) return SecurityError("sealed account key: " + env.status().message());
  if (!crypto::VerifySignature(chain.identity_sign_pk, env->SignedPart(), env->signature).ok()) {
    return SecurityError("the sealed account key is not signed by the account identity (substituted key?)");
  }
  if (env->account_id != account_id || env->device_id != device.device_id) {
    return SecurityError("the sealed account key belongs to another account or device");
  }
  if (env->epoch < seen_ak_epoch) {
    return SecurityError("rollback detected: the server returned account key epoch " + std::to_string(env->epoch) +
                         " but this device has seen epoch " + std::to_string(seen_ak_epoch));
  }
  if (env->chain_len > chain.length) return SecurityError("the sealed account key refers to a future device chain");
  auto ak = crypto::OpenSealed(device.box, env->sealed);
  if (!ak.ok() || ak->size() != 32) return SecurityError("the sealed account key does not open with this device's key");

  // Keyring.
  auto kr = KeyringBlob::Decode(keyring);
  if (!kr.ok()) return SecurityError(kr.status().message());
  if (!crypto::VerifySignature(chain.identity_sign_pk, kr->SignedPart(), kr->signature).ok()) {
    return SecurityError("the keyring is not signed by the account identity (substituted or re-wrapped keys?)");
  }
  if (kr->header.account_id != account_id) return SecurityError("the keyring belongs to another account");
  if (kr->header.version < seen_keyring_version) {
    return SecurityError("rollback detected: keyring version " + std::to_string(kr->header.version) +
                         " is older than version " + std::to_string(seen_keyring_version) + " seen before");
  }
  if (kr->header.ak_epoch != env->epoch) {
    return SecurityError("the keyring and the sealed account key are from different key epochs");
  }
  if (kr->header.chain_len > chain.length) return SecurityError("the keyring refers to a future device chain");
  crypto::SecretBytes wrap = crypto::DeriveKey(*ak, "keyring");
  auto plain = crypto::AeadOpen(wrap, kr->ciphertext, kr->header.Encode());
  if (!plain.ok()) return SecurityError("the keyring failed authentication (modified on the server)");
  auto contents = KeyringContents::Decode(*plain);
  sodium_memzero(plain->data(), plain->size());
  if (!contents.ok()) return SecurityError(contents.status().message());

  auto keys = std::make_unique<UnlockedKeys>();
  keys->account_key = std::move(*ak);
  keys->ak_epoch = env->epoch;
  keys->keyring_version = kr->header.version;
  auto identity_sign = crypto::SigningKey::FromSeed(SecretFrom(contents->identity_sign_seed));
  auto identity_box = crypto::BoxKeyPair::FromSecretKey(SecretFrom(contents->identity_box_sk));
  if (!identity_sign.ok() || !identity_box.ok()) {
    contents->Wipe();
    return SecurityError("the keyring holds malformed identity keys");
  }
  keys->identity.sign = std::move(*identity_sign);
  keys->identity.box = std::move(*identity_box);
  keys->recovery_public_key = contents->recovery_public_key;
  keys->genesis_hash = contents->genesis_hash;
  for (const auto& c : contents->content) {
    keys->content[c.epoch] = ContentEpochKeys{c.epoch, SecretFrom(c.chunk_id_key), SecretFrom(c.chunk_enc_key),
                                              SecretFrom(c.gear_key)};
  }
  for (const auto& c : contents->collections) {
    CollectionInfo info;
    info.id = c.collection_id;
    info.name = c.name;
    info.kind = c.kind;
    for (const auto& [epoch, key] : c.keys) info.keys[epoch] = SecretFrom(key);
    keys->collections[c.collection_id] = std::move(info);
  }
  for (const auto& [id, name] : contents->device_names) keys->device_names[id] = name;
  contents->Wipe();
  if (keys->identity.sign.public_key() != chain.identity_sign_pk ||
      keys->identity.box.public_key() != chain.identity_box_pk) {
    return SecurityError("the keyring's identity does not match the device chain");
  }
  if (keys->genesis_hash != chain.genesis_hash) return SecurityError("the keyring belongs to another device chain");
  if (keys->content.empty() || keys->collections.empty()) return SecurityError("the keyring holds no keys");

  return keys;
}

StatusOr<std::unique_ptr<Vault>> Vault::Open(const ClientOptions& options) {
  COFFER_RETURN_IF_ERROR(crypto::Init());
  std::unique_ptr<Vault> v(new Vault());
  v->home_ = options.home;
  std::error_code ec;
  fs::create_directories(v->home_, ec);
  if (ec) return UnavailableError("cannot create the profile directory " + v->home_ + ": " + ec.message());
  ::chmod(v->home_.c_str(), 0700);
  COFFER_ASSIGN_OR_RETURN(v->state_, LocalState::Open(v->home_ + "/state.db"));
  v->server_url_ = options.server_url.empty() ? v->state_->GetString("server_url") : options.server_url;
  if (v->server_url_.empty()) {
    return FailedPreconditionError("no server configured for this profile: pass --server URL (or set COFFER_SERVER)");
  }
  v->ca_file_ = options.ca_file;
  COFFER_ASSIGN_OR_RETURN(v->api_, ApiClient::Create(v->server_url_, options.ca_file));
  auto keys = DeviceKeys::Load(v->home_ + "/device.key");
  if (keys.ok()) {
    v->device_ = std::move(*keys);
  } else if (keys.status().code() != StatusCode::kNotFound) {
    return keys.status();
  }
  std::string account = v->state_->GetString("account_id");
  if (!account.empty()) {
    COFFER_ASSIGN_OR_RETURN(v->account_id_, IdFromHex(account));
  }
  v->api_->set_token(v->state_->GetString("token"));
  return v;
}

Vault::~Vault() = default;

StatusOr<std::unique_ptr<ApiClient>> Vault::NewConnection() const {
  COFFER_ASSIGN_OR_RETURN(auto api, ApiClient::Create(server_url_, ca_file_));
  api->set_token(api_->token());
  return api;
}

bool Vault::enrolled() const { return state_->GetString("enrolled") == "1"; }
std::string Vault::email() const { return state_->GetString("email"); }

Status Vault::RequireNotEnrolled() const {
  if (enrolled() || !state_->GetString("account_id").empty()) {
    return FailedPreconditionError("this profile (" + home_ + ") already belongs to the account " + email() +
                                   "; use another --home for another device or account");
  }
  return OkStatus();
}

Status ValidateDeviceName(const std::string& name) {
  if (name.empty() || name.size() > kMaxDeviceNameBytes) {
    return InvalidArgumentError("a device name has 1 to " + std::to_string(kMaxDeviceNameBytes) + " bytes");
  }
  for (unsigned char c : name) {
    if (c < 0x20 || c == 0x7f) return InvalidArgumentError("a device name cannot contain control characters");
  }
  return OkStatus();
}

Status Vault::LoadOrCreateDeviceKeys(const std::string& name) {
  if (device_) return OkStatus();
  COFFER_RETURN_IF_ERROR(ValidateDeviceName(name));
  DeviceKeys keys = DeviceKeys::Generate(name);
  COFFER_RETURN_IF_ERROR(keys.Save(home_ + "/device.key"));
  device_ = std::move(keys);
  return OkStatus();
}

DeviceInfo Vault::MyDeviceInfo() const {
  DeviceInfo d;
  d.id = IdHex(device_->device_id);
  d.sign_pk = device_->sign.public_key();
  d.box_pk = device_->box.public_key();
  // The server gets no device name (G1): names live in the encrypted keyring.
  return d;
}

Bytes Vault::LoginSignature(const std::string& email, int64_t time) const {
  std::string msg = "coffer-login-v1\n" + email + "\n" + IdHex(device_->device_id) + "\n" + std::to_string(time);
  return device_->sign.Sign(AsBytes(msg));
}

Status Vault::SaveSession(const SessionInfo& s) {
  api_->set_token(s.token);
  COFFER_RETURN_IF_ERROR(state_->PutString("token", s.token));
  COFFER_RETURN_IF_ERROR(state_->PutInt("token_expires", s.expires_at));
  COFFER_RETURN_IF_ERROR(state_->PutString("server_url", server_url_));
  return state_->PutString("logged_out", "0");
}

Bytes Vault::SealAccountKeyFor(const Id& device_id, ByteView box_pk, uint64_t chain_len) const {
  SealedKeyEnvelope env;
  env.account_id = account_id_;
  env.device_id = device_id;
  env.epoch = keys_->ak_epoch;
  env.chain_len = chain_len;
  env.sealed = *crypto::SealToPublicKey(box_pk, keys_->account_key.Reveal(crypto::SecretAccess::Get()));
  env.signature = keys_->identity.sign.Sign(env.SignedPart());
  return env.Encode();
}

StatusOr<crypto::SecretBytes> Vault::CreateAccount(const std::string& email, const crypto::SecretBytes& password,
                                                   const std::string& device_name) {
  COFFER_RETURN_IF_ERROR(RequireNotEnrolled());
  COFFER_RETURN_IF_ERROR(LoadOrCreateDeviceKeys(device_name));
  account_id_ = RandomId();

  auto keys = std::make_unique<UnlockedKeys>();
  keys->account_key = crypto::SecretBytes::Random(32);
  keys->ak_epoch = 1;
  keys->keyring_version = 1;
  keys->identity = Identity::Generate();
  crypto::SecretBytes recovery_key = crypto::SecretBytes::Random(32);
  COFFER_ASSIGN_OR_RETURN(crypto::BoxKeyPair recovery_box,
                          crypto::BoxKeyPair::FromSecretKey(crypto::DeriveKey(recovery_key, "recovery-box")));
  keys->recovery_public_key = recovery_box.public_key();
  crypto::SecretBytes recovery_verifier = crypto::DeriveKey(recovery_key, "recovery-login");
  keys->content.emplace(1, NewContentEpoch(1));
  CollectionInfo drive;
  drive.id = RandomId();
  drive.name = "drive";
  drive.kind = "drive";
  drive.keys.emplace(1, crypto::SecretBytes::Random(32));
  keys->collections.emplace(drive.id, std::move(drive));
  keys->device_names[device_->device_id] = device_->name;

  Bytes genesis = MakeChainEntry(0, Hash32{}, account_id_, ChainAction::kGenesis, device_->device_id,
                                 device_->sign.public_key(), device_->box.public_key(), keys->identity.sign,
                                 keys->identity);
  keys->genesis_hash = HashOf(genesis);
  keys_ = std::move(keys);

  Bytes salt = crypto::RandomBytes(crypto::kPasswordSaltBytes);
  crypto::KdfParams params = crypto::DefaultKdfParams();
  COFFER_ASSIGN_OR_RETURN(crypto::SecretBytes verifier, crypto::DerivePasswordKey(password, salt, params));

  CreateAccountRequest req;
  req.account_id = IdHex(account_id_);
  req.email = email;
  req.login_salt = salt;
  req.login_ops = params.ops_limit;
  req.login_mem = params.mem_limit;
  req.login_verifier = Reveal(verifier);
  req.recovery_verifier = Reveal(recovery_verifier);
  req.recovery_blob = RecoveryBlobFor(*keys_, account_id_);
  req.device = MyDeviceInfo();
  req.chain_entry = genesis;
  req.sealed_key_epoch = 1;
  req.sealed_key = SealAccountKeyFor(device_->device_id, device_->box.public_key(), 1);
  req.keyring = SealKeyring(*keys_, account_id_, 1, 1);
  req.time = Now();
  req.signature = LoginSignature(email, req.time);
  auto session = api_->CreateAccount(req);
  sodium_memzero(req.login_verifier.data(), req.login_verifier.size());
  sodium_memzero(req.recovery_verifier.data(), req.recovery_verifier.size());
  if (!session.ok()) {
    account_id_ = Id{};
    keys_.reset();
    return session.status();
  }

  COFFER_RETURN_IF_ERROR(state_->Begin());
  Status st = [&]() -> Status {
    COFFER_RETURN_IF_ERROR(state_->PutString("account_id", IdHex(account_id_)));
    COFFER_RETURN_IF_ERROR(state_->PutString("email", email));
    COFFER_RETURN_IF_ERROR(state_->Put("genesis_hash", keys_->genesis_hash));
    COFFER_RETURN_IF_ERROR(state_->PutInt("chain_len", 1));
    COFFER_RETURN_IF_ERROR(state_->Put("chain_head", keys_->genesis_hash));
    COFFER_RETURN_IF_ERROR(state_->PutInt("keyring_version", 1));
    COFFER_RETURN_IF_ERROR(state_->PutInt("ak_epoch", 1));
    COFFER_RETURN_IF_ERROR(state_->PutString("enrolled", "1"));
    return SaveSession(*session);
  }();
  if (!st.ok()) {
    state_->Rollback();
    return st;
  }
  COFFER_RETURN_IF_ERROR(state_->Commit());
  keys_.reset();  // Unlock() re-derives everything from what the server holds, verified.
  return recovery_key;
}

Status Vault::DeviceKeyLogin() {
  LoginRequest req;
  req.email = email();
  req.device = MyDeviceInfo();
  req.time = Now();
  req.signature = LoginSignature(req.email, req.time);
  COFFER_ASSIGN_OR_RETURN(SessionInfo s, api_->Login(req));
  if (s.device_status == "revoked") return PermissionDeniedError("this device was revoked");
  return SaveSession(s);
}

Status Vault::EnsureSession() {
  if (!enrolled()) {
    return FailedPreconditionError("this profile (" + home_ +
                                   ") is not part of an account yet: run `coffer account create`, "
                                   "`coffer device link` or `coffer recover`");
  }
  if (!device_) return DataLossError("the device key file is missing from " + home_);
  if (state_->GetString("logged_out") == "1") {
    return UnauthenticatedError("logged out: run `coffer login` first");
  }
  std::string token = state_->GetString("token");
  if (token.empty() || state_->GetInt("token_expires") < Now() + 60) return DeviceKeyLogin();
  return OkStatus();
}

Status Vault::Login(const crypto::SecretBytes& password) {
  if (!enrolled()) {
    return FailedPreconditionError("this profile has no account: use `coffer account create`, "
                                   "`coffer device link` (new device) or `coffer recover`");
  }
  COFFER_ASSIGN_OR_RETURN(LoginParams params, api_->GetLoginParams(email()));
  COFFER_RETURN_IF_ERROR(CheckKdfParams(params));
  COFFER_ASSIGN_OR_RETURN(crypto::SecretBytes verifier,
                          crypto::DerivePasswordKey(password, params.salt, {params.ops, params.mem}));
  LoginRequest req;
  req.email = email();
  req.device = MyDeviceInfo();
  req.time = Now();
  req.signature = LoginSignature(req.email, req.time);
  req.verifier = Reveal(verifier);
  auto s = api_->Login(req);
  sodium_memzero(req.verifier->data(), req.verifier->size());
  if (!s.ok()) return s.status();
  if (s->device_status == "revoked") return PermissionDeniedError("this device was revoked");
  return SaveSession(*s);
}

Status Vault::Logout() {
  Status st = api_->Logout();
  COFFER_RETURN_IF_ERROR(state_->Erase("token"));
  COFFER_RETURN_IF_ERROR(state_->PutString("logged_out", "1"));
  if (!st.ok() && st.code() != StatusCode::kUnauthenticated) return st;
  return OkStatus();
}

Status Vault::SaveSeenChain(const ChainState& chain) {
  COFFER_RETURN_IF_ERROR(state_->PutInt("chain_len", static_cast<int64_t>(chain.length)));
  return state_->Put("chain_head", chain.head_hash);
}

Status Vault::Unlock() {
  COFFER_RETURN_IF_ERROR(EnsureSession());
  COFFER_RETURN_IF_ERROR(ResumePendingRotation());
  Status st = VerifyAndLoadKeys();
  if (st.code() == StatusCode::kUnauthenticated) {  // token expired or revoked server-side
    COFFER_RETURN_IF_ERROR(DeviceKeyLogin());
    st = VerifyAndLoadKeys();
  }
  COFFER_RETURN_IF_ERROR(st);
  return WriteRotationMarkers();
}

Status Vault::VerifyAndLoadKeys() {
  const Id me = device_->device_id;
  COFFER_ASSIGN_OR_RETURN(std::vector<Bytes> entries, api_->GetChain(0));
  auto pinned = state_->Get("genesis_hash");
  if (!pinned || pinned->size() != kHashBytes) return DataLossError("the profile has no pinned genesis hash");
  auto seen_head = state_->Get("chain_head");
  COFFER_RETURN_IF_ERROR(CheckChainExtends(entries, static_cast<uint64_t>(state_->GetInt("chain_len")),
                                           ToHash32(seen_head ? *seen_head : Bytes())));
  COFFER_ASSIGN_OR_RETURN(ChainState chain, VerifyChain(entries, account_id_, ToHash32(*pinned)));
  const ChainDevice* self = chain.Find(me);
  if (self == nullptr) return SecurityError("this device is not in the account's device chain");
  if (!self->active()) return PermissionDeniedError("this device was revoked; it can no longer read new data");
  if (self->sign_pk != device_->sign.public_key() || self->box_pk != device_->box.public_key()) {
    return SecurityError("the device chain lists different keys for this device");
  }

  COFFER_ASSIGN_OR_RETURN(auto sealed_pair, api_->GetSealedKey(IdHex(me)));
  COFFER_ASSIGN_OR_RETURN(auto kr_pair, api_->GetKeyring());
  COFFER_ASSIGN_OR_RETURN(
      std::unique_ptr<UnlockedKeys> keys,
      OpenAccountKeys(chain, *device_, account_id_, static_cast<uint64_t>(state_->GetInt("ak_epoch")),
                      static_cast<uint64_t>(state_->GetInt("keyring_version")), sealed_pair.second, kr_pair.second));

  COFFER_RETURN_IF_ERROR(SaveSeenChain(chain));
  COFFER_RETURN_IF_ERROR(state_->PutInt("keyring_version", static_cast<int64_t>(keys->keyring_version)));
  COFFER_RETURN_IF_ERROR(state_->PutInt("ak_epoch", static_cast<int64_t>(keys->ak_epoch)));
  keys_ = std::move(keys);
  chain_ = std::make_unique<ChainState>(std::move(chain));
  return OkStatus();
}

const CollectionInfo* Vault::FindCollection(const std::string& name) const {
  for (const auto& [id, c] : keys_->collections)
    if (c.name == name) return &c;
  return nullptr;
}

// ---- pairing ----

StatusOr<std::string> Vault::StartLink(const std::string& email, const crypto::SecretBytes& password,
                                       const std::string& device_name) {
  COFFER_RETURN_IF_ERROR(RequireNotEnrolled());
  COFFER_RETURN_IF_ERROR(LoadOrCreateDeviceKeys(device_name));
  COFFER_ASSIGN_OR_RETURN(LoginParams params, api_->GetLoginParams(email));
  COFFER_RETURN_IF_ERROR(CheckKdfParams(params));
  COFFER_ASSIGN_OR_RETURN(crypto::SecretBytes verifier,
                          crypto::DerivePasswordKey(password, params.salt, {params.ops, params.mem}));
  LoginRequest req;
  req.email = email;
  req.device = MyDeviceInfo();
  req.time = Now();
  req.signature = LoginSignature(email, req.time);
  req.verifier = Reveal(verifier);
  auto session = api_->Login(req);
  sodium_memzero(req.verifier->data(), req.verifier->size());
  if (!session.ok()) return session.status();
  if (session->device_status == "revoked") return PermissionDeniedError("this device was revoked");
  COFFER_RETURN_IF_ERROR(SaveSession(*session));
  COFFER_RETURN_IF_ERROR(state_->PutString("email", email));
  COFFER_ASSIGN_OR_RETURN(Id account, IdFromHex(session->account_id));

  pairing_secret_ = crypto::SecretBytes::Random(16);
  PairingRequest pr;
  pr.device_id = device_->device_id;
  pr.sign_pk = device_->sign.public_key();
  pr.box_pk = device_->box.public_key();
  pr.time = Now();
  COFFER_ASSIGN_OR_RETURN(pr.sealed_name, crypto::AeadSeal(crypto::DeriveKey(pairing_secret_, "pairing-name"),
                                                           AsBytes(device_->name), pr.device_id));
  crypto::SecretBytes mac_key = crypto::DeriveKey(pairing_secret_, "pairing-mac");
  pr.mac = crypto::HmacSha256(mac_key.Reveal(crypto::SecretAccess::Get()), pr.MacPart());
  COFFER_RETURN_IF_ERROR(api_->PutPairingRequest(PairingId(pairing_secret_), pr.Encode()));
  account_id_ = account;  // not saved until the approval proves it
  return FormatPairingCode(pairing_secret_);
}

Status Vault::FinishLink(int timeout_seconds) {
  if (pairing_secret_.empty()) return FailedPreconditionError("no pairing in progress");
  const std::string rid = PairingId(pairing_secret_);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(timeout_seconds);
  Bytes sealed;
  while (true) {
    auto r = api_->GetPairingResponse(rid);
    if (r.ok()) {
      sealed = std::move(*r);
      break;
    }
    if (r.status().code() != StatusCode::kNotFound) return r.status();
    if (std::chrono::steady_clock::now() > deadline) {
      return UnavailableError("no device approved this one within " + std::to_string(timeout_seconds) +
                              " seconds; run `coffer device link` again");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
  }
  crypto::SecretBytes key = crypto::DeriveKey(pairing_secret_, "pairing-response");
  auto plain = crypto::AeadOpen(key, sealed, AsBytes(rid));
  if (!plain.ok()) return SecurityError("the pairing response failed authentication (not from your device)");
  COFFER_ASSIGN_OR_RETURN(PairingResponse resp, PairingResponse::Decode(*plain));
  if (resp.account_id != account_id_) return SecurityError("the pairing response is for another account");

  COFFER_RETURN_IF_ERROR(state_->Begin());
  Status st = [&]() -> Status {
    COFFER_RETURN_IF_ERROR(state_->PutString("account_id", IdHex(account_id_)));
    COFFER_RETURN_IF_ERROR(state_->Put("genesis_hash", resp.genesis_hash));
    COFFER_RETURN_IF_ERROR(state_->PutInt("chain_len", static_cast<int64_t>(resp.chain_len)));
    COFFER_RETURN_IF_ERROR(state_->Put("chain_head", resp.chain_head));
    return state_->PutString("enrolled", "1");
  }();
  if (!st.ok()) {
    state_->Rollback();
    return st;
  }
  COFFER_RETURN_IF_ERROR(state_->Commit());
  pairing_secret_ = crypto::SecretBytes();
  // The pending session was upgraded when the approver appended us to the chain; a fresh
  // device-key login makes sure of it.
  COFFER_RETURN_IF_ERROR(DeviceKeyLogin());
  return Unlock();
}

StatusOr<std::string> Vault::Approve(const std::string& code) {
  COFFER_ASSIGN_OR_RETURN(crypto::SecretBytes secret, ParsePairingCode(code));
  COFFER_RETURN_IF_ERROR(Unlock());
  const std::string rid = PairingId(secret);
  auto raw = api_->GetPairingRequest(rid);
  if (!raw.ok()) {
    if (raw.status().code() == StatusCode::kNotFound) {
      return NotFoundError("no device is waiting with this code (it expires after 15 minutes; check for typos)");
    }
    return raw.status();
  }
  auto req = PairingRequest::Decode(*raw);
  if (!req.ok()) return SecurityError(req.status().message());
  crypto::SecretBytes mac_key = crypto::DeriveKey(secret, "pairing-mac");
  Bytes expect = crypto::HmacSha256(mac_key.Reveal(crypto::SecretAccess::Get()), req->MacPart());
  if (!crypto::ConstantTimeEqual(expect, req->mac)) {
    return SecurityError("the pairing request was altered on the server (its keys do not match the code)");
  }
  if (std::llabs(Now() - req->time) > 15 * 60) return FailedPreconditionError("the pairing request has expired");
  if (chain_->Find(req->device_id) != nullptr) return AlreadyExistsError("this device is already in the account");
  auto name_bytes = crypto::AeadOpen(crypto::DeriveKey(secret, "pairing-name"), req->sealed_name, req->device_id);
  if (!name_bytes.ok()) return SecurityError("the pairing request was altered on the server (its name does not open)");
  const std::string name(AsChars(*name_bytes));
  if (!ValidateDeviceName(name).ok()) return SecurityError("the pairing request carries an invalid device name");

  const uint64_t seq = chain_->length;
  Bytes entry = MakeChainEntry(seq, chain_->head_hash, account_id_, ChainAction::kAdd, req->device_id, req->sign_pk,
                               req->box_pk, keys_->identity.sign, keys_->identity);
  ChainEffect effect;
  effect.action = "add";
  effect.device.id = IdHex(req->device_id);
  effect.device.sign_pk = req->sign_pk;
  effect.device.box_pk = req->box_pk;
  COFFER_RETURN_IF_ERROR(api_->AppendChain(seq, entry, effect));
  COFFER_RETURN_IF_ERROR(api_->PutSealedKey(IdHex(req->device_id), keys_->ak_epoch,
                                            SealAccountKeyFor(req->device_id, req->box_pk, seq + 1)));
  PairingResponse resp;
  resp.account_id = account_id_;
  resp.genesis_hash = chain_->genesis_hash;
  resp.chain_len = seq + 1;
  resp.chain_head = HashOf(entry);
  crypto::SecretBytes key = crypto::DeriveKey(secret, "pairing-response");
  COFFER_ASSIGN_OR_RETURN(Bytes sealed, crypto::AeadSeal(key, resp.Encode(), AsBytes(rid)));
  COFFER_RETURN_IF_ERROR(api_->PutPairingResponse(rid, sealed));
  COFFER_RETURN_IF_ERROR(state_->PutInt("chain_len", static_cast<int64_t>(seq + 1)));
  COFFER_RETURN_IF_ERROR(state_->Put("chain_head", resp.chain_head));
  COFFER_RETURN_IF_ERROR(Unlock());
  const Id new_id = req->device_id;
  COFFER_RETURN_IF_ERROR(UpdateKeyring([&](UnlockedKeys& k) { k.device_names[new_id] = name; }));
  return name + " (" + IdHex(req->device_id) + ")";
}

// ---- revocation with key rotation ----

namespace {
// The prepared writes of a rotation, saved before the first one is sent.
struct PendingRotation {
  uint64_t chain_seq = 0;
  Bytes chain_entry;
  std::string revoked_device;
  uint64_t keyring_version = 0;
  Bytes keyring;
  uint64_t epoch = 0;
  std::vector<std::pair<std::string, Bytes>> sealed;  // device id hex -> envelope
  Bytes recovery_blob;

  Bytes Encode() const {
    ByteWriter w;
    w.Raw(std::string_view("CFRT", 4));
    w.U8(kFormatVersion);
    w.U64(chain_seq);
    w.Blob(chain_entry);
    w.Str(revoked_device);
    w.U64(keyring_version);
    w.Blob(keyring);
    w.U64(epoch);
    w.U32(static_cast<uint32_t>(sealed.size()));
    for (const auto& [id, env] : sealed) {
      w.Str(id);
      w.Blob(env);
    }
    w.Blob(recovery_blob);
    return w.Take();
  }
  static StatusOr<PendingRotation> Decode(ByteView data) {
    ByteReader r(data, "pending key rotation");
    COFFER_ASSIGN_OR_RETURN(ByteView magic, r.Raw(5));
    if (std::memcmp(magic.data(), "CFRT", 4) != 0 || magic[4] != kFormatVersion) {
      return DataLossError("the pending key rotation record is not in a format this client reads");
    }
    PendingRotation p;
    COFFER_ASSIGN_OR_RETURN(p.chain_seq, r.U64());
    COFFER_ASSIGN_OR_RETURN(ByteView e, r.Blob(1 << 20));
    p.chain_entry = ToBytes(e);
    COFFER_ASSIGN_OR_RETURN(p.revoked_device, r.Str(64));
    COFFER_ASSIGN_OR_RETURN(p.keyring_version, r.U64());
    COFFER_ASSIGN_OR_RETURN(ByteView k, r.Blob(64 << 20));
    p.keyring = ToBytes(k);
    COFFER_ASSIGN_OR_RETURN(p.epoch, r.U64());
    COFFER_ASSIGN_OR_RETURN(uint32_t n, r.U32());
    for (uint32_t i = 0; i < n; ++i) {
      COFFER_ASSIGN_OR_RETURN(std::string id, r.Str(64));
      COFFER_ASSIGN_OR_RETURN(ByteView env, r.Blob(1 << 16));
      p.sealed.emplace_back(id, ToBytes(env));
    }
    COFFER_ASSIGN_OR_RETURN(ByteView rb, r.Blob(1 << 16));
    p.recovery_blob = ToBytes(rb);
    COFFER_RETURN_IF_ERROR(r.ExpectEnd());
    return p;
  }
};
}  // namespace

Status Vault::ResumePendingRotation() {
  auto raw = state_->Get("pending_rotation");
  if (!raw) return OkStatus();
  COFFER_ASSIGN_OR_RETURN(PendingRotation p, PendingRotation::Decode(*raw));
  ChainEffect effect;
  effect.action = "revoke";
  effect.device_id = p.revoked_device;
  Status st = api_->AppendChain(p.chain_seq, p.chain_entry, effect);
  if (st.code() == StatusCode::kAborted) {
    // Already appended (we crashed after the server acknowledged), or someone else won.
    COFFER_ASSIGN_OR_RETURN(std::vector<Bytes> entries, api_->GetChain(p.chain_seq));
    if (entries.empty() || entries[0] != p.chain_entry) {
      (void)state_->Erase("pending_rotation");
      return AbortedError("another device changed the device chain during the revocation; run `coffer device revoke` again");
    }
  } else {
    COFFER_RETURN_IF_ERROR(st);
  }
  st = api_->PutKeyring(p.keyring_version, p.keyring);
  if (st.code() == StatusCode::kAborted) {
    COFFER_ASSIGN_OR_RETURN(auto current, api_->GetKeyring());
    if (current.second != p.keyring) return AbortedError("the keyring changed during the revocation");
  } else {
    COFFER_RETURN_IF_ERROR(st);
  }
  for (const auto& [id, env] : p.sealed) COFFER_RETURN_IF_ERROR(api_->PutSealedKey(id, p.epoch, env));
  COFFER_RETURN_IF_ERROR(api_->SetRecovery({}, p.recovery_blob));
  COFFER_RETURN_IF_ERROR(state_->PutString("rotation_markers_due", "1"));
  return state_->Erase("pending_rotation");
}

Status Vault::WriteRotationMarkers() {
  if (state_->GetString("rotation_markers_due") != "1") return OkStatus();
  // A marker revision in each collection at the new key epoch: afterwards the journal refuses
  // revisions under the old epoch, so a revoked device cannot append with keys it kept.
  for (const auto& [id, coll] : keys_->collections) {
    Journal journal(*this, state(), id);
    COFFER_RETURN_IF_ERROR(journal.Refresh());
    if (journal.key_epoch() >= coll.current_epoch()) continue;
    Op op;
    op.type = OpType::kRotate;
    op.new_epoch = coll.current_epoch();
    COFFER_RETURN_IF_ERROR(journal.Commit({op}).status());
  }
  return state_->Erase("rotation_markers_due");
}

Status Vault::Revoke(const std::string& device_id_hex) {
  COFFER_ASSIGN_OR_RETURN(Id target, IdFromHex(device_id_hex));
  COFFER_RETURN_IF_ERROR(Unlock());
  const ChainDevice* dev = chain_->Find(target);
  if (dev == nullptr) return NotFoundError("no device " + device_id_hex + " in this account (see `coffer device list`)");
  if (!dev->active()) return FailedPreconditionError("device " + device_id_hex + " is already revoked");
  if (target == device_->device_id) {
    return InvalidArgumentError("a device cannot revoke itself; revoke it from another device");
  }

  // New keys for everything written from now on.
  auto next = std::make_unique<UnlockedKeys>();
  next->account_key = crypto::SecretBytes::Random(32);
  next->ak_epoch = keys_->ak_epoch + 1;
  next->keyring_version = keys_->keyring_version + 1;
  next->identity = Identity::Generate();
  next->recovery_public_key = keys_->recovery_public_key;
  next->genesis_hash = keys_->genesis_hash;
  for (const auto& [e, ck] : keys_->content) {
    next->content[e] = ContentEpochKeys{e, ck.chunk_id_key.Clone(), ck.chunk_enc_key.Clone(), ck.gear_key.Clone()};
  }
  const uint32_t new_content_epoch = keys_->content.rbegin()->first + 1;
  next->content.emplace(new_content_epoch, NewContentEpoch(new_content_epoch));
  for (const auto& [id, coll] : keys_->collections) {
    CollectionInfo c;
    c.id = coll.id;
    c.name = coll.name;
    c.kind = coll.kind;
    for (const auto& [e, k] : coll.keys) c.keys[e] = k.Clone();
    c.keys[coll.current_epoch() + 1] = crypto::SecretBytes::Random(32);
    next->collections[id] = std::move(c);
  }
  next->device_names = keys_->device_names;

  PendingRotation p;
  p.chain_seq = chain_->length;
  p.chain_entry = MakeChainEntry(p.chain_seq, chain_->head_hash, account_id_, ChainAction::kRevoke, target,
                                 Bytes(32, 0), Bytes(32, 0), keys_->identity.sign, next->identity);
  p.revoked_device = device_id_hex;
  p.keyring_version = next->keyring_version;
  p.keyring = SealKeyring(*next, account_id_, next->keyring_version, p.chain_seq + 1);
  p.epoch = next->ak_epoch;
  std::swap(keys_, next);  // SealAccountKeyFor uses keys_
  for (const auto& [id, d] : chain_->devices) {
    if (!d.active() || id == target) continue;
    p.sealed.emplace_back(IdHex(id), SealAccountKeyFor(id, d.box_pk, p.chain_seq + 1));
  }
  p.recovery_blob = RecoveryBlobFor(*keys_, account_id_);
  std::swap(keys_, next);
  COFFER_RETURN_IF_ERROR(state_->Put("pending_rotation", p.Encode()));
  COFFER_RETURN_IF_ERROR(ResumePendingRotation());
  return Unlock();
}

// ---- recovery ----

Status Vault::Recover(const std::string& email, const crypto::SecretBytes& recovery_key,
                      const std::string& device_name, const crypto::SecretBytes* new_password) {
  COFFER_RETURN_IF_ERROR(RequireNotEnrolled());
  COFFER_RETURN_IF_ERROR(LoadOrCreateDeviceKeys(device_name));
  crypto::SecretBytes verifier = crypto::DeriveKey(recovery_key, "recovery-login");
  LoginRequest req;
  req.email = email;
  req.device = MyDeviceInfo();
  req.time = Now();
  req.signature = LoginSignature(email, req.time);
  req.recovery_verifier = Reveal(verifier);
  auto session = api_->Login(req);
  sodium_memzero(req.recovery_verifier->data(), req.recovery_verifier->size());
  if (!session.ok()) {
    if (session.status().code() == StatusCode::kUnauthenticated) {
      return UnauthenticatedError("wrong email or recovery key");
    }
    return session.status();
  }
  COFFER_RETURN_IF_ERROR(SaveSession(*session));
  COFFER_ASSIGN_OR_RETURN(account_id_, IdFromHex(session->account_id));

  COFFER_ASSIGN_OR_RETURN(Bytes raw_blob, api_->GetRecoveryBlob());
  auto blob = RecoveryBlob::Decode(raw_blob);
  if (!blob.ok()) return SecurityError(blob.status().message());
  if (blob->account_id != account_id_) return SecurityError("the recovery blob belongs to another account");
  COFFER_ASSIGN_OR_RETURN(crypto::BoxKeyPair recovery_box,
                          crypto::BoxKeyPair::FromSecretKey(crypto::DeriveKey(recovery_key, "recovery-box")));
  auto plain = crypto::OpenSealed(recovery_box, blob->ciphertext);
  if (!plain.ok() || plain->size() != 32 + kHashBytes) {
    return SecurityError("the recovery blob does not open with this recovery key (replaced or damaged on the server)");
  }
  const ByteView opened = plain->Reveal(crypto::SecretAccess::Get());
  crypto::SecretBytes ak = crypto::SecretBytes::FromBytes(opened.first(32));
  Hash32 genesis = ToHash32(opened.subspan(32, kHashBytes));

  // Verify everything from the genesis in the blob, as any device would, before this
  // profile pins anything or the server is told about this device.
  COFFER_ASSIGN_OR_RETURN(std::vector<Bytes> entries, api_->GetChain(0));
  COFFER_ASSIGN_OR_RETURN(ChainState chain, VerifyChain(entries, account_id_, genesis));
  COFFER_ASSIGN_OR_RETURN(auto kr_pair, api_->GetKeyring());
  auto kr = KeyringBlob::Decode(kr_pair.second);
  if (!kr.ok()) return SecurityError(kr.status().message());
  if (!crypto::VerifySignature(chain.identity_sign_pk, kr->SignedPart(), kr->signature).ok()) {
    return SecurityError("the keyring is not signed by the account identity");
  }
  if (!crypto::VerifySignature(chain.identity_sign_pk, blob->SignedPart(), blob->signature).ok()) {
    return SecurityError("the recovery blob is not signed by the account identity (replaced on the server)");
  }
  if (kr->header.ak_epoch != blob->ak_epoch) {
    return SecurityError("the recovery blob is from another key epoch than the keyring (stale recovery blob)");
  }
  // The account key from the blob must open the keyring; then we hold the identity.
  auto kplain = crypto::AeadOpen(crypto::DeriveKey(ak, "keyring"), kr->ciphertext, kr->header.Encode());
  if (!kplain.ok()) return SecurityError("the keyring does not open with the recovered account key");
  auto contents = KeyringContents::Decode(*kplain);
  sodium_memzero(kplain->data(), kplain->size());
  if (!contents.ok()) return SecurityError(contents.status().message());
  COFFER_ASSIGN_OR_RETURN(crypto::SigningKey identity,
                          crypto::SigningKey::FromSeed(SecretFrom(contents->identity_sign_seed)));
  COFFER_ASSIGN_OR_RETURN(crypto::BoxKeyPair identity_box,
                          crypto::BoxKeyPair::FromSecretKey(SecretFrom(contents->identity_box_sk)));
  contents->Wipe();
  if (identity.public_key() != chain.identity_sign_pk || identity_box.public_key() != chain.identity_box_pk) {
    return SecurityError("the keyring's identity does not match the device chain");
  }
  COFFER_RETURN_IF_ERROR(state_->PutString("email", email));
  COFFER_RETURN_IF_ERROR(state_->PutString("account_id", IdHex(account_id_)));
  COFFER_RETURN_IF_ERROR(state_->Put("genesis_hash", genesis));

  // Enrol this device: chain entry signed by the identity, account key sealed to it.
  // The identity does not change, so both signatures are by the same key.
  const uint64_t seq = chain.length;
  ChainEntry e;
  e.seq = seq;
  e.prev_hash = chain.head_hash;
  e.account_id = account_id_;
  e.action = ChainAction::kAdd;
  e.time = Now();
  e.device_id = device_->device_id;
  e.device_sign_pk = device_->sign.public_key();
  e.device_box_pk = device_->box.public_key();
  e.identity_sign_pk = chain.identity_sign_pk;
  e.identity_box_pk = chain.identity_box_pk;
  Bytes signed_part = e.SignedPart();
  e.sig_prev_identity = identity.Sign(signed_part);
  e.sig_new_identity = e.sig_prev_identity;
  Bytes entry = e.Encode();
  ChainEffect effect;
  effect.action = "add";
  effect.device = MyDeviceInfo();
  COFFER_RETURN_IF_ERROR(api_->AppendChain(seq, entry, effect));
  SealedKeyEnvelope env;
  env.account_id = account_id_;
  env.device_id = device_->device_id;
  env.epoch = kr->header.ak_epoch;
  env.chain_len = seq + 1;
  env.sealed = *crypto::SealToPublicKey(device_->box.public_key(), ak.Reveal(crypto::SecretAccess::Get()));
  env.signature = identity.Sign(env.SignedPart());
  COFFER_RETURN_IF_ERROR(api_->PutSealedKey(IdHex(device_->device_id), env.epoch, env.Encode()));
  COFFER_RETURN_IF_ERROR(state_->PutInt("chain_len", static_cast<int64_t>(seq + 1)));
  COFFER_RETURN_IF_ERROR(state_->Put("chain_head", HashOf(entry)));
  COFFER_RETURN_IF_ERROR(state_->PutString("enrolled", "1"));
  COFFER_RETURN_IF_ERROR(DeviceKeyLogin());
  COFFER_RETURN_IF_ERROR(Unlock());
  const Id me = device_->device_id;
  const std::string my_name = device_->name;
  COFFER_RETURN_IF_ERROR(UpdateKeyring([&](UnlockedKeys& k) { k.device_names[me] = my_name; }));

  if (new_password != nullptr) {
    Bytes salt = crypto::RandomBytes(crypto::kPasswordSaltBytes);
    crypto::KdfParams params = crypto::DefaultKdfParams();
    COFFER_ASSIGN_OR_RETURN(crypto::SecretBytes pv, crypto::DerivePasswordKey(*new_password, salt, params));
    COFFER_RETURN_IF_ERROR(api_->SetLogin(salt, params.ops_limit, params.mem_limit,
                                          pv.Reveal(crypto::SecretAccess::Get())));
  }
  return OkStatus();
}

Status Vault::UpdateKeyring(const std::function<void(UnlockedKeys&)>& mutate) {
  for (int attempt = 0; attempt < 20; ++attempt) {
    mutate(*keys_);
    const uint64_t version = keys_->keyring_version + 1;
    Status st = api_->PutKeyring(version, SealKeyring(*keys_, account_id_, version, chain_->length));
    if (st.ok()) {
      keys_->keyring_version = version;
      return state_->PutInt("keyring_version", static_cast<int64_t>(version));
    }
    if (st.code() != StatusCode::kAborted) return st;
    COFFER_RETURN_IF_ERROR(VerifyAndLoadKeys());  // another device wrote first: re-read, re-apply
  }
  return AbortedError("the keyring kept changing; try again");
}

StatusOr<std::vector<DeviceView>> Vault::ListDevices() {
  COFFER_RETURN_IF_ERROR(Unlock());
  std::vector<DeviceView> out;
  for (const auto& [id, d] : chain_->devices) {
    auto name = keys_->device_names.find(id);
    out.push_back(DeviceView{IdHex(id), name == keys_->device_names.end() ? "(unnamed)" : name->second, d.active() ? "active" : "revoked", id == device_->device_id,
                             d.added_time});
  }
  return out;
}

}  // namespace coffer::client
