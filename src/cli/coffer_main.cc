// coffer: the command-line client. Thin: parses arguments, calls libcoffer (src/client),
// prints results (text on a terminal, one JSON object with --json) and maps Status codes to
// exit codes (see `coffer --help` and the README's exit code table).
#include <malloc.h>
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>

#include "cli/terminal.h"
#include "client/audit.h"
#include "client/journal.h"
#include "client/support.h"
#include "client/sync.h"
#include "client/transfer.h"
#include "client/vault.h"
#include "client/verify.h"
#include "crypto/secret.h"

namespace coffer::cli {
namespace {

using client::ItemKind;
using client::ItemRow;
using json = nlohmann::json;

// Exit codes (documented in the README).
constexpr int kExitError = 1;       // the operation failed (not found, conflict, bad input)
constexpr int kExitUsage = 2;       // command-line usage error
constexpr int kExitSecurity = 3;    // the server's data failed verification (tampering, rollback)
constexpr int kExitAuth = 4;        // not logged in, wrong password, revoked device
constexpr int kExitNetwork = 5;     // cannot reach the server

int ExitCodeFor(const Status& st) {
  switch (st.code()) {
    case StatusCode::kOk: return 0;
    case StatusCode::kSecurity:
    case StatusCode::kDataLoss: return kExitSecurity;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied: return kExitAuth;
    case StatusCode::kUnavailable: return kExitNetwork;
    default: return kExitError;
  }
}

struct Globals {
  std::string home;
  std::string server;
  std::string ca_file;
  bool json = false;
};

std::string DefaultHome() {
  if (const char* h = std::getenv("COFFER_HOME"); h && *h) return h;
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.coffer";
  return ".coffer";
}

std::string FormatTime(int64_t unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&t));
  return buf;
}

class App {
 public:
  explicit App(Globals& g) : g_(g) {}

  // Prints the result (JSON or text) and returns the exit code.
  int Finish(const Status& st, const json& result, const std::string& text) {
    if (g_.json) {
      json out = result.is_null() ? json::object() : result;
      out["ok"] = st.ok();
      if (!st.ok()) out["error"] = {{"code", std::string(StatusCodeName(st.code()))}, {"message", st.message()}};
      std::cout << out.dump() << std::endl;
    } else if (st.ok()) {
      if (!text.empty()) std::cout << text << (text.back() == '\n' ? "" : "\n");
    } else {
      std::cerr << "coffer: " << st.message() << std::endl;
      if (st.code() == StatusCode::kSecurity || st.code() == StatusCode::kDataLoss) {
        std::cerr << "coffer: the data the server returned failed verification; nothing was changed locally."
                  << std::endl;
      }
    }
    return ExitCodeFor(st);
  }

  StatusOr<std::unique_ptr<client::Vault>> OpenVault() {
    client::ClientOptions opts{g_.home, g_.server, g_.ca_file};
    return client::Vault::Open(opts);
  }

  StatusOr<std::unique_ptr<client::Vault>> Unlocked() {
    COFFER_ASSIGN_OR_RETURN(auto vault, OpenVault());
    COFFER_RETURN_IF_ERROR(vault->Unlock());
    return vault;
  }

  // The unlocked vault and its "drive" collection, the target of the file verbs.
  struct OpenedDrive {
    std::unique_ptr<client::Vault> vault;
    std::unique_ptr<client::Journal> drive;
  };
  StatusOr<OpenedDrive> OpenDrive(bool refresh) {
    COFFER_ASSIGN_OR_RETURN(auto vault, Unlocked());
    const client::CollectionInfo* drive = vault->FindCollection("drive");
    if (drive == nullptr) return NotFoundError("this account has no drive collection");
    auto journal = std::make_unique<client::Journal>(*vault, vault->state(), drive->id);
    if (refresh) COFFER_RETURN_IF_ERROR(journal->Refresh());
    return OpenedDrive{std::move(vault), std::move(journal)};
  }

  bool progress_enabled() const { return !g_.json; }
  Globals& g_;
};

json StatsJson(const client::CopyStats& s, const client::TransferStats& net) {
  return {{"files", s.files},         {"folders", s.folders},
          {"unchanged", s.unchanged}, {"bytes", s.bytes},
          {"chunks", s.chunks},       {"chunks_uploaded", s.chunks_uploaded},
          {"bytes_uploaded", s.bytes_uploaded}, {"revisions", s.revisions},
          {"bytes_sent", net.bytes_sent}, {"bytes_received", net.bytes_received},
          {"requests", net.requests},  {"warnings", s.warnings}};
}

json SyncStatsJson(const client::SyncRoot& root, const client::SyncStats& s) {
  return {{"local", root.local_path},        {"remote", root.remote_path},
          {"uploaded", s.uploaded},          {"downloaded", s.downloaded},
          {"remote_moves", s.remote_moves},  {"local_moves", s.local_moves},
          {"remote_deletes", s.remote_deletes}, {"local_deletes", s.local_deletes},
          {"folders_created", s.folders_created}, {"conflicts", s.conflicts},
          {"conflict_paths", s.conflict_paths}, {"deferred", s.deferred},
          {"unchanged", s.unchanged},        {"revisions", s.revisions},
          {"chunks_uploaded", s.chunks_uploaded}, {"bytes_uploaded", s.bytes_uploaded},
          {"bytes_downloaded", s.bytes_downloaded}, {"warnings", s.warnings},
          {"pending", s.pending}};
}

std::string SyncSummary(const client::SyncRoot& root, const client::SyncStats& s) {
  if (!s.changed() && s.deferred == 0) return root.local_path + ": up to date";
  std::string out = root.local_path + ": ";
  auto add = [&](uint64_t n, const char* what) {
    if (n == 0) return;
    if (out.back() != ' ') out += ", ";
    out += std::to_string(n) + " " + what;
  };
  add(s.uploaded, "uploaded");
  add(s.downloaded, "downloaded");
  add(s.remote_moves + s.local_moves, "moved");
  add(s.remote_deletes + s.local_deletes, "deleted");
  add(s.folders_created, "folders created");
  add(s.conflicts, "conflicts (both copies kept)");
  add(s.deferred, "left for the next pass");
  return out;
}

std::atomic<bool> g_stop_requested{false};
void RequestStop(int) { g_stop_requested = true; }

json ItemJson(const ItemRow& r) {
  return {{"id", r.item_id},   {"name", r.name},       {"type", r.kind == ItemKind::kDir ? "folder" : "file"},
          {"size", r.size},    {"mtime_ns", r.mtime_ns}, {"mode", r.mode},
          {"version", r.version}};
}

}  // namespace

int Main(int argc, char** argv) {
  crypto::DisableCoreDumps();
  if (!crypto::Init().ok()) {
    std::cerr << "coffer: cannot initialise libsodium" << std::endl;
    return kExitError;
  }
  Globals g;
  g.home = DefaultHome();
  if (const char* s = std::getenv("COFFER_SERVER")) g.server = s;
  CLI::App cli{"coffer: end-to-end encrypted personal cloud. The server only ever sees ciphertext."};
  cli.require_subcommand(1);
  cli.option_defaults()->always_capture_default();
  cli.add_option("--home", g.home, "device profile directory (env COFFER_HOME)");
  cli.add_option("--server", g.server, "server URL, e.g. http://127.0.0.1:8443 (env COFFER_SERVER)");
  cli.add_option("--ca-file", g.ca_file, "extra CA certificate bundle for an https server");
  cli.add_flag("--json", g.json, "machine-readable output: one JSON object on stdout");
  App app(g);
  int rc = 0;
  auto run = [&](auto fn) { return [&, fn]() { rc = fn(); }; };

  // ---- account ----
  auto* account = cli.add_subcommand("account", "manage the account");
  account->require_subcommand(1);
  auto* create = account->add_subcommand("create", "create an account with this device as its first device");
  std::string email, device_name = "device", recovery_file;
  create->add_option("--email", email, "account email")->required();
  create->add_option("--device-name", device_name, "a name for this device");
  create->add_option("--recovery-key-file", recovery_file, "write the recovery key to this file (mode 0600) instead of showing it");
  create->callback(run([&] {
    auto vault = app.OpenVault();
    if (!vault.ok()) return app.Finish(vault.status(), nullptr, "");
    auto pw = ReadSecret("new password", "COFFER_PASSWORD", true);
    if (!pw.ok()) return app.Finish(pw.status(), nullptr, "");
    auto rk = (*vault)->CreateAccount(email, *pw, device_name);
    if (!rk.ok()) return app.Finish(rk.status(), nullptr, "");
    std::string formatted = client::FormatRecoveryKey(*rk);
    json out = {{"account_id", client::IdHex((*vault)->account_id())}, {"email", email},
                {"device_id", client::IdHex((*vault)->device().device_id)}};
    std::string text = "Account " + email + " created; this device is '" + device_name + "'.\n";
    if (!recovery_file.empty()) {
      std::filesystem::path p(recovery_file);
      std::ofstream f(recovery_file, std::ios::trunc);
      f << formatted << "\n";
      f.close();
      std::filesystem::permissions(p, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
      if (!f) return app.Finish(UnavailableError("cannot write " + recovery_file), nullptr, "");
      out["recovery_key_file"] = recovery_file;
      text += "Recovery key written to " + recovery_file + ". Keep it offline: it is the only way back if you lose every device.";
    } else {
      out["recovery_key"] = formatted;
      text += "\nYour recovery key (shown once, stored nowhere; write it down and keep it offline):\n\n    " + formatted +
              "\n\nWithout it, losing every device means losing your data: the operator cannot recover it.";
    }
    return app.Finish(OkStatus(), out, text);
  }));

  auto* login = cli.add_subcommand("login", "log in again with the password (after logout or a login reset)");
  login->callback(run([&] {
    auto vault = app.OpenVault();
    if (!vault.ok()) return app.Finish(vault.status(), nullptr, "");
    auto pw = ReadSecret("password", "COFFER_PASSWORD", false);
    if (!pw.ok()) return app.Finish(pw.status(), nullptr, "");
    Status st = (*vault)->Login(*pw);
    if (st.ok()) st = (*vault)->Unlock();
    return app.Finish(st, {{"email", (*vault)->email()}}, "Logged in as " + (*vault)->email() + ".");
  }));

  auto* logout = cli.add_subcommand("logout", "end this device's session");
  logout->callback(run([&] {
    auto vault = app.OpenVault();
    if (!vault.ok()) return app.Finish(vault.status(), nullptr, "");
    return app.Finish((*vault)->Logout(), nullptr, "Logged out.");
  }));

  // ---- login reset with a support-issued code (issue 5) ----
  auto* reset_login = account->add_subcommand("reset-login", "set a new password with the one-time code support gave you (no data access: devices still need approval)");
  std::string reset_code;
  reset_login->add_option("--email", email, "account email")->required();
  reset_login->add_option("--code", reset_code, "the reset code")->required();
  reset_login->callback(run([&] {
    auto pw = ReadSecret("new password", "COFFER_NEW_PASSWORD", true);
    if (!pw.ok()) return app.Finish(pw.status(), nullptr, "");
    std::string server = g.server;
    if (server.empty()) {
      auto vault = app.OpenVault();
      if (vault.ok()) server = (*vault)->server_url();
    }
    Status st = client::RedeemResetCode(server, g.ca_file, email, reset_code, *pw);
    return app.Finish(st, {{"email", email}}, "Password replaced. Log in on a device with `coffer device link` (an enrolled device must approve it) or `coffer recover`.");
  }));

  // ---- files ----
  std::vector<std::string> paths;
  auto* put = cli.add_subcommand("put", "upload files and folders into a remote folder: put LOCAL... REMOTE_FOLDER");
  put->add_option("paths", paths, "local sources, then the remote destination")->required()->expected(2, -1);
  put->callback(run([&] {
    auto opened = app.OpenDrive(/*refresh=*/false);
    if (!opened.ok()) return app.Finish(opened.status(), nullptr, "");
    client::Vault& vault = *opened->vault;
    client::Journal& journal = *opened->drive;
    std::vector<std::string> sources(paths.begin(), paths.end() - 1);
    ProgressLine bar(app.progress_enabled());
    auto stats = client::PutPaths(vault, journal, sources, paths.back(),
                                  [&](const client::Progress& p) { bar.Update(p); });
    bar.Finish();
    if (!stats.ok()) return app.Finish(stats.status(), nullptr, "");
    for (const auto& w : stats->warnings) std::cerr << "coffer: warning: " << w << std::endl;
    const auto& net = vault.api().stats();
    return app.Finish(OkStatus(), StatsJson(*stats, net),
                      "Put " + std::to_string(stats->files) + " files (" + std::to_string(stats->unchanged) +
                          " unchanged), " + std::to_string(stats->folders) + " folders, " + HumanBytes(stats->bytes) +
                          "; uploaded " + std::to_string(stats->chunks_uploaded) + " new chunks, " +
                          HumanBytes(stats->bytes_uploaded) + " (" + HumanBytes(net.bytes_sent) + " sent).");
  }));

  auto* get = cli.add_subcommand("get", "download files and folders: get REMOTE... LOCAL");
  get->add_option("paths", paths, "remote sources, then the local destination")->required()->expected(2, -1);
  get->callback(run([&] {
    auto opened = app.OpenDrive(/*refresh=*/false);
    if (!opened.ok()) return app.Finish(opened.status(), nullptr, "");
    client::Vault& vault = *opened->vault;
    client::Journal& journal = *opened->drive;
    std::vector<std::string> sources(paths.begin(), paths.end() - 1);
    ProgressLine bar(app.progress_enabled());
    auto stats = client::GetPaths(vault, journal, sources, paths.back(),
                                  [&](const client::Progress& p) { bar.Update(p); });
    bar.Finish();
    if (!stats.ok()) return app.Finish(stats.status(), nullptr, "");
    return app.Finish(OkStatus(), StatsJson(*stats, vault.api().stats()),
                      "Got " + std::to_string(stats->files) + " files, " + std::to_string(stats->folders) +
                          " folders, " + HumanBytes(stats->bytes) + ".");
  }));

  bool long_format = false;
  std::string path = "/";
  auto* ls = cli.add_subcommand("ls", "list a remote folder");
  ls->add_flag("-l", long_format, "show type, size, modification time and version");
  ls->add_option("path", path, "remote path");
  ls->callback(run([&] {
    auto opened = app.OpenDrive(/*refresh=*/true);
    if (!opened.ok()) return app.Finish(opened.status(), nullptr, "");
    client::Journal& journal = *opened->drive;
    auto item = journal.Resolve(path);
    if (!item.ok()) return app.Finish(item.status(), nullptr, "");
    if (!*item) return app.Finish(NotFoundError("no such remote file or folder: " + path), nullptr, "");
    std::vector<ItemRow> rows;
    if ((*item)->kind == ItemKind::kDir) {
      auto kids = journal.Children((*item)->item_id);
      if (!kids.ok()) return app.Finish(kids.status(), nullptr, "");
      rows = *kids;
    } else {
      rows.push_back(**item);
    }
    json arr = json::array();
    std::string text;
    for (const auto& r : rows) {
      arr.push_back(ItemJson(r));
      const std::string name = r.name + (r.kind == ItemKind::kDir ? "/" : "");
      if (long_format) {
        char line[512];
        std::snprintf(line, sizeof line, "%s %04o %12llu  %s  v%-4llu %s\n", r.kind == ItemKind::kDir ? "d" : "-",
                      r.mode, static_cast<unsigned long long>(r.size), FormatTime(r.mtime_ns / 1'000'000'000).c_str(),
                      static_cast<unsigned long long>(r.version), name.c_str());
        text += line;
      } else {
        text += name + "\n";
      }
    }
    return app.Finish(OkStatus(), {{"path", path}, {"items", arr}}, text);
  }));

  auto commit_one = [&](auto make_ops, const std::string& done) {
    auto opened = app.OpenDrive(/*refresh=*/true);
    if (!opened.ok()) return app.Finish(opened.status(), nullptr, "");
    client::Journal& journal = *opened->drive;
    StatusOr<std::vector<client::Op>> ops = make_ops(journal);
    if (!ops.ok()) return app.Finish(ops.status(), nullptr, "");
    auto rev = journal.Commit(std::move(*ops));
    if (!rev.ok()) return app.Finish(rev.status(), nullptr, "");
    return app.Finish(OkStatus(), {{"revision", *rev}}, done);
  };

  auto resolve_existing = [](client::Journal& j, const std::string& p) -> StatusOr<ItemRow> {
    COFFER_ASSIGN_OR_RETURN(auto item, j.Resolve(p));
    if (!item) return NotFoundError("no such remote file or folder: " + p);
    if (item->is_root()) return InvalidArgumentError("the root folder cannot be changed");
    return *item;
  };

  std::string src, dst;
  auto* mv = cli.add_subcommand("mv", "move or rename a remote file or folder");
  mv->add_option("source", src)->required();
  mv->add_option("destination", dst)->required();
  mv->callback(run([&] {
    return commit_one(
        [&](client::Journal& j) -> StatusOr<std::vector<client::Op>> {
          COFFER_ASSIGN_OR_RETURN(ItemRow item, resolve_existing(j, src));
          client::Op op;
          op.type = client::OpType::kMove;
          COFFER_ASSIGN_OR_RETURN(op.item_id, client::IdFromHex(item.item_id));
          COFFER_ASSIGN_OR_RETURN(auto target, j.Resolve(dst));
          if (target && target->kind == ItemKind::kDir) {
            COFFER_ASSIGN_OR_RETURN(op.parent_id, client::IdFromHex(target->item_id));
            op.name = item.name;
            COFFER_ASSIGN_OR_RETURN(auto clash, j.Child(target->item_id, item.name));
            if (clash) return AlreadyExistsError(dst + "/" + item.name + " already exists");
          } else if (target) {
            return AlreadyExistsError(dst + " already exists");
          } else {
            COFFER_ASSIGN_OR_RETURN(auto parts, client::SplitRemotePath(dst));
            if (parts.empty()) return InvalidArgumentError("invalid destination " + dst);
            op.name = parts.back();
            parts.pop_back();
            std::string parent;
            for (const auto& p : parts) parent += "/" + p;
            COFFER_ASSIGN_OR_RETURN(auto pitem, j.Resolve(parent));
            if (!pitem || pitem->kind != ItemKind::kDir) return NotFoundError("no such remote folder: " + parent);
            COFFER_ASSIGN_OR_RETURN(op.parent_id, client::IdFromHex(pitem->item_id));
          }
          return std::vector<client::Op>{op};
        },
        "Moved " + src + " to " + dst + ".");
  }));

  std::vector<std::string> rm_paths;
  auto* rm = cli.add_subcommand("rm", "move remote files or folders to the trash");
  rm->add_option("paths", rm_paths)->required();
  rm->callback(run([&] {
    return commit_one(
        [&](client::Journal& j) -> StatusOr<std::vector<client::Op>> {
          std::vector<client::Op> ops;
          for (const auto& p : rm_paths) {
            COFFER_ASSIGN_OR_RETURN(ItemRow item, resolve_existing(j, p));
            client::Op op;
            op.type = client::OpType::kTrash;
            COFFER_ASSIGN_OR_RETURN(op.item_id, client::IdFromHex(item.item_id));
            ops.push_back(op);
          }
          return ops;
        },
        "Moved to the trash (see `coffer trash`).");
  }));

  bool parents = false;
  auto* mkdir = cli.add_subcommand("mkdir", "create a remote folder");
  mkdir->add_flag("-p,--parents", parents, "create missing parents; no error if it exists");
  mkdir->add_option("path", path)->required();
  mkdir->callback(run([&] {
    auto opened = app.OpenDrive(/*refresh=*/false);
    if (!opened.ok()) return app.Finish(opened.status(), nullptr, "");
    client::Vault& vault = *opened->vault;
    client::Journal& journal = *opened->drive;
    return app.Finish(client::MakeDirectory(vault, journal, path, parents), nullptr, "");
  }));

  auto* versions = cli.add_subcommand("versions", "list the versions of a remote file");
  versions->add_option("path", path)->required();
  versions->callback(run([&] {
    auto opened = app.OpenDrive(/*refresh=*/true);
    if (!opened.ok()) return app.Finish(opened.status(), nullptr, "");
    client::Journal& journal = *opened->drive;
    auto item = resolve_existing(journal, path);
    if (!item.ok()) return app.Finish(item.status(), nullptr, "");
    auto vs = journal.Versions(item->item_id);
    if (!vs.ok()) return app.Finish(vs.status(), nullptr, "");
    json arr = json::array();
    std::string text;
    for (const auto& v : *vs) {
      arr.push_back({{"version", v.version}, {"size", v.size}, {"mtime_ns", v.mtime_ns}, {"time", v.time},
                     {"revision", v.revision}, {"device", v.author}});
      char line[256];
      std::snprintf(line, sizeof line, "v%-4llu %12llu  modified %s  written %s by device %s\n",
                    static_cast<unsigned long long>(v.version), static_cast<unsigned long long>(v.size),
                    FormatTime(v.mtime_ns / 1'000'000'000).c_str(), FormatTime(v.time).c_str(),
                    v.author.substr(0, 8).c_str());
      text += line;
    }
    return app.Finish(OkStatus(), {{"path", path}, {"versions", arr}}, text);
  }));

  uint64_t version_number = 0;
  auto* restore = cli.add_subcommand("restore", "make an old version of a file the current one");
  restore->add_option("path", path)->required();
  restore->add_option("--version", version_number, "version number (see `coffer versions`)")->required();
  restore->callback(run([&] {
    return commit_one(
        [&](client::Journal& j) -> StatusOr<std::vector<client::Op>> {
          COFFER_ASSIGN_OR_RETURN(ItemRow item, resolve_existing(j, path));
          COFFER_ASSIGN_OR_RETURN(auto vs, j.Versions(item.item_id));
          for (const auto& v : vs) {
            if (v.version != version_number) continue;
            client::Op op;
            op.type = client::OpType::kPut;
            COFFER_ASSIGN_OR_RETURN(op.item_id, client::IdFromHex(item.item_id));
            COFFER_ASSIGN_OR_RETURN(op.parent_id, client::IdFromHex(item.parent_id));
            op.name = item.name;
            op.kind = item.kind;
            op.mtime_ns = v.mtime_ns;
            op.mode = v.mode;
            COFFER_ASSIGN_OR_RETURN(op.content, client::Content::Decode(v.content));
            return std::vector<client::Op>{op};
          }
          return NotFoundError(path + " has no version " + std::to_string(version_number));
        },
        "Restored version " + std::to_string(version_number) + " of " + path + " as its newest version.");
  }));

  // ---- support grants and the access log (issue 5) ----
  auto* support = cli.add_subcommand("support", "grants that let support staff act on this account");
  support->require_subcommand(1);
  auto* grant = support->add_subcommand("grant", "sign a grant code for support: grant --scope S [--scope S] --for 2h");
  std::vector<std::string> grant_scopes;
  std::string grant_for = "2h", grant_reason, grant_id;
  grant->add_option("--scope", grant_scopes, "metadata | restore-trash (repeatable)")->required();
  grant->add_option("--for", grant_for, "lifetime, e.g. 30m, 2h, 7d (at most 30d)");
  grant->add_option("--reason", grant_reason, "a note for support and the log, e.g. the ticket number");
  grant->callback(run([&] {
    auto duration = client::ParseGrantDuration(grant_for);
    if (!duration.ok()) return app.Finish(duration.status(), nullptr, "");
    auto vault = app.Unlocked();
    if (!vault.ok()) return app.Finish(vault.status(), nullptr, "");
    auto issued = client::IssueGrant(**vault, g.ca_file, {grant_scopes, *duration, grant_reason});
    if (!issued.ok()) return app.Finish(issued.status(), nullptr, "");
    return app.Finish(OkStatus(), {{"grant_id", issued->grant_id}, {"code", issued->code}, {"scopes", issued->scopes}, {"expires_at", issued->expires_at}},
                      "Grant " + issued->grant_id + " (" + issued->scopes + ") until " + FormatTime(issued->expires_at) +
                          ". Give support this code:\n\n    " + issued->code + "\n\nEnd it early with `coffer support revoke " + issued->grant_id + "`.");
  }));
  auto* revoke_grant = support->add_subcommand("revoke", "end a grant early");
  revoke_grant->add_option("grant-id", grant_id)->required();
  revoke_grant->callback(run([&] {
    auto vault = app.Unlocked();
    if (!vault.ok()) return app.Finish(vault.status(), nullptr, "");
    return app.Finish(client::RevokeGrant(**vault, g.ca_file, grant_id), {{"grant_id", grant_id}}, "Grant " + grant_id + " revoked.");
  }));
  auto* list_grants = support->add_subcommand("list", "this account's grants");
  list_grants->callback(run([&] {
    auto vault = app.Unlocked();
    if (!vault.ok()) return app.Finish(vault.status(), nullptr, "");
    auto grants = client::ListGrants(**vault, g.ca_file);
    if (!grants.ok()) return app.Finish(grants.status(), nullptr, "");
    json arr = json::array();
    std::string text;
    for (const auto& v : *grants) {
      arr.push_back({{"grant_id", v.grant_id}, {"device_id", v.device_id}, {"scopes", v.scopes}, {"issued_at", v.issued_at},
                     {"expires_at", v.expires_at}, {"revoked_at", v.revoked_at}, {"note", v.note}});
      text += v.grant_id + "  " + v.scopes + "  until " + FormatTime(v.expires_at) + (v.revoked_at ? "  revoked" : "") + "  " +
              client::PrintableText(v.note, 80) + "\n";
    }
    if (grants->empty()) text = "No grants.";
    return app.Finish(OkStatus(), {{"grants", arr}}, text);
  }));
  auto* audit = cli.add_subcommand("audit", "show and verify the access log: every staff action on this account");
  audit->callback(run([&] {
    auto vault = app.OpenVault();  // not Unlocked(): the log of a locked account stays readable
    if (!vault.ok()) return app.Finish(vault.status(), nullptr, "");
    auto report = client::RunAudit(**vault, g.ca_file);
    if (!report.ok()) return app.Finish(report.status(), nullptr, "");
    return app.Finish(OkStatus(), client::AuditJson(*report), client::AuditText(*report));
  }));

  // ---- trash ----
  auto* trash = cli.add_subcommand("trash", "list, restore or empty the trash (default: list)");
  auto* trash_list = trash->add_subcommand("list", "list the trash");
  std::string trash_target;
  auto* trash_restore = trash->add_subcommand("restore", "put an item back where it was");
  trash_restore->add_option("path-or-id", trash_target, "original path or item id")->required();
  auto* trash_empty = trash->add_subcommand("empty", "delete everything in the trash for good and free its space");
  auto list_trash = [&] {
    auto opened = app.OpenDrive(/*refresh=*/true);
    if (!opened.ok()) return app.Finish(opened.status(), nullptr, "");
    client::Journal& journal = *opened->drive;
    auto items = journal.Trashed();
    if (!items.ok()) return app.Finish(items.status(), nullptr, "");
    json arr = json::array();
    std::string text;
    for (const auto& r : *items) {
      std::string p = journal.PathOf(r.item_id).ok() ? *journal.PathOf(r.item_id) : r.name;
      json j = ItemJson(r);
      j["path"] = p;
      j["trashed_at"] = r.trashed_at;
      arr.push_back(j);
      text += FormatTime(r.trashed_at) + "  " + r.item_id.substr(0, 12) + "  " + p + "\n";
    }
    if (items->empty()) text = "The trash is empty.";
    return app.Finish(OkStatus(), {{"items", arr}}, text);
  };
  trash->callback(run([&] {
    if (trash->get_subcommands().empty()) return list_trash();
    return rc;
  }));
  trash_list->callback(run(list_trash));
  trash_restore->callback(run([&] {
    return commit_one(
        [&](client::Journal& j) -> StatusOr<std::vector<client::Op>> {
          COFFER_ASSIGN_OR_RETURN(auto items, j.Trashed());
          for (const auto& r : items) {
            auto p = j.PathOf(r.item_id);
            if (r.item_id.rfind(trash_target, 0) == 0 || (p.ok() && *p == trash_target)) {
              client::Op op;
              op.type = client::OpType::kRestore;
              COFFER_ASSIGN_OR_RETURN(op.item_id, client::IdFromHex(r.item_id));
              return std::vector<client::Op>{op};
            }
          }
          return NotFoundError("nothing in the trash matches " + trash_target + " (see `coffer trash list`)");
        },
        "Restored " + trash_target + " from the trash.");
  }));
  trash_empty->callback(run([&] {
    auto opened = app.OpenDrive(/*refresh=*/true);
    if (!opened.ok()) return app.Finish(opened.status(), nullptr, "");
    client::Vault& vault = *opened->vault;
    client::Journal& journal = *opened->drive;
    auto items = journal.Trashed();
    if (!items.ok()) return app.Finish(items.status(), nullptr, "");
    std::vector<client::Op> ops;
    for (const auto& r : *items) {
      client::Op op;
      op.type = client::OpType::kPurge;
      op.item_id = *client::IdFromHex(r.item_id);
      ops.push_back(op);
    }
    if (!ops.empty()) {
      auto rev = journal.Commit(std::move(ops));
      if (!rev.ok()) return app.Finish(rev.status(), nullptr, "");
    }
    auto gc = client::CollectGarbage(vault);
    if (!gc.ok()) return app.Finish(gc.status(), nullptr, "");
    return app.Finish(OkStatus(), {{"purged", items->size()}, {"chunks_deleted", gc->first}, {"bytes_freed", gc->second}},
                      "Emptied the trash (" + std::to_string(items->size()) + " items); the server freed " +
                          HumanBytes(gc->second) + ".");
  }));

  // ---- devices ----
  auto* device = cli.add_subcommand("device", "list, link, approve and revoke devices");
  device->require_subcommand(1);
  auto* dev_list = device->add_subcommand("list", "list the account's devices (from the signed device chain)");
  dev_list->callback(run([&] {
    auto vault = app.OpenVault();
    if (!vault.ok()) return app.Finish(vault.status(), nullptr, "");
    auto devs = (*vault)->ListDevices();
    if (!devs.ok()) return app.Finish(devs.status(), nullptr, "");
    json arr = json::array();
    std::string text;
    for (const auto& d : *devs) {
      arr.push_back({{"id", d.id}, {"name", d.name}, {"status", d.status}, {"this_device", d.this_device},
                     {"added", d.added}});
      text += d.id + "  " + d.status + (d.this_device ? "  (this device)  " : "  ") + d.name + "  added " +
              FormatTime(d.added) + "\n";
    }
    return app.Finish(OkStatus(), {{"devices", arr}}, text);
  }));
  int link_timeout = 600;
  auto* dev_link = device->add_subcommand("link", "on a NEW device: ask an existing device to approve this one");
  dev_link->add_option("--email", email, "account email")->required();
  dev_link->add_option("--name", device_name, "a name for this device");
  dev_link->add_option("--timeout", link_timeout, "seconds to wait for the approval");
  dev_link->callback(run([&] {
    auto vault = app.OpenVault();
    if (!vault.ok()) return app.Finish(vault.status(), nullptr, "");
    auto pw = ReadSecret("password", "COFFER_PASSWORD", false);
    if (!pw.ok()) return app.Finish(pw.status(), nullptr, "");
    auto code = (*vault)->StartLink(email, *pw, device_name);
    if (!code.ok()) return app.Finish(code.status(), nullptr, "");
    // The code must reach the person before we block, in either output mode.
    if (g.json) {
      std::cout << json({{"pairing_code", *code}, {"waiting", true}}).dump() << std::endl;
    } else {
      std::cout << "On a device that is already part of the account, run:\n\n    coffer device approve " << *code
                << "\n\nWaiting for the approval (the code never goes to the server)..." << std::endl;
    }
    Status st = (*vault)->FinishLink(link_timeout);
    return app.Finish(st, {{"device_id", client::IdHex((*vault)->device().device_id)}},
                      "This device is now part of " + email + ".");
  }));
  std::string code;
  auto* dev_approve = device->add_subcommand("approve", "on an enrolled device: approve a new device by its code");
  dev_approve->add_option("code", code, "the pairing code the new device shows")->required();
  dev_approve->callback(run([&] {
    auto vault = app.OpenVault();
    if (!vault.ok()) return app.Finish(vault.status(), nullptr, "");
    auto who = (*vault)->Approve(code);
    if (!who.ok()) return app.Finish(who.status(), nullptr, "");
    return app.Finish(OkStatus(), {{"approved", *who}}, "Approved device " + *who + ".");
  }));
  std::string device_id;
  auto* dev_revoke = device->add_subcommand("revoke", "remove a device and rotate the keys it knew");
  dev_revoke->add_option("id", device_id, "device id (see `coffer device list`)")->required();
  dev_revoke->callback(run([&] {
    auto vault = app.OpenVault();
    if (!vault.ok()) return app.Finish(vault.status(), nullptr, "");
    Status st = (*vault)->Revoke(device_id);
    return app.Finish(st, {{"revoked", device_id}},
                      "Revoked device " + device_id + "; new keys protect everything written from now on.");
  }));

  // ---- recovery ----
  bool new_password = false;
  auto* recover = cli.add_subcommand("recover", "make this a device of your account with the recovery key");
  recover->add_option("--email", email, "account email")->required();
  recover->add_option("--recovery-key-file", recovery_file, "read the recovery key from this file");
  recover->add_option("--name", device_name, "a name for this device");
  recover->add_flag("--new-password", new_password, "also set a new login password (COFFER_NEW_PASSWORD or prompt)");
  recover->callback(run([&] {
    auto vault = app.OpenVault();
    if (!vault.ok()) return app.Finish(vault.status(), nullptr, "");
    auto text = recovery_file.empty() ? ReadSecret("recovery key", "COFFER_RECOVERY_KEY", false)
                                      : ReadSecretFile(recovery_file);
    if (!text.ok()) return app.Finish(text.status(), nullptr, "");
    auto key = client::ParseRecoveryKey(AsChars(text->Reveal(crypto::SecretAccess::Get())));
    if (!key.ok()) return app.Finish(key.status(), nullptr, "");
    std::optional<crypto::SecretBytes> pw;
    if (new_password) {
      auto p = ReadSecret("new password", "COFFER_NEW_PASSWORD", true);
      if (!p.ok()) return app.Finish(p.status(), nullptr, "");
      pw = std::move(*p);
    }
    Status st = (*vault)->Recover(email, *key, device_name, pw ? &*pw : nullptr);
    return app.Finish(st, {{"device_id", (*vault)->enrolled() ? client::IdHex((*vault)->device().device_id) : ""}},
                      "Recovered: this device is now part of " + email +
                          ". Revoke lost devices with `coffer device revoke`.");
  }));

  // ---- sync ----
  std::string sync_local, sync_remote;
  bool sync_watch = false, sync_status = false;
  int sync_debounce_ms = 1000;
  auto* sync = cli.add_subcommand(
      "sync", "two-way sync of a local folder with a remote folder: sync [LOCAL_DIR [REMOTE_DIR]] [--watch]");
  sync->add_option("local", sync_local, "local folder (default: every folder this device syncs)");
  sync->add_option("remote", sync_remote, "remote folder (default: /NAME of the local folder, or the one it syncs with)");
  sync->add_flag("--watch", sync_watch, "keep running: sync on local changes (inotify) and remote ones (long poll)");
  sync->add_flag("--status", sync_status, "show what a pass would do, change nothing");
  sync->add_option("--debounce-ms", sync_debounce_ms, "in --watch, wait until local changes are quiet this long")
      ->check(CLI::Range(50, 60000));
  sync->callback(run([&] {
    auto opened = app.OpenDrive(/*refresh=*/false);
    if (!opened.ok()) return app.Finish(opened.status(), nullptr, "");
    client::Vault& vault = *opened->vault;
    client::Journal& journal = *opened->drive;
    std::vector<client::SyncRoot> roots;
    if (sync_local.empty()) {
      auto all = client::ListSyncRoots(vault.state());
      if (!all.ok()) return app.Finish(all.status(), nullptr, "");
      if (all->empty()) {
        return app.Finish(InvalidArgumentError("this device syncs no folder yet; start with `coffer sync LOCAL_DIR [REMOTE_DIR]`"),
                          nullptr, "");
      }
      roots = *all;
    } else {
      auto found = client::FindSyncRoot(vault.state(), sync_local);
      if (found.ok() && (sync_remote.empty() || found->remote_path == sync_remote)) {
        roots.push_back(*found);
      } else if (sync_status) {
        return app.Finish(found.ok() ? AlreadyExistsError(sync_local + " syncs with " + found->remote_path)
                                     : found.status(), nullptr, "");
      } else {
        std::string remote = sync_remote;
        if (remote.empty()) {
          std::string base = std::filesystem::absolute(sync_local).lexically_normal().filename().string();
          if (base.empty()) base = std::filesystem::absolute(sync_local).lexically_normal().parent_path().filename().string();
          remote = "/" + base;
        }
        auto added = client::AddSyncRoot(vault.state(), sync_local, remote);
        if (!added.ok()) return app.Finish(added.status(), nullptr, "");
        roots.push_back(*added);
      }
    }
    if (sync_watch) {
      signal(SIGINT, RequestStop);
      signal(SIGTERM, RequestStop);
      client::WatchOptions opts;
      opts.debounce_ms = sync_debounce_ms;
      opts.stop = [] { return g_stop_requested.load(); };
      opts.on_pass = [&](const client::SyncRoot& root, const StatusOr<client::SyncStats>& stats) {
        if (g.json) {
          json line = stats.ok() ? SyncStatsJson(root, *stats) : json{{"local", root.local_path}};
          line["ok"] = stats.ok();
          if (!stats.ok()) line["error"] = {{"code", std::string(StatusCodeName(stats.status().code()))},
                                            {"message", stats.status().message()}};
          std::cout << line.dump() << std::endl;
        } else if (!stats.ok()) {
          std::cerr << "coffer: " << root.local_path << ": " << stats.status().message() << std::endl;
        } else {
          for (const auto& w : stats->warnings) std::cerr << "coffer: warning: " << w << std::endl;
          if (stats->changed() || stats->deferred) std::cout << SyncSummary(root, *stats) << std::endl;
        }
      };
      if (!g.json) std::cerr << "coffer: watching " << roots.size() << " folder(s); Ctrl-C stops" << std::endl;
      Status st = client::WatchAndSync(vault, journal, roots, opts);
      if (!st.ok()) return app.Finish(st, nullptr, "");
      return 0;
    }
    json arr = json::array();
    std::string text;
    for (const auto& root : roots) {
      ProgressLine bar(app.progress_enabled() && !sync_status);
      auto stats = client::SyncOnce(vault, journal, root, sync_status,
                                    [&](const client::Progress& p) { bar.Update(p); });
      bar.Finish();
      if (!stats.ok()) return app.Finish(stats.status().WithContext(root.local_path), nullptr, "");
      for (const auto& w : stats->warnings) if (!g.json) std::cerr << "coffer: warning: " << w << std::endl;
      json one = SyncStatsJson(root, *stats);
      one["last_sync"] = root.last_sync;
      one["fingerprint"] = journal.HeadFingerprint();
      one["bytes_sent"] = vault.api().stats().bytes_sent;
      one["bytes_received"] = vault.api().stats().bytes_received;
      arr.push_back(one);
      if (sync_status) {
        text += root.local_path + " <-> " + root.remote_path + " (last synced " +
                (root.last_sync ? FormatTime(root.last_sync) : std::string("never")) + "): " +
                (stats->pending.empty() ? "nothing pending" : std::to_string(stats->pending.size()) + " pending") +
                "; history fingerprint " + journal.HeadFingerprint() + "\n";
        for (const auto& line : stats->pending) text += "  " + line + "\n";
      } else {
        text += SyncSummary(root, *stats) + "\n";
        for (const auto& c : stats->conflict_paths) text += "  conflict copy: " + c + "\n";
      }
    }
    return app.Finish(OkStatus(), json{{"roots", arr}}, text);
  }));

  // ---- verify / status ----
  auto* verify = cli.add_subcommand("verify", "check everything the server holds for this account");
  verify->callback(run([&] {
    auto vault = app.OpenVault();
    if (!vault.ok()) return app.Finish(vault.status(), nullptr, "");
    auto report = client::VerifyAccount(**vault, nullptr);
    if (!report.ok()) return app.Finish(report.status(), nullptr, "");
    json out = {{"collections", report->collections}, {"revisions", report->revisions}, {"items", report->items},
                {"versions", report->versions},       {"chunks", report->chunks},       {"bytes", report->bytes},
                {"errors", report->errors}};
    if (!report->ok()) {
      std::string msg = std::to_string(report->errors.size()) + " object(s) failed verification:";
      for (const auto& e : report->errors) msg += "\n  " + e;
      if (!g.json) std::cerr << "coffer: " << msg << std::endl;
      if (g.json) {
        out["ok"] = false;
        out["error"] = {{"code", "SECURITY"}, {"message", msg}};
        std::cout << out.dump() << std::endl;
      }
      return kExitSecurity;
    }
    return app.Finish(OkStatus(), out,
                      "Verified " + std::to_string(report->revisions) + " revisions, " +
                          std::to_string(report->versions) + " file versions, " + std::to_string(report->chunks) +
                          " chunks (" + HumanBytes(report->bytes) + "): all intact.");
  }));

  auto* status = cli.add_subcommand("status", "show this device, its account and the server");
  status->callback(run([&] {
    auto vault = app.OpenVault();
    if (!vault.ok()) return app.Finish(vault.status(), nullptr, "");
    json out = {{"home", g.home}, {"server", (*vault)->server_url()}, {"enrolled", (*vault)->enrolled()}};
    std::string text = "Profile: " + g.home + "\nServer:  " + (*vault)->server_url() + "\n";
    if (!(*vault)->enrolled()) {
      return app.Finish(OkStatus(), out, text + "This profile is not part of an account yet.");
    }
    Status st = (*vault)->Unlock();
    if (!st.ok()) return app.Finish(st, out, "");
    auto acct = (*vault)->api().GetAccount();
    if (!acct.ok()) return app.Finish(acct.status(), out, "");
    out["email"] = acct->email;
    out["account_id"] = acct->account_id;
    out["device_id"] = client::IdHex((*vault)->device().device_id);
    out["device_name"] = (*vault)->device().name;
    out["used_bytes"] = acct->used_bytes;
    out["quota_bytes"] = acct->quota_bytes;
    out["devices"] = (*vault)->chain().devices.size();
    json colls = json::array();
    for (const auto& [id, c] : (*vault)->keys().collections) {
      client::Journal j(**vault, (*vault)->state(), id);
      Status rs = j.Refresh();
      if (!rs.ok()) return app.Finish(rs, out, "");
      colls.push_back({{"name", c.name}, {"revision", j.head()}, {"fingerprint", j.HeadFingerprint()}});
      text += "Collection " + c.name + ": revision " + std::to_string(j.head()) + " (fingerprint " +
              j.HeadFingerprint() + ")\n";
    }
    out["collections"] = colls;
    text = "Account: " + acct->email + "\nDevice:  " + (*vault)->device().name + " (" +
           client::IdHex((*vault)->device().device_id) + ")\n" + text + "Storage: " + HumanBytes(acct->used_bytes) +
           (acct->quota_bytes ? " of " + HumanBytes(acct->quota_bytes) : "") + "\nDevices: " +
           std::to_string((*vault)->chain().devices.size()) + " in the signed device chain; all verified.";
    return app.Finish(OkStatus(), out, text);
  }));

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = cli.exit(e);
    return code == 0 ? 0 : kExitUsage;
  }
  return rc;
}

}  // namespace coffer::cli

int main(int argc, char** argv) {
  // Transfers allocate and free many buffers of 1-8 MiB on several threads. Kept in the heap
  // (threshold above them) they are reused instead of being faulted in afresh from the kernel
  // each time (measured: 1.4 s less system time on a 1.2 GB put), and two arenas for our few
  // threads keep what the heap holds on to near the live peak (restore RSS 237 -> ~150 MB).
  mallopt(M_MMAP_THRESHOLD, 64 << 20);
  mallopt(M_ARENA_MAX, 2);
  return coffer::cli::Main(argc, argv);
}
