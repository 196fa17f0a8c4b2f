// Blob store throughput: Put and Get of 1 MiB objects from 8 threads, on the S3 engine (the
// Ceph RGW named by COFFER_TEST_S3_URL, see scripts/ceph.sh) and on local files (fsync per
// Put, the embedded default). Results and the machine are in bench/S3.md.
//
//   scripts/ceph.sh start /tmp/ceph && source /tmp/ceph/env
//   build-x/coffer_micro_bench --benchmark_filter='BlobStore' --benchmark_min_time=5
//
// The S3 objects live under a random key prefix and are deleted when the process exits; the
// local store is a fresh temp directory.
#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>

#include "crypto/secret.h"
#include "store/local/local_blob_store.h"
#include "store/s3/s3_blob_store.h"

namespace coffer::store {
namespace {

constexpr size_t kObjectBytes = 1 << 20;
constexpr int kGetObjects = 64;

enum class Engine { kLocal, kS3 };

struct BenchStore {
  std::unique_ptr<BlobStore> store;
  std::string error;  // why there is no store
  std::string temp_dir;

  // Deletes what the benchmarks wrote. Registered with atexit only after the store has made
  // its first request, so it runs before OpenSSL's own atexit cleanup (registered on first
  // use); a static destructor would run after it and sign requests with freed OpenSSL state.
  void Cleanup() {
    if (store == nullptr) return;
    std::vector<std::string> keys;
    (void)store->List("", [&](const std::string& k) { return keys.push_back(k), true; });
    for (const std::string& k : keys) (void)store->Delete(k);
    store.reset();
    if (!temp_dir.empty()) std::filesystem::remove_all(temp_dir);
  }
};

BenchStore& StoreFor(Engine engine) {
  static BenchStore local, s3;
  static std::once_flag local_once, s3_once;
  if (engine == Engine::kLocal) {
    std::call_once(local_once, [] {
      local.temp_dir = (std::filesystem::temp_directory_path() / ("coffer-blob-bench-" + HexEncode(crypto::RandomBytes(6)))).string();
      auto opened = LocalBlobStore::Open(local.temp_dir);
      if (opened.ok()) {
        local.store = std::move(*opened);
        std::atexit([] { local.Cleanup(); });
      } else {
        local.error = opened.status().ToString();
      }
    });
    return local;
  }
  std::call_once(s3_once, [] {
    const char* url = std::getenv("COFFER_TEST_S3_URL");
    if (url == nullptr || *url == '\0') {
      s3.error = "COFFER_TEST_S3_URL is not set: scripts/ceph.sh start DIR && source DIR/env";
      return;
    }
    auto config = s3::ParseS3Url(url);
    if (!config.ok()) {
      s3.error = config.status().ToString();
      return;
    }
    config->key_prefix += "bench-" + HexEncode(crypto::RandomBytes(6)) + "/";
    auto opened = s3::S3BlobStore::Open(std::move(*config));
    if (opened.ok()) {
      s3.store = std::move(*opened);
      std::atexit([] { s3.Cleanup(); });
    } else {
      s3.error = opened.status().ToString();
    }
  });
  return s3;
}

Bytes Payload(uint64_t seed) {
  Bytes data(kObjectBytes);
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (auto& b : data) {
    x ^= x << 13, x ^= x >> 7, x ^= x << 17;
    b = static_cast<uint8_t>(x);
  }
  return data;
}

void BM_BlobStorePut1MiB(benchmark::State& state, Engine engine) {
  BenchStore& bench = StoreFor(engine);
  if (bench.store == nullptr) {
    state.SkipWithError(bench.error.c_str());
    return;
  }
  const Bytes data = Payload(static_cast<uint64_t>(state.thread_index()) + 1);
  int n = 0;
  for (auto _ : state) {
    const std::string key = "put/t" + std::to_string(state.thread_index()) + "-" + std::to_string(n++ % 256);
    Status s = bench.store->Put(key, data);
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kObjectBytes));
}

void BM_BlobStoreGet1MiB(benchmark::State& state, Engine engine) {
  BenchStore& bench = StoreFor(engine);
  if (bench.store == nullptr) {
    state.SkipWithError(bench.error.c_str());
    return;
  }
  static std::once_flag populated[2];
  static std::string populate_error[2];
  const int e = static_cast<int>(engine);
  std::call_once(populated[e], [&] {
    for (int i = 0; i < kGetObjects; ++i) {
      Status s = bench.store->Put("get/" + std::to_string(i), Payload(1000 + i));
      if (!s.ok()) {
        populate_error[e] = s.ToString();
        return;
      }
    }
  });
  if (!populate_error[e].empty()) {
    state.SkipWithError(populate_error[e].c_str());
    return;
  }
  int n = state.thread_index();
  for (auto _ : state) {
    auto got = bench.store->Get("get/" + std::to_string(n++ % kGetObjects));
    if (!got.ok() || got->size() != kObjectBytes) {
      state.SkipWithError(got.ok() ? "short read" : got.status().ToString().c_str());
      break;
    }
    benchmark::DoNotOptimize(got->data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * kObjectBytes));
}

BENCHMARK_CAPTURE(BM_BlobStorePut1MiB, Local, Engine::kLocal)->Threads(8)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BlobStorePut1MiB, S3Rgw, Engine::kS3)->Threads(8)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BlobStoreGet1MiB, Local, Engine::kLocal)->Threads(8)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_BlobStoreGet1MiB, S3Rgw, Engine::kS3)->Threads(8)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coffer::store
