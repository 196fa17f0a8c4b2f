#include "server/staff_log.h"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace coffer::server {
namespace {

constexpr int kMaxAppendAttempts = 8;

Status WriteAll(int fd, ByteView data, const std::string& path) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return UnavailableError("cannot write log key " + path + ": " + std::strerror(errno));
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd) != 0) return UnavailableError("cannot sync log key " + path + ": " + std::strerror(errno));
  return OkStatus();
}

}  // namespace

StatusOr<crypto::SigningKey> LoadOrCreateLogKey(const std::string& path) {
  COFFER_RETURN_IF_ERROR(crypto::Init());
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0 && errno == ENOENT) {
    fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd >= 0) {
      crypto::SigningKey fresh = crypto::SigningKey::Generate();
      Status written = WriteAll(fd, fresh.seed().Reveal(crypto::SecretAccess::Get()), path);
      ::close(fd);
      if (!written.ok()) {
        ::unlink(path.c_str());
        return written;
      }
      return fresh;
    }
    if (errno != EEXIST) return UnavailableError("cannot create log key " + path + ": " + std::strerror(errno));
    fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);  // another process created it first
  }
  if (fd < 0) return UnavailableError("cannot open log key " + path + ": " + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    ::close(fd);
    return UnavailableError("cannot stat log key " + path);
  }
  if ((st.st_mode & 077) != 0) {
    ::close(fd);
    return FailedPreconditionError("log key " + path + " is readable by group or others; chmod 600 it");
  }
  crypto::SecretBytes seed(crypto::kSignSeedBytes);
  auto buf = seed.MutableReveal(crypto::SecretAccess::Get());
  size_t got = 0;
  while (got < buf.size()) {
    ssize_t n = ::read(fd, buf.data() + got, buf.size() - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    got += static_cast<size_t>(n);
  }
  uint8_t extra = 0;
  const bool trailing = got == buf.size() && ::read(fd, &extra, 1) > 0;
  ::close(fd);
  if (got != buf.size() || trailing) {
    return DataLossError("log key " + path + " must hold exactly 32 bytes (an Ed25519 seed)");
  }
  return crypto::SigningKey::FromSeed(seed);
}

StatusOr<uint64_t> AccessLog::Append(staff::LogEntry entry) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string account_id = staff::Id16Hex(entry.account_id);
  Status last = OkStatus();
  for (int attempt = 0; attempt < kMaxAppendAttempts; ++attempt) {
    COFFER_ASSIGN_OR_RETURN(store::LogHead head, store_.GetLogHead(account_id));
    COFFER_ASSIGN_OR_RETURN(store::LogHead global_head, store_.GetGlobalLogHead());
    entry.seq = head.length;
    entry.prev_hash = {};
    if (head.length > 0) {
      if (head.head_hash.size() != staff::kStaffHashBytes) return DataLossError("access log head hash is malformed");
      std::copy(head.head_hash.begin(), head.head_hash.end(), entry.prev_hash.begin());
    }
    const Bytes encoded = staff::SignLogEntry(entry, key_);
    const staff::Hash32 entry_hash = staff::EntryHash(encoded);

    staff::GlobalLogEntry global;
    global.seq = global_head.length;
    if (global_head.length > 0) {
      if (global_head.head_hash.size() != staff::kStaffHashBytes) return DataLossError("global log head is malformed");
      std::copy(global_head.head_hash.begin(), global_head.head_hash.end(), global.prev_hash.begin());
    }
    global.account_id = entry.account_id;
    global.account_length = entry.seq + 1;
    global.account_head = entry_hash;
    global.time = entry.time;
    const Bytes global_encoded = staff::SignGlobalLogEntry(global, key_);
    const staff::Hash32 global_hash = staff::EntryHash(global_encoded);

    last = store_.AppendLogEntry(account_id, entry.seq, encoded, entry_hash, global.seq, global_encoded, global_hash);
    if (last.ok()) return entry.seq;
    if (last.code() != StatusCode::kAborted) return last.WithContext("append to the access log");
  }
  return UnavailableError("the access log is busy (" + last.message() + "); retry");
}

}  // namespace coffer::server
