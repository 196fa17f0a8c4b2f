// Crypto micro-benchmarks: bulk throughput of each AEAD and hash on 1 MiB (the order of a
// chunk), and Ed25519 on a 200-byte message (the order of a signed revision header).
// The AEAD numbers decide which implementation carries bulk chunk data (DESIGN.md).
//
// Every call goes through the crypto module's public functions, so the figures include what
// a caller pays: argument checks and allocating the output buffer.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "crypto/aead.h"
#include "crypto/hash.h"
#include "crypto/sign.h"

namespace coffer::crypto {
namespace {

constexpr size_t kBulkBytes = size_t{1} << 20;
constexpr size_t kSignedMessageBytes = 200;

using AeadFunction = StatusOr<Bytes> (*)(ByteView key, ByteView nonce, ByteView aad, ByteView input);

void ReportBytes(benchmark::State& state, size_t bytes_per_iteration) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(bytes_per_iteration));
}

// Reusing one nonce across iterations is fine here: nothing is kept or sent.
void BM_CryptoAeadEncrypt(benchmark::State& state, AeadFunction encrypt, size_t key_bytes,
                          size_t nonce_bytes) {
  const Bytes key = RandomBytes(key_bytes);
  const Bytes nonce = RandomBytes(nonce_bytes);
  const Bytes aad = RandomBytes(32);
  const Bytes msg = RandomBytes(kBulkBytes);
  for (auto _ : state) {
    StatusOr<Bytes> ct = encrypt(key, nonce, aad, msg);
    if (!ct.ok()) {
      state.SkipWithError("encryption failed");
      return;
    }
    benchmark::DoNotOptimize(ct->data());
  }
  ReportBytes(state, kBulkBytes);
}

void BM_CryptoAeadDecrypt(benchmark::State& state, AeadFunction encrypt, AeadFunction decrypt,
                          size_t key_bytes, size_t nonce_bytes) {
  const Bytes key = RandomBytes(key_bytes);
  const Bytes nonce = RandomBytes(nonce_bytes);
  const Bytes aad = RandomBytes(32);
  const StatusOr<Bytes> ct = encrypt(key, nonce, aad, RandomBytes(kBulkBytes));
  if (!ct.ok()) {
    state.SkipWithError("encryption failed");
    return;
  }
  for (auto _ : state) {
    StatusOr<Bytes> pt = decrypt(key, nonce, aad, *ct);
    if (!pt.ok()) {
      state.SkipWithError("decryption failed");
      return;
    }
    benchmark::DoNotOptimize(pt->data());
  }
  ReportBytes(state, kBulkBytes);
}

BENCHMARK_CAPTURE(BM_CryptoAeadEncrypt, XChaCha20Poly1305_sodium, raw::XChaCha20Poly1305Encrypt, 32, 24);
BENCHMARK_CAPTURE(BM_CryptoAeadEncrypt, ChaCha20Poly1305_sodium, raw::ChaCha20Poly1305EncryptSodium, 32, 12);
BENCHMARK_CAPTURE(BM_CryptoAeadEncrypt, ChaCha20Poly1305_openssl, raw::ChaCha20Poly1305EncryptOpenSsl, 32,
                  12);
BENCHMARK_CAPTURE(BM_CryptoAeadEncrypt, AES256GCM_openssl, raw::AesGcmEncrypt, 32, 12);
BENCHMARK_CAPTURE(BM_CryptoAeadDecrypt, XChaCha20Poly1305_sodium, raw::XChaCha20Poly1305Encrypt,
                  raw::XChaCha20Poly1305Decrypt, 32, 24);
BENCHMARK_CAPTURE(BM_CryptoAeadDecrypt, ChaCha20Poly1305_sodium, raw::ChaCha20Poly1305EncryptSodium,
                  raw::ChaCha20Poly1305DecryptSodium, 32, 12);
BENCHMARK_CAPTURE(BM_CryptoAeadDecrypt, ChaCha20Poly1305_openssl, raw::ChaCha20Poly1305EncryptOpenSsl,
                  raw::ChaCha20Poly1305DecryptOpenSsl, 32, 12);
BENCHMARK_CAPTURE(BM_CryptoAeadDecrypt, AES256GCM_openssl, raw::AesGcmEncrypt, raw::AesGcmDecrypt, 32, 12);

// The high-level API (XChaCha20-Poly1305 with a fresh random nonce) for comparison.
void BM_CryptoAeadSeal(benchmark::State& state) {
  const SecretBytes key = SecretBytes::Random(kAeadKeyBytes);
  const Bytes aad = RandomBytes(32);
  const Bytes msg = RandomBytes(kBulkBytes);
  for (auto _ : state) {
    StatusOr<Bytes> sealed = AeadSeal(key, msg, aad);
    benchmark::DoNotOptimize(sealed.ok());
  }
  ReportBytes(state, kBulkBytes);
}
BENCHMARK(BM_CryptoAeadSeal);

void BM_CryptoBlake2b256(benchmark::State& state) {
  const Bytes data = RandomBytes(kBulkBytes);
  for (auto _ : state) benchmark::DoNotOptimize(Hash(data));
  ReportBytes(state, kBulkBytes);
}
BENCHMARK(BM_CryptoBlake2b256);

void BM_CryptoBlake2b256Keyed(benchmark::State& state) {
  const SecretBytes key = SecretBytes::Random(32);
  const Bytes data = RandomBytes(kBulkBytes);
  for (auto _ : state) benchmark::DoNotOptimize(KeyedHash(key, data));
  ReportBytes(state, kBulkBytes);
}
BENCHMARK(BM_CryptoBlake2b256Keyed);

void BM_CryptoSha256OpenSsl(benchmark::State& state) {
  const Bytes data = RandomBytes(kBulkBytes);
  for (auto _ : state) benchmark::DoNotOptimize(Sha256(data));
  ReportBytes(state, kBulkBytes);
}
BENCHMARK(BM_CryptoSha256OpenSsl);

void BM_CryptoHmacSha256OpenSsl(benchmark::State& state) {
  const Bytes key = RandomBytes(32);
  const Bytes data = RandomBytes(kBulkBytes);
  for (auto _ : state) benchmark::DoNotOptimize(HmacSha256(key, data));
  ReportBytes(state, kBulkBytes);
}
BENCHMARK(BM_CryptoHmacSha256OpenSsl);

void BM_CryptoEd25519Sign(benchmark::State& state) {
  const SigningKey key = SigningKey::Generate();
  const Bytes message = RandomBytes(kSignedMessageBytes);
  for (auto _ : state) benchmark::DoNotOptimize(key.Sign(message));
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CryptoEd25519Sign);

void BM_CryptoEd25519Verify(benchmark::State& state) {
  const SigningKey key = SigningKey::Generate();
  const Bytes message = RandomBytes(kSignedMessageBytes);
  const Bytes signature = key.Sign(message);
  for (auto _ : state) {
    if (!VerifySignature(key.public_key(), message, signature).ok()) {
      state.SkipWithError("verification failed");
      return;
    }
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CryptoEd25519Verify);

}  // namespace
}  // namespace coffer::crypto
