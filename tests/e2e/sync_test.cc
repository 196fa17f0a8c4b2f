// End-to-end tests of `coffer sync` (issue "two-way sync"): three device profiles syncing one
// folder through a real server, a random workload checked against an oracle, kill -9 at
// random points, fork detection, watch mode, ignore rules and symlinks.
//
// The oracle for "no edit lost": every file write puts a unique token in the file. A token
// may disappear from the synced tree only if some device replaced or deleted it knowingly,
// i.e. the token was in that device's local file when the device edited or deleted it. Every
// other token must be in exactly one file of the final tree (never lost, never duplicated).
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <iostream>
#include <random>
#include <set>
#include <thread>

#include "harness.h"

namespace coffer::e2e {
namespace {

class SyncTest : public ::testing::Test {
 protected:
  void SetUp() override {
    server_ = std::make_unique<Server>(tmp_.path() / "server");
    server_->Start();
  }

  Device NewDevice(const std::string& name) { return Device(tmp_.path() / ("home-" + name), server_->url()); }

  void CreateAccount(const Device& d) {
    RunResult r = d.Run({"account", "create", "--email", "sync@example.org", "--device-name", "alpha",
                         "--recovery-key-file", (tmp_.path() / "rk.txt").string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }

  void Link(const Device& enrolled, const Device& fresh, const std::string& name) {
    fs::path out = tmp_.path() / ("link-" + name + ".out");
    pid_t pid = fresh.Spawn({"--json", "device", "link", "--email", "sync@example.org", "--name", name, "--timeout",
                             "60"},
                            out);
    std::string code;
    for (int i = 0; i < 600 && code.empty(); ++i) {
      code = JsonField(ReadFile(out), "pairing_code");
      if (code.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_FALSE(code.empty()) << ReadFile(out.string() + ".err");
    RunResult a = enrolled.Run({"device", "approve", code});
    ASSERT_EQ(a.exit_code, 0) << a.err;
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(out.string() + ".err");
  }

  // Three linked devices, each with its own folder synced to /Shared.
  void SetUpThree() {
    devices_.push_back(NewDevice("alpha"));
    CreateAccount(devices_[0]);
    devices_.push_back(NewDevice("beta"));
    Link(devices_[0], devices_[1], "beta");
    devices_.push_back(NewDevice("gamma"));
    Link(devices_[0], devices_[2], "gamma");
    for (int i = 0; i < 3; ++i) {
      folders_.push_back(tmp_.path() / ("folder-" + std::to_string(i)));
      fs::create_directories(folders_[i]);
    }
  }

  RunResult Sync(int i, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"sync", folders_[i].string(), "/Shared"};
    args.insert(args.end(), extra.begin(), extra.end());
    return devices_[i].Run(args);
  }

  // Syncs every device until a full round changes nothing (or fails the test).
  void Converge() {
    std::string last;
    for (int round = 0; round < 8; ++round) {
      bool changed = false;
      last.clear();
      for (int i = 0; i < 3; ++i) {
        RunResult r = devices_[i].Run({"--json", "sync", folders_[i].string(), "/Shared"});
        ASSERT_EQ(r.exit_code, 0) << "device " << i << ": " << r.err << r.out;
        last += "device " + std::to_string(i) + ": " + r.out + r.err;
        Trace("converge round " + std::to_string(round) + ", sync device " + std::to_string(i) + ": " + r.out + r.err);
        for (const char* key : {"\"uploaded\":0", "\"downloaded\":0", "\"remote_moves\":0", "\"local_moves\":0",
                                "\"remote_deletes\":0", "\"local_deletes\":0", "\"deferred\":0"}) {
          if (r.out.find(key) == std::string::npos) changed = true;
        }
      }
      if (!changed) return;
    }
    FAIL() << "sync did not converge in 8 rounds; the last round:\n" << last;
  }

  // ---- the workload and its oracle ----
  std::string NewToken() { return "token-" + std::to_string(next_token_++) + "-"; }

  // Writes a unique token (plus filler, sometimes enough to be chunked) into `p`.
  void WriteToken(const fs::path& p, std::mt19937_64& rng) {
    std::string token = NewToken();
    Trace("  write " + Short(p) + " = " + token);
    std::string body = token + "\n";
    size_t filler = rng() % 4 == 0 ? 5000 + rng() % 40000 : rng() % 200;
    for (size_t i = 0; i < filler; ++i) body += static_cast<char>('a' + rng() % 26);
    WriteFile(p, body);
    live_tokens_.insert(token);
  }

  // What the workload did, printed when a test fails so that a failure can be replayed by
  // reading (the kill -9 test depends on timing, not only on its seed).
  void Trace(std::string line) { trace_.push_back(std::move(line)); }
  std::string Short(const fs::path& p) const { return fs::relative(p, tmp_.path()).string(); }
  void PrintTraceIfFailed() {
    if (!::testing::Test::HasFailure()) return;
    std::cout << "---- workload trace (" << trace_.size() << " lines) ----\n";
    for (const auto& line : trace_) std::cout << line << "\n";
    std::cout << std::flush;
  }

  // Records that the device saw and replaced/deleted whatever `p` held (file or folder).
  void Supersede(const fs::path& p) {
    std::error_code ec;
    if (fs::is_regular_file(fs::symlink_status(p, ec))) {
      std::string body = ReadFile(p);
      size_t nl = body.find('\n');
      superseded_.insert(body.substr(0, nl));
      Trace("  supersede " + Short(p) + " = " + body.substr(0, nl));
      return;
    }
    if (fs::is_directory(fs::symlink_status(p, ec))) {
      for (auto& e : fs::recursive_directory_iterator(p)) {
        if (e.is_regular_file()) Supersede(e.path());
      }
    }
  }

  // Every entry below `root` (relative paths), files and folders separately.
  static void ListTree(const fs::path& root, std::vector<fs::path>& files, std::vector<fs::path>& dirs) {
    for (auto& e : fs::recursive_directory_iterator(root)) {
      if (e.is_directory()) dirs.push_back(e.path());
      else if (e.is_regular_file()) files.push_back(e.path());
    }
  }

  // One random local operation on device i's folder.
  void RandomOp(int i, std::mt19937_64& rng) {
    const fs::path& root = folders_[i];
    Trace("op on device " + std::to_string(i));
    std::vector<fs::path> files, dirs;
    ListTree(root, files, dirs);
    // A killed pass can leave a download temp (.coffer-*.part) until the next pass sweeps it;
    // the simulated user works on their own files only (renaming a temp to a plain name would
    // turn a half-written download into a user file the oracle never saw written).
    auto is_coffer_temp = [](const fs::path& p) { return p.string().find("/.coffer-") != std::string::npos; };
    std::erase_if(files, is_coffer_temp);
    std::erase_if(dirs, is_coffer_temp);
    dirs.push_back(root);
    auto pick_dir = [&]() -> fs::path { return dirs[rng() % dirs.size()]; };
    const int kind = static_cast<int>(rng() % 100);
    if (kind < 30 || files.empty()) {  // create
      fs::path p = pick_dir() / ("f" + std::to_string(next_name_++) + (rng() % 2 ? ".txt" : ".bin"));
      WriteToken(p, rng);
    } else if (kind < 55) {  // edit in place
      fs::path p = files[rng() % files.size()];
      Supersede(p);
      WriteToken(p, rng);
    } else if (kind < 65) {  // rename in place
      fs::path p = files[rng() % files.size()];
      fs::path to = p.parent_path() / ("r" + std::to_string(next_name_++) + p.extension().string());
      Trace("  rename " + Short(p) + " -> " + Short(to));
      fs::rename(p, to);
    } else if (kind < 75) {  // move to another folder
      fs::path p = files[rng() % files.size()];
      fs::path to = pick_dir() / ("m" + std::to_string(next_name_++) + p.extension().string());
      Trace("  move " + Short(p) + " -> " + Short(to));
      fs::rename(p, to);
    } else if (kind < 85) {  // delete a file
      fs::path p = files[rng() % files.size()];
      Supersede(p);
      Trace("  delete " + Short(p));
      fs::remove(p);
    } else if (kind < 93) {  // new folder
      fs::path d = pick_dir() / ("d" + std::to_string(next_name_++));
      Trace("  mkdir " + Short(d));
      fs::create_directories(d);
    } else if (kind < 96 && dirs.size() > 1) {  // rename a folder
      fs::path d = dirs[rng() % (dirs.size() - 1)];
      fs::path to = d.parent_path() / ("dr" + std::to_string(next_name_++));
      Trace("  rename folder " + Short(d) + " -> " + Short(to));
      fs::rename(d, to);
    } else if (dirs.size() > 1) {  // delete a folder with everything in it
      fs::path d = dirs[rng() % (dirs.size() - 1)];
      Trace("  delete folder " + Short(d));
      Supersede(d);
      fs::remove_all(d);
    }
  }

  // The tokens in the final tree: each must appear once; every live token must be there.
  // `conflict_copy_duplicates_allowed`: the kill -9 test accepts one known residue of a pass
  // killed mid-conflict (the local side present both as the conflict copy and under the
  // original name: nothing lost, one extra copy; see the closing note of the sync issue) and
  // counts it; any other duplicate still fails.
  void CheckOracle(const fs::path& root, bool conflict_copy_duplicates_allowed = false) {
    std::map<std::string, std::string> where;
    std::vector<fs::path> files, dirs;
    ListTree(root, files, dirs);
    for (const auto& f : files) {
      std::string body = ReadFile(f);
      std::string token = body.substr(0, body.find('\n'));
      ASSERT_TRUE(token.starts_with("token-")) << f << " holds something no device wrote";
      auto [it, inserted] = where.emplace(token, f.string());
      const bool conflict_pair = it->second.find(" (conflict from ") != std::string::npos ||
                                 f.string().find(" (conflict from ") != std::string::npos;
      if (!inserted && conflict_copy_duplicates_allowed && conflict_pair) {
        std::cout << "known residue after kill -9: " << token << " in " << it->second << " and " << f << std::endl;
        continue;
      }
      EXPECT_TRUE(inserted) << token << " is in two files: " << it->second << " and " << f;
    }
    size_t lost = 0;
    for (const auto& token : live_tokens_) {
      if (superseded_.count(token) || where.count(token)) continue;
      ++lost;
      ADD_FAILURE() << "edit lost: " << token << " was never replaced knowingly but is gone";
    }
    EXPECT_EQ(lost, 0u);
  }

  size_t CountConflictCopies(const fs::path& root) {
    size_t n = 0;
    for (auto& e : fs::recursive_directory_iterator(root)) {
      if (e.path().filename().string().find(" (conflict from ") != std::string::npos) ++n;
    }
    return n;
  }

  TempDir tmp_;
  std::unique_ptr<Server> server_;
  std::vector<Device> devices_;
  std::vector<fs::path> folders_;
  uint64_t next_token_ = 1;
  uint64_t next_name_ = 1;
  std::set<std::string> live_tokens_;
  std::set<std::string> superseded_;
  std::vector<std::string> trace_;
};

TEST_F(SyncTest, BasicTwoWayRenameConflictAndEditBeatsDelete) {
  SetUpThree();
  WriteFile(folders_[0] / "docs" / "a.txt", "one\n");
  WriteFile(folders_[0] / "docs" / "b.txt", "two\n");
  WriteRandomFile(folders_[0] / "photos" / "big.bin", 3 << 20, 7);
  ASSERT_EQ(Sync(0).exit_code, 0);
  ASSERT_EQ(Sync(1).exit_code, 0);
  EXPECT_EQ(CompareTrees(folders_[0], folders_[1], false), "");

  // A rename on one side is a move on the other, not a re-upload.
  fs::rename(folders_[1] / "photos", folders_[1] / "pictures");
  RunResult r = devices_[1].Run({"--json", "sync", folders_[1].string(), "/Shared"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"uploaded\":0"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"remote_moves\":1"), std::string::npos) << r.out;
  r = devices_[0].Run({"--json", "sync", folders_[0].string(), "/Shared"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("\"downloaded\":0"), std::string::npos) << r.out;
  EXPECT_TRUE(fs::exists(folders_[0] / "pictures" / "big.bin"));

  // Both edit a.txt: the remote edit keeps the name, the local one becomes a conflict copy.
  WriteFile(folders_[0] / "docs" / "a.txt", "alpha's edit\n");
  WriteFile(folders_[1] / "docs" / "a.txt", "beta's edit\n");
  ASSERT_EQ(Sync(0).exit_code, 0);
  r = Sync(1);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("conflict"), std::string::npos) << r.out;
  ASSERT_EQ(Sync(0).exit_code, 0);
  EXPECT_EQ(ReadFile(folders_[0] / "docs" / "a.txt"), "alpha's edit\n");
  bool found = false;
  for (auto& e : fs::directory_iterator(folders_[0] / "docs")) {
    const std::string name = e.path().filename().string();
    if (name.starts_with("a (conflict from beta ") && name.ends_with(").txt")) {
      found = true;
      EXPECT_EQ(ReadFile(e.path()), "beta's edit\n");
    }
  }
  EXPECT_TRUE(found);
  EXPECT_EQ(CompareTrees(folders_[0], folders_[1], false), "");

  // Edit beats delete, in both directions.
  WriteFile(folders_[0] / "docs" / "b.txt", "edited while beta deleted it\n");
  fs::remove(folders_[1] / "docs" / "b.txt");
  ASSERT_EQ(Sync(1).exit_code, 0);
  ASSERT_EQ(Sync(0).exit_code, 0);
  ASSERT_EQ(Sync(1).exit_code, 0);
  EXPECT_EQ(ReadFile(folders_[1] / "docs" / "b.txt"), "edited while beta deleted it\n");
  fs::remove_all(folders_[0] / "docs");
  WriteFile(folders_[1] / "docs" / "b.txt", "beta edits again\n");
  ASSERT_EQ(Sync(0).exit_code, 0);
  ASSERT_EQ(Sync(1).exit_code, 0);
  ASSERT_EQ(Sync(0).exit_code, 0);
  EXPECT_EQ(ReadFile(folders_[0] / "docs" / "b.txt"), "beta edits again\n");
  EXPECT_FALSE(fs::exists(folders_[0] / "docs" / "a.txt"));
  EXPECT_EQ(CompareTrees(folders_[0], folders_[1], false), "");

  // --status lists what is pending and changes nothing.
  WriteFile(folders_[2] / "new.txt", "pending\n");
  ASSERT_EQ(Sync(2).exit_code, 0);
  WriteFile(folders_[2] / "later.txt", "x\n");
  WriteFile(folders_[0] / "remote-news.txt", "y\n");
  ASSERT_EQ(Sync(0).exit_code, 0);
  r = devices_[2].Run({"sync", "--status", folders_[2].string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("upload later.txt"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("download remote-news.txt"), std::string::npos) << r.out;
  EXPECT_FALSE(fs::exists(folders_[2] / "remote-news.txt"));
}

TEST_F(SyncTest, RandomWorkloadOfTwoThousandOperationsOnThreeDevicesConverges) {
  SetUpThree();
  const uint64_t seed = 20261124;
  std::mt19937_64 rng(seed);
  SCOPED_TRACE("seed " + std::to_string(seed));
  int ops = 0, rounds = 0;
  while (ops < 2000) {
    // Usually one device works and syncs; sometimes two work before either syncs, so that
    // concurrent edits, renames and deletes meet in the merge.
    const int a = static_cast<int>(rng() % 3);
    const int b = rng() % 4 == 0 ? static_cast<int>((a + 1 + rng() % 2) % 3) : -1;
    for (int k = 0, n = 1 + static_cast<int>(rng() % 8); k < n; ++k, ++ops) RandomOp(a, rng);
    if (b >= 0) {
      for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n; ++k, ++ops) RandomOp(b, rng);
    }
    // Now and then, a sure conflict: the same file edited on two devices before either syncs.
    if (++rounds % 40 == 0) {
      const int c = (a + 1) % 3;
      std::vector<fs::path> files, dirs;
      ListTree(folders_[a], files, dirs);
      for (const auto& f : files) {
        const fs::path other = folders_[c] / fs::relative(f, folders_[a]);
        if (!fs::exists(other)) continue;
        Supersede(f);
        WriteToken(f, rng);
        Supersede(other);
        WriteToken(other, rng);
        ops += 2;
        ASSERT_EQ(Sync(c).exit_code, 0);
        break;
      }
    }
    RunResult r = Sync(a);
    ASSERT_EQ(r.exit_code, 0) << "after " << ops << " ops: " << r.err;
    if (b >= 0) {
      r = Sync(b);
      ASSERT_EQ(r.exit_code, 0) << "after " << ops << " ops: " << r.err;
    }
  }
  Converge();
  EXPECT_EQ(CompareTrees(folders_[0], folders_[1], false), "");
  EXPECT_EQ(CompareTrees(folders_[0], folders_[2], false), "");
  CheckOracle(folders_[0]);
  std::vector<fs::path> files, dirs;
  ListTree(folders_[0], files, dirs);
  const size_t conflicts = CountConflictCopies(folders_[0]);
  std::cout << "final tree: " << files.size() << " files, " << dirs.size() << " folders, " << conflicts
            << " conflict copies; " << live_tokens_.size() << " writes, " << superseded_.size()
            << " knowingly replaced" << std::endl;
  // The workload makes concurrent edits, so the merge must have met some, and made copies.
  EXPECT_GT(files.size(), 50u);
  EXPECT_GT(conflicts, 0u);
  RunResult v = devices_[0].Run({"verify"});
  EXPECT_EQ(v.exit_code, 0) << v.err;
}

TEST_F(SyncTest, KillNineAtRandomPointsLosesNothing) {
  SetUpThree();
  std::mt19937_64 rng(77);
  for (int i = 0; i < 30; ++i) RandomOp(0, rng);
  ASSERT_EQ(Sync(0).exit_code, 0);
  for (int kill = 0; kill < 50; ++kill) {
    const int victim = static_cast<int>(rng() % 2);
    for (int k = 0, n = 1 + static_cast<int>(rng() % 6); k < n; ++k) RandomOp(victim, rng);
    for (int k = 0, n = static_cast<int>(rng() % 3); k < n; ++k) RandomOp(1 - victim, rng);
    fs::path out = tmp_.path() / "killed.out";
    pid_t pid = devices_[victim].Spawn({"sync", folders_[victim].string(), "/Shared"}, out);
    const int delay_ms = static_cast<int>(rng() % 400);
    std::this_thread::sleep_for(std::chrono::milliseconds(delay_ms));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    Trace("sync device " + std::to_string(victim) + " killed after " + std::to_string(delay_ms) + " ms" +
          (WIFEXITED(status) ? " (it had finished: " + ReadFile(out) + ")" : ""));
    if (rng() % 3 == 0) {
      RunResult r = devices_[1 - victim].Run({"--json", "sync", folders_[1 - victim].string(), "/Shared"});
      Trace("sync device " + std::to_string(1 - victim) + ": " + r.out + r.err);
      ASSERT_EQ(r.exit_code, 0);
    }
  }
  Converge();
  EXPECT_EQ(CompareTrees(folders_[0], folders_[1], false), "");
  EXPECT_EQ(CompareTrees(folders_[0], folders_[2], false), "");
  CheckOracle(folders_[0], /*conflict_copy_duplicates_allowed=*/true);
  // No stray temporary files left behind by the killed passes.
  for (auto& e : fs::recursive_directory_iterator(folders_[0])) {
    EXPECT_FALSE(e.path().filename().string().starts_with(".coffer-")) << e.path();
  }
  PrintTraceIfFailed();
}

// The crash points the random kills hit once in a few dozen runs, made deterministic: a pass
// commits an edit, or downloads one, and dies before it records it (here: the profile's state
// is put back to what it was before the pass); then the user renames the file. One file must
// come out, under the new name, not the renamed copy plus the old name brought back.
class SyncCrashPointTest : public SyncTest {
 protected:
  void SaveState(int i) {
    saved_ = tmp_.path() / ("state-before-" + std::to_string(saves_++));
    fs::create_directories(saved_);
    for (const char* f : {"state.db", "state.db-wal", "state.db-shm"}) {
      if (fs::exists(devices_[i].home() / f)) fs::copy_file(devices_[i].home() / f, saved_ / f);
    }
  }
  // As if the pass since SaveState had been killed just before it saved its base.
  void ForgetPassSinceSave(int i) {
    for (const char* f : {"state.db", "state.db-wal", "state.db-shm"}) {
      fs::remove(devices_[i].home() / f);
      if (fs::exists(saved_ / f)) fs::copy_file(saved_ / f, devices_[i].home() / f);
    }
  }
  // Device i syncs after the user renamed `from` to `to`: nothing may move but the name.
  void ExpectRenameOnly(int i, const std::string& from, const std::string& to, const std::string& body) {
    fs::rename(folders_[i] / from, folders_[i] / to);
    RunResult r = devices_[i].Run({"--json", "sync", folders_[i].string(), "/Shared"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    EXPECT_NE(r.out.find("\"uploaded\":0"), std::string::npos) << "the renamed file was uploaded again: " << r.out;
    EXPECT_NE(r.out.find("\"downloaded\":0"), std::string::npos) << "the old name came back: " << r.out;
    EXPECT_FALSE(fs::exists(folders_[i] / from));
    EXPECT_EQ(ReadFile(folders_[i] / to), body);
    const int other = i == 0 ? 2 : 0;
    ASSERT_EQ(Sync(other).exit_code, 0);
    EXPECT_EQ(CompareTrees(folders_[other], folders_[i], false), "");
  }
  fs::path saved_;
  int saves_ = 0;
};

TEST_F(SyncCrashPointTest, EditUploadedByAKilledPassThenRenamedStaysOneFile) {
  SetUpThree();
  WriteFile(folders_[1] / "a.txt", "first\n");
  ASSERT_EQ(Sync(1).exit_code, 0);
  SaveState(1);
  WriteFile(folders_[1] / "a.txt", "second, a longer version\n");
  ASSERT_EQ(Sync(1).exit_code, 0);
  ForgetPassSinceSave(1);
  ExpectRenameOnly(1, "a.txt", "b.txt", "second, a longer version\n");
}

TEST_F(SyncCrashPointTest, EditDownloadedByAKilledPassThenRenamedStaysOneFile) {
  SetUpThree();
  WriteFile(folders_[0] / "a.txt", "first\n");
  ASSERT_EQ(Sync(0).exit_code, 0);
  ASSERT_EQ(Sync(1).exit_code, 0);
  WriteFile(folders_[0] / "a.txt", "alpha's longer edit\n");
  ASSERT_EQ(Sync(0).exit_code, 0);
  SaveState(1);
  ASSERT_EQ(Sync(1).exit_code, 0);  // downloads the edit...
  ForgetPassSinceSave(1);           // ...and never records it
  ExpectRenameOnly(1, "a.txt", "b.txt", "alpha's longer edit\n");
}

TEST_F(SyncCrashPointTest, NewFileDownloadedByAKilledPassThenRenamedStaysOneFile) {
  SetUpThree();
  ASSERT_EQ(Sync(1).exit_code, 0);
  WriteFile(folders_[0] / "new.txt", "made by alpha\n");
  ASSERT_EQ(Sync(0).exit_code, 0);
  SaveState(1);
  ASSERT_EQ(Sync(1).exit_code, 0);
  ForgetPassSinceSave(1);
  ExpectRenameOnly(1, "new.txt", "renamed.txt", "made by alpha\n");
}

TEST_F(SyncCrashPointTest, AFileWithTheSameBytesMadeHereStaysSeparate) {
  // The rule above must not merge a file the user made with another device's file that
  // happens to hold the same bytes (that would move the other device's file).
  SetUpThree();
  ASSERT_EQ(Sync(1).exit_code, 0);
  WriteFile(folders_[0] / "x" / "same.txt", "identical bytes\n");
  ASSERT_EQ(Sync(0).exit_code, 0);
  WriteFile(folders_[1] / "y" / "same.txt", "identical bytes\n");
  // Even with the same whole-second mtime, as two extractions of one archive would have.
  const auto second = std::chrono::file_clock::now() - std::chrono::hours(24);
  const auto whole = std::chrono::floor<std::chrono::seconds>(second);
  fs::last_write_time(folders_[0] / "x" / "same.txt", whole);
  ASSERT_EQ(Sync(0).exit_code, 0);
  fs::last_write_time(folders_[1] / "y" / "same.txt", whole);
  ASSERT_EQ(Sync(1).exit_code, 0);
  EXPECT_EQ(ReadFile(folders_[1] / "x" / "same.txt"), "identical bytes\n");
  EXPECT_EQ(ReadFile(folders_[1] / "y" / "same.txt"), "identical bytes\n");
  ASSERT_EQ(Sync(0).exit_code, 0);
  EXPECT_TRUE(fs::exists(folders_[0] / "x" / "same.txt"));
  EXPECT_TRUE(fs::exists(folders_[0] / "y" / "same.txt"));
}

TEST_F(SyncTest, ForkedHistoryIsDetectedByBothDevices) {
  SetUpThree();
  WriteFile(folders_[0] / "a.txt", "base\n");
  ASSERT_EQ(Sync(0).exit_code, 0);
  ASSERT_EQ(Sync(1).exit_code, 0);
  // The operator forks the service: a copy of the data serves beta from now on.
  server_->Stop();
  CopyTree(server_->data_dir(), tmp_.path() / "fork");
  server_->Start();
  Server fork(tmp_.path() / "fork");
  fork.Start();
  devices_[1].set_server(fork.url());
  WriteFile(folders_[0] / "a.txt", "alpha's history\n");
  ASSERT_EQ(Sync(0).exit_code, 0);
  WriteFile(folders_[1] / "b.txt", "beta's history\n");
  ASSERT_EQ(Sync(1).exit_code, 0);
  // Each branch alone looks linear. When the server shows either device the other branch:
  devices_[1].set_server(server_->url());
  RunResult r = Sync(1);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("fork"), std::string::npos) << r.err;
  devices_[0].set_server(fork.url());
  r = Sync(0);
  EXPECT_EQ(r.exit_code, 3) << r.out << r.err;
  EXPECT_NE(r.err.find("fork"), std::string::npos) << r.err;
  // Nothing local was touched by the refused passes.
  EXPECT_EQ(ReadFile(folders_[0] / "a.txt"), "alpha's history\n");
  EXPECT_FALSE(fs::exists(folders_[0] / "b.txt"));
  EXPECT_EQ(ReadFile(folders_[1] / "a.txt"), "base\n");
}

TEST_F(SyncTest, WatchModeFollowsLocalAndRemoteChanges) {
  SetUpThree();
  fs::path out = tmp_.path() / "watch.out";
  pid_t watcher = devices_[1].Spawn({"sync", folders_[1].string(), "/Shared", "--watch", "--debounce-ms", "200"}, out);
  auto wait_for = [](const std::function<bool()>& cond) {
    for (int i = 0; i < 300; ++i) {
      if (cond()) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    return false;
  };
  // Remote change -> the watcher downloads it (long poll, no local trigger).
  WriteFile(folders_[0] / "from-alpha.txt", "hello beta\n");
  ASSERT_EQ(Sync(0).exit_code, 0);
  EXPECT_TRUE(wait_for([&] { return fs::exists(folders_[1] / "from-alpha.txt"); })) << ReadFile(out.string() + ".err");
  // Local change -> the watcher uploads it.
  WriteFile(folders_[1] / "from-beta.txt", "hello alpha\n");
  EXPECT_TRUE(wait_for([&] {
    return Sync(0).exit_code == 0 && fs::exists(folders_[0] / "from-beta.txt");
  }));
  ::kill(watcher, SIGTERM);
  int status = 0;
  ::waitpid(watcher, &status, 0);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << ReadFile(out.string() + ".err");
}

TEST_F(SyncTest, IgnoreRulesSymlinksAndModesMtimes) {
  SetUpThree();
  WriteFile(folders_[0] / ".cofferignore", "# build output\n*.tmp\nbuild/\n!keep.tmp\n/top-only.txt\n");
  WriteFile(folders_[0] / "a.tmp", "ignored\n");
  WriteFile(folders_[0] / "keep.tmp", "kept by negation\n");
  WriteFile(folders_[0] / "build" / "out.o", "ignored too\n");
  WriteFile(folders_[0] / "top-only.txt", "ignored at the top\n");
  WriteFile(folders_[0] / "sub" / "top-only.txt", "not ignored below\n");
  WriteFile(folders_[0] / "script.sh", "#!/bin/sh\n");
  ::chmod((folders_[0] / "script.sh").c_str(), 0750);
  fs::create_symlink("/etc/passwd", folders_[0] / "outside-link");
  RunResult r = Sync(0);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("symbolic link"), std::string::npos) << r.err;
  ASSERT_EQ(Sync(1).exit_code, 0);
  EXPECT_FALSE(fs::exists(folders_[1] / "a.tmp"));
  EXPECT_FALSE(fs::exists(folders_[1] / "build"));
  EXPECT_FALSE(fs::exists(folders_[1] / "top-only.txt"));
  EXPECT_FALSE(fs::exists(fs::symlink_status(folders_[1] / "outside-link")));
  EXPECT_EQ(ReadFile(folders_[1] / "keep.tmp"), "kept by negation\n");
  EXPECT_EQ(ReadFile(folders_[1] / "sub" / "top-only.txt"), "not ignored below\n");
  struct stat a, b;
  ASSERT_EQ(::stat((folders_[0] / "script.sh").c_str(), &a), 0);
  ASSERT_EQ(::stat((folders_[1] / "script.sh").c_str(), &b), 0);
  EXPECT_EQ(a.st_mode & 07777, b.st_mode & 07777);
  EXPECT_EQ(a.st_mtim.tv_sec, b.st_mtim.tv_sec);
  EXPECT_EQ(a.st_mtim.tv_nsec, b.st_mtim.tv_nsec);
  // Ignored local files are never deleted by sync either.
  EXPECT_TRUE(fs::exists(folders_[0] / "a.tmp"));
}

TEST_F(SyncTest, SeveralFoldersPerDeviceAndOverlapsRefused) {
  SetUpThree();
  const fs::path second = tmp_.path() / "second";
  WriteFile(second / "s.txt", "second folder\n");
  WriteFile(folders_[0] / "f.txt", "first folder\n");
  ASSERT_EQ(Sync(0).exit_code, 0);
  RunResult r = devices_[0].Run({"sync", second.string(), "/Other"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  // Without arguments, every folder of the profile is synced.
  WriteFile(folders_[0] / "g.txt", "later\n");
  WriteFile(second / "t.txt", "later too\n");
  r = devices_[0].Run({"--json", "sync"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(folders_[0].string()), std::string::npos) << r.out;
  EXPECT_NE(r.out.find(second.string()), std::string::npos) << r.out;
  fs::create_directories(tmp_.path() / "check");
  r = devices_[1].Run({"get", "/Other", (tmp_.path() / "check").string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(tmp_.path() / "check" / "Other" / "t.txt"), "later too\n");
  // A folder inside a synced folder, or a second remote for the same folder, is refused.
  r = devices_[0].Run({"sync", (folders_[0] / "inner").string(), "/Inner"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("overlaps"), std::string::npos) << r.err;
  r = devices_[0].Run({"sync", second.string(), "/Elsewhere"});
  EXPECT_EQ(r.exit_code, 1) << r.err;
  EXPECT_NE(r.err.find("already synced"), std::string::npos) << r.err;
}

}  // namespace
}  // namespace coffer::e2e
