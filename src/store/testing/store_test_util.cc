#include "store/testing/store_test_util.h"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <system_error>

namespace coffer::store::testing {
namespace {

std::mutex root_mu;
std::string* root = nullptr;  // guarded by root_mu; created on first use
pid_t root_pid = 0;           // the process that owns (and removes) the root

void RemoveRoot() {
  // A forked child (crash tests) exits with _exit and never gets here; this check also keeps
  // a child that did exit normally from deleting its parent's directories.
  if (root != nullptr && ::getpid() == root_pid) {
    std::error_code ec;
    std::filesystem::remove_all(*root, ec);
  }
}

const std::string& Root() {
  std::lock_guard<std::mutex> lock(root_mu);
  if (root == nullptr) {
    const char* base = std::getenv("TEST_TMPDIR");
    std::string tmpl =
        std::string(base != nullptr && *base != '\0' ? base : "/tmp") + "/coffer-store-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      ADD_FAILURE() << "mkdtemp " << tmpl << " failed";
      std::abort();
    }
    root = new std::string(tmpl);
    root_pid = ::getpid();
    std::atexit(RemoveRoot);
  }
  return *root;
}

}  // namespace

std::string NewTempDir(const std::string& label) {
  static std::atomic<uint64_t> counter{0};
  std::string dir = Root() + "/" + label + "-" + std::to_string(counter.fetch_add(1));
  std::filesystem::create_directories(dir);
  return dir;
}

Bytes TestBytes(size_t n, uint64_t seed) {
  Bytes out(n);
  // splitmix64: cheap, and consecutive seeds give unrelated streams.
  uint64_t x = seed * 0x9e3779b97f4a7c15ULL + 1;
  for (size_t i = 0; i < n; i += 8) {
    x += 0x9e3779b97f4a7c15ULL;
    uint64_t z = x;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<uint8_t>(z >> (8 * j));
  }
  return out;
}

}  // namespace coffer::store::testing
