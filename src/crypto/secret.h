// SecretBytes: the only owner of key material and passwords in Coffer.
//
// Backed by sodium_malloc (guard pages, canary, mlock where the limit allows); the memory is
// zeroed and unmapped by sodium_free on destruction. Move-only. Reading the raw bytes takes a
// SecretAccess token so every such read can be found with `grep SecretAccess`.
// Never put a key into std::string or std::vector: their heap memory is not wiped.
// Thread-safety: a SecretBytes object is not synchronised; const access from several threads
// is safe.
#ifndef COFFER_CRYPTO_SECRET_H_
#define COFFER_CRYPTO_SECRET_H_

#include <cstddef>
#include <cstdint>
#include <span>

#include "coffer/status.h"
#include "util/bytes.h"

namespace coffer::crypto {

// Initialises libsodium (idempotent, thread-safe). Every entry point calls it first.
Status Init();

// Token whose only purpose is to make raw key access explicit and searchable.
struct SecretAccess {
  static constexpr SecretAccess Get() { return SecretAccess(); }
};

class SecretBytes {
 public:
  SecretBytes() = default;  // empty
  // Allocates n zero bytes. Aborts on allocation failure (like operator new).
  explicit SecretBytes(size_t n);
  // Copies `data` into secure memory. The caller wipes its own copy.
  static SecretBytes FromBytes(ByteView data);
  static SecretBytes Random(size_t n);

  SecretBytes(SecretBytes&& other) noexcept;
  SecretBytes& operator=(SecretBytes&& other) noexcept;
  SecretBytes(const SecretBytes&) = delete;
  SecretBytes& operator=(const SecretBytes&) = delete;
  ~SecretBytes();

  // An explicit deep copy (a key that must live in two places).
  SecretBytes Clone() const;

  size_t size() const { return size_; }
  bool empty() const { return size_ == 0; }
  ByteView Reveal(SecretAccess) const { return {data_, size_}; }
  std::span<uint8_t> MutableReveal(SecretAccess) { return {data_, size_}; }

  // Constant-time comparison (sodium_memcmp); different sizes compare unequal.
  friend bool operator==(const SecretBytes& a, const SecretBytes& b);

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Constant-time equality of two byte strings of possibly different lengths (the length is
// not secret). Use for MACs, verifiers, tokens.
bool ConstantTimeEqual(ByteView a, ByteView b);

// Fills a fresh buffer from the OS CSPRNG (randombytes_buf).
Bytes RandomBytes(size_t n);

// Turns off core dumps for this process (setrlimit RLIMIT_CORE 0). Called from main().
void DisableCoreDumps();

}  // namespace coffer::crypto

#endif  // COFFER_CRYPTO_SECRET_H_
