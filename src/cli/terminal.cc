#include "cli/terminal.h"

#include <fcntl.h>
#include <sodium.h>
#include <termios.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace coffer::cli {
namespace {

// Reads one line from fd into secure memory (at most 1023 bytes), without echo if a tty.
StatusOr<crypto::SecretBytes> ReadLineSecure(int fd, bool no_echo) {
  struct termios old_t;
  const bool tty = isatty(fd) && tcgetattr(fd, &old_t) == 0;
  if (tty && no_echo) {
    struct termios t = old_t;
    t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    tcsetattr(fd, TCSAFLUSH, &t);
  }
  crypto::SecretBytes buf(1024);
  auto span = buf.MutableReveal(crypto::SecretAccess::Get());
  size_t n = 0;
  while (n < span.size()) {
    char c;
    ssize_t r = ::read(fd, &c, 1);
    if (r <= 0 || c == '\n') break;
    if (c != '\r') span[n++] = static_cast<uint8_t>(c);
  }
  if (tty && no_echo) {
    tcsetattr(fd, TCSAFLUSH, &old_t);
    std::fputs("\n", stderr);
  }
  auto out = crypto::SecretBytes::FromBytes(ByteView(span.data(), n));
  return out;
}

}  // namespace

StatusOr<crypto::SecretBytes> ReadSecret(const std::string& prompt, const char* env, bool confirm) {
  if (const char* v = std::getenv(env); v != nullptr && *v != '\0') {
    return crypto::SecretBytes::FromBytes(AsBytes(v));
  }
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC);
  if (fd < 0) {
    return FailedPreconditionError(std::string("no terminal to ask for the ") + prompt + "; set " + env +
                                   " for scripts");
  }
  std::fprintf(stderr, "%s: ", prompt.c_str());
  std::fflush(stderr);
  auto first = ReadLineSecure(fd, true);
  if (first.ok() && first->empty()) {
    ::close(fd);
    return InvalidArgumentError("empty " + prompt);
  }
  if (first.ok() && confirm) {
    std::fprintf(stderr, "Repeat %s: ", prompt.c_str());
    std::fflush(stderr);
    auto second = ReadLineSecure(fd, true);
    if (!second.ok() || !(*second == *first)) {
      ::close(fd);
      return InvalidArgumentError("the two entries do not match");
    }
  }
  ::close(fd);
  return first;
}

StatusOr<crypto::SecretBytes> ReadSecretFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return NotFoundError("cannot read " + path + ": " + std::strerror(errno));
  crypto::SecretBytes buf(4096);
  auto span = buf.MutableReveal(crypto::SecretAccess::Get());
  ssize_t n = ::read(fd, span.data(), span.size());
  ::close(fd);
  if (n < 0) return UnavailableError("cannot read " + path);
  size_t len = static_cast<size_t>(n);
  while (len > 0 && (span[len - 1] == '\n' || span[len - 1] == '\r' || span[len - 1] == ' ')) --len;
  return crypto::SecretBytes::FromBytes(ByteView(span.data(), len));
}

std::string HumanBytes(uint64_t n) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double v = static_cast<double>(n);
  int u = 0;
  while (v >= 1024 && u < 4) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.1f %s", v, units[u]);
  return buf;
}

ProgressLine::ProgressLine(bool enabled)
    : enabled_(enabled && isatty(STDERR_FILENO)), start_(std::chrono::steady_clock::now()), last_() {}

ProgressLine::~ProgressLine() { Finish(); }

void ProgressLine::Update(const client::Progress& p) {
  if (!enabled_) return;
  auto now = std::chrono::steady_clock::now();
  if (drawn_ && now - last_ < std::chrono::milliseconds(100)) return;
  last_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  const double rate = secs > 0 ? static_cast<double>(p.bytes_done) / secs : 0;
  std::string eta = "--";
  if (rate > 0 && p.bytes_total > p.bytes_done) {
    eta = std::to_string(static_cast<uint64_t>(static_cast<double>(p.bytes_total - p.bytes_done) / rate)) + "s";
  } else if (p.bytes_total <= p.bytes_done) {
    eta = "0s";
  }
  std::fprintf(stderr, "\r\033[K%s / %s  %llu/%llu items  %s/s  ETA %s", HumanBytes(p.bytes_done).c_str(),
               HumanBytes(p.bytes_total).c_str(), static_cast<unsigned long long>(p.items_done),
               static_cast<unsigned long long>(p.items_total), HumanBytes(static_cast<uint64_t>(rate)).c_str(),
               eta.c_str());
  std::fflush(stderr);
  drawn_ = true;
}

void ProgressLine::Finish() {
  if (enabled_ && drawn_) {
    std::fputs("\r\033[K", stderr);
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace coffer::cli
