#include "harness.h"

#include <fcntl.h>
#include <sqlite3.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace coffer::e2e {

TempDir::TempDir() {
  std::string tmpl = (fs::temp_directory_path() / "coffer-e2e-XXXXXX").string();
  if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, ec);
  fs::remove_all(path_, ec);
}

namespace {

std::vector<char*> CArgs(std::vector<std::string>& v) {
  std::vector<char*> out;
  for (auto& s : v) out.push_back(s.data());
  out.push_back(nullptr);
  return out;
}

std::vector<std::string> EnvList(const std::map<std::string, std::string>& env) {
  std::map<std::string, std::string> all;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) all[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : env) all[k] = v;
  std::vector<std::string> out;
  for (const auto& [k, v] : all) out.push_back(k + "=" + v);
  return out;
}

pid_t SpawnWithFiles(const std::vector<std::string>& argv_in, const std::map<std::string, std::string>& env,
                     const std::string& out_path, const std::string& err_path) {
  std::vector<std::string> argv = argv_in;
  std::vector<std::string> envs = EnvList(env);
  auto cargv = CArgs(argv);
  auto cenv = CArgs(envs);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&fa, 2, err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, cargv[0], &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) throw std::runtime_error("cannot start " + argv_in[0] + ": " + std::strerror(rc));
  return pid;
}

}  // namespace

RunResult RunProcess(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env) {
  TempDir tmp;
  const std::string out = (tmp.path() / "out").string(), err = (tmp.path() / "err").string();
  pid_t pid = SpawnWithFiles(argv, env, out, err);
  int status = 0;
  ::waitpid(pid, &status, 0);
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out);
  r.err = ReadFile(err);
  return r;
}

Server::Server(fs::path data_dir, std::vector<std::string> extra_args)
    : data_dir_(std::move(data_dir)), extra_args_(std::move(extra_args)) {}

Server::~Server() {
  if (pid_ > 0) Kill();
}

std::string Server::Backend() {
  const char* backend = std::getenv("COFFER_E2E_BACKEND");
  if (backend == nullptr || *backend == '\0') return "embedded";
  const std::string b = backend;
  if (b != "embedded" && b != "engines" && b != "cluster") {
    throw std::runtime_error("COFFER_E2E_BACKEND must be embedded, engines or cluster, not \"" + b + "\"");
  }
  return b;
}

namespace {

// Dead or a zombie nobody reaped (the instances are not our children).
bool ProcessGone(pid_t pid) {
  if (::kill(pid, 0) != 0) return true;
  std::string stat = ReadFile("/proc/" + std::to_string(pid) + "/stat");
  const size_t paren = stat.rfind(')');
  return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

std::string EnvValue(const std::string& env_file_text, const std::string& name) {
  const std::string key = "export " + name + "='";
  const size_t pos = env_file_text.find(key);
  if (pos == std::string::npos) return "";
  const size_t start = pos + key.size();
  return env_file_text.substr(start, env_file_text.find('\'', start) - start);
}

}  // namespace

void Server::StartOnEngines(bool cluster) {
  if (meta_url_.empty()) {
    const char* pg = std::getenv("COFFER_TEST_POSTGRES_URL");
    const char* s3 = std::getenv("COFFER_TEST_S3_URL");
    if (pg == nullptr || *pg == '\0' || s3 == nullptr || *s3 == '\0') {
      throw std::runtime_error("COFFER_E2E_BACKEND=" + Backend() +
                               " needs COFFER_TEST_POSTGRES_URL and COFFER_TEST_S3_URL (scripts/test.sh starts "
                               "the engines with scripts/postgres.sh and scripts/ceph.sh and sources their env)");
    }
    // A fresh namespace per Server: the tests share one database and one bucket.
    std::random_device rd;
    char ns[17];
    std::snprintf(ns, sizeof(ns), "%08x%08x", rd(), rd());
    meta_url_ = std::string(pg) + (std::string(pg).find('?') == std::string::npos ? "?" : "&") + "schema=e2e_" + ns;
    std::string s3_url = s3;
    // s3://bucket[/prefix]?... -> s3://bucket[/prefix]/e2e-NS?...
    const size_t query = std::min(s3_url.find('?'), s3_url.size());
    blob_url_ = s3_url.substr(0, query) + "/e2e-" + ns + s3_url.substr(query);
  }
  fs::create_directories(data_dir_);
  if (!cluster) {
    std::vector<std::string> argv = {COFFER_SERVER, "--metadata", meta_url_, "--blobs", blob_url_,
                                     "--listen", "127.0.0.1:" + std::to_string(port_)};
    argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
    log_ = data_dir_.string() + ".log";
    pid_ = SpawnWithFiles(argv, {{"COFFER_TEST_FAST_KDF", "1"}}, log_.string(), log_.string() + ".err");
    return;  // Start() waits for the "listening on" line
  }
  const std::string dir = data_dir_.string() + "-cluster";
  std::vector<std::string> argv = {"/bin/bash", std::string(COFFER_SOURCE_DIR) + "/scripts/cluster.sh", "start", dir,
                                   "3", "--"};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  std::map<std::string, std::string> env = {
      {"COFFER_METADATA", meta_url_}, {"COFFER_BLOBS", blob_url_}, {"COFFER_SERVER_BIN", COFFER_SERVER},
      {"COFFER_TEST_FAST_KDF", "1"}};
  if (port_ > 0) env["COFFER_CLUSTER_PORT"] = std::to_string(port_);  // same URL after a restart
  RunResult started = RunProcess(argv, env);
  if (started.exit_code != 0) throw std::runtime_error("scripts/cluster.sh start failed: " + started.err);
  const std::string env_text = ReadFile(dir + "/env");
  url_ = EnvValue(env_text, "COFFER_CLUSTER_URL");
  port_ = std::stoi(url_.substr(url_.rfind(':') + 1));
  cluster_pids_.clear();
  std::istringstream pids(EnvValue(env_text, "COFFER_CLUSTER_SERVER_PIDS") + " " +
                          EnvValue(env_text, "COFFER_CLUSTER_LB_PID"));
  for (pid_t p; pids >> p;) cluster_pids_.push_back(p);
  pid_ = cluster_pids_.back();
}

void Server::Start() {
  if (const std::string backend = Backend(); backend != "embedded") {
    StartOnEngines(backend == "cluster");
    if (backend == "cluster") return;
  } else {
    StartEmbedded();
  }
  WaitListening();
}

void Server::StartEmbedded() {
  // Reuse the port across restarts so device profiles keep working.
  std::string listen = "127.0.0.1:" + std::to_string(port_);
  std::vector<std::string> argv = {COFFER_SERVER, "--data", data_dir_.string(), "--listen", listen};
  argv.insert(argv.end(), extra_args_.begin(), extra_args_.end());
  log_ = data_dir_.string() + ".log";
  pid_ = SpawnWithFiles(argv, {}, log_.string(), log_.string() + ".err");
}

void Server::WaitListening() {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < deadline) {
    std::string text = ReadFile(log_) + ReadFile(log_.string() + ".err");
    for (const std::string scheme : {"http", "https"}) {
      const std::string prefix = "listening on " + scheme + "://127.0.0.1:";
      auto pos = text.find(prefix);
      if (pos == std::string::npos) continue;
      auto start = pos + prefix.size();
      auto end = text.find_first_not_of("0123456789", start);
      if (end != std::string::npos) {
        port_ = std::stoi(text.substr(start, end - start));
        url_ = scheme + "://127.0.0.1:" + std::to_string(port_);
        return;
      }
    }
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      throw std::runtime_error("coffer-server exited at start: " + text);
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  throw std::runtime_error("coffer-server did not start within 30 s");
}

void Server::Stop() {
  if (pid_ <= 0) return;
  if (!cluster_pids_.empty()) {
    RunProcess({"/bin/bash", std::string(COFFER_SOURCE_DIR) + "/scripts/cluster.sh", "stop", data_dir_.string() + "-cluster"},
               {});
    cluster_pids_.clear();
    pid_ = -1;
    return;
  }
  ::kill(pid_, SIGTERM);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

void Server::Kill() {
  if (pid_ <= 0) return;
  if (!cluster_pids_.empty()) {
    for (pid_t p : cluster_pids_) ::kill(p, SIGKILL);
    for (pid_t p : cluster_pids_) {
      for (int i = 0; i < 500 && !ProcessGone(p); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    fs::remove(data_dir_.string() + "-cluster/pids");  // lets cluster.sh start again
    cluster_pids_.clear();
    pid_ = -1;
    return;
  }
  ::kill(pid_, SIGKILL);
  int status = 0;
  ::waitpid(pid_, &status, 0);
  pid_ = -1;
}

Device::Device(fs::path home, std::string server_url, std::string password)
    : home_(std::move(home)), server_url_(std::move(server_url)), password_(std::move(password)) {}

std::vector<std::string> Device::Argv(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {COFFER_CLI, "--home", home_.string(), "--server", server_url_};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

std::map<std::string, std::string> Device::Env(const std::map<std::string, std::string>& extra) const {
  std::map<std::string, std::string> env = {{"COFFER_PASSWORD", password_}, {"COFFER_TEST_FAST_KDF", "1"}};
  for (const auto& [k, v] : extra) env[k] = v;
  return env;
}

RunResult Device::Run(const std::vector<std::string>& args, const std::map<std::string, std::string>& env) const {
  return RunProcess(Argv(args), Env(env));
}

pid_t Device::Spawn(const std::vector<std::string>& args, const fs::path& out_file,
                    const std::map<std::string, std::string>& env) const {
  return SpawnWithFiles(Argv(args), Env(env), out_file.string(), out_file.string() + ".err");
}

void WriteFile(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string ReadFile(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

void WriteRandomFile(const fs::path& p, size_t size, uint64_t seed) {
  fs::create_directories(p.parent_path());
  std::mt19937_64 rng(seed);
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  std::vector<uint64_t> buf(1 << 17);
  size_t left = size;
  while (left > 0) {
    for (auto& x : buf) x = rng();
    size_t n = std::min(left, buf.size() * sizeof(uint64_t));
    f.write(reinterpret_cast<const char*>(buf.data()), static_cast<std::streamsize>(n));
    left -= n;
  }
}

std::string CompareTrees(const fs::path& a, const fs::path& b, bool check_mtimes) {
  std::map<std::string, fs::path> ea, eb;
  for (auto& e : fs::recursive_directory_iterator(a)) ea[fs::relative(e.path(), a).string()] = e.path();
  for (auto& e : fs::recursive_directory_iterator(b)) eb[fs::relative(e.path(), b).string()] = e.path();
  for (const auto& [rel, pa] : ea) {
    auto it = eb.find(rel);
    if (it == eb.end()) return "missing in copy: " + rel;
    const fs::path& pb = it->second;
    struct stat sa, sb;
    ::lstat(pa.c_str(), &sa);
    ::lstat(pb.c_str(), &sb);
    if (S_ISDIR(sa.st_mode) != S_ISDIR(sb.st_mode)) return "kind differs: " + rel;
    if ((sa.st_mode & 07777) != (sb.st_mode & 07777)) return "mode differs: " + rel;
    if (S_ISREG(sa.st_mode)) {
      if (sa.st_size != sb.st_size) return "size differs: " + rel;
      if (ReadFile(pa) != ReadFile(pb)) return "content differs: " + rel;
    }
    if (check_mtimes && (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec)) {
      return "mtime differs: " + rel;
    }
  }
  for (const auto& [rel, _] : eb)
    if (!ea.count(rel)) return "extra in copy: " + rel;
  return "";
}

std::string FindBytes(const fs::path& dir, const std::string& needle) {
  for (auto& e : fs::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    if (e.path().filename().string().find(needle) != std::string::npos) return e.path().string() + " (name)";
    std::string data = ReadFile(e.path());
    if (data.find(needle) != std::string::npos) return e.path().string();
  }
  return "";
}

std::string JsonField(const std::string& json, const std::string& field) {
  const std::string key = "\"" + field + "\":\"";
  auto pos = json.find(key);
  if (pos == std::string::npos) return "";
  auto start = pos + key.size();
  auto end = json.find('"', start);
  return json.substr(start, end - start);
}

void CopyTree(const fs::path& from, const fs::path& to) {
  fs::copy(from, to, fs::copy_options::recursive | fs::copy_options::copy_symlinks);
}

std::vector<std::string> Sql(const fs::path& db, const std::string& sql, const std::vector<std::string>& params) {
  sqlite3* h = nullptr;
  if (sqlite3_open(db.c_str(), &h) != SQLITE_OK) throw std::runtime_error("cannot open " + db.string());
  sqlite3_stmt* st = nullptr;
  if (sqlite3_prepare_v2(h, sql.c_str(), -1, &st, nullptr) != SQLITE_OK) {
    std::string msg = sqlite3_errmsg(h);
    sqlite3_close(h);
    throw std::runtime_error("bad SQL: " + msg);
  }
  for (size_t i = 0; i < params.size(); ++i) {
    sqlite3_bind_blob(st, static_cast<int>(i + 1), params[i].data(), static_cast<int>(params[i].size()), SQLITE_TRANSIENT);
  }
  std::vector<std::string> rows;
  while (sqlite3_step(st) == SQLITE_ROW) {
    const void* p = sqlite3_column_blob(st, 0);
    rows.emplace_back(static_cast<const char*>(p ? p : ""), static_cast<size_t>(sqlite3_column_bytes(st, 0)));
  }
  sqlite3_finalize(st);
  sqlite3_close(h);
  return rows;
}

}  // namespace coffer::e2e
