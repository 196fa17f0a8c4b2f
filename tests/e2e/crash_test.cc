// Crash consistency (issue 6, G8): a real coffer-server (embedded SQLite + blob files) is
// killed with SIGKILL at random points, at least 100 times, while several devices of one
// account upload small (inline) and chunked (> 64 KiB) files with the real CLI. Every client
// operation is recorded as acknowledged (exit 0) or not. Afterwards every acknowledged file
// must be present and byte-identical, `verify` must pass on every device (it also catches a
// revision that references a missing chunk and a server that lost an acknowledged revision:
// the devices remember the heads they saw), and an unacknowledged file is either absent or
// complete.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace coffer::e2e {
namespace {

constexpr int kWriters = 4;
constexpr int kKills = 100;
constexpr auto kMaxKillPhase = std::chrono::seconds(70);

uint64_t CrashSeed() {
  const char* s = std::getenv("COFFER_CRASH_SEED");  // to replay a failing run
  return (s != nullptr && *s != '\0') ? std::stoull(s) : 20240611;
}

struct FileRecord {
  fs::path local;       // the bytes that were put, kept unchanged
  std::string remote;   // "/wK/NAME"
  bool acknowledged = false;
};

struct Outcome {
  int exit_code;
  std::string err;
};

class Writer {
 public:
  Writer(int index, Device device, fs::path src, uint64_t seed)
      : index_(index), device_(std::move(device)), src_(std::move(src)), rng_(seed) {}

  // Runs operations until `stop`; each is one `coffer put` of 1-3 new files. A failed
  // operation is re-run up to twice (half the time) or abandoned, so that the end state holds
  // both resumed and abandoned half-done uploads.
  void Run(const std::atomic<bool>& stop) {
    for (int op = 0; !stop.load(); ++op) {
      std::vector<size_t> files;
      const int count = 1 + static_cast<int>(rng_() % 3);
      for (int i = 0; i < count; ++i) {
        const std::string name = "op" + std::to_string(op) + "-" + std::to_string(i) + ".bin";
        // A third inline (<= 4 KiB), the rest chunked: 64 KiB .. 320 KiB, several chunks.
        const size_t size = rng_() % 3 == 0 ? rng_() % 4000 : (64u << 10) + rng_() % (256u << 10);
        FileRecord rec{src_ / name, "/w" + std::to_string(index_) + "/" + name, false};
        WriteRandomFile(rec.local, size, rng_());
        files.push_back(records_.size());
        records_.push_back(std::move(rec));
      }
      std::vector<std::string> args = {"put"};
      for (size_t f : files) args.push_back(records_[f].local.string());
      args.push_back("/w" + std::to_string(index_));
      for (int attempt = 0; attempt < 3; ++attempt) {
        RunResult r = device_.Run(args);
        outcomes_.push_back({r.exit_code, r.err});
        if (r.exit_code == 0) {
          for (size_t f : files) records_[f].acknowledged = true;
          break;
        }
        if (stop.load() || rng_() % 2 == 0) break;
      }
    }
  }

  const Device& device() const { return device_; }
  const std::vector<FileRecord>& records() const { return records_; }
  const std::vector<Outcome>& outcomes() const { return outcomes_; }

 private:
  int index_;
  Device device_;
  fs::path src_;
  std::mt19937_64 rng_;
  std::vector<FileRecord> records_;
  std::vector<Outcome> outcomes_;
};

TEST(CrashTest, G8HundredKillNinesUnderConcurrentWritersLoseNoAcknowledgedWrite) {
  if (Server::Backend() != "embedded") {
    // 100 restarts of 3 instances + HAProxy would not fit the CI budget; the engines keep
    // their own crash guarantees. This test is about the embedded SQLite + files store.
    GTEST_SKIP() << "crash test runs on the embedded backend only";
  }
  const uint64_t seed = CrashSeed();
  SCOPED_TRACE("crash test seed " + std::to_string(seed) + " (replay: COFFER_CRASH_SEED=" + std::to_string(seed) + ")");
  TempDir tmp;
  Server server(tmp.path() / "server");
  server.Start();
  const fs::path rk = tmp.path() / "rk";
  Device first(tmp.path() / "home-w0", server.url());
  RunResult created = first.Run({"account", "create", "--email", "crash@example.org", "--recovery-key-file", rk.string()});
  ASSERT_EQ(created.exit_code, 0) << created.err;

  std::vector<std::unique_ptr<Writer>> writers;
  std::mt19937_64 rng(seed);
  for (int k = 0; k < kWriters; ++k) {
    Device d = k == 0 ? first : Device(tmp.path() / ("home-w" + std::to_string(k)), server.url());
    if (k > 0) {
      RunResult r = d.Run({"recover", "--email", "crash@example.org", "--recovery-key-file", rk.string()});
      ASSERT_EQ(r.exit_code, 0) << r.err;
    }
    writers.push_back(std::make_unique<Writer>(k, d, tmp.path() / ("src-w" + std::to_string(k)), rng()));
  }

  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  for (auto& w : writers) threads.emplace_back([&w, &stop] { w->Run(stop); });

  // The kill points are random delays, not synchronization: the writers never wait for the
  // server, they fail (and retry or move on) whenever it is down. Most gaps are shorter than
  // a put; one in seven is long enough for puts to finish even on a slow (sanitizer) build.
  int kills = 0;
  std::string start_error;
  const auto phase_start = std::chrono::steady_clock::now();
  while (kills < kKills && std::chrono::steady_clock::now() - phase_start < kMaxKillPhase) {
    const uint64_t gap_ms = rng() % 7 == 0 ? 300 + rng() % 1200 : rng() % 300;
    std::this_thread::sleep_for(std::chrono::milliseconds(gap_ms));
    server.Kill();
    ++kills;
    try {
      server.Start();
    } catch (const std::exception& e) {
      start_error = e.what();
      break;
    }
  }
  const double kill_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - phase_start).count();
  stop = true;
  for (auto& t : threads) t.join();
  ASSERT_EQ(start_error, "") << "the server did not come back after kill " << kills;
  ASSERT_GE(kills, kKills) << "only " << kills << " kills in " << kill_seconds << " s";

  // What the clients saw. Exit 0 = acknowledged; 1 (a write failed) and 5 (server
  // unreachable) are expected when the server dies under them. 3 would mean a client saw
  // inconsistent server state after a crash, 4 a lost session or device; a signal, a crash.
  size_t acknowledged_files = 0, total_files = 0, ops = 0, ok_ops = 0;
  std::map<int, int> exit_codes;
  std::string unexpected;
  for (const auto& w : writers) {
    for (const auto& o : w->outcomes()) {
      ++ops;
      ++exit_codes[o.exit_code];
      if (o.exit_code == 0) ++ok_ops;
      if (o.exit_code != 0 && o.exit_code != 1 && o.exit_code != 5 && unexpected.size() < 2000) {
        unexpected += "exit " + std::to_string(o.exit_code) + ": " + o.err + "\n";
      }
    }
    for (const auto& r : w->records()) {
      ++total_files;
      if (r.acknowledged) ++acknowledged_files;
    }
  }
  std::ostringstream summary;
  summary << kills << " kills in " << kill_seconds << " s; " << ops << " put runs, " << ok_ops
          << " acknowledged; files " << acknowledged_files << "/" << total_files << " acknowledged; exit codes:";
  for (const auto& [code, n] : exit_codes) summary << " " << code << "x" << n;
  SCOPED_TRACE(summary.str());
  std::printf("[crash] %s\n", summary.str().c_str());
  EXPECT_EQ(unexpected, "");
  // Not vacuous: the server must have acknowledged real work between the kills.
  EXPECT_GE(ok_ops, 10u);

  // Every device verifies everything the server holds against the heads it remembers.
  for (const auto& w : writers) {
    RunResult v = w->device().Run({"verify"});
    EXPECT_EQ(v.exit_code, 0) << w->device().home() << ": " << v.err;
  }
  // A device that has seen nothing downloads everything from the server alone.
  Device fresh(tmp.path() / "home-fresh", server.url());
  RunResult rec = fresh.Run({"recover", "--email", "crash@example.org", "--recovery-key-file", rk.string()});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  RunResult verify = fresh.Run({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;

  const fs::path back = tmp.path() / "back";
  fs::create_directories(back);
  std::set<std::string> present;
  for (int k = 0; k < kWriters; ++k) {
    const std::string folder = "/w" + std::to_string(k);
    RunResult ls = fresh.Run({"ls", folder});
    if (ls.exit_code != 0) continue;  // possible only if none of its puts got through
    RunResult get = fresh.Run({"get", folder, back.string()});
    ASSERT_EQ(get.exit_code, 0) << folder << ": " << get.err;
  }
  for (const auto& e : fs::recursive_directory_iterator(back)) {
    if (e.is_regular_file()) present.insert("/" + fs::relative(e.path(), back).string());
  }

  std::set<std::string> expected;
  size_t unacknowledged_present = 0, unacknowledged_absent = 0;
  for (const auto& w : writers) {
    for (const auto& r : w->records()) {
      expected.insert(r.remote);
      const fs::path got = back / r.remote.substr(1);
      if (!r.acknowledged) ++(present.count(r.remote) ? unacknowledged_present : unacknowledged_absent);
      if (!present.count(r.remote)) {
        EXPECT_FALSE(r.acknowledged) << "acknowledged write lost: " << r.remote;
        continue;
      }
      // Present: complete and byte-identical, whether it was acknowledged or not.
      EXPECT_TRUE(ReadFile(got) == ReadFile(r.local))
          << (r.acknowledged ? "acknowledged" : "unacknowledged") << " file differs: " << r.remote;
    }
  }
  for (const auto& p : present) EXPECT_TRUE(expected.count(p)) << "a file nobody wrote: " << p;
  std::printf("[crash] %zu files back; unacknowledged: %zu complete, %zu absent\n", present.size(),
              unacknowledged_present, unacknowledged_absent);
}

}  // namespace
}  // namespace coffer::e2e
