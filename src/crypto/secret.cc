#include "crypto/secret.h"

#include <sodium.h>
#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <utility>

#include "crypto/internal.h"

namespace coffer::crypto {

namespace internal {

void InitOrDie() {
  const Status status = Init();
  if (!status.ok()) Die(status.message());
}

void Die(std::string_view what) {
  std::fprintf(stderr, "coffer::crypto fatal: %.*s\n", static_cast<int>(what.size()), what.data());
  std::abort();
}

}  // namespace internal

Status Init() {
  // sodium_init is itself idempotent and thread-safe, but caching its result here keeps the
  // check on every entry point down to one load of an initialised static.
  static const int result = sodium_init();  // 0: initialised now, 1: already, -1: failed
  if (result < 0) return InternalError("libsodium initialisation failed");
  return OkStatus();
}

SecretBytes::SecretBytes(size_t n) {
  if (n == 0) return;
  // sodium_malloc needs the page size that sodium_init records.
  internal::InitOrDie();
  // sodium_malloc adds guard pages and a canary and tries mlock; a failed mlock (limit
  // reached) still returns usable memory, which is the behaviour we want.
  data_ = static_cast<uint8_t*>(sodium_malloc(n));
  if (data_ == nullptr) internal::Die("sodium_malloc failed: out of memory");
  // sodium_malloc fills new memory with a marker byte, the contract here is zeroes.
  sodium_memzero(data_, n);
  size_ = n;
}

SecretBytes SecretBytes::FromBytes(ByteView data) {
  SecretBytes secret(data.size());
  std::copy(data.begin(), data.end(), secret.data_);
  return secret;
}

SecretBytes SecretBytes::Random(size_t n) {
  SecretBytes secret(n);
  if (n > 0) randombytes_buf(secret.data_, n);
  return secret;
}

SecretBytes::SecretBytes(SecretBytes&& other) noexcept
    : data_(std::exchange(other.data_, nullptr)), size_(std::exchange(other.size_, 0)) {}

SecretBytes& SecretBytes::operator=(SecretBytes&& other) noexcept {
  if (this != &other) {
    sodium_free(data_);  // zeroes, then unmaps; a no-op for nullptr
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

SecretBytes::~SecretBytes() { sodium_free(data_); }

SecretBytes SecretBytes::Clone() const { return FromBytes(Reveal(SecretAccess::Get())); }

bool operator==(const SecretBytes& a, const SecretBytes& b) {
  // The sizes are not secret; only the contents are compared in constant time.
  if (a.size_ != b.size_) return false;
  if (a.size_ == 0) return true;
  return sodium_memcmp(a.data_, b.data_, a.size_) == 0;
}

bool ConstantTimeEqual(ByteView a, ByteView b) {
  if (a.size() != b.size()) return false;
  if (a.empty()) return true;
  return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

Bytes RandomBytes(size_t n) {
  internal::InitOrDie();
  Bytes out(n);
  if (n > 0) randombytes_buf(out.data(), n);
  return out;
}

void DisableCoreDumps() {
  const rlimit no_core = {0, 0};
  if (setrlimit(RLIMIT_CORE, &no_core) != 0) {
    // Lowering a limit cannot normally fail; say so rather than abort the program.
    std::fprintf(stderr, "warning: could not disable core dumps: %s\n", std::strerror(errno));
  }
}

}  // namespace coffer::crypto
