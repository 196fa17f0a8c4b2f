#include "client/transfer.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <deque>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_set>

#include "chunk/chunker.h"
#include "chunk/pack_wire.h"
#include "crypto/aead.h"
#include "crypto/hash.h"

namespace coffer::client {
namespace fs = std::filesystem;
namespace {

constexpr size_t kCommitOps = 1000;
constexpr uint64_t kCommitBytes = 256ull << 20;
// Packs uploaded at once: each waits on the server's fsync and index commit, so a few in
// flight keep its disk busy; each worker also encrypts its own pack.
constexpr size_t kUploadConnections = 3;
// Parallel chunk downloads: connections (single files: GETs; restore: batched fetches) and
// the reorder window of a single file.
constexpr size_t kFetchConnections = 4;
constexpr size_t kFetchWindow = 16;
// Restore: files up to this size are verified whole in memory and created by a writer pool.
constexpr uint64_t kParallelWriteMaxBytes = 4u << 20;

std::string Errno() { return std::strerror(errno); }

// A local file or folder cannot be read or written (permissions, disk full, missing folder):
// the person must fix something here, and it is not a server or network problem.
Status LocalFileError(std::string message) { return FailedPreconditionError(std::move(message)); }

Hash32 ToHash(const Bytes& b) {
  Hash32 h{};
  std::copy(b.begin(), b.begin() + std::min(b.size(), h.size()), h.begin());
  return h;
}

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

std::string HexId(const Hash32& id) { return HexEncode(id); }

// ---- chunk encryption (FORMAT.md §11) ----

crypto::SecretBytes ChunkKey(const ContentEpochKeys& k, const Hash32& id) {
  Bytes key = crypto::KeyedHash(k.chunk_enc_key, id);
  auto secret = crypto::SecretBytes::FromBytes(key);
  sodium_memzero(key.data(), key.size());
  return secret;
}

StatusOr<Bytes> EncryptChunk(const ContentEpochKeys& k, const Hash32& id, ByteView plain) {
  ChunkContainer c;
  c.content_epoch = k.epoch;
  Bytes padded(chunk::PadmeLength(4 + plain.size()), 0);
  const uint32_t n = static_cast<uint32_t>(plain.size());
  for (int i = 0; i < 4; ++i) padded[i] = static_cast<uint8_t>(n >> (8 * i));
  std::copy(plain.begin(), plain.end(), padded.begin() + 4);
  // The faster implementation of the standard construction (crypto micro-benchmarks); its
  // random 96-bit nonce is safe because the key is this chunk's own (FORMAT.md §11).
  c.suite = kChunkSuiteIetf;
  COFFER_ASSIGN_OR_RETURN(c.sealed, crypto::AeadSealIetf(ChunkKey(k, id), padded, c.Aad(id)));
  sodium_memzero(padded.data(), padded.size());
  return c.Encode();
}

// Decrypts a chunk and checks it is exactly the chunk the manifest names.
StatusOr<Bytes> DecryptChunk(const UnlockedKeys& keys, uint32_t epoch, const ChunkRef& ref, ByteView data,
                             const std::string& what) {
  const std::string name = "chunk " + HexId(ref.id) + " of " + what;
  auto c = ChunkContainer::Decode(data);
  if (!c.ok()) return DataLossError(name + ": " + c.status().message());
  if (c->content_epoch != epoch) return DataLossError(name + " is from another key epoch (swapped chunk)");
  auto k = keys.content.find(epoch);
  if (k == keys.content.end()) return DataLossError(name + " uses an unknown key epoch");
  // The suite is part of the AAD, so a container cannot be passed off under the other one.
  auto padded = c->suite == kChunkSuiteIetf ? crypto::AeadOpenIetf(ChunkKey(k->second, ref.id), c->sealed, c->Aad(ref.id))
                                            : crypto::AeadOpen(ChunkKey(k->second, ref.id), c->sealed, c->Aad(ref.id));
  if (!padded.ok()) return DataLossError(name + " failed authentication (modified or swapped on the server)");
  if (padded->size() < 4) return DataLossError(name + " is malformed");
  const uint32_t n = static_cast<uint32_t>((*padded)[0]) | static_cast<uint32_t>((*padded)[1]) << 8 |
                     static_cast<uint32_t>((*padded)[2]) << 16 | static_cast<uint32_t>((*padded)[3]) << 24;
  if (n != ref.size || n > padded->size() - 4) return DataLossError(name + " has the wrong length");
  Bytes plain(padded->begin() + 4, padded->begin() + 4 + n);
  if (ToHash(crypto::KeyedHash(k->second.chunk_id_key, plain)) != ref.id) {
    return DataLossError(name + " does not match its id (swapped chunk)");
  }
  return plain;
}

// Collects chunks into packs and uploads the ones the server does not have, in the
// background: while the caller reads, chunks and hashes the next files, worker threads ask
// the server which chunks of a finished pack it lacks, encrypt those and send them as one
// CFPK body (FORMAT.md §17), so the server stores a pack with one write, one fsync and one
// index transaction. Memory is bounded by the packs in flight (kPacksInFlight × kPackBytes).
class Uploader {
 public:
  Uploader(Vault& vault, const ContentEpochKeys& keys, CopyStats& stats)
      : vault_(vault), keys_(keys), stats_(stats) {}

  Uploader(const Uploader&) = delete;
  Uploader& operator=(const Uploader&) = delete;

  ~Uploader() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_) t.join();
    // Merges the worker connections' traffic into the vault's counters.
    for (auto& c : connections_) vault_.api().MergeStats(c->stats());
  }

  // Takes `plain` into the current pack unless this run already has it queued or stored.
  Status Add(const Hash32& id, Bytes plain) {
    COFFER_RETURN_IF_ERROR(Error());
    if (!known_.insert(id).second) return OkStatus();
    current_.bytes += plain.size();
    current_.chunks.emplace_back(id, std::move(plain));
    if (current_.bytes >= kPackBytes || current_.chunks.size() >= kPackChunks) return Submit();
    return OkStatus();
  }

  // Returns once every chunk added so far is on the server (or the first upload error).
  Status Flush() {
    COFFER_ASSIGN_OR_RETURN(uint64_t mark, Mark());
    return WaitThrough(mark);
  }

  // Sends what is buffered and returns a mark: once DoneThrough(mark), every chunk added
  // before this call is on the server, so a revision naming them may be committed.
  StatusOr<uint64_t> Mark() {
    COFFER_RETURN_IF_ERROR(Submit());
    std::lock_guard<std::mutex> lock(mu_);
    return submitted_;
  }

  // Without waiting: are all packs up to `mark` stored? An upload error is returned as is.
  StatusOr<bool> DoneThrough(uint64_t mark) {
    std::lock_guard<std::mutex> lock(mu_);
    if (!error_.ok()) return error_;
    return in_flight_.empty() || *in_flight_.begin() > mark;
  }

  Status WaitThrough(uint64_t mark) {
    std::unique_lock<std::mutex> lock(mu_);
    idle_cv_.wait(lock, [&] { return in_flight_.empty() || *in_flight_.begin() > mark || !error_.ok(); });
    return error_;
  }

 private:
  struct Pack {
    std::vector<std::pair<Hash32, Bytes>> chunks;
    size_t bytes = 0;
    uint64_t seq = 0;
  };

  Status Error() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

  Status Submit() {
    if (current_.chunks.empty()) return Error();
    COFFER_RETURN_IF_ERROR(StartWorkers());
    std::unique_lock<std::mutex> lock(mu_);
    // Back-pressure: the reader waits rather than buffering the whole tree.
    idle_cv_.wait(lock, [&] { return queue_.size() + busy_ < kPacksInFlight || !error_.ok(); });
    if (!error_.ok()) return error_;
    current_.seq = ++submitted_;
    in_flight_.insert(current_.seq);
    queue_.push_back(std::move(current_));
    current_ = Pack();
    lock.unlock();
    work_cv_.notify_one();
    return OkStatus();
  }

  Status StartWorkers() {
    if (!threads_.empty()) return OkStatus();
    for (size_t w = 0; w < kUploadConnections; ++w) {
      COFFER_ASSIGN_OR_RETURN(auto c, vault_.NewConnection());
      connections_.push_back(std::move(c));
    }
    for (auto& c : connections_) threads_.emplace_back([this, api = c.get()] { Work(*api); });
    return OkStatus();
  }

  void Work(ApiClient& api) {
    for (;;) {
      Pack pack;
      bool failed_already = false;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return;  // stopping
        pack = std::move(queue_.front());
        queue_.pop_front();
        ++busy_;
        failed_already = !error_.ok();
      }
      Status st = failed_already ? OkStatus() : Upload(api, pack);
      {
        std::lock_guard<std::mutex> lock(mu_);
        --busy_;
        if (!st.ok() && error_.ok()) error_ = st;
        if (st.ok() && !failed_already) in_flight_.erase(pack.seq);
      }
      idle_cv_.notify_all();
    }
  }

  Status Upload(ApiClient& api, const Pack& pack) {
    std::vector<std::string> ids;
    ids.reserve(pack.chunks.size());
    for (const auto& [id, _] : pack.chunks) ids.push_back(HexId(id));
    COFFER_ASSIGN_OR_RETURN(std::vector<std::string> missing, api.MissingChunks(ids));
    if (missing.empty()) return OkStatus();
    const std::unordered_set<std::string> need(missing.begin(), missing.end());
    chunk::PackWriter writer;
    uint64_t sealed_bytes = 0;
    for (size_t i = 0; i < pack.chunks.size(); ++i) {
      if (!need.count(ids[i])) continue;
      const auto& [id, plain] = pack.chunks[i];
      COFFER_ASSIGN_OR_RETURN(Bytes sealed, EncryptChunk(keys_, id, plain));
      chunk::RawId raw_id, sha;
      std::copy(id.begin(), id.end(), raw_id.begin());
      const Bytes digest = crypto::Sha256(sealed);
      std::copy(digest.begin(), digest.end(), sha.begin());
      writer.Add(raw_id, sha, sealed);
      sealed_bytes += sealed.size();
    }
    const size_t count = writer.count();
    COFFER_RETURN_IF_ERROR(api.PutChunkPack(writer.Finish()).status());
    std::lock_guard<std::mutex> lock(mu_);
    stats_.chunks_uploaded += count;
    stats_.bytes_uploaded += sealed_bytes;
    return OkStatus();
  }

  // A pack of about this much plaintext per request: large enough that the server's fsync
  // and index commit are paid rarely, small enough to keep several in flight in little RAM.
  static constexpr size_t kPackBytes = 8u << 20;
  static constexpr size_t kPackChunks = 1024;
  static constexpr size_t kPacksInFlight = kUploadConnections + 1;

  Vault& vault_;
  const ContentEpochKeys& keys_;
  CopyStats& stats_;
  std::set<Hash32> known_;  // queued or stored in this run (main thread only)
  Pack current_;            // being filled (main thread only)

  std::mutex mu_;
  std::condition_variable work_cv_;  // a pack was queued, or stopping
  std::condition_variable idle_cv_;  // a pack finished
  std::deque<Pack> queue_;
  uint64_t submitted_ = 0;          // packs handed to the workers so far (their seq numbers)
  std::set<uint64_t> in_flight_;    // seq of packs queued or being uploaded
  size_t busy_ = 0;
  bool stopping_ = false;
  Status error_;
  std::vector<std::unique_ptr<ApiClient>> connections_;
  std::vector<std::thread> threads_;
};

// Computes keyed chunk ids on two threads while the reader reads, cuts and hashes the whole
// file: hashing every byte twice (chunk id and whole-file hash) on one thread was the
// longest serial step of a put.
class ChunkIdHasher {
 public:
  ChunkIdHasher() {
    for (int i = 0; i < 2; ++i) threads_.emplace_back([this] { Work(); });
  }
  ChunkIdHasher(const ChunkIdHasher&) = delete;
  ChunkIdHasher& operator=(const ChunkIdHasher&) = delete;
  ~ChunkIdHasher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
  }

  // `data` must stay alive and unchanged until the future is ready.
  std::future<Hash32> Submit(const crypto::SecretBytes& key, ByteView data) {
    std::packaged_task<Hash32()> task([&key, data] { return ToHash(crypto::KeyedHash(key, data)); });
    std::future<Hash32> result = task.get_future();
    {
      std::lock_guard<std::mutex> lock(mu_);
      tasks_.push_back(std::move(task));
    }
    cv_.notify_one();
    return result;
  }

 private:
  void Work() {
    for (;;) {
      std::packaged_task<Hash32()> task;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
        if (tasks_.empty()) return;
        task = std::move(tasks_.front());
        tasks_.pop_front();
      }
      task();
    }
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::packaged_task<Hash32()>> tasks_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

// Reads one local file into a Content, uploading its chunks. Retries if the file changes
// while being read, so no torn version is ever recorded.
class FileReader {
 public:
  FileReader(const ContentEpochKeys& keys, const chunk::Chunker& chunker, Uploader& uploader)
      : keys_(keys), chunker_(chunker), uploader_(uploader) {}

  StatusOr<Content> Read(const std::string& path, struct stat& st, const std::function<void(uint64_t)>& on_bytes) {
    for (int attempt = 0; attempt < 3; ++attempt) {
      int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return LocalFileError("cannot read " + path + ": " + Errno());
      struct stat before;
      if (::fstat(fd, &before) != 0) {
        ::close(fd);
        return LocalFileError("cannot stat " + path + ": " + Errno());
      }
      auto content = ReadFd(fd, path, on_bytes);
      struct stat after;
      const bool stat_ok = ::fstat(fd, &after) == 0;
      ::close(fd);
      if (!content.ok()) return content.status();
      if (stat_ok && after.st_size == before.st_size && MtimeNs(after) == MtimeNs(before) &&
          static_cast<uint64_t>(after.st_size) == content->Size()) {
        st = before;
        return content;
      }
    }
    return AbortedError(path + " kept changing while it was being read; try again when it is stable");
  }

 private:
  StatusOr<Content> ReadFd(int fd, const std::string& path, const std::function<void(uint64_t)>& on_bytes) {
    const size_t max = chunker_.params().max_size;
    Bytes buf(2 * max);
    size_t start = 0, end = 0;
    bool eof = false;
    Content content;
    crypto::StreamingHash whole(keys_.chunk_id_key);
    uint64_t total = 0;
    std::deque<Pending> window;
    // Every hash in flight reads a buffer in `window`: wait for them before it goes away,
    // whichever way this function returns.
    struct Drain {
      std::deque<Pending>& w;
      ~Drain() {
        for (auto& p : w)
          if (p.id.valid()) p.id.wait();
      }
    } drain{window};
    auto settle_oldest = [&]() -> Status {
      Pending p = std::move(window.front());
      window.pop_front();
      const Hash32 id = p.id.get();
      const uint32_t size = static_cast<uint32_t>(p.plain.size());
      COFFER_RETURN_IF_ERROR(uploader_.Add(id, std::move(p.plain)));
      content.chunks.push_back(ChunkRef{id, size});
      return OkStatus();
    };
    while (true) {
      while (!eof && end - start < max) {
        if (start > 0) {
          std::memmove(buf.data(), buf.data() + start, end - start);
          end -= start;
          start = 0;
        }
        ssize_t n = ::read(fd, buf.data() + end, buf.size() - end);
        if (n < 0) {
          if (errno == EINTR) continue;
          return LocalFileError("cannot read " + path + ": " + Errno());
        }
        if (n == 0) eof = true;
        end += static_cast<size_t>(n);
      }
      if (start == end) break;
      ByteView avail(buf.data() + start, end - start);
      if (total == 0 && eof && avail.size() <= kMaxInlineBytes) {
        content.kind = Content::Kind::kInline;
        content.inline_data.assign(avail.begin(), avail.end());
        whole.Update(avail);
        total = avail.size();
        on_bytes(avail.size());
        break;
      }
      const size_t cut = chunker_.Cut(avail, eof);
      ByteView piece = avail.first(cut);
      // The chunk's id is hashed on the side; its bytes move on to the uploader once known,
      // in order, a few chunks behind the reader.
      Pending p;
      p.plain.assign(piece.begin(), piece.end());
      p.id = hasher_.Submit(keys_.chunk_id_key, p.plain);
      window.push_back(std::move(p));
      if (window.size() > kHashWindow) COFFER_RETURN_IF_ERROR(settle_oldest());
      whole.Update(piece);
      content.kind = Content::Kind::kChunks;
      total += cut;
      start += cut;
      on_bytes(cut);
    }
    while (!window.empty()) COFFER_RETURN_IF_ERROR(settle_oldest());
    content.content_epoch = keys_.epoch;
    content.content_hash = ToHash(whole.Final());
    return content;
  }

  struct Pending {
    std::future<Hash32> id;
    Bytes plain;
  };
  static constexpr size_t kHashWindow = 8;

  const ContentEpochKeys& keys_;
  const chunk::Chunker& chunker_;
  Uploader& uploader_;
  ChunkIdHasher hasher_;
};

std::string BaseName(const std::string& path) {
  std::string p = path;
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  return fs::path(p).filename().string();
}

// Finds or creates the folder at `remote` (mkdir -p), staging Put ops for new folders.
StatusOr<std::string> EnsureRemoteDir(Journal& journal, const std::string& remote, std::vector<Op>& ops,
                                      std::map<std::string, std::string>& staged_children) {
  COFFER_ASSIGN_OR_RETURN(std::vector<std::string> parts, SplitRemotePath(remote));
  std::string cur = ItemRow::RootId();
  bool committed = true;
  for (const std::string& name : parts) {
    const std::string key = cur + "/" + name;
    if (auto it = staged_children.find(key); it != staged_children.end()) {
      cur = it->second;
      committed = false;
      continue;
    }
    if (committed) {
      COFFER_ASSIGN_OR_RETURN(auto child, journal.Child(cur, name));
      if (child) {
        if (child->kind != ItemKind::kDir) return FailedPreconditionError("remote path " + remote + ": '" + name + "' is a file");
        cur = child->item_id;
        continue;
      }
    }
    Op op;
    op.type = OpType::kPut;
    op.item_id = RandomId();
    COFFER_ASSIGN_OR_RETURN(op.parent_id, IdFromHex(cur));
    op.name = name;
    op.kind = ItemKind::kDir;
    op.mode = 0755;
    op.mtime_ns = static_cast<int64_t>(std::time(nullptr)) * 1'000'000'000;
    ops.push_back(op);
    cur = IdHex(op.item_id);
    staged_children[key] = cur;
    committed = false;
  }
  return cur;
}

class PutRun {
 public:
  PutRun(Vault& vault, Journal& journal, const ProgressFn& progress, const chunk::Chunker& chunker)
      : vault_(vault),
        journal_(journal),
        progress_(progress),
        keys_(vault.keys().current_content()),
        uploader_(vault, keys_, stats_),
        reader_(keys_, chunker, uploader_) {}

  Status Scan(const std::string& path) {
    std::error_code ec;
    auto st = fs::symlink_status(path, ec);
    if (ec) return NotFoundError("cannot read " + path + ": " + ec.message());
    if (fs::is_directory(st)) {
      progress_state_.items_total++;
      for (auto it = fs::recursive_directory_iterator(path, fs::directory_options::none, ec);
           !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
        progress_state_.items_total++;
        if (it->is_regular_file(ec) && !it->is_symlink(ec)) progress_state_.bytes_total += it->file_size(ec);
      }
      if (ec) return LocalFileError("cannot list " + path + ": " + ec.message());
    } else if (fs::is_regular_file(st)) {
      progress_state_.items_total++;
      progress_state_.bytes_total += fs::file_size(path, ec);
    } else if (!fs::is_symlink(st)) {
      return InvalidArgumentError(path + " is not a regular file or folder");
    }
    return OkStatus();
  }

  // Puts `local` as child `name` of remote folder `parent_id` (staged or committed).
  Status PutPath(const std::string& local, const std::string& parent_id, bool parent_committed,
                 const std::string& name) {
    struct stat st;
    if (::lstat(local.c_str(), &st) != 0) return NotFoundError("cannot read " + local + ": " + Errno());
    COFFER_RETURN_IF_ERROR(ValidateName(name).WithContext(local));
    std::optional<ItemRow> existing;
    if (parent_committed) {
      COFFER_ASSIGN_OR_RETURN(existing, journal_.Child(parent_id, name));
    }
    if (S_ISLNK(st.st_mode)) {
      stats_.warnings.push_back("skipped symbolic link " + local);
      return OkStatus();
    }
    if (S_ISDIR(st.st_mode)) {
      std::string dir_id;
      bool committed = false;
      if (existing) {
        if (existing->kind != ItemKind::kDir) {
          return FailedPreconditionError("cannot put folder " + local + ": a file with that name exists remotely");
        }
        dir_id = existing->item_id;
        committed = true;
        if (existing->mtime_ns != MtimeNs(st) || existing->mode != (st.st_mode & 07777)) {
          COFFER_RETURN_IF_ERROR(Stage(DirOp(existing->item_id, parent_id, name, st)));
        }
      } else {
        Op op = DirOp(IdHex(RandomId()), parent_id, name, st);
        dir_id = IdHex(op.item_id);
        COFFER_RETURN_IF_ERROR(Stage(std::move(op)));
      }
      stats_.folders++;
      Tick(0);
      std::vector<fs::path> entries;
      std::error_code ec;
      for (const auto& e : fs::directory_iterator(local, ec)) entries.push_back(e.path());
      if (ec) return LocalFileError("cannot list " + local + ": " + ec.message());
      std::sort(entries.begin(), entries.end());
      for (const auto& e : entries) {
        // After a batch commit the staged folder is committed; ask the journal again.
        COFFER_RETURN_IF_ERROR(PutPath(e.string(), dir_id, committed || IsCommitted(dir_id), e.filename().string()));
      }
      return OkStatus();
    }
    if (!S_ISREG(st.st_mode)) {
      stats_.warnings.push_back("skipped special file " + local);
      return OkStatus();
    }
    if (existing && existing->kind == ItemKind::kDir) {
      return FailedPreconditionError("cannot put file " + local + ": a folder with that name exists remotely");
    }
    stats_.files++;
    if (existing && existing->size == static_cast<uint64_t>(st.st_size) && existing->mtime_ns == MtimeNs(st) &&
        existing->mode == (st.st_mode & 07777)) {
      stats_.unchanged++;
      stats_.bytes += existing->size;
      Tick(existing->size);
      return OkStatus();
    }
    COFFER_ASSIGN_OR_RETURN(Content content, reader_.Read(local, st, [&](uint64_t n) { Tick(n, false); }));
    stats_.bytes += content.Size();
    stats_.chunks += content.chunks.size();
    Op op;
    op.type = OpType::kPut;
    COFFER_ASSIGN_OR_RETURN(op.item_id, IdFromHex(existing ? existing->item_id : IdHex(RandomId())));
    COFFER_ASSIGN_OR_RETURN(op.parent_id, IdFromHex(parent_id));
    op.name = name;
    op.kind = ItemKind::kFile;
    op.mtime_ns = MtimeNs(st);
    op.mode = st.st_mode & 07777;
    op.content = std::move(content);
    pending_bytes_ += op.content.Size();
    Tick(0);
    return Stage(std::move(op));
  }

  Status Stage(Op op) {
    staged_ids_.insert(IdHex(op.item_id));
    ops_.push_back(std::move(op));
    if (ops_.size() >= kCommitOps || pending_bytes_ >= kCommitBytes) return SealBatch();
    return MaybeCommitSealed();
  }

  // A full batch waits, sealed, for its chunks to reach the server while the next files are
  // read; it is committed as soon as its packs are stored (checked after every file) or,
  // at the latest, when the next batch is sealed. Chunks first: a revision must never
  // reference a chunk the server does not hold.
  Status SealBatch() {
    COFFER_RETURN_IF_ERROR(CommitSealed(/*wait=*/true));
    if (ops_.empty()) return OkStatus();
    COFFER_ASSIGN_OR_RETURN(sealed_mark_, uploader_.Mark());
    sealed_ops_ = std::move(ops_);
    sealed_ids_ = std::move(staged_ids_);
    ops_.clear();
    staged_ids_.clear();
    pending_bytes_ = 0;
    return OkStatus();
  }

  Status MaybeCommitSealed() {
    if (sealed_ops_.empty()) return OkStatus();
    COFFER_ASSIGN_OR_RETURN(bool stored, uploader_.DoneThrough(sealed_mark_));
    return stored ? CommitSealed(/*wait=*/false) : OkStatus();
  }

  Status CommitSealed(bool wait) {
    if (sealed_ops_.empty()) return OkStatus();
    if (wait) COFFER_RETURN_IF_ERROR(uploader_.WaitThrough(sealed_mark_));
    COFFER_RETURN_IF_ERROR(journal_.Commit(std::move(sealed_ops_)).status());
    stats_.revisions++;
    sealed_ops_.clear();
    sealed_ids_.clear();
    return OkStatus();
  }

  // Commits everything staged (the end of the run).
  Status CommitBatch() {
    COFFER_RETURN_IF_ERROR(SealBatch());
    return CommitSealed(/*wait=*/true);
  }

  bool IsCommitted(const std::string& id) const { return staged_ids_.count(id) == 0 && sealed_ids_.count(id) == 0; }
  std::vector<Op>& ops() { return ops_; }
  void MarkStaged(const std::string& id) { staged_ids_.insert(id); }
  CopyStats& stats() { return stats_; }

 private:
  static Op DirOp(const std::string& id, const std::string& parent_id, const std::string& name, const struct stat& st) {
    Op op;
    op.type = OpType::kPut;
    op.item_id = *IdFromHex(id);
    op.parent_id = *IdFromHex(parent_id);
    op.name = name;
    op.kind = ItemKind::kDir;
    op.mtime_ns = MtimeNs(st);
    op.mode = st.st_mode & 07777;
    return op;
  }

  void Tick(uint64_t bytes, bool item = true) {
    progress_state_.bytes_done += bytes;
    if (item) progress_state_.items_done++;
    if (progress_) progress_(progress_state_);
  }

  Vault& vault_;
  Journal& journal_;
  const ProgressFn& progress_;
  const ContentEpochKeys& keys_;
  CopyStats stats_;
  Uploader uploader_;
  FileReader reader_;
  std::vector<Op> ops_;
  std::set<std::string> staged_ids_;
  std::vector<Op> sealed_ops_;        // the previous batch, waiting for its chunks
  std::set<std::string> sealed_ids_;
  uint64_t sealed_mark_ = 0;
  uint64_t pending_bytes_ = 0;
  Progress progress_state_;
};

}  // namespace

struct ContentUploader::Impl {
  Impl(Vault& vault, chunk::Chunker chunker, CopyStats& stats)
      : keys(vault.keys().current_content()),
        chunker(std::move(chunker)),
        uploader(vault, keys, stats),
        reader(keys, this->chunker, uploader) {}
  const ContentEpochKeys& keys;
  chunk::Chunker chunker;
  Uploader uploader;
  FileReader reader;
};

StatusOr<std::unique_ptr<ContentUploader>> ContentUploader::Create(Vault& vault, CopyStats& stats) {
  const ContentEpochKeys& keys = vault.keys().current_content();
  COFFER_ASSIGN_OR_RETURN(chunk::Chunker chunker, chunk::Chunker::Create(keys.gear_key, chunk::DefaultChunkerParams()));
  return std::unique_ptr<ContentUploader>(
      new ContentUploader(std::make_unique<Impl>(vault, std::move(chunker), stats)));
}
ContentUploader::ContentUploader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ContentUploader::~ContentUploader() = default;

StatusOr<Content> ContentUploader::Upload(const std::string& path, struct stat& st,
                                          const std::function<void(uint64_t)>& on_bytes) {
  static const std::function<void(uint64_t)> kIgnore = [](uint64_t) {};
  return impl_->reader.Read(path, st, on_bytes ? on_bytes : kIgnore);
}
Status ContentUploader::Flush() { return impl_->uploader.Flush(); }

StatusOr<Hash32> HashLocalFile(const Vault& vault, uint32_t content_epoch, const std::string& path) {
  auto k = vault.keys().content.find(content_epoch);
  if (k == vault.keys().content.end()) return DataLossError("unknown content key epoch " + std::to_string(content_epoch));
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return LocalFileError("cannot read " + path + ": " + Errno());
  crypto::StreamingHash whole(k->second.chunk_id_key);
  Bytes buf(1 << 20);
  while (true) {
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      return LocalFileError("cannot read " + path + ": " + Errno());
    }
    if (n == 0) break;
    whole.Update(ByteView(buf.data(), static_cast<size_t>(n)));
  }
  ::close(fd);
  return ToHash(whole.Final());
}

namespace {

// Downloads the chunks of a file several at a time and hands them over in order. Each chunk
// is a separate request, so on a server with per-request latency (an S3 store behind it) a
// sequential restore waits on every round trip; a window of requests in flight hides it.
// Memory stays bounded by the window (at most kFetchWindow chunks of <= 1 MiB each).
class ChunkFetcher {
 public:
  explicit ChunkFetcher(Vault& vault) : vault_(vault) {}
  ~ChunkFetcher() {
    for (auto& c : connections_) vault_.api().MergeStats(c->stats());
  }

  // A download failure is returned as is, with *failed naming the chunk; the sink's own
  // errors are returned with *failed = SIZE_MAX.
  Status FetchInOrder(const std::vector<ChunkRef>& refs, const std::function<Status(size_t, Bytes)>& sink,
                      size_t* failed) {
    *failed = SIZE_MAX;
    if (refs.size() <= 1) {
      for (size_t i = 0; i < refs.size(); ++i) {
        auto data = vault_.api().GetChunk(HexId(refs[i].id));
        if (!data.ok()) {
          *failed = i;
          return data.status();
        }
        COFFER_RETURN_IF_ERROR(sink(i, std::move(*data)));
      }
      return OkStatus();
    }
    const size_t workers = std::min(kFetchConnections, refs.size());
    while (connections_.size() < workers) {
      COFFER_ASSIGN_OR_RETURN(auto c, vault_.NewConnection());
      connections_.push_back(std::move(c));
    }
    for (size_t start = 0; start < refs.size(); start += kFetchWindow) {
      const size_t end = std::min(refs.size(), start + kFetchWindow);
      std::vector<StatusOr<Bytes>> got(end - start, StatusOr<Bytes>(InternalError("not fetched")));
      std::atomic<size_t> next{start};
      auto work = [&](ApiClient& api) {
        for (size_t i = next++; i < end; i = next++) got[i - start] = api.GetChunk(HexId(refs[i].id));
      };
      std::vector<std::thread> threads;
      for (size_t w = 1; w < workers; ++w) threads.emplace_back(work, std::ref(*connections_[w]));
      work(*connections_[0]);
      for (auto& t : threads) t.join();
      for (size_t i = start; i < end; ++i) {
        if (!got[i - start].ok()) {
          *failed = i;
          return got[i - start].status();
        }
        COFFER_RETURN_IF_ERROR(sink(i, std::move(got[i - start]).value()));
      }
    }
    return OkStatus();
  }

 private:
  Vault& vault_;
  std::vector<std::unique_ptr<ApiClient>> connections_;
};

// Hands over the verified plaintext of a file's chunks, in order. An error names the chunk
// and the file; a sink error is returned as is.
using PlainSink = std::function<Status(ByteView plain)>;
using PlainSource = std::function<Status(const Content& content, const std::string& what, const PlainSink& sink)>;

// The source for single downloads (sync, DownloadFile): a window of parallel GETs per file.
Status FetchAndDecrypt(Vault& vault, ChunkFetcher& fetcher, const Content& content, const std::string& what,
                       const PlainSink& sink) {
  auto consume = [&](size_t i, Bytes data) -> Status {
    COFFER_ASSIGN_OR_RETURN(Bytes plain, DecryptChunk(vault.keys(), content.content_epoch, content.chunks[i], data, what));
    return sink(plain);
  };
  size_t failed = SIZE_MAX;
  Status fetched = fetcher.FetchInOrder(content.chunks, consume, &failed);
  if (fetched.ok() || failed == SIZE_MAX) return fetched;
  const std::string chunk = HexId(content.chunks[failed].id);
  if (fetched.code() == StatusCode::kNotFound) {
    return DataLossError("chunk " + chunk + " of " + what + " is missing on the server");
  }
  return fetched.WithContext("chunk " + chunk + " of " + what);
}

using ByteWriter = std::function<Status(ByteView data)>;

// Creates `dest` through a temporary file in the same folder: `produce` writes the bytes,
// then mode and mtime are applied and the file is renamed into place. On any error the
// temporary file is removed and `dest` is untouched.
Status CreateFileAtomically(const ItemRow& item, const fs::path& dest,
                            const std::function<Status(const ByteWriter& write)>& produce) {
  std::error_code ec;
  if (fs::is_directory(fs::symlink_status(dest, ec))) {
    return FailedPreconditionError("cannot write " + dest.string() + ": a folder with that name exists");
  }
  const fs::path dir = dest.parent_path().empty() ? fs::path(".") : dest.parent_path();
  const fs::path tmp = dir / (".coffer-" + HexEncode(crypto::RandomBytes(8)) + ".part");
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd < 0) return LocalFileError("cannot create a file in " + dir.string() + ": " + Errno());
  auto fail = [&](Status st) {
    ::close(fd);
    ::unlink(tmp.c_str());
    return st;
  };
  Status produced = produce([&](ByteView data) -> Status {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(fd, data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        return LocalFileError("cannot write " + dest.string() + ": " + Errno());
      }
      off += static_cast<size_t>(n);
    }
    return OkStatus();
  });
  if (!produced.ok()) return fail(produced);
  ::fchmod(fd, item.mode & 07777);
  struct timespec times[2];
  times[0].tv_sec = item.mtime_ns / 1'000'000'000;
  times[0].tv_nsec = item.mtime_ns % 1'000'000'000;
  times[1] = times[0];
  ::futimens(fd, times);
  if (::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return LocalFileError("cannot write " + dest.string() + ": " + Errno());
  }
  if (::rename(tmp.c_str(), dest.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return LocalFileError("cannot create " + dest.string() + ": " + Errno());
  }
  return OkStatus();
}

// Writes the content's plaintext through `write`, chunk by chunk as verified (§11), and
// fails if the whole-file hash does not match at the end: the caller must then discard what
// it wrote.
Status StreamVerifiedContent(const Vault& vault, const Content& content, const std::string& what,
                             const PlainSource& source, const ByteWriter& write,
                             const std::function<void(uint64_t)>& on_bytes) {
  if (content.kind == Content::Kind::kInline) {
    COFFER_RETURN_IF_ERROR(write(content.inline_data));
    on_bytes(content.inline_data.size());
    return OkStatus();
  }
  if (content.kind != Content::Kind::kChunks) return OkStatus();
  auto k = vault.keys().content.find(content.content_epoch);
  if (k == vault.keys().content.end()) return DataLossError(what + " uses an unknown key epoch");
  crypto::StreamingHash whole(k->second.chunk_id_key);
  COFFER_RETURN_IF_ERROR(source(content, what, [&](ByteView plain) -> Status {
    whole.Update(plain);
    COFFER_RETURN_IF_ERROR(write(plain));
    on_bytes(plain.size());
    return OkStatus();
  }));
  if (ToHash(whole.Final()) != content.content_hash) {
    return DataLossError(what + " does not match its recorded content hash");
  }
  return OkStatus();
}

Status WriteFileAtomically(Vault& vault, const ItemRow& item, const fs::path& dest, const std::string& what,
                           const std::function<void(uint64_t)>& on_bytes, const PlainSource& source) {
  COFFER_ASSIGN_OR_RETURN(Content content, Content::Decode(item.content));
  return CreateFileAtomically(item, dest, [&](const ByteWriter& write) {
    return StreamVerifiedContent(vault, content, what, source, write, on_bytes);
  });
}

// Creates small files on a few threads: creating a file costs more kernel time than writing
// a small one (inode allocation; ~180 µs per file on the benchmark machine), and that work
// runs in parallel on separate cores. Only verified bytes are handed over; each file still
// appears atomically. Memory is bounded by kMaxQueuedBytes.
class FileWriterPool {
 public:
  FileWriterPool() {
    for (size_t i = 0; i < kWriters; ++i) threads_.emplace_back([this] { Work(); });
  }
  FileWriterPool(const FileWriterPool&) = delete;
  FileWriterPool& operator=(const FileWriterPool&) = delete;
  ~FileWriterPool() { (void)Finish(); }

  // An earlier write's error is returned here (and by Finish), so the run stops early.
  Status Submit(const ItemRow& item, fs::path dest, Bytes data) {
    std::unique_lock<std::mutex> lock(mu_);
    space_cv_.wait(lock, [&] { return queued_bytes_ < kMaxQueuedBytes || !error_.ok(); });
    if (!error_.ok()) return error_;
    queued_bytes_ += data.size();
    jobs_.push_back(Job{item.mode, item.mtime_ns, std::move(dest), std::move(data)});
    lock.unlock();
    work_cv_.notify_one();
    return OkStatus();
  }

  // Waits for every submitted file; returns the first error.
  Status Finish() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      done_ = true;
    }
    work_cv_.notify_all();
    for (auto& t : threads_) t.join();
    threads_.clear();
    std::lock_guard<std::mutex> lock(mu_);
    return error_;
  }

 private:
  struct Job {
    uint32_t mode;
    int64_t mtime_ns;
    fs::path dest;
    Bytes data;
  };

  void Work() {
    for (;;) {
      Job job;
      {
        std::unique_lock<std::mutex> lock(mu_);
        work_cv_.wait(lock, [&] { return done_ || !jobs_.empty(); });
        if (jobs_.empty()) return;
        job = std::move(jobs_.front());
        jobs_.pop_front();
      }
      ItemRow item;
      item.mode = job.mode;
      item.mtime_ns = job.mtime_ns;
      Status st = error_ok() ? CreateFileAtomically(item, job.dest, [&](const ByteWriter& write) { return write(job.data); })
                             : OkStatus();
      {
        std::lock_guard<std::mutex> lock(mu_);
        queued_bytes_ -= job.data.size();
        if (!st.ok() && error_.ok()) error_ = st;
      }
      space_cv_.notify_all();
    }
  }

  bool error_ok() {
    std::lock_guard<std::mutex> lock(mu_);
    return error_.ok();
  }

  static constexpr size_t kWriters = 1;
  static constexpr size_t kMaxQueuedBytes = 8u << 20;

  std::mutex mu_;
  std::condition_variable work_cv_;
  std::condition_variable space_cv_;
  std::deque<Job> jobs_;
  size_t queued_bytes_ = 0;
  bool done_ = false;
  Status error_;
  std::vector<std::thread> threads_;
};

void SetDirTimes(const fs::path& dir, const ItemRow& item) {
  struct timespec times[2];
  times[0].tv_sec = item.mtime_ns / 1'000'000'000;
  times[0].tv_nsec = item.mtime_ns % 1'000'000'000;
  times[1] = times[0];
  ::utimensat(AT_FDCWD, dir.c_str(), times, 0);
  ::chmod(dir.c_str(), item.mode & 07777 ? item.mode & 07777 : 0755);
}

}  // namespace

Status DownloadFile(Vault& vault, const ItemRow& item, const std::string& dest, const std::string& what,
                    const std::function<void(uint64_t)>& on_bytes) {
  static const std::function<void(uint64_t)> kIgnore = [](uint64_t) {};
  ChunkFetcher fetcher(vault);
  return WriteFileAtomically(vault, item, dest, what, on_bytes ? on_bytes : kIgnore,
                             [&](const Content& content, const std::string& w, const PlainSink& sink) {
                               return FetchAndDecrypt(vault, fetcher, content, w, sink);
                             });
}

StatusOr<CopyStats> PutPaths(Vault& vault, Journal& journal, const std::vector<std::string>& sources,
                                 const std::string& remote, const ProgressFn& progress) {
  COFFER_RETURN_IF_ERROR(journal.Refresh());
  const ContentEpochKeys& keys = vault.keys().current_content();
  COFFER_ASSIGN_OR_RETURN(chunk::Chunker chunker, chunk::Chunker::Create(keys.gear_key, chunk::DefaultChunkerParams()));
  PutRun run(vault, journal, progress, chunker);
  for (const auto& s : sources) COFFER_RETURN_IF_ERROR(run.Scan(s));

  // The destination is always a folder (created if missing), and each source keeps its
  // name inside it, so re-running the same put is idempotent.
  COFFER_ASSIGN_OR_RETURN(auto target, journal.Resolve(remote));
  if (target && target->kind != ItemKind::kDir) {
    return FailedPreconditionError("remote " + remote + " is a file; put copies into a folder (see `coffer put --help`)");
  }
  std::map<std::string, std::string> staged;
  COFFER_ASSIGN_OR_RETURN(std::string parent_id, EnsureRemoteDir(journal, remote, run.ops(), staged));
  bool parent_committed = true;
  for (const auto& [_, id] : staged) {
    run.MarkStaged(id);
    parent_committed = false;
  }
  for (const auto& s : sources) {
    COFFER_RETURN_IF_ERROR(run.PutPath(s, parent_id, parent_committed || run.IsCommitted(parent_id), BaseName(s)));
  }
  COFFER_RETURN_IF_ERROR(run.CommitBatch());
  return run.stats();
}

namespace {

// Restore of many files (get): every chunk of every file, in the order the files are written,
// is fetched ahead in batches (POST /v1/chunks/fetch, FORMAT.md §17) by a few worker threads,
// each on its own connection, and decrypted and checked there (AEAD, keyed id); the writer
// thread only writes, hashes the whole file and renames. Small files no longer wait for a
// round trip each, and decryption runs beside the writes. Memory is bounded by the window of
// batches ahead of the writer (kRestoreWindow × kRestoreBatchBytes, plus their ciphertext).
class RestorePipeline {
 public:
  struct FileChunks {
    const Content* content;
    const std::string* what;  // the file's remote path, for errors
  };

  RestorePipeline(Vault& vault, std::vector<FileChunks> files) : vault_(vault), files_(std::move(files)) {
    // Cut the flat chunk sequence into batches by count and (plaintext) size.
    Batch cur;
    size_t bytes = 0;
    for (size_t f = 0; f < files_.size(); ++f) {
      const auto& chunks = files_[f].content->chunks;
      for (size_t i = 0; i < chunks.size(); ++i) {
        if (!cur.refs.empty() && (cur.refs.size() >= kRestoreBatchChunks || bytes + chunks[i].size > kRestoreBatchBytes)) {
          batches_.push_back(std::move(cur));
          cur = Batch();
          bytes = 0;
        }
        cur.refs.push_back({f, i});
        bytes += chunks[i].size;
      }
    }
    if (!cur.refs.empty()) batches_.push_back(std::move(cur));
  }

  RestorePipeline(const RestorePipeline&) = delete;
  RestorePipeline& operator=(const RestorePipeline&) = delete;

  ~RestorePipeline() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : threads_) t.join();
    for (auto& c : connections_) vault_.api().MergeStats(c->stats());
  }

  Status Start() {
    if (batches_.empty()) return OkStatus();
    const size_t workers = std::min(kFetchConnections, batches_.size());
    for (size_t w = 0; w < workers; ++w) {
      COFFER_ASSIGN_OR_RETURN(auto c, vault_.NewConnection());
      connections_.push_back(std::move(c));
    }
    for (auto& c : connections_) threads_.emplace_back([this, api = c.get()] { Work(*api); });
    return OkStatus();
  }

  // The PlainSource for file `f` (files are consumed in order, each chunk exactly once).
  Status Deliver(size_t f, const PlainSink& sink) {
    const size_t n = files_[f].content->chunks.size();
    for (size_t i = 0; i < n; ++i) {
      Batch* batch = nullptr;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return batches_[consume_batch_].ready; });
        batch = &batches_[consume_batch_];
      }
      const size_t k = consume_pos_;
      if (batch->refs[k].file != f || batch->refs[k].index != i) return InternalError("restore pipeline out of order");
      StatusOr<Bytes>& plain = batch->plain[k];
      if (!plain.ok()) return plain.status();
      COFFER_RETURN_IF_ERROR(sink(*plain));
      plain = Bytes();  // free early
      if (++consume_pos_ == batch->refs.size()) {
        std::lock_guard<std::mutex> lock(mu_);
        batch->plain.clear();
        batch->plain.shrink_to_fit();
        ++consume_batch_;
        consume_pos_ = 0;
        cv_.notify_all();  // a worker may start the next batch of the window
      }
    }
    return OkStatus();
  }

 private:
  struct Ref {
    size_t file;
    size_t index;
  };
  struct Batch {
    std::vector<Ref> refs;
    std::vector<StatusOr<Bytes>> plain;  // filled by a worker
    bool ready = false;
  };

  void Work(ApiClient& api) {
    for (;;) {
      size_t b;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] {
          return stopping_ || (next_batch_ < batches_.size() && next_batch_ < consume_batch_ + kRestoreWindow);
        });
        if (stopping_) return;
        b = next_batch_++;
      }
      std::vector<StatusOr<Bytes>> plain = FetchBatch(api, batches_[b]);
      {
        std::lock_guard<std::mutex> lock(mu_);
        batches_[b].plain = std::move(plain);
        batches_[b].ready = true;
      }
      cv_.notify_all();
    }
  }

  const ChunkRef& RefOf(const Ref& r) const { return files_[r.file].content->chunks[r.index]; }

  // One request for the whole batch; if it fails, each chunk alone, so that every error
  // names its own chunk and file (and one bad chunk does not hide its neighbours).
  std::vector<StatusOr<Bytes>> FetchBatch(ApiClient& api, const Batch& batch) {
    std::vector<StatusOr<Bytes>> out;
    out.reserve(batch.refs.size());
    std::vector<std::string> ids;
    std::vector<chunk::RawId> raw;
    for (const Ref& r : batch.refs) {
      const ChunkRef& ref = RefOf(r);
      ids.push_back(HexId(ref.id));
      chunk::RawId id;
      std::copy(ref.id.begin(), ref.id.end(), id.begin());
      raw.push_back(id);
    }
    auto reply = api.FetchChunks(ids);
    if (reply.ok()) {
      auto parts = chunk::ParseFetchReply(AsBytes(*reply), raw);
      if (parts.ok()) {
        for (size_t k = 0; k < batch.refs.size(); ++k) out.push_back(Decrypt(batch.refs[k], (*parts)[k]));
        return out;
      }
    }
    for (size_t k = 0; k < batch.refs.size(); ++k) {
      const std::string& what = *files_[batch.refs[k].file].what;
      auto data = api.GetChunk(ids[k]);
      if (!data.ok()) {
        if (data.status().code() == StatusCode::kNotFound) {
          out.push_back(DataLossError("chunk " + ids[k] + " of " + what + " is missing on the server"));
        } else {
          out.push_back(data.status().WithContext("chunk " + ids[k] + " of " + what));
        }
        continue;
      }
      out.push_back(Decrypt(batch.refs[k], *data));
    }
    return out;
  }

  StatusOr<Bytes> Decrypt(const Ref& r, ByteView data) {
    const FileChunks& file = files_[r.file];
    return DecryptChunk(vault_.keys(), file.content->content_epoch, RefOf(r), data, *file.what);
  }

  static constexpr size_t kRestoreBatchBytes = 4u << 20;
  static constexpr size_t kRestoreBatchChunks = 256;
  static constexpr size_t kRestoreWindow = 3;

  Vault& vault_;
  std::vector<FileChunks> files_;
  std::vector<Batch> batches_;
  std::vector<std::unique_ptr<ApiClient>> connections_;
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::condition_variable cv_;
  size_t next_batch_ = 0;     // next batch a worker takes
  size_t consume_batch_ = 0;  // batch the writer reads
  size_t consume_pos_ = 0;    // writer thread only
  bool stopping_ = false;
};

struct GetRun {
  Vault& vault;
  Journal& journal;
  const ProgressFn& progress;
  CopyStats stats;
  Progress p;

  struct PlannedFile {
    ItemRow item;
    Content content;
    fs::path dest;
    std::string remote_path;
  };
  struct PlannedDir {
    ItemRow item;
    fs::path dest;
  };
  std::vector<PlannedFile> files;
  std::vector<PlannedDir> dirs;  // parents before children

  // Walks the remote tree once: what to create where, and the totals for progress.
  Status Plan(const ItemRow& item, const fs::path& dest, const std::string& remote_path) {
    p.items_total++;
    if (item.kind == ItemKind::kFile) {
      p.bytes_total += item.size;
      COFFER_ASSIGN_OR_RETURN(Content content, Content::Decode(item.content));
      files.push_back({item, std::move(content), dest, remote_path});
      return OkStatus();
    }
    dirs.push_back({item, dest});
    COFFER_ASSIGN_OR_RETURN(auto kids, journal.Children(item.item_id));
    std::set<std::string> seen;
    for (const auto& k : kids) {
      std::string name = k.name;
      // Two remote items with one name (concurrent writers): keep both, the second renamed.
      if (!seen.insert(name).second) name += " (" + k.item_id.substr(0, 8) + ")";
      COFFER_RETURN_IF_ERROR(Plan(k, dest / name, remote_path == "/" ? "/" + k.name : remote_path + "/" + k.name));
    }
    return OkStatus();
  }

  Status Run() {
    for (const PlannedDir& d : dirs) {
      std::error_code ec;
      fs::create_directories(d.dest, ec);
      if (ec || !fs::is_directory(d.dest)) {
        return LocalFileError("cannot create folder " + d.dest.string() + (ec ? ": " + ec.message() : ""));
      }
      stats.folders++;
      p.items_done++;
    }
    std::vector<RestorePipeline::FileChunks> chunked;
    std::vector<size_t> slot(files.size(), SIZE_MAX);
    for (size_t f = 0; f < files.size(); ++f) {
      if (files[f].content.kind != Content::Kind::kChunks) continue;
      slot[f] = chunked.size();
      chunked.push_back({&files[f].content, &files[f].remote_path});
    }
    RestorePipeline pipeline(vault, std::move(chunked));
    COFFER_RETURN_IF_ERROR(pipeline.Start());
    FileWriterPool writers;
    auto on_bytes = [&](uint64_t n) {
      p.bytes_done += n;
      stats.bytes += n;
      if (progress) progress(p);
    };
    for (size_t f = 0; f < files.size(); ++f) {
      const PlannedFile& file = files[f];
      const PlainSource source = [&](const Content&, const std::string&, const PlainSink& sink) {
        return pipeline.Deliver(slot[f], sink);
      };
      if (file.item.size <= kParallelWriteMaxBytes) {
        // Verified in full here, written by the pool.
        Bytes data;
        data.reserve(file.item.size);
        COFFER_RETURN_IF_ERROR(StreamVerifiedContent(
            vault, file.content, file.remote_path, source,
            [&](ByteView plain) {
              data.insert(data.end(), plain.begin(), plain.end());
              return OkStatus();
            },
            on_bytes));
        COFFER_RETURN_IF_ERROR(writers.Submit(file.item, file.dest, std::move(data)));
      } else {
        COFFER_RETURN_IF_ERROR(CreateFileAtomically(file.item, file.dest, [&](const ByteWriter& write) {
          return StreamVerifiedContent(vault, file.content, file.remote_path, source, write, on_bytes);
        }));
      }
      stats.files++;
      p.items_done++;
      if (progress) progress(p);
    }
    COFFER_RETURN_IF_ERROR(writers.Finish());
    // Folder times last (writing files into a folder changes its mtime), deepest first.
    for (auto it = dirs.rbegin(); it != dirs.rend(); ++it) {
      if (!it->item.is_root()) SetDirTimes(it->dest, it->item);
    }
    return OkStatus();
  }
};

}  // namespace

StatusOr<CopyStats> GetPaths(Vault& vault, Journal& journal, const std::vector<std::string>& sources,
                                 const std::string& local, const ProgressFn& progress) {
  COFFER_RETURN_IF_ERROR(journal.Refresh());
  GetRun run{vault, journal, progress, {}, {}, {}, {}};
  std::vector<std::pair<ItemRow, std::string>> items;
  for (const auto& s : sources) {
    COFFER_ASSIGN_OR_RETURN(auto item, journal.Resolve(s));
    if (!item) return NotFoundError("no such remote file or folder: " + s);
    items.emplace_back(*item, s);
  }
  std::error_code ec;
  const bool local_is_dir = fs::is_directory(local, ec);
  if (!local_is_dir && items.size() > 1) {
    fs::create_directories(local, ec);
    if (ec) return LocalFileError("cannot create folder " + local + ": " + ec.message());
  }
  for (const auto& [item, path] : items) {
    fs::path dest;
    if (local_is_dir || items.size() > 1) {
      dest = fs::path(local) / (item.is_root() ? std::string(".") : item.name);
    } else {
      dest = local;
    }
    COFFER_RETURN_IF_ERROR(run.Plan(item, dest, path));
  }
  COFFER_RETURN_IF_ERROR(run.Run());
  return run.stats;
}

Status VerifyContent(Vault& vault, const Content& content, const std::string& what) {
  if (content.kind != Content::Kind::kChunks) return OkStatus();
  auto k = vault.keys().content.find(content.content_epoch);
  if (k == vault.keys().content.end()) return DataLossError(what + " uses an unknown key epoch");
  crypto::StreamingHash whole(k->second.chunk_id_key);
  for (const ChunkRef& ref : content.chunks) {
    auto data = vault.api().GetChunk(HexId(ref.id));
    if (!data.ok()) {
      if (data.status().code() == StatusCode::kNotFound) {
        return DataLossError("chunk " + HexId(ref.id) + " of " + what + " is missing on the server");
      }
      return data.status().WithContext("chunk " + HexId(ref.id) + " of " + what);
    }
    COFFER_ASSIGN_OR_RETURN(Bytes plain, DecryptChunk(vault.keys(), content.content_epoch, ref, *data, what));
    whole.Update(plain);
  }
  if (ToHash(whole.Final()) != content.content_hash) return DataLossError(what + " does not match its content hash");
  return OkStatus();
}

Status MakeDirectory(Vault& vault, Journal& journal, const std::string& remote, bool parents) {
  COFFER_RETURN_IF_ERROR(journal.Refresh());
  COFFER_ASSIGN_OR_RETURN(auto existing, journal.Resolve(remote));
  if (existing) {
    if (existing->kind == ItemKind::kDir && parents) return OkStatus();
    return AlreadyExistsError(remote + " already exists");
  }
  COFFER_ASSIGN_OR_RETURN(auto parts, SplitRemotePath(remote));
  if (!parents && parts.size() > 1) {
    std::string parent;
    for (size_t i = 0; i + 1 < parts.size(); ++i) parent += "/" + parts[i];
    COFFER_ASSIGN_OR_RETURN(auto p, journal.Resolve(parent));
    if (!p || p->kind != ItemKind::kDir) return NotFoundError("no such remote folder: " + parent + " (use -p)");
  }
  std::vector<Op> ops;
  std::map<std::string, std::string> staged;
  COFFER_RETURN_IF_ERROR(EnsureRemoteDir(journal, remote, ops, staged).status());
  if (ops.empty()) return OkStatus();
  return journal.Commit(std::move(ops)).status();
}

}  // namespace coffer::client
