// coffer_load_test: a bounded load generator against a running coffer-server (issue 6, "Load").
// bench/load.sh starts the server and the device profiles and runs this; bench/LOAD.md holds a
// result. It is a benchmark, not a CI test.
//
//   coffer_load_test --server URL --home DIR [--home DIR ...] --server-pid PID
//                    [--duration SECONDS] [--clients N] [--rss-csv FILE]
//
// Every client is one thread with one keep-alive connection (libcurl easy handle) and the
// bearer token of one of the device profiles (--home, read from DIR/state.db the way the CLI
// stores it), round robin. Each client loops over a weighted mix of small requests (list
// collections, HEAD present and absent chunks, /v1/chunks/missing, small chunk PUT/GET,
// revision append and read) and large ones (1 MiB chunk PUT and GET) until the duration is
// over. Chunk bodies are pseudo-random from a per-run salt and a per-write seed, and their
// id is the hex SHA-256 of the body, so any chunk can be regenerated to compare what the
// server gives back. Anything but the expected status (or a reply that contradicts what was
// acknowledged) is an error. Afterwards every acknowledged chunk and revision is read back and
// compared byte for byte (no lost write). A sampler reads the server's VmRSS every second.
//
// Exit code: 0 when there were no errors, no lost writes, the server is alive and its RSS
// stayed flat after warm-up; 1 otherwise; 2 for bad usage.
#include <curl/curl.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "client/local_state.h"
#include "crypto/hash.h"
#include "util/bytes.h"

namespace {

using Clock = std::chrono::steady_clock;
using coffer::Bytes;

enum Kind : int {
  kListCollections,
  kHeadPresent,
  kHeadAbsent,
  kMissing,
  kPutSmallChunk,
  kGetSmallChunk,
  kPutLargeChunk,
  kGetLargeChunk,
  kPutRevision,
  kGetRevisions,
  kKindCount
};

const char* const kKindNames[kKindCount] = {
    "GET /v1/collections", "HEAD chunk (present)", "HEAD chunk (absent)", "POST /v1/chunks/missing",
    "PUT chunk 16 KiB",    "GET chunk 16 KiB",     "PUT chunk 1 MiB",     "GET chunk 1 MiB",
    "PUT revision",        "GET revisions"};

// Percent of iterations; large requests are 16% of the mix.
const int kKindWeights[kKindCount] = {14, 12, 6, 10, 12, 10, 8, 8, 12, 8};

constexpr size_t kSmallChunkBytes = 16 * 1024;
constexpr size_t kLargeChunkBytes = 1024 * 1024;
constexpr int kMaxErrorsShown = 25;

// Deterministic bytes from a seed (splitmix64), so a chunk is a seed and a size in memory.
Bytes SeededBytes(uint64_t seed, size_t size) {
  Bytes out(size);
  uint64_t state = seed;
  for (size_t i = 0; i < size; i += 8) {
    state += 0x9E3779B97F4A7C15ull;
    uint64_t z = state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    std::memcpy(out.data() + i, &z, std::min<size_t>(8, size - i));
  }
  return out;
}

std::string RandomHex(std::mt19937_64& rng, size_t hex_chars) {
  static const char kDigits[] = "0123456789abcdef";
  std::string s(hex_chars, '0');
  for (auto& ch : s) ch = kDigits[rng() & 15];
  return s;
}

struct StoredChunk {
  std::string id;
  uint64_t seed;
  size_t size;
};

struct StoredRevision {
  uint64_t seed;
  size_t size;
};

struct Reply {
  CURLcode curl = CURLE_OK;
  long status = 0;
  std::string body;
  double seconds = 0;
  uint64_t bytes_sent = 0;
};

size_t AppendToString(char* data, size_t size, size_t count, void* out) {
  static_cast<std::string*>(out)->append(data, size * count);
  return size * count;
}

// One keep-alive connection to the server (curl_easy_reset keeps the live connection).
class Connection {
 public:
  Connection(std::string base, std::string token) : base_(std::move(base)), token_(std::move(token)) {
    curl_ = curl_easy_init();
  }
  ~Connection() {
    if (curl_ != nullptr) curl_easy_cleanup(curl_);
  }
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;
  bool ok() const { return curl_ != nullptr; }

  Reply Send(const char* method, const std::string& path, const Bytes* body = nullptr,
             const std::string& content_sha256 = "", const char* content_type = "application/octet-stream") {
    Reply reply;
    curl_easy_reset(curl_);
    const std::string url = base_ + path;
    curl_easy_setopt(curl_, CURLOPT_URL, url.c_str());
    curl_easy_setopt(curl_, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(curl_, CURLOPT_CONNECTTIMEOUT_MS, 30000L);
    curl_easy_setopt(curl_, CURLOPT_TIMEOUT_MS, 120000L);
    curl_easy_setopt(curl_, CURLOPT_WRITEFUNCTION, &AppendToString);
    curl_easy_setopt(curl_, CURLOPT_WRITEDATA, &reply.body);
    struct curl_slist* headers = nullptr;
    const std::string auth = "Authorization: Bearer " + token_;
    headers = curl_slist_append(headers, auth.c_str());
    headers = curl_slist_append(headers, "Expect:");
    std::string sha_header;
    if (!content_sha256.empty()) {
      sha_header = "X-Coffer-Sha256: " + content_sha256;
      headers = curl_slist_append(headers, sha_header.c_str());
    }
    const std::string type_header = std::string("Content-Type: ") + content_type;
    if (std::strcmp(method, "HEAD") == 0) {
      curl_easy_setopt(curl_, CURLOPT_NOBODY, 1L);
    } else if (body != nullptr) {
      headers = curl_slist_append(headers, type_header.c_str());
      curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method);
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDS, reinterpret_cast<const char*>(body->data()));
      curl_easy_setopt(curl_, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
      reply.bytes_sent = body->size();
    } else if (std::strcmp(method, "GET") != 0) {
      curl_easy_setopt(curl_, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(curl_, CURLOPT_HTTPHEADER, headers);
    const auto start = Clock::now();
    reply.curl = curl_easy_perform(curl_);
    reply.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    curl_slist_free_all(headers);
    curl_easy_getinfo(curl_, CURLINFO_RESPONSE_CODE, &reply.status);
    long connects = 0;
    curl_easy_getinfo(curl_, CURLINFO_NUM_CONNECTS, &connects);
    connections_opened_ += static_cast<uint64_t>(connects);
    return reply;
  }

  uint64_t connections_opened() const { return connections_opened_; }

 private:
  std::string base_;
  std::string token_;
  CURL* curl_ = nullptr;
  uint64_t connections_opened_ = 0;
};

// Errors from every thread; the first few are printed in full.
class ErrorLog {
 public:
  void Add(const std::string& what) {
    std::lock_guard<std::mutex> lock(mu_);
    if (++count_ <= kMaxErrorsShown) std::fprintf(stderr, "load: error: %s\n", what.c_str());
  }
  uint64_t count() const {
    std::lock_guard<std::mutex> lock(mu_);
    return count_;
  }

 private:
  mutable std::mutex mu_;
  uint64_t count_ = 0;
};

std::string Describe(const char* method, const std::string& path, const Reply& r, const std::string& expected) {
  std::string what = std::string(method) + " " + path.substr(0, 80) + ": ";
  if (r.curl != CURLE_OK) return what + "transport error: " + curl_easy_strerror(r.curl);
  return what + "HTTP " + std::to_string(r.status) + ", expected " + expected + " (" + r.body.substr(0, 200) + ")";
}

struct SlowRequest {
  double start_s;  // since the load began
  double ms;
  int kind;
};

struct KindStats {
  std::vector<float> latency_ms;
  uint64_t bytes = 0;  // request + reply bodies
  uint64_t errors = 0;
};

class Client {
 public:
  Client(int index, uint64_t run_salt, const std::string& base, const std::string& token, ErrorLog& errors,
         Clock::time_point* load_start)
      : load_start_(load_start), index_(index), run_salt_(run_salt), rng_(run_salt ^ (0x1000003ull * (index + 1))),
        connection_(base, token), errors_(errors) {
    collection_id_ = RandomHex(rng_, 32);
  }

  void Run(const std::atomic<bool>& stop) {
    int total_weight = 0;
    for (int w : kKindWeights) total_weight += w;
    while (!stop.load(std::memory_order_relaxed)) {
      int pick = static_cast<int>(rng_() % static_cast<uint64_t>(total_weight));
      int kind = 0;
      while (pick >= kKindWeights[kind]) pick -= kKindWeights[kind++];
      Step(static_cast<Kind>(kind));
    }
  }

  const std::vector<StoredChunk>& chunks() const { return chunks_; }
  const std::vector<StoredRevision>& revisions() const { return revisions_; }
  const std::string& collection_id() const { return collection_id_; }
  const KindStats& stats(int kind) const { return stats_[kind]; }
  uint64_t connections_opened() const { return connection_.connections_opened(); }
  const std::vector<SlowRequest>& slow_requests() const { return slow_; }

 private:
  uint64_t NextSeed() { return run_salt_ ^ (static_cast<uint64_t>(index_ + 1) << 40) ^ ++seq_; }

  void Record(Kind kind, const Reply& r, bool ok, const std::string& failure) {
    KindStats& s = stats_[kind];
    s.latency_ms.push_back(static_cast<float>(r.seconds * 1000.0));
    s.bytes += r.bytes_sent + r.body.size();
    if (r.seconds >= 1.0) {
      const double started = std::chrono::duration<double>(Clock::now() - *load_start_).count() - r.seconds;
      slow_.push_back(SlowRequest{started, r.seconds * 1000.0, kind});
    }
    if (!ok) {
      ++s.errors;
      errors_.Add(failure);
    }
  }

  // Picks one of this client's acknowledged chunks of the given size, if any.
  const StoredChunk* PickChunk(size_t size) {
    const std::vector<size_t>& pool = size == kLargeChunkBytes ? large_ : small_;
    if (pool.empty()) return nullptr;
    return &chunks_[pool[rng_() % pool.size()]];
  }

  void Step(Kind kind) {
    switch (kind) {
      case kListCollections: {
        const std::string path = "/v1/collections";
        Reply r = connection_.Send("GET", path);
        bool ok = r.curl == CURLE_OK && r.status == 200;
        if (ok) {
          auto j = nlohmann::json::parse(r.body, nullptr, false);
          ok = j.is_object() && j.contains("collections") && j["collections"].is_array();
        }
        Record(kind, r, ok, Describe("GET", path, r, "200 with a collections array"));
        return;
      }
      case kHeadPresent: {
        const StoredChunk* c = PickChunk(rng_() % 2 ? kLargeChunkBytes : kSmallChunkBytes);
        if (c == nullptr) return Step(kPutSmallChunk);
        const std::string path = "/v1/chunks/" + c->id;
        Reply r = connection_.Send("HEAD", path);
        Record(kind, r, r.curl == CURLE_OK && r.status == 200, Describe("HEAD", path, r, "200 (acknowledged chunk)"));
        return;
      }
      case kHeadAbsent: {
        const std::string path = "/v1/chunks/" + RandomHex(rng_, 64);
        Reply r = connection_.Send("HEAD", path);
        Record(kind, r, r.curl == CURLE_OK && r.status == 404, Describe("HEAD", path, r, "404"));
        return;
      }
      case kMissing: {
        // Up to 20 acknowledged ids and 20 random ones: the reply must be exactly the random ones.
        nlohmann::json ids = nlohmann::json::array();
        std::set<std::string> absent;
        for (int i = 0; i < 20 && !chunks_.empty(); ++i) ids.push_back(chunks_[rng_() % chunks_.size()].id);
        for (int i = 0; i < 20; ++i) {
          std::string id = RandomHex(rng_, 64);
          absent.insert(id);
          ids.push_back(id);
        }
        const std::string text = nlohmann::json{{"ids", ids}}.dump();
        const Bytes body(text.begin(), text.end());
        const std::string path = "/v1/chunks/missing";
        Reply r = connection_.Send("POST", path, &body, "", "application/json");
        bool ok = r.curl == CURLE_OK && r.status == 200;
        if (ok) {
          auto j = nlohmann::json::parse(r.body, nullptr, false);
          std::set<std::string> missing;
          if (j.is_object() && j.contains("missing") && j["missing"].is_array()) {
            for (const auto& id : j["missing"])
              if (id.is_string()) missing.insert(id.get<std::string>());
          }
          ok = missing == absent;
        }
        Record(kind, r, ok, Describe("POST", path, r, "200 listing exactly the 20 unknown ids"));
        return;
      }
      case kPutSmallChunk:
      case kPutLargeChunk: {
        const size_t size = kind == kPutLargeChunk ? kLargeChunkBytes : kSmallChunkBytes;
        const uint64_t seed = NextSeed();
        const Bytes body = SeededBytes(seed, size);
        const std::string id = coffer::HexEncode(coffer::crypto::Sha256(body));
        const std::string path = "/v1/chunks/" + id;
        Reply r = connection_.Send("PUT", path, &body, id);
        const bool ok = r.curl == CURLE_OK && r.status == 201;
        Record(kind, r, ok, Describe("PUT", path, r, "201 (a new chunk)"));
        if (ok) {
          (size == kLargeChunkBytes ? large_ : small_).push_back(chunks_.size());
          chunks_.push_back(StoredChunk{id, seed, size});
        }
        return;
      }
      case kGetSmallChunk:
      case kGetLargeChunk: {
        const size_t size = kind == kGetLargeChunk ? kLargeChunkBytes : kSmallChunkBytes;
        const StoredChunk* c = PickChunk(size);
        if (c == nullptr) return Step(kind == kGetLargeChunk ? kPutLargeChunk : kPutSmallChunk);
        const std::string path = "/v1/chunks/" + c->id;
        Reply r = connection_.Send("GET", path);
        bool ok = r.curl == CURLE_OK && r.status == 200;
        if (ok) {
          const Bytes expected = SeededBytes(c->seed, c->size);
          ok = r.body.size() == expected.size() && std::memcmp(r.body.data(), expected.data(), expected.size()) == 0;
        }
        Record(kind, r, ok, Describe("GET", path, r, "200 with the acknowledged bytes"));
        return;
      }
      case kPutRevision: {
        const uint64_t seed = NextSeed();
        const size_t size = 256 + rng_() % 3840;
        const Bytes body = SeededBytes(seed, size);
        const uint64_t number = revisions_.size() + 1;
        const std::string path = "/v1/collections/" + collection_id_ + "/revisions/" + std::to_string(number);
        Reply r = connection_.Send("PUT", path, &body);
        bool ok = r.curl == CURLE_OK && r.status == 201;
        if (ok) {
          auto j = nlohmann::json::parse(r.body, nullptr, false);
          ok = j.is_object() && j.contains("head") && j["head"] == number;
        }
        Record(kind, r, ok, Describe("PUT", path, r, "201 {\"head\": " + std::to_string(number) + "}"));
        if (ok) revisions_.push_back(StoredRevision{seed, size});
        return;
      }
      case kGetRevisions: {
        if (revisions_.empty()) return Step(kPutRevision);
        const uint64_t head = revisions_.size();
        const uint64_t from = head > 4 ? head - 4 : 1;
        const std::string path =
            "/v1/collections/" + collection_id_ + "/revisions?from=" + std::to_string(from) + "&limit=5";
        Reply r = connection_.Send("GET", path);
        bool ok = r.curl == CURLE_OK && r.status == 200;
        if (ok) ok = RevisionsMatch(r.body, from, head);
        Record(kind, r, ok, Describe("GET", path, r, "200 with the acknowledged revisions"));
        return;
      }
      case kKindCount:
        return;
    }
  }

 public:
  // True when the reply holds exactly revisions from..last, each with the acknowledged bytes.
  bool RevisionsMatch(const std::string& reply, uint64_t from, uint64_t last) const {
    auto j = nlohmann::json::parse(reply, nullptr, false);
    if (!j.is_object() || !j.contains("revisions") || !j["revisions"].is_array()) return false;
    if (!j.contains("head") || j["head"] != revisions_.size()) return false;
    const auto& list = j["revisions"];
    if (list.size() != last - from + 1) return false;
    for (size_t i = 0; i < list.size(); ++i) {
      const auto& item = list[i];
      if (!item.is_object() || item.value("number", uint64_t{0}) != from + i || !item.contains("data") ||
          !item["data"].is_string()) {
        return false;
      }
      auto data = coffer::Base64Decode(item["data"].get<std::string>());
      const StoredRevision& rev = revisions_[from + i - 1];
      if (!data.ok() || *data != SeededBytes(rev.seed, rev.size)) return false;
    }
    return true;
  }

 private:
  Clock::time_point* load_start_;
  int index_;
  uint64_t run_salt_;
  uint64_t seq_ = 0;
  std::mt19937_64 rng_;
  Connection connection_;
  ErrorLog& errors_;
  std::string collection_id_;
  std::vector<StoredChunk> chunks_;
  std::vector<size_t> small_;
  std::vector<size_t> large_;
  std::vector<StoredRevision> revisions_;
  KindStats stats_[kKindCount];
  std::vector<SlowRequest> slow_;
};

// VmRSS of a process in KiB, or -1 when it is gone.
long ReadRssKiB(long pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtol(line.c_str() + 6, nullptr, 10);
  }
  return -1;
}

double Percentile(const std::vector<float>& sorted, double p) {
  if (sorted.empty()) return 0;
  const size_t i = static_cast<size_t>(p * static_cast<double>(sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

int Usage(const char* why) {
  std::fprintf(stderr,
               "coffer_load_test: %s\n"
               "usage: coffer_load_test --server URL --home DIR [--home DIR ...] --server-pid PID\n"
               "                        [--duration SECONDS] [--clients N] [--rss-csv FILE]\n",
               why);
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  std::string server;
  std::vector<std::string> homes;
  long server_pid = 0;
  long duration_s = 120;
  long client_count = 250;
  std::string rss_csv;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (i + 1 >= argc) return Usage(("missing value after " + arg).c_str());
    const std::string value = argv[++i];
    char* end = nullptr;
    if (arg == "--server") {
      server = value;
    } else if (arg == "--home") {
      homes.push_back(value);
    } else if (arg == "--server-pid") {
      server_pid = std::strtol(value.c_str(), &end, 10);
      if (*end != 0 || server_pid <= 0) return Usage("--server-pid needs a process id");
    } else if (arg == "--duration") {
      duration_s = std::strtol(value.c_str(), &end, 10);
      if (*end != 0 || duration_s < 1 || duration_s > 86400) return Usage("--duration needs 1..86400 seconds");
    } else if (arg == "--clients") {
      client_count = std::strtol(value.c_str(), &end, 10);
      if (*end != 0 || client_count < 1 || client_count > 2000) return Usage("--clients needs 1..2000");
    } else if (arg == "--rss-csv") {
      rss_csv = value;
    } else {
      return Usage(("unknown argument " + arg).c_str());
    }
  }
  if (server.empty() || homes.empty() || server_pid == 0) return Usage("--server, --home and --server-pid are required");
  if (ReadRssKiB(server_pid) < 0) {
    std::fprintf(stderr, "coffer_load_test: no process %ld (cannot read /proc/%ld/status)\n", server_pid, server_pid);
    return 1;
  }

  // The session token of each device profile, stored by the CLI in DIR/state.db.
  std::vector<std::string> tokens;
  for (const auto& home : homes) {
    auto state = coffer::client::LocalState::Open(home + "/state.db");
    if (!state.ok()) {
      std::fprintf(stderr, "coffer_load_test: %s: %s\n", home.c_str(), state.status().ToString().c_str());
      return 1;
    }
    std::string token = (*state)->GetString("token");
    if (token.size() != 64) {
      std::fprintf(stderr, "coffer_load_test: %s holds no session token: log in with the coffer CLI first\n",
                   home.c_str());
      return 1;
    }
    tokens.push_back(token);
  }

  curl_global_init(CURL_GLOBAL_DEFAULT);
  signal(SIGPIPE, SIG_IGN);
  const uint64_t run_salt = std::random_device{}() * 0x100000001ull ^ std::random_device{}();
  ErrorLog errors;
  Clock::time_point start = Clock::now();
  std::vector<std::unique_ptr<Client>> clients;
  for (long i = 0; i < client_count; ++i) {
    clients.push_back(std::make_unique<Client>(static_cast<int>(i), run_salt, server, tokens[i % tokens.size()], errors,
                                               &start));
  }

  // RSS every second, from just before the load starts until it ends.
  std::atomic<bool> stop{false};
  std::mutex rss_mu;
  std::vector<long> rss_kib;
  std::thread sampler([&] {
    auto next = Clock::now();
    while (true) {
      const long rss = ReadRssKiB(server_pid);
      {
        std::lock_guard<std::mutex> lock(rss_mu);
        rss_kib.push_back(rss);
      }
      if (stop.load()) return;
      next += std::chrono::seconds(1);
      std::this_thread::sleep_until(next);  // a sampling period, not a synchronisation
    }
  });

  std::printf("load: %ld clients (one connection each, %zu device sessions) for %ld s against %s\n", client_count,
              tokens.size(), duration_s, server.c_str());
  std::fflush(stdout);
  start = Clock::now();
  std::vector<std::thread> threads;
  for (auto& c : clients) threads.emplace_back([&stop, client = c.get()] { client->Run(stop); });
  std::this_thread::sleep_until(start + std::chrono::seconds(duration_s));  // the fixed duration
  stop = true;
  for (auto& t : threads) t.join();
  const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  sampler.join();

  // Per-kind figures.
  std::printf("\nload phase: %.1f s, %ld clients\n", elapsed, client_count);
  std::printf("%-26s %9s %9s %9s %7s %9s %9s %9s\n", "request", "count", "req/s", "MB/s", "errors", "p50 ms",
              "p99 ms", "max ms");
  uint64_t total_requests = 0, total_bytes = 0, total_errors = 0, total_connections = 0;
  for (int k = 0; k < kKindCount; ++k) {
    std::vector<float> all;
    uint64_t bytes = 0, errs = 0;
    for (const auto& c : clients) {
      const KindStats& s = c->stats(k);
      all.insert(all.end(), s.latency_ms.begin(), s.latency_ms.end());
      bytes += s.bytes;
      errs += s.errors;
    }
    std::sort(all.begin(), all.end());
    total_requests += all.size();
    total_bytes += bytes;
    total_errors += errs;
    std::printf("%-26s %9zu %9.1f %9.2f %7" PRIu64 " %9.1f %9.1f %9.1f\n", kKindNames[k], all.size(),
                static_cast<double>(all.size()) / elapsed, static_cast<double>(bytes) / elapsed / 1e6, errs,
                Percentile(all, 0.50), Percentile(all, 0.99), all.empty() ? 0.0 : all.back());
  }
  for (const auto& c : clients) total_connections += c->connections_opened();
  std::printf("%-26s %9" PRIu64 " %9.1f %9.2f %7" PRIu64 "\n", "all", total_requests,
              static_cast<double>(total_requests) / elapsed, static_cast<double>(total_bytes) / elapsed / 1e6,
              total_errors);
  // Where the outliers are: requests of 1 s or more, the slowest first, with when they began.
  std::vector<SlowRequest> slow;
  for (const auto& c : clients) slow.insert(slow.end(), c->slow_requests().begin(), c->slow_requests().end());
  std::sort(slow.begin(), slow.end(), [](const SlowRequest& a, const SlowRequest& b) { return a.ms > b.ms; });
  const size_t slow_at_start =
      static_cast<size_t>(std::count_if(slow.begin(), slow.end(), [](const SlowRequest& r) { return r.start_s < 5; }));
  std::printf("requests taking >= 1 s: %zu (%zu began in the first 5 s, when every client starts at once)",
              slow.size(), slow_at_start);
  for (size_t i = 0; i < std::min<size_t>(slow.size(), 8); ++i) {
    std::printf("%s %s %.0f ms at t=%.1fs", i == 0 ? ";" : ",", kKindNames[slow[i].kind], slow[i].ms, slow[i].start_s);
  }
  std::printf("\n");
  std::printf("requests taking >= 1 s that began after the first 5 s, by kind:");
  for (int k = 0; k < kKindCount; ++k) {
    const auto n = std::count_if(slow.begin(), slow.end(),
                                 [k](const SlowRequest& r) { return r.kind == k && r.start_s >= 5; });
    if (n > 0) std::printf(" %s %zd;", kKindNames[k], static_cast<ssize_t>(n));
  }
  std::printf("\n");
  std::printf("connections opened: %" PRIu64 " (keep-alive: one per client unless the server closed one)\n",
              total_connections);

  // RSS: first (before load), after warm-up (10% of the run, at least 10 s), max, last.
  std::vector<long> rss;
  {
    std::lock_guard<std::mutex> lock(rss_mu);
    rss = rss_kib;
  }
  bool server_alive = !rss.empty() && rss.back() >= 0 && ReadRssKiB(server_pid) >= 0;
  const size_t warm_index = std::min(rss.size() - 1, static_cast<size_t>(std::max(10L, duration_s / 10)));
  const long rss_first = rss.front();
  const long rss_warm = rss[warm_index];
  const long rss_max = *std::max_element(rss.begin(), rss.end());
  const long rss_last = rss.back();
  long rss_max_after_warm = 0;
  for (size_t i = warm_index; i < rss.size(); ++i) rss_max_after_warm = std::max(rss_max_after_warm, rss[i]);
  // Flat: after warm-up, RSS grows by less than 10% (and 32 MiB covers allocator noise).
  const long allowed_growth = std::max(32L * 1024, rss_warm / 10);
  const bool rss_flat = server_alive && rss_last - rss_warm <= allowed_growth;
  std::printf("server RSS (MiB): first %.1f, after warm-up (t=%zus) %.1f, max %.1f, max after warm-up %.1f, last %.1f"
              " (%zu samples)\n",
              rss_first / 1024.0, warm_index, rss_warm / 1024.0, rss_max / 1024.0, rss_max_after_warm / 1024.0,
              rss_last / 1024.0, rss.size());
  std::printf("RSS flat after warm-up (last - warm-up <= %.0f MiB): %s\n", allowed_growth / 1024.0,
              rss_flat ? "yes" : "NO");
  if (!rss_csv.empty()) {
    std::ofstream csv(rss_csv);
    csv << "second,rss_kib\n";
    for (size_t i = 0; i < rss.size(); ++i) csv << i << "," << rss[i] << "\n";
  }

  // No lost write: every acknowledged chunk and revision, read back by 16 threads.
  const uint64_t errors_before_check = errors.count();
  std::atomic<size_t> next_client{0};
  std::atomic<uint64_t> chunks_checked{0}, chunk_bytes_checked{0}, revisions_checked{0}, lost{0};
  const auto check_start = Clock::now();
  std::vector<std::thread> checkers;
  for (size_t t = 0; t < std::min<size_t>(16, clients.size()); ++t) {
    checkers.emplace_back([&, t] {
      Connection connection(server, tokens[t % tokens.size()]);
      for (size_t i = next_client++; i < clients.size(); i = next_client++) {
        const Client& c = *clients[i];
        for (const StoredChunk& chunk : c.chunks()) {
          const std::string path = "/v1/chunks/" + chunk.id;
          Reply r = connection.Send("GET", path);
          const Bytes expected = SeededBytes(chunk.seed, chunk.size);
          if (r.curl != CURLE_OK || r.status != 200 || r.body.size() != expected.size() ||
              std::memcmp(r.body.data(), expected.data(), expected.size()) != 0) {
            ++lost;
            errors.Add("LOST WRITE: " + Describe("GET", path, r, "200 with the acknowledged bytes"));
          }
          ++chunks_checked;
          chunk_bytes_checked += chunk.size;
        }
        const uint64_t head = c.revisions().size();
        for (uint64_t from = 1; from <= head; from += 1000) {
          const uint64_t last = std::min(head, from + 999);
          const std::string path =
              "/v1/collections/" + c.collection_id() + "/revisions?from=" + std::to_string(from) + "&limit=1000";
          Reply r = connection.Send("GET", path);
          if (r.curl != CURLE_OK || r.status != 200 || !c.RevisionsMatch(r.body, from, last)) {
            ++lost;
            errors.Add("LOST WRITE: " + Describe("GET", path, r, "200 with the acknowledged revisions"));
          }
          revisions_checked += last - from + 1;
        }
      }
    });
  }
  for (auto& t : checkers) t.join();
  std::printf("\nread-back: %" PRIu64 " chunks (%.1f MB) and %" PRIu64
              " revisions checked byte for byte in %.1f s; lost or damaged: %" PRIu64 "\n",
              chunks_checked.load(), chunk_bytes_checked.load() / 1e6, revisions_checked.load(),
              std::chrono::duration<double>(Clock::now() - check_start).count(), lost.load());
  server_alive = server_alive && ReadRssKiB(server_pid) >= 0;
  std::printf("server alive at the end: %s\n", server_alive ? "yes" : "NO");
  std::printf("errors: %" PRIu64 " during load, %" PRIu64 " in the read-back\n", errors_before_check,
              errors.count() - errors_before_check);
  curl_global_cleanup();
  const bool pass = total_errors == 0 && errors.count() == 0 && lost == 0 && server_alive && rss_flat;
  std::printf("RESULT: %s\n", pass ? "PASS" : "FAIL");
  return pass ? 0 : 1;
}
