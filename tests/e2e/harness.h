// End-to-end test harness: runs the real coffer-server and coffer binaries as processes on
// loopback with temporary data directories and device profiles.
#ifndef COFFER_TESTS_E2E_HARNESS_H_
#define COFFER_TESTS_E2E_HARNESS_H_

#include <sys/types.h>

#include <filesystem>
#include <map>
#include <string>
#include <vector>

namespace coffer::e2e {

namespace fs = std::filesystem;

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// A temporary directory removed on destruction.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const fs::path& path() const { return path_; }
  std::string str() const { return path_.string(); }

 private:
  fs::path path_;
};

// A coffer-server process with its own data directory.
//
// COFFER_E2E_BACKEND picks what runs behind url():
//   embedded (default)  one process, SQLite + files in data_dir()
//   engines             one process on PostgreSQL + S3 (COFFER_TEST_POSTGRES_URL and
//                       COFFER_TEST_S3_URL), in a fresh schema and key prefix per Server
//   cluster             3 processes on those engines behind HAProxy (scripts/cluster.sh)
// The engine backends throw from Start() (the test fails) when the engine URLs are missing.
class Server {
 public:
  static std::string Backend();
  explicit Server(fs::path data_dir, std::vector<std::string> extra_args = {});
  ~Server();
  void Start();           // waits for the "listening on" line
  void Stop();            // SIGTERM and wait
  void Kill();            // SIGKILL and wait (crash)
  bool running() const { return pid_ > 0; }
  const std::string& url() const { return url_; }
  const fs::path& data_dir() const { return data_dir_; }

 private:
  void StartEmbedded();
  void StartOnEngines(bool cluster);
  void WaitListening();
  fs::path data_dir_;
  std::vector<std::string> extra_args_;
  std::string meta_url_, blob_url_;  // engines/cluster: this Server's own namespace
  std::vector<pid_t> cluster_pids_;  // cluster: the instances and HAProxy (not our children)
  pid_t pid_ = -1;
  int port_ = 0;
  std::string url_;
  fs::path log_;
};

// One device profile driving the coffer CLI.
class Device {
 public:
  Device(fs::path home, std::string server_url, std::string password = "correct horse battery staple");
  RunResult Run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {}) const;
  // Starts a CLI process in the background with stdout to a file; returns its pid.
  pid_t Spawn(const std::vector<std::string>& args, const fs::path& out_file,
              const std::map<std::string, std::string>& env = {}) const;
  const fs::path& home() const { return home_; }
  void set_server(std::string url) { server_url_ = std::move(url); }
  void set_password(std::string pw) { password_ = std::move(pw); }

 private:
  std::vector<std::string> Argv(const std::vector<std::string>& args) const;
  std::map<std::string, std::string> Env(const std::map<std::string, std::string>& extra) const;
  fs::path home_;
  std::string server_url_;
  std::string password_;
};

// Runs a program and captures its output (no shell).
RunResult RunProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env);

// File tree helpers.
void WriteFile(const fs::path& p, const std::string& data);
std::string ReadFile(const fs::path& p);
void WriteRandomFile(const fs::path& p, size_t size, uint64_t seed);
// Compares two trees: names, kinds, bytes, empty folders, file modes and mtimes.
// Returns an empty string if identical, else a description of the first difference.
std::string CompareTrees(const fs::path& a, const fs::path& b, bool check_mtimes = true);
// Searches every file under `dir` for `needle`; returns the first file containing it or "".
std::string FindBytes(const fs::path& dir, const std::string& needle);
// Extracts a JSON string field from one line of --json output (tests avoid a JSON dep).
std::string JsonField(const std::string& json, const std::string& field);
void CopyTree(const fs::path& from, const fs::path& to);

// Direct access to the server's SQLite database, to play a malicious operator.
// `params` are bound as blobs to the ?s in order. Returns the first column of every row.
std::vector<std::string> Sql(const fs::path& db, const std::string& sql, const std::vector<std::string>& params = {});

}  // namespace coffer::e2e

#endif  // COFFER_TESTS_E2E_HARNESS_H_
