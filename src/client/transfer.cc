#include "client/transfer.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "chunk/chunker.h"
#include "crypto/aead.h"
#include "crypto/hash.h"

namespace coffer::client {
namespace fs = std::filesystem;
namespace {

constexpr size_t kUploadBatchBytes = 16u << 20;
constexpr size_t kCommitOps = 1000;
constexpr uint64_t kCommitBytes = 256ull << 20;
// Parallel chunk uploads: each upload waits on the server's fsyncs, so several in flight keep
// the server's disk busy; each worker also encrypts its own chunks.
constexpr size_t kUploadConnections = 8;
// Parallel chunk downloads for restore: requests in flight and the reorder window.
constexpr size_t kFetchConnections = 8;
constexpr size_t kFetchWindow = 16;

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
  COFFER_ASSIGN_OR_RETURN(c.sealed, crypto::AeadSeal(ChunkKey(k, id), padded, c.Aad(id)));
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
  auto padded = crypto::AeadOpen(ChunkKey(k->second, ref.id), c->sealed, c->Aad(ref.id));
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

// Collects chunks and uploads the ones the server does not have, in batches.
class Uploader {
 public:
  Uploader(Vault& vault, const ContentEpochKeys& keys, CopyStats& stats)
      : vault_(vault), keys_(keys), stats_(stats) {}

  Status Add(const Hash32& id, ByteView plain) {
    if (known_.count(id) || queued_.count(id)) return OkStatus();
    queued_.insert(id);
    pending_.emplace_back(id, Bytes(plain.begin(), plain.end()));
    pending_bytes_ += plain.size();
    if (pending_bytes_ >= kUploadBatchBytes) return Flush();
    return OkStatus();
  }

  Status Flush() {
    if (pending_.empty()) return OkStatus();
    std::vector<std::string> ids;
    ids.reserve(pending_.size());
    for (const auto& [id, _] : pending_) ids.push_back(HexId(id));
    COFFER_ASSIGN_OR_RETURN(std::vector<std::string> missing, vault_.api().MissingChunks(ids));
    std::set<std::string> need(missing.begin(), missing.end());
    std::vector<const std::pair<Hash32, Bytes>*> todo;
    for (const auto& p : pending_)
      if (need.count(HexId(p.first))) todo.push_back(&p);
    COFFER_RETURN_IF_ERROR(UploadAll(todo));
    for (const auto& [id, _] : pending_) known_.insert(id);
    pending_.clear();
    queued_.clear();
    pending_bytes_ = 0;
    return OkStatus();
  }

  // Merges the worker connections' traffic into the vault's counters.
  ~Uploader() {
    for (auto& c : connections_) vault_.api().MergeStats(c->stats());
  }

 private:
  Status UploadAll(const std::vector<const std::pair<Hash32, Bytes>*>& todo) {
    if (todo.empty()) return OkStatus();
    const size_t workers = std::min(kUploadConnections, todo.size());
    while (connections_.size() < workers) {
      COFFER_ASSIGN_OR_RETURN(auto c, vault_.NewConnection());
      connections_.push_back(std::move(c));
    }
    std::atomic<size_t> next{0};
    std::mutex mu;
    Status first_error;
    auto work = [&](ApiClient& api) {
      for (size_t i = next++; i < todo.size(); i = next++) {
        const auto& [id, plain] = *todo[i];
        auto sealed = EncryptChunk(keys_, id, plain);
        Status st = sealed.ok() ? api.PutChunk(HexId(id), *sealed).status() : sealed.status();
        std::lock_guard<std::mutex> lock(mu);
        if (!st.ok()) {
          if (first_error.ok()) first_error = st;
          next = todo.size();  // stop the other workers too
          return;
        }
        stats_.chunks_uploaded++;
        stats_.bytes_uploaded += sealed->size();
      }
    };
    std::vector<std::thread> threads;
    for (size_t w = 1; w < workers; ++w) threads.emplace_back(work, std::ref(*connections_[w]));
    work(*connections_[0]);
    for (auto& t : threads) t.join();
    return first_error;
  }

  Vault& vault_;
  const ContentEpochKeys& keys_;
  CopyStats& stats_;
  std::vector<std::unique_ptr<ApiClient>> connections_;
  std::set<Hash32> known_;   // on the server (checked or uploaded in this run)
  std::set<Hash32> queued_;
  std::vector<std::pair<Hash32, Bytes>> pending_;
  size_t pending_bytes_ = 0;
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
      const Hash32 id = ToHash(crypto::KeyedHash(keys_.chunk_id_key, piece));
      COFFER_RETURN_IF_ERROR(uploader_.Add(id, piece));
      whole.Update(piece);
      content.kind = Content::Kind::kChunks;
      content.chunks.push_back(ChunkRef{id, static_cast<uint32_t>(cut)});
      total += cut;
      start += cut;
      on_bytes(cut);
    }
    content.content_epoch = keys_.epoch;
    content.content_hash = ToHash(whole.Final());
    return content;
  }

  const ContentEpochKeys& keys_;
  const chunk::Chunker& chunker_;
  Uploader& uploader_;
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
    if (ops_.size() >= kCommitOps || pending_bytes_ >= kCommitBytes) return CommitBatch();
    return OkStatus();
  }

  Status CommitBatch() {
    // Chunks first: a revision must never reference a chunk the server does not hold.
    COFFER_RETURN_IF_ERROR(uploader_.Flush());
    if (ops_.empty()) return OkStatus();
    COFFER_RETURN_IF_ERROR(journal_.Commit(std::move(ops_)).status());
    stats_.revisions++;
    ops_.clear();
    staged_ids_.clear();
    pending_bytes_ = 0;
    return OkStatus();
  }

  bool IsCommitted(const std::string& id) const { return staged_ids_.count(id) == 0; }
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

Status WriteFileAtomically(Vault& vault, const ItemRow& item, const fs::path& dest, const std::string& what,
                           const std::function<void(uint64_t)>& on_bytes, ChunkFetcher* fetcher = nullptr) {
  COFFER_ASSIGN_OR_RETURN(Content content, Content::Decode(item.content));
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
  auto write_all = [&](ByteView data) -> Status {
    size_t off = 0;
    while (off < data.size()) {
      ssize_t n = ::write(fd, data.data() + off, data.size() - off);
      if (n < 0) {
        if (errno == EINTR) continue;
        return LocalFileError("cannot write " + dest.string() + ": " + Errno());
      }
      off += static_cast<size_t>(n);
    }
    on_bytes(data.size());
    return OkStatus();
  };
  if (content.kind == Content::Kind::kInline) {
    Status st = write_all(content.inline_data);
    if (!st.ok()) return fail(st);
  } else if (content.kind == Content::Kind::kChunks) {
    auto k = vault.keys().content.find(content.content_epoch);
    if (k == vault.keys().content.end()) return fail(DataLossError(what + " uses an unknown key epoch"));
    crypto::StreamingHash whole(k->second.chunk_id_key);
    auto consume = [&](size_t i, Bytes data) -> Status {
      const ChunkRef& ref = content.chunks[i];
      COFFER_ASSIGN_OR_RETURN(Bytes plain, DecryptChunk(vault.keys(), content.content_epoch, ref, data, what));
      whole.Update(plain);
      return write_all(plain);
    };
    ChunkFetcher local_fetcher(vault);
    size_t failed = SIZE_MAX;
    Status fetched = (fetcher ? *fetcher : local_fetcher).FetchInOrder(content.chunks, consume, &failed);
    if (!fetched.ok()) {
      if (failed == SIZE_MAX) return fail(fetched);
      const std::string chunk = HexId(content.chunks[failed].id);
      if (fetched.code() == StatusCode::kNotFound) {
        return fail(DataLossError("chunk " + chunk + " of " + what + " is missing on the server"));
      }
      return fail(fetched.WithContext("chunk " + chunk + " of " + what));
    }
    if (ToHash(whole.Final()) != content.content_hash) {
      return fail(DataLossError(what + " does not match its recorded content hash"));
    }
  }
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
  return WriteFileAtomically(vault, item, dest, what, on_bytes ? on_bytes : kIgnore);
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

struct GetRun {
  Vault& vault;
  Journal& journal;
  const ProgressFn& progress;
  CopyStats stats;
  Progress p;
  std::unique_ptr<ChunkFetcher> fetcher;  // its connections serve every file of the run

  Status Count(const ItemRow& item) {
    p.items_total++;
    if (item.kind == ItemKind::kFile) {
      p.bytes_total += item.size;
      return OkStatus();
    }
    COFFER_ASSIGN_OR_RETURN(auto kids, journal.Children(item.item_id));
    for (const auto& k : kids) COFFER_RETURN_IF_ERROR(Count(k));
    return OkStatus();
  }

  Status Get(const ItemRow& item, const fs::path& dest, const std::string& remote_path) {
    if (item.kind == ItemKind::kFile) {
      if (!fetcher) fetcher = std::make_unique<ChunkFetcher>(vault);
      COFFER_RETURN_IF_ERROR(WriteFileAtomically(
          vault, item, dest, remote_path,
          [&](uint64_t n) {
            p.bytes_done += n;
            stats.bytes += n;
            if (progress) progress(p);
          },
          fetcher.get()));
      stats.files++;
      p.items_done++;
      if (progress) progress(p);
      return OkStatus();
    }
    std::error_code ec;
    fs::create_directories(dest, ec);
    if (ec || !fs::is_directory(dest)) {
      return LocalFileError("cannot create folder " + dest.string() + (ec ? ": " + ec.message() : ""));
    }
    stats.folders++;
    p.items_done++;
    COFFER_ASSIGN_OR_RETURN(auto kids, journal.Children(item.item_id));
    std::set<std::string> seen;
    for (const auto& k : kids) {
      std::string name = k.name;
      // Two remote items with one name (concurrent writers): keep both, the second renamed.
      if (!seen.insert(name).second) name += " (" + k.item_id.substr(0, 8) + ")";
      COFFER_RETURN_IF_ERROR(Get(k, dest / name, remote_path == "/" ? "/" + k.name : remote_path + "/" + k.name));
    }
    if (!item.is_root()) SetDirTimes(dest, item);
    return OkStatus();
  }
};

}  // namespace

StatusOr<CopyStats> GetPaths(Vault& vault, Journal& journal, const std::vector<std::string>& sources,
                                 const std::string& local, const ProgressFn& progress) {
  COFFER_RETURN_IF_ERROR(journal.Refresh());
  GetRun run{vault, journal, progress, {}, {}};
  std::vector<std::pair<ItemRow, std::string>> items;
  for (const auto& s : sources) {
    COFFER_ASSIGN_OR_RETURN(auto item, journal.Resolve(s));
    if (!item) return NotFoundError("no such remote file or folder: " + s);
    COFFER_RETURN_IF_ERROR(run.Count(*item));
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
    COFFER_RETURN_IF_ERROR(run.Get(item, dest, path));
  }
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
