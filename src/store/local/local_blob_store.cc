#include "store/local/local_blob_store.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace coffer::store {
namespace {

// Directory holding keys that have no '/' (cannot collide: '@' is not a key character).
constexpr std::string_view kRootPrefixDir = "@root";
// Marks temp files; '.' is not a key character, so Get/List never mistake one for a blob.
constexpr std::string_view kTempMarker = ".tmp-";
// Bounds the memory of the durable-directory set; clearing it only costs extra fsyncs.
constexpr size_t kMaxRememberedDirs = 1 << 20;

std::string Errno(int err) { return std::strerror(err); }

std::string QuoteKey(std::string_view key) { return "\"" + std::string(key) + "\""; }

// Closes a file descriptor on scope exit.
class ScopedFd {
 public:
  explicit ScopedFd(int fd) : fd_(fd) {}
  ScopedFd(const ScopedFd&) = delete;
  ScopedFd& operator=(const ScopedFd&) = delete;
  ~ScopedFd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }
  // Closes now and reports the error (close can report a deferred write error).
  int Close() {
    int rc = ::close(fd_);
    fd_ = -1;
    return rc;
  }

 private:
  int fd_;
};

struct KeyParts {
  std::string prefix_dir;  // top-level directory name
  std::string shard;       // first two characters of the name
  std::string name;        // after the last '/'
};

KeyParts SplitKey(std::string_view key) {
  KeyParts parts;
  size_t slash = key.rfind('/');
  if (slash == std::string_view::npos) {
    parts.prefix_dir = std::string(kRootPrefixDir);
    parts.name = std::string(key);
  } else {
    parts.prefix_dir = std::string(key.substr(0, slash));
    for (char& c : parts.prefix_dir) {
      if (c == '/') c = '.';
    }
    parts.name = std::string(key.substr(slash + 1));
  }
  parts.shard = parts.name.substr(0, 2);
  return parts;
}

// Inverse of SplitKey's prefix mapping: the key prefix ("" or ending in '/') that every key
// stored under top-level directory `dir_name` starts with, or nullopt for a directory this
// store did not create.
std::optional<std::string> KeyBaseForPrefixDir(std::string_view dir_name) {
  if (dir_name == kRootPrefixDir) return std::string();
  if (dir_name.empty() || dir_name.front() == '.' || dir_name.back() == '.') return std::nullopt;
  std::string base;
  for (char c : dir_name) {
    if (c == '.') {
      if (!base.empty() && base.back() == '/') return std::nullopt;  // ".." is never produced
      base += '/';
    } else if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-') {
      base += c;
    } else {
      return std::nullopt;
    }
  }
  base += '/';
  return base;
}

bool IsBlobFileName(std::string_view name) {
  if (name.empty()) return false;
  for (char c : name) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_' || c == '-')) return false;
  }
  return true;
}

// Entry names of a directory (without "." and ".."). ENOENT is reported as NotFound so that
// List can skip a directory that vanished meanwhile.
StatusOr<std::vector<std::string>> ReadDirNames(const std::string& path) {
  DIR* d = ::opendir(path.c_str());
  if (d == nullptr) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) return NotFoundError("directory " + path + " not found");
    return UnavailableError("open directory " + path + ": " + Errno(err));
  }
  std::vector<std::string> names;
  for (;;) {
    errno = 0;
    struct dirent* e = ::readdir(d);
    if (e == nullptr) {
      int err = errno;
      ::closedir(d);
      if (err != 0) return UnavailableError("read directory " + path + ": " + Errno(err));
      return names;
    }
    std::string_view n = e->d_name;
    if (n == "." || n == "..") continue;
    names.emplace_back(n);
  }
}

bool IsDirectory(const std::string& path) {
  struct stat st;
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Status SyncDir(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return UnavailableError("open directory " + path + " to sync it: " + Errno(errno));
  ScopedFd closer(fd);
  if (::fsync(fd) != 0) return UnavailableError("fsync directory " + path + ": " + Errno(errno));
  return OkStatus();
}

Status WriteAll(int fd, ByteView data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return UnavailableError(Errno(errno));
    }
    done += static_cast<size_t>(n);
  }
  return OkStatus();
}

// mkdir -p, then fsync of each parent whose entry was created.
Status MakeDirs(const std::string& path) {
  if (IsDirectory(path)) return OkStatus();
  size_t slash = path.find_last_of('/');
  if (slash != std::string::npos && slash > 0) {
    COFFER_RETURN_IF_ERROR(MakeDirs(path.substr(0, slash)));
  }
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError("create directory " + path + ": " + Errno(errno));
  }
  return SyncDir(slash == std::string::npos ? "." : (slash == 0 ? "/" : path.substr(0, slash)));
}

}  // namespace

StatusOr<std::unique_ptr<LocalBlobStore>> LocalBlobStore::Open(const std::string& dir) {
  if (dir.empty()) return InvalidArgumentError("blob store directory is empty");
  std::string root = dir;
  while (root.size() > 1 && root.back() == '/') root.pop_back();
  struct stat st;
  if (::stat(root.c_str(), &st) == 0 && !S_ISDIR(st.st_mode)) {
    return InvalidArgumentError("blob store path " + root + " exists and is not a directory");
  }
  COFFER_RETURN_IF_ERROR(MakeDirs(root).WithContext("open blob store"));
  if (::access(root.c_str(), R_OK | W_OK | X_OK) != 0) {
    return UnavailableError("open blob store " + root + ": " + Errno(errno));
  }
  std::unique_ptr<LocalBlobStore> store(new LocalBlobStore(std::move(root)));
  COFFER_RETURN_IF_ERROR(store->RemoveStrayTempFiles());
  return store;
}

std::string LocalBlobStore::PathForKey(std::string_view key) const {
  KeyParts p = SplitKey(key);
  return dir_ + "/" + p.prefix_dir + "/" + p.shard + "/" + p.name;
}

Status LocalBlobStore::RemoveStrayTempFiles() {
  COFFER_ASSIGN_OR_RETURN(std::vector<std::string> tops, ReadDirNames(dir_));
  for (const std::string& top : tops) {
    const std::string top_path = dir_ + "/" + top;
    if (!KeyBaseForPrefixDir(top).has_value() || !IsDirectory(top_path)) continue;
    COFFER_ASSIGN_OR_RETURN(std::vector<std::string> shards, ReadDirNames(top_path));
    for (const std::string& shard : shards) {
      const std::string shard_path = top_path + "/" + shard;
      if (!IsDirectory(shard_path)) continue;
      COFFER_ASSIGN_OR_RETURN(std::vector<std::string> files, ReadDirNames(shard_path));
      bool removed = false;
      for (const std::string& f : files) {
        if (f.find(kTempMarker) == std::string::npos) continue;
        const std::string path = shard_path + "/" + f;
        if (::unlink(path.c_str()) != 0 && errno != ENOENT) {
          return UnavailableError("remove stray temp file " + path + ": " + Errno(errno));
        }
        removed = true;
      }
      if (removed) COFFER_RETURN_IF_ERROR(SyncDir(shard_path));
    }
  }
  return OkStatus();
}

Status LocalBlobStore::EnsureDurableDir(const std::string& rel) {
  {
    std::lock_guard<std::mutex> lock(durable_dirs_mu_);
    if (durable_dirs_.count(rel) != 0) return OkStatus();
  }
  const std::string path = dir_ + "/" + rel;
  if (::mkdir(path.c_str(), 0700) != 0 && errno != EEXIST) {
    return UnavailableError("create directory " + path + ": " + Errno(errno));
  }
  // Sync the parent even if another thread or an earlier process created the directory: we
  // cannot know whether its creator got as far as syncing.
  size_t slash = rel.find_last_of('/');
  COFFER_RETURN_IF_ERROR(SyncDir(slash == std::string::npos ? dir_ : dir_ + "/" + rel.substr(0, slash)));
  std::lock_guard<std::mutex> lock(durable_dirs_mu_);
  if (durable_dirs_.size() >= kMaxRememberedDirs) durable_dirs_.clear();
  durable_dirs_.insert(rel);
  return OkStatus();
}

Status LocalBlobStore::Put(std::string_view key, ByteView data) {
  COFFER_RETURN_IF_ERROR(ValidateBlobKey(key));
  const KeyParts p = SplitKey(key);
  const std::string shard_rel = p.prefix_dir + "/" + p.shard;
  COFFER_RETURN_IF_ERROR(EnsureDurableDir(p.prefix_dir).WithContext("put blob " + QuoteKey(key)));
  COFFER_RETURN_IF_ERROR(EnsureDurableDir(shard_rel).WithContext("put blob " + QuoteKey(key)));

  const std::string shard_path = dir_ + "/" + shard_rel;
  const std::string final_path = shard_path + "/" + p.name;
  std::string temp_path;
  int fd = -1;
  // O_EXCL plus pid and counter make the name unique even across processes sharing the dir.
  for (int attempt = 0; fd < 0; ++attempt) {
    temp_path = final_path + std::string(kTempMarker) + std::to_string(::getpid()) + "-" +
                std::to_string(temp_counter_.fetch_add(1));
    fd = ::open(temp_path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0 && (errno != EEXIST || attempt > 100)) {
      return UnavailableError("put blob " + QuoteKey(key) + ": create " + temp_path + ": " + Errno(errno));
    }
  }
  ScopedFd file(fd);
  auto fail = [&](std::string_view step, int err) {
    ::unlink(temp_path.c_str());
    return UnavailableError("put blob " + QuoteKey(key) + ": " + std::string(step) + " " + temp_path + ": " +
                            Errno(err));
  };
  if (Status s = WriteAll(fd, data); !s.ok()) {
    ::unlink(temp_path.c_str());
    return UnavailableError("put blob " + QuoteKey(key) + ": write " + temp_path + ": " + s.message());
  }
  // The data must be on disk before the rename publishes it; otherwise a crash could leave
  // the new name pointing at an empty or partial file.
  if (::fsync(fd) != 0) return fail("fsync", errno);
  if (file.Close() != 0) return fail("close", errno);
  if (::rename(temp_path.c_str(), final_path.c_str()) != 0) return fail("rename", errno);
  // Makes the rename itself durable.
  return SyncDir(shard_path).WithContext("put blob " + QuoteKey(key));
}

// Opens the blob file at `path` read-only: kNotFound if it is missing or not a regular file.
// On success the caller owns *fd.
static Status OpenBlobForReading(std::string_view key, const std::string& path, int* fd, struct stat* st) {
  *fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (*fd < 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) return NotFoundError("blob " + QuoteKey(key) + " not found");
    return UnavailableError("get blob " + QuoteKey(key) + ": open " + path + ": " + Errno(err));
  }
  Status problem;
  if (::fstat(*fd, st) != 0) {
    problem = UnavailableError("get blob " + QuoteKey(key) + ": stat: " + Errno(errno));
  } else if (!S_ISREG(st->st_mode)) {
    problem = NotFoundError("blob " + QuoteKey(key) + " not found (not a regular file)");
  }
  if (!problem.ok()) {
    ::close(*fd);
    *fd = -1;
  }
  return problem;
}

StatusOr<Bytes> LocalBlobStore::Get(std::string_view key) {
  COFFER_RETURN_IF_ERROR(ValidateBlobKey(key));
  const std::string path = PathForKey(key);
  int fd = -1;
  struct stat st;
  COFFER_RETURN_IF_ERROR(OpenBlobForReading(key, path, &fd, &st));
  ScopedFd file(fd);
  // The file is never modified in place (Put renames a new file over it), so the open
  // descriptor sees one complete version; reading to EOF does not trust st_size blindly.
  Bytes out(static_cast<size_t>(st.st_size));
  size_t done = 0;
  for (;;) {
    if (done == out.size()) out.resize(out.size() + 4096);
    ssize_t n = ::read(fd, out.data() + done, out.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return UnavailableError("get blob " + QuoteKey(key) + ": read " + path + ": " + Errno(errno));
    }
    if (n == 0) break;
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

StatusOr<Bytes> LocalBlobStore::GetRange(std::string_view key, uint64_t offset, uint64_t length) {
  COFFER_RETURN_IF_ERROR(ValidateBlobKey(key));
  if (length == 0) return InvalidArgumentError("get range of blob " + QuoteKey(key) + ": length must be at least 1");
  const std::string path = PathForKey(key);
  int fd = -1;
  struct stat st;
  COFFER_RETURN_IF_ERROR(OpenBlobForReading(key, path, &fd, &st));
  ScopedFd file(fd);
  const uint64_t file_size = static_cast<uint64_t>(st.st_size);
  if (offset >= file_size) {
    return OutOfRangeError("get range of blob " + QuoteKey(key) + ": offset " + std::to_string(offset) +
                           " is at or past the end (" + std::to_string(file_size) + " bytes)");
  }
  Bytes out(static_cast<size_t>(std::min<uint64_t>(length, file_size - offset)));
  size_t done = 0;
  while (done < out.size()) {
    ssize_t n = ::pread(fd, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0) {
      if (errno == EINTR) continue;
      return UnavailableError("get blob " + QuoteKey(key) + ": read " + path + ": " + Errno(errno));
    }
    if (n == 0) break;  // the file is never shortened in place; a short read means it ends here
    done += static_cast<size_t>(n);
  }
  out.resize(done);
  return out;
}

StatusOr<bool> LocalBlobStore::Exists(std::string_view key) {
  COFFER_RETURN_IF_ERROR(ValidateBlobKey(key));
  const std::string path = PathForKey(key);
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) return false;
    return UnavailableError("stat blob " + QuoteKey(key) + " at " + path + ": " + Errno(err));
  }
  return S_ISREG(st.st_mode);
}

Status LocalBlobStore::Delete(std::string_view key) {
  COFFER_RETURN_IF_ERROR(ValidateBlobKey(key));
  const std::string path = PathForKey(key);
  if (::unlink(path.c_str()) != 0) {
    int err = errno;
    if (err == ENOENT || err == ENOTDIR) return OkStatus();
    return UnavailableError("delete blob " + QuoteKey(key) + " at " + path + ": " + Errno(err));
  }
  // Empty directories are left in place: removing one could race with a Put into it.
  return SyncDir(path.substr(0, path.find_last_of('/'))).WithContext("delete blob " + QuoteKey(key));
}

StatusOr<bool> LocalBlobStore::ListShard(const std::string& shard_path, std::string_view key_base,
                                         std::string_view name_prefix,
                                         const std::function<bool(const std::string&)>& fn) {
  auto names = ReadDirNames(shard_path);
  if (!names.ok()) {
    if (names.status().code() == StatusCode::kNotFound) return true;  // removed meanwhile
    return names.status();
  }
  for (const std::string& name : *names) {
    // Skips temp files (they contain '.') and anything this store did not write.
    if (!IsBlobFileName(name) || !name.starts_with(name_prefix)) continue;
    if (!fn(std::string(key_base) + name)) return false;
  }
  return true;
}

Status LocalBlobStore::List(std::string_view prefix, const std::function<bool(const std::string&)>& fn) {
  COFFER_RETURN_IF_ERROR(ValidateBlobKeyPrefix(prefix));
  COFFER_ASSIGN_OR_RETURN(std::vector<std::string> tops, ReadDirNames(dir_));
  for (const std::string& top : tops) {
    std::optional<std::string> key_base = KeyBaseForPrefixDir(top);
    if (!key_base.has_value()) continue;
    // Keys in this directory are key_base + name, where a name has no '/'.
    std::string_view name_prefix;
    if (prefix.starts_with(*key_base)) {
      name_prefix = prefix.substr(key_base->size());
      if (name_prefix.find('/') != std::string_view::npos) continue;
    } else if (!std::string_view(*key_base).starts_with(prefix)) {
      continue;
    }
    const std::string top_path = dir_ + "/" + top;
    std::vector<std::string> shards;
    if (name_prefix.size() >= 2) {
      shards.emplace_back(name_prefix.substr(0, 2));  // only one shard can match
    } else {
      auto all = ReadDirNames(top_path);
      if (!all.ok()) {
        if (all.status().code() == StatusCode::kNotFound) continue;
        return all.status().WithContext("list blobs");
      }
      shards = std::move(*all);
    }
    for (const std::string& shard : shards) {
      if (!shard.starts_with(name_prefix.substr(0, shard.size()))) continue;
      COFFER_ASSIGN_OR_RETURN(bool more, ListShard(top_path + "/" + shard, *key_base, name_prefix, fn));
      if (!more) return OkStatus();
    }
  }
  return OkStatus();
}

}  // namespace coffer::store
