#include "server/migrate.h"

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <iostream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "crypto/hash.h"
#include "crypto/secret.h"
#include "server/config.h"
#include "server/handlers.h"
#include "store/open.h"

namespace coffer::server {
namespace {

using store::AccountRecord;
using store::BlobStore;
using store::ChunkRecord;
using store::MetaStore;

constexpr size_t kAccountPage = 500;
constexpr size_t kRevisionBatch = 500;
constexpr size_t kRevisionBatchBytes = 16 << 20;
constexpr size_t kChunkBatch = 100;
// A keyring is rewritten once per rotation; a gap larger than this is not a real history.
constexpr uint64_t kMaxKeyringCatchUp = 1'000'000;

std::string BlobKey(const std::string& account_id, const std::string& chunk_id) {
  return account_id + "/" + chunk_id;
}

Status Diverged(const std::string& account_id, const std::string& what) {
  return FailedPreconditionError("the target's " + what + " of account " + account_id +
                                 " differs from the source's at the same version: the target was written by "
                                 "another server, and migrate does not merge histories (migrate into an empty "
                                 "target, or remove that account from the target first)");
}

Status TargetMoved(const Status& s, const std::string& what) {
  if (s.code() != StatusCode::kAborted) return s;
  return AbortedError(what + ": the target changed during the migration (is a server running on it?): " +
                      s.message());
}

// Rate-limited progress lines (at most one every two seconds, plus the ones forced).
class Progress {
 public:
  explicit Progress(std::ostream* out) : out_(out) {}
  void Line(const std::string& text) {
    if (out_ == nullptr) return;
    *out_ << "migrate: " << text << "\n";
    out_->flush();
    last_ = std::chrono::steady_clock::now();
  }
  void Maybe(const std::string& text) {
    if (std::chrono::steady_clock::now() - last_ >= std::chrono::seconds(2)) Line(text);
  }

 private:
  std::ostream* out_;
  std::chrono::steady_clock::time_point last_{};
};

// Calls fn(account_id) for every account of `meta`, in id order.
template <typename Fn>
Status ForEachAccount(MetaStore& meta, Fn&& fn) {
  std::string after;
  for (;;) {
    COFFER_ASSIGN_OR_RETURN(std::vector<std::string> page, meta.ListAccountIds(after, kAccountPage));
    for (const std::string& id : page) COFFER_RETURN_IF_ERROR(fn(id));
    if (page.size() < kAccountPage) return OkStatus();
    after = page.back();
  }
}

StatusOr<uint64_t> CountAccounts(MetaStore& meta) {
  uint64_t n = 0;
  COFFER_RETURN_IF_ERROR(ForEachAccount(meta, [&](const std::string&) {
    ++n;
    return OkStatus();
  }));
  return n;
}

// The revision `number` of a collection, or nullopt if there is none.
StatusOr<std::optional<Bytes>> RevisionAt(MetaStore& meta, const std::string& account_id,
                                          const std::string& collection_id, uint64_t number) {
  COFFER_ASSIGN_OR_RETURN(auto revs, meta.GetRevisions(account_id, collection_id, number, 1, SIZE_MAX));
  if (revs.empty() || revs[0].number != number) return std::optional<Bytes>();
  return std::optional<Bytes>(std::move(revs[0].data));
}

// ---------------------------------------------------------------------------------------
// Copy

class Copier {
 public:
  Copier(const MigrateEndpoints& from, const MigrateEndpoints& to, Progress& progress, MigrateCounts& copied)
      : from_(from), to_(to), progress_(progress), copied_(copied) {}

  Status CopySettings() {
    COFFER_ASSIGN_OR_RETURN(std::vector<std::string> names, from_.meta->ListSettingNames());
    for (const std::string& name : names) {
      COFFER_ASSIGN_OR_RETURN(Bytes value, from_.meta->GetSetting(name));
      auto current = to_.meta->GetSetting(name);
      if (current.ok() && crypto::ConstantTimeEqual(*current, value)) continue;
      if (!current.ok() && current.status().code() != StatusCode::kNotFound) return current.status();
      // Settings are unversioned: the source's value is the server's (for the fake-salt
      // secret it must be, or unknown emails would get new fake salts after the move).
      if (current.ok()) progress_.Line("setting " + name + ": replacing the target's value with the source's");
      COFFER_RETURN_IF_ERROR(to_.meta->PutSetting(name, value));
      ++copied_.settings;
    }
    return OkStatus();
  }

  Status CopyAccount(const std::string& id) {
    COFFER_ASSIGN_OR_RETURN(AccountRecord source, from_.meta->GetAccount(id));
    auto target = to_.meta->GetAccount(id);
    if (!target.ok() && target.status().code() != StatusCode::kNotFound) return target.status();
    if (!target.ok()) {
      AccountRecord fresh = source;
      // Usage is recomputed by the target as data arrives; the quota is applied at the end so
      // that an account already over its quota (after a quota cut) still copies completely.
      fresh.used_bytes = 0;
      fresh.quota_bytes = 0;
      Status created = to_.meta->CreateAccount(fresh);
      if (created.code() == StatusCode::kAlreadyExists) {
        return FailedPreconditionError("account " + id +
                                       ": the target already has another account with the same email");
      }
      COFFER_RETURN_IF_ERROR(created);
      ++copied_.accounts;
    } else {
      if (target->email != source.email) return Diverged(id, "email");
      if (target->login_hash != source.login_hash || target->login_salt != source.login_salt ||
          target->kdf_ops != source.kdf_ops || target->kdf_mem != source.kdf_mem) {
        COFFER_RETURN_IF_ERROR(
            to_.meta->UpdateLogin(id, source.login_hash, source.login_salt, source.kdf_ops, source.kdf_mem));
      }
      if (target->recovery_hash != source.recovery_hash || target->recovery_blob != source.recovery_blob) {
        COFFER_RETURN_IF_ERROR(to_.meta->UpdateRecovery(id, source.recovery_hash, source.recovery_blob));
      }
      COFFER_RETURN_IF_ERROR(to_.meta->SetQuota(id, 0));
    }
    COFFER_RETURN_IF_ERROR(CopyDevices(id));
    COFFER_RETURN_IF_ERROR(CopyChain(id));
    COFFER_RETURN_IF_ERROR(CopySealedKeys(id));
    COFFER_RETURN_IF_ERROR(CopyKeyring(id));
    COFFER_RETURN_IF_ERROR(CopyChunks(id));
    COFFER_RETURN_IF_ERROR(CopyCollections(id));
    COFFER_RETURN_IF_ERROR(to_.meta->SetQuota(id, source.quota_bytes));
    COFFER_RETURN_IF_ERROR(to_.meta->SetLocked(id, source.locked));
    if (!target.ok() || target->last_activity < source.last_activity) {
      COFFER_RETURN_IF_ERROR(to_.meta->TouchActivity(id, source.last_activity));
    }
    return OkStatus();
  }

 private:
  Status CopyDevices(const std::string& id) {
    COFFER_ASSIGN_OR_RETURN(auto source, from_.meta->ListDevices(id));
    COFFER_ASSIGN_OR_RETURN(auto target, to_.meta->ListDevices(id));
    std::map<std::string, store::DeviceRecord> have;
    for (auto& d : target) have.emplace(d.device_id, std::move(d));
    for (const store::DeviceRecord& d : source) {
      auto it = have.find(d.device_id);
      bool put = it == have.end();
      if (!put) {
        // Status only moves forward (pending -> active -> revoked): never undo a revocation
        // the target already has; at the same status the source's keys and name win.
        const auto& t = it->second;
        put = d.status > t.status || (d.status == t.status && (d.sign_public_key != t.sign_public_key ||
                                                               d.box_public_key != t.box_public_key ||
                                                               d.name != t.name));
      }
      if (put) {
        COFFER_RETURN_IF_ERROR(to_.meta->PutDevice(d));
        ++copied_.devices;
      }
    }
    return OkStatus();
  }

  Status CopyChain(const std::string& id) {
    COFFER_ASSIGN_OR_RETURN(auto source, from_.meta->GetChain(id, 0));
    COFFER_ASSIGN_OR_RETURN(auto target, to_.meta->GetChain(id, 0));
    for (size_t i = 0; i < std::min(source.size(), target.size()); ++i) {
      if (source[i] != target[i]) return Diverged(id, "device chain entry " + std::to_string(i));
    }
    for (size_t i = target.size(); i < source.size(); ++i) {
      COFFER_RETURN_IF_ERROR(TargetMoved(to_.meta->AppendChainEntry(id, i, source[i]),
                                         "device chain of account " + id));
      ++copied_.chain_entries;
    }
    return OkStatus();
  }

  Status CopySealedKeys(const std::string& id) {
    COFFER_ASSIGN_OR_RETURN(auto source, from_.meta->ListSealedKeys(id));
    COFFER_ASSIGN_OR_RETURN(auto target, to_.meta->ListSealedKeys(id));
    std::map<std::string, MetaStore::SealedKeyEntry> have;
    for (auto& k : target) have.emplace(k.device_id, std::move(k));
    for (const auto& k : source) {
      auto it = have.find(k.device_id);
      if (it != have.end() && it->second.epoch > k.epoch) continue;  // the target's is newer
      if (it != have.end() && it->second.epoch == k.epoch) {
        if (it->second.blob != k.blob) return Diverged(id, "sealed key of device " + k.device_id);
        continue;
      }
      COFFER_RETURN_IF_ERROR(to_.meta->PutSealedKey(id, k.device_id, k.epoch, k.blob));
      ++copied_.sealed_keys;
    }
    return OkStatus();
  }

  Status CopyKeyring(const std::string& id) {
    auto source = from_.meta->GetKeyring(id);
    if (!source.ok() && source.status().code() == StatusCode::kNotFound) return OkStatus();
    if (!source.ok()) return source.status();
    auto target = to_.meta->GetKeyring(id);
    if (!target.ok() && target.status().code() != StatusCode::kNotFound) return target.status();
    const uint64_t have = target.ok() ? target->first : 0;
    if (have > source->first) return OkStatus();  // the target's is newer
    if (have == source->first) {
      return target->second == source->second ? OkStatus() : Diverged(id, "keyring version " + std::to_string(have));
    }
    if (source->first - have > kMaxKeyringCatchUp) {
      return DataLossError("keyring of account " + id + " is at version " + std::to_string(source->first) +
                           ", implausibly far past the target's " + std::to_string(have));
    }
    // The store keeps only the newest version and accepts only current + 1, so the versions
    // in between are written with the newest blob; each is replaced at once by the next.
    for (uint64_t v = have + 1; v <= source->first; ++v) {
      COFFER_RETURN_IF_ERROR(TargetMoved(to_.meta->PutKeyring(id, v, source->second), "keyring of account " + id));
    }
    ++copied_.keyrings;
    return OkStatus();
  }

  Status CopyChunkBatch(const std::string& id, const std::vector<ChunkRecord>& batch) {
    std::vector<std::string> ids;
    ids.reserve(batch.size());
    for (const ChunkRecord& c : batch) ids.push_back(c.chunk_id);
    COFFER_ASSIGN_OR_RETURN(std::vector<bool> present, to_.meta->HaveChunks(id, ids));
    if (present.size() != batch.size()) return InternalError("HaveChunks answered the wrong number of ids");
    for (size_t i = 0; i < batch.size(); ++i) {
      if (present[i]) continue;
      const ChunkRecord& c = batch[i];
      if (from_.blobs != nullptr) {
        // The bytes first, then the index entry: killed in between, the blob is simply
        // written again on the next run; the index never names a blob the target lacks.
        auto data = ReadChunkBytes(*from_.blobs, id, c);
        if (!data.ok() && data.status().code() == StatusCode::kNotFound) {
          return DataLossError("chunk " + c.chunk_id + " of account " + id +
                               " is in the source's index but its bytes are missing from the source blob store");
        }
        if (!data.ok()) return data.status();
        if (data->size() != c.size || crypto::Sha256(*data) != c.sha256) {
          return DataLossError("chunk " + c.chunk_id + " of account " + id +
                               ": the source's bytes do not match the SHA-256 in its index (corrupt source)");
        }
        if (c.pack_id.empty()) {
          COFFER_RETURN_IF_ERROR(to_.blobs->Put(BlobKey(id, c.chunk_id), *data));
        } else if (!copied_packs_.contains(id + "/" + c.pack_id)) {
          // Packs move whole, once; every chunk in one is still checked on its own above.
          const std::string pack = PackBlobKey(id, c.pack_id);
          COFFER_ASSIGN_OR_RETURN(Bytes whole, from_.blobs->Get(pack));
          COFFER_RETURN_IF_ERROR(to_.blobs->Put(pack, whole));
          copied_packs_.insert(id + "/" + c.pack_id);
        }
      }
      COFFER_ASSIGN_OR_RETURN(bool inserted, to_.meta->AddChunk(id, c));
      if (inserted) {
        ++copied_.chunks;
        copied_.chunk_bytes += c.size;
      }
    }
    return OkStatus();
  }

  Status CopyChunks(const std::string& id) {
    std::vector<ChunkRecord> batch;
    Status failure;
    uint64_t seen = 0;
    COFFER_RETURN_IF_ERROR(from_.meta->ListChunks(id, [&](const ChunkRecord& c) {
      batch.push_back(c);
      if (batch.size() < kChunkBatch) return true;
      failure = CopyChunkBatch(id, batch);
      seen += batch.size();
      batch.clear();
      progress_.Maybe("account " + id + ": " + std::to_string(seen) + " chunks checked, " +
                      std::to_string(copied_.chunks) + " copied so far in total");
      return failure.ok();
    }));
    COFFER_RETURN_IF_ERROR(failure);
    if (!batch.empty()) COFFER_RETURN_IF_ERROR(CopyChunkBatch(id, batch));
    return OkStatus();
  }

  Status CopyCollections(const std::string& id) {
    COFFER_ASSIGN_OR_RETURN(auto source, from_.meta->ListCollections(id));
    COFFER_ASSIGN_OR_RETURN(auto target, to_.meta->ListCollections(id));
    std::map<std::string, uint64_t> heads;
    for (const auto& c : target) heads[c.collection_id] = c.head;
    for (const store::CollectionHead& c : source) {
      const std::string what = "collection " + c.collection_id;
      const uint64_t have = heads.count(c.collection_id) ? heads[c.collection_id] : 0;
      if (have > 0) {
        // One revision in common proves the same journal: each revision is hash-chained to
        // its predecessor by the clients, so equal revision k implies equal 1..k.
        const uint64_t common = std::min(have, c.head);
        COFFER_ASSIGN_OR_RETURN(auto theirs, RevisionAt(*to_.meta, id, c.collection_id, common));
        COFFER_ASSIGN_OR_RETURN(auto ours, RevisionAt(*from_.meta, id, c.collection_id, common));
        if (theirs != ours) return Diverged(id, what + " revision " + std::to_string(common));
      }
      for (uint64_t next = have + 1; next <= c.head;) {
        COFFER_ASSIGN_OR_RETURN(
            auto revs, from_.meta->GetRevisions(id, c.collection_id, next, kRevisionBatch, kRevisionBatchBytes));
        if (revs.empty()) break;  // the source's journal ends early (cannot happen in a consistent store)
        for (const store::RevisionRecord& r : revs) {
          if (r.number != next) {
            return DataLossError(what + " of account " + id + " in the source has a gap at revision " +
                                 std::to_string(next));
          }
          COFFER_RETURN_IF_ERROR(TargetMoved(to_.meta->AppendRevision(id, c.collection_id, r.number, r.data),
                                             what + " of account " + id));
          ++copied_.revisions;
          ++next;
        }
        progress_.Maybe("account " + id + ": " + what + " at revision " + std::to_string(next - 1) + " of " +
                        std::to_string(c.head));
      }
      if (have < c.head) ++copied_.collections;
      auto checkpoint = from_.meta->GetCheckpoint(id, c.collection_id);
      if (!checkpoint.ok() && checkpoint.status().code() != StatusCode::kNotFound) return checkpoint.status();
      if (checkpoint.ok()) {
        auto existing = to_.meta->GetCheckpoint(id, c.collection_id);
        if (!existing.ok() && existing.status().code() != StatusCode::kNotFound) return existing.status();
        // Newer wins (the store drops an older one anyway); an equal number with other bytes
        // is a re-encoding, which the store's contract lets replace.
        if (!existing.ok() || existing->number < checkpoint->number ||
            (existing->number == checkpoint->number && existing->data != checkpoint->data)) {
          COFFER_RETURN_IF_ERROR(to_.meta->PutCheckpoint(id, c.collection_id, checkpoint->number, checkpoint->data));
          ++copied_.checkpoints;
        }
      }
    }
    return OkStatus();
  }

  const MigrateEndpoints& from_;
  const MigrateEndpoints& to_;
  Progress& progress_;
  MigrateCounts& copied_;
  std::set<std::string> copied_packs_;  // "account/pack" already written to the target
};

// ---------------------------------------------------------------------------------------
// Verify

class Verifier {
 public:
  Verifier(const MigrateEndpoints& from, const MigrateEndpoints& to, Progress& progress, MigrateReport& report)
      : from_(from), to_(to), progress_(progress), report_(report) {}

  // Appends a line per difference to problems_; returns only store errors.
  Status VerifyAccount(const std::string& id) {
    COFFER_ASSIGN_OR_RETURN(AccountRecord source, from_.meta->GetAccount(id));
    auto target = to_.meta->GetAccount(id);
    if (!target.ok() && target.status().code() == StatusCode::kNotFound) {
      Problem(id, "missing in the target");
      return OkStatus();
    }
    if (!target.ok()) return target.status();
    ++report_.verified.accounts;
    if (target->email != source.email || target->login_hash != source.login_hash ||
        target->recovery_hash != source.recovery_hash || target->quota_bytes != source.quota_bytes ||
        target->locked != source.locked) {
      Problem(id, "account fields differ");
    }
    bool target_newer = false;

    COFFER_ASSIGN_OR_RETURN(auto devices, from_.meta->ListDevices(id));
    COFFER_ASSIGN_OR_RETURN(auto target_devices, to_.meta->ListDevices(id));
    std::map<std::string, store::DeviceStatus> device_status;
    for (const auto& d : target_devices) device_status[d.device_id] = d.status;
    for (const auto& d : devices) {
      auto it = device_status.find(d.device_id);
      if (it == device_status.end() || it->second < d.status) {
        Problem(id, "device " + d.device_id + " missing or behind");
      } else {
        ++report_.verified.devices;
      }
    }
    target_newer |= target_devices.size() > devices.size();

    COFFER_ASSIGN_OR_RETURN(auto chain, from_.meta->GetChain(id, 0));
    COFFER_ASSIGN_OR_RETURN(auto target_chain, to_.meta->GetChain(id, 0));
    if (target_chain.size() < chain.size() ||
        !std::equal(chain.begin(), chain.end(), target_chain.begin())) {
      Problem(id, "device chain: " + std::to_string(target_chain.size()) + " entries in the target, " +
                      std::to_string(chain.size()) + " in the source");
    } else {
      report_.verified.chain_entries += chain.size();
    }
    target_newer |= target_chain.size() > chain.size();

    COFFER_ASSIGN_OR_RETURN(auto keys, from_.meta->ListSealedKeys(id));
    COFFER_ASSIGN_OR_RETURN(auto target_keys, to_.meta->ListSealedKeys(id));
    std::map<std::string, uint64_t> epochs;
    for (const auto& k : target_keys) epochs[k.device_id] = k.epoch;
    for (const auto& k : keys) {
      if (!epochs.count(k.device_id) || epochs[k.device_id] < k.epoch) {
        Problem(id, "sealed key of device " + k.device_id + " missing or older");
      } else {
        ++report_.verified.sealed_keys;
      }
    }

    auto keyring = from_.meta->GetKeyring(id);
    if (keyring.ok()) {
      auto target_keyring = to_.meta->GetKeyring(id);
      if (!target_keyring.ok() || target_keyring->first < keyring->first ||
          (target_keyring->first == keyring->first && target_keyring->second != keyring->second)) {
        Problem(id, "keyring missing, older or different");
      } else {
        ++report_.verified.keyrings;
        target_newer |= target_keyring->first > keyring->first;
      }
    } else if (keyring.status().code() != StatusCode::kNotFound) {
      return keyring.status();
    }

    COFFER_ASSIGN_OR_RETURN(auto collections, from_.meta->ListCollections(id));
    COFFER_ASSIGN_OR_RETURN(auto target_collections, to_.meta->ListCollections(id));
    std::map<std::string, uint64_t> heads;
    for (const auto& c : target_collections) heads[c.collection_id] = c.head;
    for (const auto& c : collections) {
      const uint64_t head = heads.count(c.collection_id) ? heads[c.collection_id] : 0;
      COFFER_ASSIGN_OR_RETURN(auto ours, RevisionAt(*from_.meta, id, c.collection_id, c.head));
      COFFER_ASSIGN_OR_RETURN(auto theirs, RevisionAt(*to_.meta, id, c.collection_id, c.head));
      if (head < c.head || ours != theirs) {
        Problem(id, "collection " + c.collection_id + " is at head " + std::to_string(head) + " in the target, " +
                        std::to_string(c.head) + " in the source (or its revision " + std::to_string(c.head) +
                        " differs)");
        continue;
      }
      target_newer |= head > c.head;
      ++report_.verified.collections;
      report_.verified.revisions += c.head;
      auto checkpoint = from_.meta->GetCheckpoint(id, c.collection_id);
      if (checkpoint.ok()) {
        auto target_checkpoint = to_.meta->GetCheckpoint(id, c.collection_id);
        if (!target_checkpoint.ok() || target_checkpoint->number < checkpoint->number) {
          Problem(id, "checkpoint of collection " + c.collection_id + " missing or older");
        } else {
          ++report_.verified.checkpoints;
        }
      }
    }
    target_newer |= target_collections.size() > collections.size();

    // Every source chunk is in the target's index...
    uint64_t source_chunks = 0, missing = 0;
    std::vector<std::string> batch;
    Status failure;
    auto check_batch = [&]() -> Status {
      COFFER_ASSIGN_OR_RETURN(auto present, to_.meta->HaveChunks(id, batch));
      for (bool p : present) missing += p ? 0 : 1;
      batch.clear();
      return OkStatus();
    };
    COFFER_RETURN_IF_ERROR(from_.meta->ListChunks(id, [&](const ChunkRecord& c) {
      ++source_chunks;
      batch.push_back(c.chunk_id);
      if (batch.size() >= kChunkBatch) failure = check_batch();
      return failure.ok();
    }));
    COFFER_RETURN_IF_ERROR(failure);
    if (!batch.empty()) COFFER_RETURN_IF_ERROR(check_batch());
    if (missing > 0) Problem(id, std::to_string(missing) + " chunks missing from the target's index");
    report_.verified.chunks += source_chunks - missing;
    // ...and every chunk in the target's index has its bytes, matching size and SHA-256.
    uint64_t target_chunks = 0;
    COFFER_RETURN_IF_ERROR(to_.meta->ListChunks(id, [&](const ChunkRecord& c) {
      ++target_chunks;
      report_.verified.chunk_bytes += c.size;
      if (to_.blobs == nullptr) return true;
      auto data = ReadChunkBytes(*to_.blobs, id, c);
      if (!data.ok() && data.status().code() != StatusCode::kNotFound) {
        failure = data.status();
        return false;
      }
      if (!data.ok() || data->size() != c.size || crypto::Sha256(*data) != c.sha256) {
        Problem(id, "chunk " + c.chunk_id + ": the target's bytes are missing or do not match its index");
      }
      ++report_.blobs_rechecked;
      progress_.Maybe("verifying: " + std::to_string(report_.blobs_rechecked) + " blobs re-read");
      return true;
    }));
    COFFER_RETURN_IF_ERROR(failure);
    target_newer |= target_chunks > source_chunks;
    // Usage must add up exactly unless the target holds newer data than the source.
    if (!target_newer && target->used_bytes != source.used_bytes) {
      Problem(id, "used bytes: " + std::to_string(target->used_bytes) + " in the target, " +
                      std::to_string(source.used_bytes) + " in the source");
    }
    return OkStatus();
  }

  Status VerifySettings() {
    COFFER_ASSIGN_OR_RETURN(std::vector<std::string> names, from_.meta->ListSettingNames());
    for (const std::string& name : names) {
      COFFER_ASSIGN_OR_RETURN(Bytes value, from_.meta->GetSetting(name));
      auto target = to_.meta->GetSetting(name);
      if (!target.ok() || !crypto::ConstantTimeEqual(*target, value)) {
        problems_.push_back("setting " + name + " missing or different in the target");
      } else {
        ++report_.verified.settings;
      }
    }
    return OkStatus();
  }

  const std::vector<std::string>& problems() const { return problems_; }

 private:
  void Problem(const std::string& id, const std::string& what) { problems_.push_back("account " + id + ": " + what); }

  const MigrateEndpoints& from_;
  const MigrateEndpoints& to_;
  Progress& progress_;
  MigrateReport& report_;
  std::vector<std::string> problems_;
};

Status CheckEndpoints(const MigrateEndpoints& from, const MigrateEndpoints& to) {
  if (from.meta == nullptr || to.meta == nullptr) return InvalidArgumentError("migrate needs both metadata stores");
  if ((from.blobs == nullptr) != (to.blobs == nullptr)) {
    return InvalidArgumentError("give both blob stores (--from-blobs and --to-blobs) or neither");
  }
  if (from.meta == to.meta || (from.blobs != nullptr && from.blobs == to.blobs)) {
    return InvalidArgumentError("the source and the target are the same store");
  }
  return OkStatus();
}

std::string Summary(const MigrateCounts& c) {
  return std::to_string(c.accounts) + " accounts, " + std::to_string(c.devices) + " devices, " +
         std::to_string(c.chain_entries) + " chain entries, " + std::to_string(c.sealed_keys) + " sealed keys, " +
         std::to_string(c.keyrings) + " keyrings, " + std::to_string(c.collections) + " collections, " +
         std::to_string(c.revisions) + " revisions, " + std::to_string(c.checkpoints) + " checkpoints, " +
         std::to_string(c.chunks) + " chunks (" + std::to_string(c.chunk_bytes) + " bytes), " +
         std::to_string(c.settings) + " settings";
}

StatusOr<MigrateReport> RunVerify(const MigrateEndpoints& from, const MigrateEndpoints& to, Progress& progress,
                                  MigrateReport report) {
  progress.Line("verifying the target against the source");
  Verifier verifier(from, to, progress, report);
  COFFER_RETURN_IF_ERROR(ForEachAccount(*from.meta, [&](const std::string& id) { return verifier.VerifyAccount(id); }));
  COFFER_RETURN_IF_ERROR(verifier.VerifySettings());
  if (!verifier.problems().empty()) {
    std::string message = std::to_string(verifier.problems().size()) + " difference(s) between source and target:";
    for (size_t i = 0; i < verifier.problems().size() && i < 20; ++i) message += "\n  " + verifier.problems()[i];
    if (verifier.problems().size() > 20) message += "\n  ...";
    return DataLossError(message);
  }
  progress.Line("verified: " + Summary(report.verified) + "; " + std::to_string(report.blobs_rechecked) +
                " blobs re-read and matched their SHA-256");
  return report;
}

}  // namespace

StatusOr<MigrateReport> Migrate(const MigrateEndpoints& from, const MigrateEndpoints& to, std::ostream* progress_out) {
  COFFER_RETURN_IF_ERROR(CheckEndpoints(from, to));
  Progress progress(progress_out);
  MigrateReport report;
  Copier copier(from, to, progress, report.copied);
  COFFER_RETURN_IF_ERROR(copier.CopySettings().WithContext("copying settings"));
  COFFER_ASSIGN_OR_RETURN(const uint64_t total, CountAccounts(*from.meta));
  progress.Line("copying " + std::to_string(total) + " accounts" + (from.blobs ? " with their chunk bytes" : ""));
  uint64_t done = 0;
  COFFER_RETURN_IF_ERROR(ForEachAccount(*from.meta, [&](const std::string& id) {
    COFFER_RETURN_IF_ERROR(copier.CopyAccount(id).WithContext("account " + id));
    ++done;
    progress.Maybe("account " + std::to_string(done) + "/" + std::to_string(total) + " done; copied so far: " +
                   Summary(report.copied));
    return OkStatus();
  }));
  progress.Line("copied: " + Summary(report.copied));
  return RunVerify(from, to, progress, std::move(report));
}

StatusOr<MigrateReport> VerifyMigration(const MigrateEndpoints& from, const MigrateEndpoints& to,
                                        std::ostream* progress_out) {
  COFFER_RETURN_IF_ERROR(CheckEndpoints(from, to));
  Progress progress(progress_out);
  return RunVerify(from, to, progress, MigrateReport());
}

namespace {

constexpr const char* kMigrateUsage =
    "usage: coffer-server migrate --from-meta URL --to-meta URL [--from-blobs URL --to-blobs URL]\n"
    "  e.g. --from-meta sqlite:///srv/coffer/meta.sqlite --to-meta postgresql://coffer@db/coffer\n"
    "       --from-blobs file:///srv/coffer/blobs --to-blobs 's3://bucket?endpoint=https://s3.example'\n"
    "Copies every account, the server settings and (with blob URLs) every chunk, then verifies.\n"
    "Re-run it after an interruption: it continues and never duplicates or overwrites newer data.";

int ExitCodeFor(const Status& s) {
  switch (s.code()) {
    case StatusCode::kUnavailable:
      return 5;
    case StatusCode::kDataLoss:
      return 3;
    case StatusCode::kInvalidArgument:
      return 2;
    default:
      return 1;
  }
}

}  // namespace

int MigrateMain(const std::vector<std::string>& args) {
  std::map<std::string, std::string> urls;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& flag = args[i];
    if (flag == "-h" || flag == "--help") {
      std::cout << kMigrateUsage << "\n";
      return 0;
    }
    if (flag != "--from-meta" && flag != "--to-meta" && flag != "--from-blobs" && flag != "--to-blobs") {
      std::cerr << "coffer-server migrate: unknown argument \"" << RedactUrl(flag) << "\"\n" << kMigrateUsage << "\n";
      return 2;
    }
    if (i + 1 >= args.size() || args[i + 1].empty()) {
      std::cerr << "coffer-server migrate: " << flag << " needs a URL\n" << kMigrateUsage << "\n";
      return 2;
    }
    if (!urls.emplace(flag, args[++i]).second) {
      std::cerr << "coffer-server migrate: " << flag << " given twice\n";
      return 2;
    }
  }
  if (!urls.count("--from-meta") || !urls.count("--to-meta") ||
      urls.count("--from-blobs") != urls.count("--to-blobs")) {
    std::cerr << "coffer-server migrate: give --from-meta and --to-meta, and both blob URLs or neither\n"
              << kMigrateUsage << "\n";
    return 2;
  }
  if (urls["--from-meta"] == urls["--to-meta"] ||
      (urls.count("--from-blobs") && urls["--from-blobs"] == urls["--to-blobs"])) {
    std::cerr << "coffer-server migrate: the source and the target are the same store\n";
    return 2;
  }
  // Opening an engine creates it if missing; a mistyped source path must not "migrate" an
  // empty new database.
  for (const char* flag : {"--from-meta", "--from-blobs"}) {
    if (!urls.count(flag)) continue;
    const std::string& url = urls[flag];
    for (const char* scheme : {"sqlite://", "file://"}) {
      if (url.starts_with(scheme) && !std::filesystem::exists(url.substr(std::string_view(scheme).size()))) {
        std::cerr << "coffer-server migrate: the source " << RedactUrl(url) << " does not exist\n";
        return 2;
      }
    }
  }
  auto fail = [&](const Status& s, const std::string& url) {
    std::string message = s.ToString();
    for (const auto& [flag, u] : urls) message = ScrubSecrets(message, u);
    std::cerr << "coffer-server migrate: " << (url.empty() ? "" : RedactUrl(url) + ": ") << message << "\n";
    return ExitCodeFor(s);
  };
  auto from_meta = store::OpenMetaStore(urls["--from-meta"]);
  if (!from_meta.ok()) return fail(from_meta.status(), urls["--from-meta"]);
  auto to_meta = store::OpenMetaStore(urls["--to-meta"]);
  if (!to_meta.ok()) return fail(to_meta.status(), urls["--to-meta"]);
  std::unique_ptr<BlobStore> from_blobs, to_blobs;
  if (urls.count("--from-blobs")) {
    auto f = store::OpenBlobStore(urls["--from-blobs"]);
    if (!f.ok()) return fail(f.status(), urls["--from-blobs"]);
    auto t = store::OpenBlobStore(urls["--to-blobs"]);
    if (!t.ok()) return fail(t.status(), urls["--to-blobs"]);
    from_blobs = std::move(*f);
    to_blobs = std::move(*t);
  }
  std::cerr << "migrate: from " << RedactUrl(urls["--from-meta"])
            << (from_blobs ? " + " + RedactUrl(urls["--from-blobs"]) : "") << " to " << RedactUrl(urls["--to-meta"])
            << (to_blobs ? " + " + RedactUrl(urls["--to-blobs"]) : "") << "\n";
  auto report = Migrate({from_meta->get(), from_blobs.get()}, {to_meta->get(), to_blobs.get()}, &std::cerr);
  if (!report.ok()) return fail(report.status(), "");
  std::cout << "migrated and verified: " << Summary(report->verified) << "\n";
  return 0;
}

}  // namespace coffer::server
