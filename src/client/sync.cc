#include "client/sync.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <unordered_map>


namespace coffer::client {
namespace {

constexpr size_t kOpsPerRevision = 1000;
constexpr int kMaxReplans = 8;
constexpr const char* kIgnoreFile = ".cofferignore";
constexpr size_t kMaxIgnorePattern = 1024;
// Temporary names this module and DownloadFile create inside the synced folder.
constexpr std::string_view kDownloadTempPrefix = ".coffer-";
constexpr std::string_view kDownloadTempSuffix = ".part";
constexpr std::string_view kMoveTempPrefix = ".coffer-tmp-";

std::string Errno() { return std::strerror(errno); }
Status LocalError(std::string message) { return FailedPreconditionError(std::move(message)); }

Status EnsureSchema(LocalState& state) {
  return state.Exec(
      "CREATE TABLE IF NOT EXISTS sync_roots(root_id INTEGER PRIMARY KEY, local_path TEXT NOT NULL UNIQUE, "
      "remote_path TEXT NOT NULL, created_at INTEGER NOT NULL, last_sync INTEGER NOT NULL DEFAULT 0);"
      "CREATE TABLE IF NOT EXISTS sync_base(root_id INTEGER NOT NULL, item_id TEXT NOT NULL, rel TEXT NOT NULL, "
      "dir INTEGER NOT NULL, version INTEGER NOT NULL, size INTEGER NOT NULL, mtime_ns INTEGER NOT NULL, "
      "mode INTEGER NOT NULL, ino INTEGER NOT NULL, PRIMARY KEY(root_id, item_id));");
}

struct FileMeta {
  bool dir = false;
  uint64_t size = 0;
  int64_t mtime_ns = 0;
  uint32_t mode = 0;
  uint64_t ino = 0;
};

FileMeta MetaOf(const struct stat& st) {
  FileMeta m;
  m.dir = S_ISDIR(st.st_mode);
  m.size = m.dir ? 0 : static_cast<uint64_t>(st.st_size);
  m.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
  m.mode = st.st_mode & 07777;
  m.ino = st.st_ino;
  return m;
}

// A file counts as unchanged when nothing a writer must touch has moved. The inode catches
// editors that save by writing a new file and renaming it over the old one.
bool SameFile(const FileMeta& a, const FileMeta& b) {
  return a.dir == b.dir && a.size == b.size && a.mtime_ns == b.mtime_ns && a.mode == b.mode && a.ino == b.ino;
}

std::string ParentRel(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? "" : rel.substr(0, slash);
}
std::string BaseNameOf(const std::string& rel) {
  size_t slash = rel.rfind('/');
  return slash == std::string::npos ? rel : rel.substr(slash + 1);
}
std::string JoinRel(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "/" + name;
}
size_t Depth(const std::string& rel) { return rel.empty() ? 0 : std::count(rel.begin(), rel.end(), '/') + 1; }

bool IsDownloadTemp(std::string_view name) {
  return name.starts_with(kDownloadTempPrefix) && name.ends_with(kDownloadTempSuffix);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Ignore rules

struct IgnoreRules::Rule {
  std::regex re;
  bool negate = false;
  bool dir_only = false;
};

namespace {

// Translates one gitignore glob into an ECMAScript regex over a whole relative path.
// "[\\s\\S]", not ".": ECMAScript's "." stops at line breaks, which file names may contain.
std::string GlobToRegex(std::string_view glob, bool anchored) {
  std::string re = anchored ? "^" : "^(?:[\\s\\S]*/)?";
  for (size_t i = 0; i < glob.size(); ++i) {
    const char c = glob[i];
    if (c == '*') {
      if (i + 1 < glob.size() && glob[i + 1] == '*') {
        const bool slash_after = i + 2 < glob.size() && glob[i + 2] == '/';
        if (slash_after) {
          re += "(?:[\\s\\S]*/)?";
          i += 2;
        } else {
          re += "[\\s\\S]*";
          i += 1;
        }
      } else {
        re += "[^/]*";
      }
    } else if (c == '?') {
      re += "[^/]";
    } else if (c == '[') {
      size_t close = glob.find(']', i + 1);
      if (close == std::string_view::npos) {
        re += "\\[";
      } else {
        std::string cls(glob.substr(i + 1, close - i - 1));
        if (!cls.empty() && cls[0] == '!') cls[0] = '^';
        std::string escaped;
        for (char k : cls) {
          if (k == '\\' || k == ']') escaped += '\\';
          escaped += k;
        }
        re += "[" + escaped + "]";
        i = close;
      }
    } else if (c == '\\' && i + 1 < glob.size()) {
      // An escaped character is literal. Only regex syntax keeps its backslash: before a
      // letter or digit one would make a class, a control character or a back-reference.
      ++i;
      if (glob[i] != '\0' && std::strchr(".^$|()+{}[]*?\\/", glob[i]) != nullptr) re += '\\';
      re += glob[i];
    } else if (c != '\0' && std::strchr(".^$|()+{}", c) != nullptr) {
      re += '\\';
      re += c;
    } else {
      re += c;
    }
  }
  // A pattern naming a folder also covers everything inside it.
  re += "(?:/[\\s\\S]*)?$";
  return re;
}

}  // namespace

StatusOr<IgnoreRules> IgnoreRules::Parse(std::string_view text) {
  IgnoreRules rules;
  size_t line_no = 0;
  size_t pos = 0;
  while (pos <= text.size()) {
    size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string line(text.substr(pos, end - pos));
    pos = end + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    // Trailing spaces are ignored unless escaped.
    while (!line.empty() && line.back() == ' ' && !(line.size() > 1 && line[line.size() - 2] == '\\')) line.pop_back();
    if (line.empty() || line[0] == '#') continue;
    auto rule = std::make_shared<Rule>();
    if (line[0] == '!') {
      rule->negate = true;
      line.erase(0, 1);
    } else if (line.size() > 1 && line[0] == '\\' && (line[1] == '!' || line[1] == '#')) {
      line.erase(0, 1);
    }
    if (!line.empty() && line.back() == '/') {
      rule->dir_only = true;
      line.pop_back();
    }
    if (line.empty()) continue;
    // The regex compiler recurses once per pattern element: a bound keeps a hostile file from
    // exhausting the stack (git's own patterns are rarely longer than a path).
    if (line.size() > kMaxIgnorePattern) {
      return InvalidArgumentError(".cofferignore line " + std::to_string(line_no) + ": pattern longer than " +
                                  std::to_string(kMaxIgnorePattern) + " characters");
    }
    bool anchored = line.find('/') != std::string::npos;
    if (line[0] == '/') line.erase(0, 1);
    try {
      // __polynomial (libstdc++): match with the breadth-first executor, linear in the path
      // length and without recursion per character; the default backtracking one takes
      // exponential time on patterns like "?*?*?*?*a" and overflows the stack on long paths.
      rule->re = std::regex(GlobToRegex(line, anchored),
                            std::regex::ECMAScript | std::regex::optimize | std::regex_constants::__polynomial);
    } catch (const std::regex_error&) {
      return InvalidArgumentError(".cofferignore line " + std::to_string(line_no) + ": cannot parse pattern \"" + line +
                                  "\"");
    }
    rules.rules_.push_back(std::move(rule));
    if (rules.rules_.size() > 10000) return InvalidArgumentError(".cofferignore has more than 10000 patterns");
  }
  return rules;
}

bool IgnoreRules::Ignored(std::string_view rel, bool is_dir) const {
  bool ignored = false;
  const std::string path(rel);
  for (const auto& rule : rules_) {
    if (rule->negate != ignored) continue;  // only a rule that could flip the answer matters
    std::smatch m;
    if (!std::regex_match(path, m, rule->re)) continue;
    // A folder-only pattern matches a file only through one of its parent folders.
    if (rule->dir_only && !is_dir) {
      bool via_parent = false;
      for (std::string p = ParentRel(path); !p.empty(); p = ParentRel(p)) {
        std::smatch pm;
        if (std::regex_match(p, pm, rule->re)) {
          via_parent = true;
          break;
        }
      }
      if (!via_parent) continue;
    }
    ignored = !rule->negate;
  }
  return ignored;
}

// ---------------------------------------------------------------------------------------
// Sync roots

namespace {

std::string NormalizeLocal(const std::string& dir) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(dir, ec).lexically_normal();
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return s;
}

StatusOr<std::string> NormalizeRemote(const std::string& remote) {
  COFFER_ASSIGN_OR_RETURN(auto parts, SplitRemotePath(remote));
  if (parts.empty()) return std::string("/");
  std::string out;
  for (const auto& p : parts) out += "/" + p;
  return out;
}

bool Nested(const std::string& a, const std::string& b) {
  return a == b || (b.size() > a.size() && b.compare(0, a.size(), a) == 0 && (a == "/" || b[a.size()] == '/'));
}

SyncRoot ReadRoot(Stmt& s) {
  SyncRoot r;
  r.id = s.Int(0);
  r.local_path = s.Text(1);
  r.remote_path = s.Text(2);
  r.last_sync = s.Int(3);
  return r;
}

}  // namespace

StatusOr<std::vector<SyncRoot>> ListSyncRoots(LocalState& state) {
  COFFER_RETURN_IF_ERROR(EnsureSchema(state));
  Stmt s(state.db(), "SELECT root_id, local_path, remote_path, last_sync FROM sync_roots ORDER BY local_path");
  std::vector<SyncRoot> out;
  while (true) {
    COFFER_ASSIGN_OR_RETURN(bool row, s.Step());
    if (!row) break;
    out.push_back(ReadRoot(s));
  }
  return out;
}

StatusOr<SyncRoot> FindSyncRoot(LocalState& state, const std::string& local_dir) {
  const std::string local = NormalizeLocal(local_dir);
  COFFER_ASSIGN_OR_RETURN(auto roots, ListSyncRoots(state));
  for (const auto& r : roots) {
    if (r.local_path == local) return r;
  }
  return NotFoundError(local + " is not a synced folder of this profile (start with `coffer sync " + local_dir +
                       " REMOTE_FOLDER`)");
}

StatusOr<SyncRoot> AddSyncRoot(LocalState& state, const std::string& local_dir, const std::string& remote_dir) {
  const std::string local = NormalizeLocal(local_dir);
  COFFER_ASSIGN_OR_RETURN(std::string remote, NormalizeRemote(remote_dir));
  COFFER_ASSIGN_OR_RETURN(auto roots, ListSyncRoots(state));
  for (const auto& r : roots) {
    if (r.local_path == local) {
      if (r.remote_path == remote) return r;
      return AlreadyExistsError(local + " is already synced with remote " + r.remote_path);
    }
    if (Nested(r.local_path, local) || Nested(local, r.local_path)) {
      return AlreadyExistsError(local + " overlaps the synced folder " + r.local_path +
                                "; a folder can be synced only once per device");
    }
    if (Nested(r.remote_path, remote) || Nested(remote, r.remote_path)) {
      return AlreadyExistsError("remote " + remote + " overlaps remote " + r.remote_path + ", already synced with " +
                                r.local_path);
    }
  }
  Stmt ins(state.db(), "INSERT INTO sync_roots(local_path, remote_path, created_at) VALUES(?,?,?)");
  ins.Bind(1, local).Bind(2, remote).Bind(3, static_cast<int64_t>(std::time(nullptr)));
  COFFER_RETURN_IF_ERROR(ins.Run());
  return FindSyncRoot(state, local);
}

std::string ConflictName(const std::string& name, const std::string& device, int64_t unix_time, int attempt) {
  std::string stem = name, ext;
  size_t dot = name.rfind('.');
  if (dot != std::string::npos && dot > 0) {
    stem = name.substr(0, dot);
    ext = name.substr(dot);
  }
  std::time_t t = static_cast<std::time_t>(unix_time);
  std::tm tm{};
  localtime_r(&t, &tm);
  char when[32];
  std::strftime(when, sizeof when, "%Y-%m-%d %H%M", &tm);
  std::string dev;
  for (char c : device) dev += (c == '/' || c == '\0') ? '-' : c;
  std::string suffix = " (conflict from " + dev + " " + when + (attempt > 1 ? " " + std::to_string(attempt) : "") + ")";
  // Keep the name within the journal's limit by shortening the stem.
  const size_t budget = 1000 - std::min<size_t>(1000, suffix.size() + ext.size());
  if (stem.size() > budget) stem.resize(budget);
  return stem + suffix + ext;
}

// ---------------------------------------------------------------------------------------
// The pass

namespace {

struct BaseRow {
  std::string id;
  std::string rel;
  uint64_t version = 0;
  FileMeta meta;
};

struct LocalEntry {
  std::string rel;
  FileMeta meta;
  std::string item;  // assigned by matching
};

struct RemoteEntry {
  const ItemRow* row;  // points into SyncPass::remote_all_, which is not resized after loading
  std::string rel;
};

enum class ContentFrom { kNone, kSame, kLocal, kRemote };

struct Placement {
  std::string parent;  // remote id
  std::string name;
  std::string item;    // remote id of the item put there
};

struct Target {
  std::string id;          // item id (new random id for local additions)
  bool dir = false;
  std::string parent;      // target id of the final parent, "" = sync root
  std::string name;
  const BaseRow* base = nullptr;
  const RemoteEntry* remote = nullptr;
  int local = -1;          // index into locals
  ContentFrom content = ContentFrom::kNone;
  bool loc_from_local = false;
  bool deleted = false;
  bool recreate = false;   // deleted remotely, kept because of a local edit: a new remote item
  std::string remote_id;   // the item id to use remotely (id, or a fresh one when recreated)
  bool done = false;       // both sides now agree
  bool deferred = false;
  bool conflict_copy = false;
  bool committed = false;  // a remote operation for it was committed this pass
  std::string final_rel;   // computed
  Content uploaded;        // content uploaded this pass (kLocal)
  FileMeta uploaded_meta;
};

class SyncPass {
 public:
  SyncPass(Vault& vault, Journal& journal, const SyncRoot& root, bool dry_run, const ProgressFn& progress,
           SyncStats& stats)
      : vault_(vault), journal_(journal), root_(root), dry_run_(dry_run), progress_(progress), stats_(stats) {}

  Status Run() {
    COFFER_RETURN_IF_ERROR(journal_.Refresh());
    COFFER_RETURN_IF_ERROR(LoadBase());
    COFFER_RETURN_IF_ERROR(PrepareLocalRoot());
    COFFER_RETURN_IF_ERROR(LoadIgnoreRules());
    COFFER_RETURN_IF_ERROR(ScanLocal("", -1));
    COFFER_RETURN_IF_ERROR(LoadRemote());
    Match();
    COFFER_RETURN_IF_ERROR(Merge());
    if (dry_run_) {
      Describe();
      return OkStatus();
    }
    COFFER_RETURN_IF_ERROR(ApplyRemote());
    COFFER_RETURN_IF_ERROR(ApplyLocal());
    return SaveBase();
  }

  bool needs_replan() const { return replan_; }

 private:
  // ---- loading ----
  Status LoadBase() {
    Stmt s(journal_state().db(),
           "SELECT item_id, rel, dir, version, size, mtime_ns, mode, ino FROM sync_base WHERE root_id=?");
    s.Bind(1, root_.id);
    while (true) {
      COFFER_ASSIGN_OR_RETURN(bool row, s.Step());
      if (!row) break;
      BaseRow b;
      b.id = s.Text(0);
      b.rel = s.Text(1);
      b.meta.dir = s.Int(2) != 0;
      b.version = static_cast<uint64_t>(s.Int(3));
      b.meta.size = static_cast<uint64_t>(s.Int(4));
      b.meta.mtime_ns = s.Int(5);
      b.meta.mode = static_cast<uint32_t>(s.Int(6));
      b.meta.ino = static_cast<uint64_t>(s.Int(7));
      base_.emplace(b.id, std::move(b));
    }
    for (const auto& [id, b] : base_) base_by_rel_[b.rel] = id;
    return OkStatus();
  }

  LocalState& journal_state() { return vault_.state(); }

  Status PrepareLocalRoot() {
    struct stat st;
    if (::lstat(root_.local_path.c_str(), &st) != 0) {
      if (errno != ENOENT) return LocalError("cannot read " + root_.local_path + ": " + Errno());
      if (!base_.empty()) {
        return LocalError("the synced folder " + root_.local_path +
                          " is gone; recreate it (empty) to download everything again, or remove the pair");
      }
      if (dry_run_) return OkStatus();
      std::error_code ec;
      std::filesystem::create_directories(root_.local_path, ec);
      if (ec) return LocalError("cannot create " + root_.local_path + ": " + ec.message());
      return OkStatus();
    }
    if (!S_ISDIR(st.st_mode)) return LocalError(root_.local_path + " is not a folder");
    // A synced folder that was emptied or swapped for another (unmounted disk, new folder at
    // the same path) must not be read as "the user deleted everything".
    if (!base_.empty()) {
      size_t present = 0;
      for (const auto& [id, b] : base_) {
        if (b.rel.find('/') != std::string::npos) continue;
        struct stat cst;
        if (::lstat(Abs(b.rel).c_str(), &cst) == 0) ++present;
      }
      if (present == 0) {
        size_t top = 0;
        for (const auto& [id, b] : base_) top += b.rel.find('/') == std::string::npos;
        if (top >= 10) {
          return LocalError("every item of the synced folder " + root_.local_path +
                            " is missing; if you really deleted them all, delete them remotely with `coffer rm`, "
                            "or if the folder was moved or unmounted, put it back");
        }
      }
    }
    return OkStatus();
  }

  Status LoadIgnoreRules() {
    std::string text;
    int fd = ::open(Abs(kIgnoreFile).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd >= 0) {
      char buf[65536];
      while (true) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        text.append(buf, static_cast<size_t>(n));
        if (text.size() > (1u << 20)) {
          ::close(fd);
          return LocalError(Abs(kIgnoreFile) + " is larger than 1 MiB");
        }
      }
      ::close(fd);
    }
    COFFER_ASSIGN_OR_RETURN(ignore_, IgnoreRules::Parse(text));
    return OkStatus();
  }

  std::string Abs(const std::string& rel) const { return rel.empty() ? root_.local_path : root_.local_path + "/" + rel; }

  // Metadata-only walk: one fstatat per entry, nothing is read.
  Status ScanLocal(const std::string& rel, int parent_fd) {
    int fd = parent_fd < 0 ? ::open(root_.local_path.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
                           : ::openat(parent_fd, BaseNameOf(rel).c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) {
      if (dry_run_ && errno == ENOENT && rel.empty()) return OkStatus();
      if (errno == ENOENT) return OkStatus();  // vanished during the scan: the next pass sees it
      return LocalError("cannot list " + Abs(rel) + ": " + Errno());
    }
    DIR* d = ::fdopendir(fd);
    if (d == nullptr) {
      ::close(fd);
      return LocalError("cannot list " + Abs(rel) + ": " + Errno());
    }
    std::vector<std::pair<std::string, struct stat>> entries;
    while (struct dirent* e = ::readdir(d)) {
      std::string name = e->d_name;
      if (name == "." || name == "..") continue;
      struct stat st;
      if (::fstatat(::dirfd(d), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;  // vanished
      entries.emplace_back(std::move(name), st);
    }
    std::vector<std::pair<std::string, bool>> subdirs;
    for (auto& [name, st] : entries) {
      const std::string child = JoinRel(rel, name);
      if (IsDownloadTemp(name)) {
        // Left by a pass that was killed mid-download (passes of a profile never overlap,
        // see SyncOnce): incomplete, never shown as a file, removed.
        if (!dry_run_ && S_ISREG(st.st_mode)) (void)::unlinkat(::dirfd(d), name.c_str(), 0);
        continue;
      }
      if (S_ISLNK(st.st_mode)) {
        stats_.warnings.push_back("skipped symbolic link " + child + " (links are not followed or synced)");
        continue;
      }
      if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
        stats_.warnings.push_back("skipped special file " + child);
        continue;
      }
      if (!ValidateName(name).ok()) {
        stats_.warnings.push_back("skipped " + child + ": the name cannot be stored");
        continue;
      }
      if (ignore_.Ignored(child, S_ISDIR(st.st_mode))) continue;
      LocalEntry le;
      le.rel = child;
      le.meta = MetaOf(st);
      local_by_rel_[child] = static_cast<int>(locals_.size());
      locals_.push_back(std::move(le));
      if (S_ISDIR(st.st_mode)) subdirs.emplace_back(child, true);
    }
    for (const auto& [child, _] : subdirs) {
      Status st = ScanLocal(child, ::dirfd(d));
      if (!st.ok()) {
        ::closedir(d);
        return st;
      }
    }
    ::closedir(d);
    return OkStatus();
  }

  Status LoadRemote() {
    COFFER_ASSIGN_OR_RETURN(auto root_item, journal_.Resolve(root_.remote_path));
    if (!root_item) {
      if (!base_.empty()) {
        return FailedPreconditionError("the remote folder " + root_.remote_path +
                                       " no longer exists (deleted or renamed on another device); nothing was "
                                       "changed locally. Restore it from the trash, or sync this folder elsewhere");
      }
      if (!dry_run_) {
        COFFER_RETURN_IF_ERROR(MakeDirectory(vault_, journal_, root_.remote_path, /*parents=*/true));
        COFFER_ASSIGN_OR_RETURN(root_item, journal_.Resolve(root_.remote_path));
      }
      if (!root_item) return OkStatus();
    }
    if (root_item->kind != ItemKind::kDir) {
      return FailedPreconditionError("remote " + root_.remote_path + " is a file, not a folder");
    }
    remote_root_id_ = root_item->item_id;
    planned_head_ = journal_.head();
    COFFER_ASSIGN_OR_RETURN(std::vector<ItemRow> all, journal_.AllItems());
    std::unordered_map<std::string, std::vector<size_t>> kids;
    for (size_t i = 0; i < all.size(); ++i) {
      if (!all[i].trashed) kids[all[i].parent_id].push_back(i);
    }
    remote_all_ = std::move(all);
    for (size_t i = 0; i < remote_all_.size(); ++i) remote_index_[remote_all_[i].item_id] = i;
    // Breadth-first from the root: only visible items (no trashed ancestor) are part of it.
    std::vector<std::pair<std::string, std::string>> queue{{remote_root_id_, ""}};
    for (size_t q = 0; q < queue.size(); ++q) {
      auto [parent, rel] = queue[q];
      auto it = kids.find(parent);
      if (it == kids.end()) continue;
      std::set<std::string> lower_names;
      for (size_t idx : it->second) {
        const ItemRow& row = remote_all_[idx];
        const std::string child = JoinRel(rel, row.name);
        if (ignore_.Ignored(child, row.kind == ItemKind::kDir)) continue;
        // Two remote items with one name (an older client, or a race): both are kept; the
        // merge gives one of them a conflict name (ResolveNameClashes).
        std::string lower = row.name;
        std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
        if (!lower_names.insert(lower).second) {
          stats_.warnings.push_back("names that differ only in case: " + child +
                                    " (they clash on case-insensitive file systems)");
        }
        RemoteEntry re{&row, child};
        remote_.emplace(row.item_id, std::move(re));
        remote_by_rel_.emplace(child, row.item_id);
        if (row.kind == ItemKind::kDir) queue.emplace_back(row.item_id, child);
      }
    }
    return OkStatus();
  }

  // ---- matching local entries to items ----
  void Match() {
    std::vector<bool> matched(locals_.size(), false);
    std::set<std::string> claimed;
    for (const auto& [id, b] : base_) {
      auto it = local_by_rel_.find(b.rel);
      if (it == local_by_rel_.end()) continue;
      LocalEntry& l = locals_[it->second];
      if (l.meta.dir != b.meta.dir) continue;
      if (matched[it->second]) {
        // Two base rows name one path (one item moved away while another took its place
        // and only one of them was settled): one local entry is one item. The row whose
        // inode matches keeps it; the other is matched by inode below, or is gone here.
        const BaseRow& holder = base_.at(l.item);
        if (holder.meta.ino == l.meta.ino || b.meta.ino != l.meta.ino) continue;
        claimed.erase(l.item);
      }
      l.item = id;
      matched[it->second] = true;
      claimed.insert(id);
    }
    // Renames: a base item missing at its path, whose inode shows up at a new path.
    std::unordered_map<uint64_t, int> by_ino;
    for (size_t i = 0; i < locals_.size(); ++i) {
      if (!matched[i]) by_ino[locals_[i].meta.ino] = static_cast<int>(i);
    }
    for (const auto& [id, b] : base_) {
      if (claimed.count(id)) continue;
      auto it = by_ino.find(b.meta.ino);
      if (it == by_ino.end()) continue;
      LocalEntry& l = locals_[it->second];
      if (l.meta.dir != b.meta.dir) continue;
      if (!l.meta.dir && (l.meta.size != b.meta.size || l.meta.mtime_ns != b.meta.mtime_ns)) continue;
      l.item = id;
      matched[it->second] = true;
      claimed.insert(id);
      by_ino.erase(it);
    }
    // New on both sides at the same path: the same item (content compared in Merge).
    for (size_t i = 0; i < locals_.size(); ++i) {
      if (matched[i]) continue;
      LocalEntry& l = locals_[i];
      auto r = remote_by_rel_.find(l.rel);
      if (r != remote_by_rel_.end() && !base_.count(r->second) && !claimed.count(r->second) &&
          (remote_.at(r->second).row->kind == ItemKind::kDir) == l.meta.dir) {
        l.item = r->second;
        claimed.insert(r->second);
        matched[i] = true;
      }
    }
    // A new local file whose exact content is already a remote item this device has not
    // recorded, left by a pass killed before it saved its base, and renamed or moved since
    // (by the user, or by another device on the remote side): it is that item, not a second
    // copy. Two ways such a file comes about, and what tells them from a file the user made
    // with the same bytes (which must stay separate: merging would move another device's file):
    //   - the pass uploaded it (an unseen item whose first version this device wrote, or a
    //     known item whose newest version it wrote and never recorded);
    //   - the pass downloaded it: downloads carry the item's mtime to the nanosecond.
    // Without this the inode match above (which wants size and mtime unchanged since the base)
    // misses a file that was edited or downloaded and then renamed, the rename uploads a
    // second copy, and the item comes back under its old name.
    std::unordered_multimap<uint64_t, std::string> unseen_by_size;
    for (const auto& [id, r] : remote_) {
      if (r.row->kind != ItemKind::kFile || claimed.count(id)) continue;
      auto b = base_.find(id);
      if (b == base_.end() || b->second.version != r.row->version) unseen_by_size.emplace(r.row->size, id);
    }
    for (size_t i = 0; i < locals_.size(); ++i) {
      if (matched[i]) continue;
      LocalEntry& l = locals_[i];
      if (!l.meta.dir) {
        auto [lo, hi] = unseen_by_size.equal_range(l.meta.size);
        for (auto it = lo; it != hi; ++it) {
          if (claimed.count(it->second)) continue;
          const bool known = base_.count(it->second) > 0;
          // Whole-second mtimes (tar, zip, FAT cards) are shared by independent copies of one
          // file on two devices, so they prove nothing; sub-second ones practically do.
          const int64_t remote_mtime = remote_.at(it->second).row->mtime_ns;
          const bool downloaded_here = remote_mtime == l.meta.mtime_ns && remote_mtime % 1'000'000'000 != 0;
          // A known item: its newest version (the unrecorded one); an unseen one: its first.
          if (!downloaded_here && !WrittenByThisDevice(it->second, /*newest=*/known)) continue;
          auto content = RemoteContent(remote_.at(it->second));
          if (!content.ok()) continue;
          auto same = LocalEquals(l, *content);
          if (!same.ok() || !*same) continue;
          l.item = it->second;
          claimed.insert(it->second);
          matched[i] = true;
          // An unseen item this device downloaded sat at the remote's place when the pass
          // died; a different local place now is the user's rename. (One this device uploaded
          // keeps the remote's place: another device may have moved it since.)
          if (!known && downloaded_here) downloaded_unrecorded_.insert(it->second);
          break;
        }
      }
      if (!matched[i]) l.item = IdHex(RandomId());
    }
  }

  // ---- the three-way merge ----
  std::pair<std::string, std::string> LocalLoc(const LocalEntry& l) {
    const std::string prel = ParentRel(l.rel);
    std::string parent;
    if (!prel.empty()) parent = locals_[local_by_rel_.at(prel)].item;
    std::string name = BaseNameOf(l.rel);
    // An entry parked by a pass that was killed mid-move still belongs at its own name.
    if (name.starts_with(kMoveTempPrefix) && name.size() > kMoveTempPrefix.size() + 13 &&
        name[kMoveTempPrefix.size() + 12] == '-') {
      name = name.substr(kMoveTempPrefix.size() + 13);
    }
    return {parent, name};
  }
  std::pair<std::string, std::string> RemoteLoc(const RemoteEntry& r) {
    return {r.row->parent_id == remote_root_id_ ? "" : r.row->parent_id, r.row->name};
  }
  std::pair<std::string, std::string> BaseLoc(const BaseRow& b) {
    const std::string prel = ParentRel(b.rel);
    std::string parent;
    if (!prel.empty()) {
      auto it = base_by_rel_.find(prel);
      if (it != base_by_rel_.end()) parent = it->second;
    }
    return {parent, BaseNameOf(b.rel)};
  }

  Status Merge() {
    std::set<std::string> ids;
    for (const auto& [id, _] : base_) ids.insert(id);
    for (const auto& [id, _] : remote_) ids.insert(id);
    std::unordered_map<std::string, int> local_of;
    for (size_t i = 0; i < locals_.size(); ++i) {
      ids.insert(locals_[i].item);
      local_of[locals_[i].item] = static_cast<int>(i);
    }
    for (const std::string& id : ids) {
      Target t;
      t.id = id;
      t.remote_id = id;
      auto b = base_.find(id);
      auto r = remote_.find(id);
      auto l = local_of.find(id);
      if (b != base_.end()) t.base = &b->second;
      if (r != remote_.end()) t.remote = &r->second;
      if (l != local_of.end()) t.local = l->second;
      const LocalEntry* le = t.local >= 0 ? &locals_[t.local] : nullptr;
      t.dir = le ? le->meta.dir : t.remote ? t.remote->row->kind == ItemKind::kDir : t.base->meta.dir;
      const bool lchanged = le && !t.dir && (!t.base || !SameFile(le->meta, t.base->meta));
      const bool rchanged = t.remote && !t.dir && (!t.base || t.remote->row->version != t.base->version);
      if (le && t.remote) {
        t.content = t.dir ? ContentFrom::kSame
                    : lchanged && rchanged ? ContentFrom::kNone  // decided below
                    : lchanged             ? ContentFrom::kLocal
                    : rchanged             ? ContentFrom::kRemote
                                           : ContentFrom::kSame;
        auto lloc = LocalLoc(*le);
        auto rloc = RemoteLoc(*t.remote);
        if (t.base) {
          auto bloc = BaseLoc(*t.base);
          const bool local_moved = lloc != bloc, remote_moved = rloc != bloc;
          t.loc_from_local = local_moved && !remote_moved;
          std::tie(t.parent, t.name) = t.loc_from_local ? lloc : rloc;
        } else if (downloaded_unrecorded_.count(id)) {
          t.loc_from_local = lloc != rloc;
          std::tie(t.parent, t.name) = t.loc_from_local ? lloc : rloc;
        } else {
          std::tie(t.parent, t.name) = rloc;
        }
      } else if (t.remote) {  // local absent
        if (t.base && !rchanged) {
          t.deleted = true;  // deleted locally, unchanged remotely
        } else {
          t.content = t.dir ? ContentFrom::kSame : ContentFrom::kRemote;
        }
        std::tie(t.parent, t.name) = RemoteLoc(*t.remote);
      } else if (le) {  // remote absent
        if (t.base && !lchanged) {
          t.deleted = true;  // deleted remotely, unchanged locally
        } else {
          t.content = t.dir ? ContentFrom::kSame : ContentFrom::kLocal;
          t.recreate = t.base != nullptr;
        }
        t.loc_from_local = true;
        std::tie(t.parent, t.name) = LocalLoc(*le);
      } else {
        t.deleted = true;  // gone on both sides (or ignored now): only the base row goes
        t.done = true;
      }
      if (t.recreate) t.remote_id = IdHex(RandomId());
      targets_.emplace(id, std::move(t));
    }
    // Both sides changed one file: equal content is no conflict, else the local one becomes
    // a conflict copy beside the remote one.
    std::vector<std::string> both;
    for (auto& [id, t] : targets_) {
      if (!t.deleted && !t.dir && t.local >= 0 && t.remote && t.content == ContentFrom::kNone) both.push_back(id);
    }
    for (const std::string& id : both) COFFER_RETURN_IF_ERROR(ResolveBothChanged(targets_.at(id)));
    KeepParentsOfSurvivors();
    BreakCycles();
    ResolveNameClashes();
    return ComputeFinalPaths();
  }

  // Whether the local file holds exactly `content` (inline bytes compared directly, chunked
  // content by its keyed whole-file hash).
  StatusOr<bool> LocalEquals(const LocalEntry& le, const Content& content) {
    if (le.meta.size != content.Size()) return false;
    if (content.kind != Content::Kind::kChunks) {
      std::string bytes;
      int fd = ::open(Abs(le.rel).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
      if (fd < 0) return LocalError("cannot read " + Abs(le.rel) + ": " + Errno());
      char buf[8192];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0 && bytes.size() <= kMaxInlineBytes) bytes.append(buf, static_cast<size_t>(n));
      ::close(fd);
      return bytes.size() == content.inline_data.size() &&
             std::equal(bytes.begin(), bytes.end(), content.inline_data.begin());
    }
    COFFER_ASSIGN_OR_RETURN(Hash32 h, HashLocalFile(vault_, content.content_epoch, Abs(le.rel)));
    return h == content.content_hash;
  }

  // Whether this device wrote the item's first (or newest) version: only then can an unseen
  // remote item be this device's own upload (or a known item's newest version its own edit)
  // from a pass that died before it recorded it (a file another device happened to add with
  // the same bytes stays a separate file).
  bool WrittenByThisDevice(const std::string& item_id, bool newest) {
    auto versions = journal_.Versions(item_id);
    if (!versions.ok() || versions->empty()) return false;
    return (newest ? versions->back() : versions->front()).author == IdHex(vault_.device().device_id);
  }

  // The item list is loaded without contents; the few items that need one fetch it here.
  StatusOr<Content> RemoteContent(const RemoteEntry& r) {
    COFFER_ASSIGN_OR_RETURN(auto row, journal_.Get(r.row->item_id));
    if (!row) return DataLossError("remote item " + r.row->item_id + " vanished from the verified state");
    return Content::Decode(row->content);
  }

  Status ResolveBothChanged(Target& t) {
    const LocalEntry& le = locals_[t.local];
    COFFER_ASSIGN_OR_RETURN(Content rc, RemoteContent(*t.remote));
    auto equal = LocalEquals(le, rc);
    if (!equal.ok()) {
      t.deferred = true;  // unreadable right now: decide next pass
      t.content = ContentFrom::kSame;
      stats_.deferred++;
      stats_.warnings.push_back(equal.status().message() + " (retried next pass)");
      return OkStatus();
    }
    if (*equal) {
      t.content = ContentFrom::kSame;  // already equal (e.g. a pass killed before saving its base)
      return OkStatus();
    }
    // A conflict copy of exactly this content may exist already (a killed earlier pass).
    const size_t dot = t.name.rfind('.');
    const std::string stem = dot == std::string::npos || dot == 0 ? t.name : t.name.substr(0, dot);
    for (auto& [oid, other] : targets_) {
      // Any remote file this device has not seen yet, wherever another device put it since.
      if (other.deleted || other.dir || other.local >= 0 || !other.remote || other.base) continue;
      if (other.remote->row->size != le.meta.size || !WrittenByThisDevice(other.remote_id, /*newest=*/false)) continue;
      auto oc = RemoteContent(*other.remote);
      if (!oc.ok()) continue;
      auto same = LocalEquals(le, *oc);
      if (!same.ok() || !*same) continue;
      other.local = t.local;
      other.content = ContentFrom::kSame;
      other.loc_from_local = false;
      other.conflict_copy = true;
      t.local = -1;
      t.content = ContentFrom::kRemote;
      stats_.conflicts++;
      return OkStatus();
    }
    Target c;
    c.id = IdHex(RandomId());
    c.remote_id = c.id;
    c.parent = t.parent;
    c.name = ConflictName(t.name, DeviceName(), std::time(nullptr), 1);
    c.local = t.local;
    c.content = ContentFrom::kLocal;
    c.loc_from_local = true;
    c.conflict_copy = true;
    t.local = -1;
    t.content = ContentFrom::kRemote;
    stats_.conflicts++;
    targets_.emplace(c.id, std::move(c));
    return OkStatus();
  }

  std::string DeviceName() {
    if (!vault_.device().name.empty()) return vault_.device().name;
    return "device " + IdHex(vault_.device().device_id).substr(0, 8);
  }

  // An edit beats a delete: a folder that holds a surviving item survives.
  void KeepParentsOfSurvivors() {
    bool again = true;
    while (again) {
      again = false;
      for (auto& [id, t] : targets_) {
        if (t.deleted || t.parent.empty()) continue;
        auto p = targets_.find(t.parent);
        if (p == targets_.end() || !p->second.deleted) continue;
        Target& parent = p->second;
        parent.deleted = false;
        parent.content = ContentFrom::kSame;
        if (!parent.remote) {
          parent.recreate = parent.base != nullptr;
          if (parent.recreate && parent.remote_id == parent.id) parent.remote_id = IdHex(RandomId());
          parent.loc_from_local = true;
        }
        again = true;
      }
    }
  }

  void BreakCycles() {
    for (int round = 0; round < 100; ++round) {
      bool changed = false;
      for (auto& [id, t] : targets_) {
        if (t.deleted) continue;
        std::set<std::string> seen{id};
        std::string cur = t.parent;
        while (!cur.empty()) {
          if (!seen.insert(cur).second) {
            // A local move made a loop with a remote one: the remote location wins.
            for (const std::string& member : seen) {
              Target& m = targets_.at(member);
              if (m.loc_from_local && m.remote) {
                std::tie(m.parent, m.name) = RemoteLoc(*m.remote);
                m.loc_from_local = false;
                changed = true;
              }
            }
            break;
          }
          auto p = targets_.find(cur);
          if (p == targets_.end()) break;
          cur = p->second.parent;
        }
      }
      if (!changed) return;
    }
  }

  void ResolveNameClashes() {
    std::map<std::pair<std::string, std::string>, std::vector<std::string>> by_loc;
    for (auto& [id, t] : targets_) {
      if (!t.deleted) by_loc[{t.parent, t.name}].push_back(id);
    }
    std::set<std::pair<std::string, std::string>> taken;
    for (const auto& [loc, _] : by_loc) taken.insert(loc);
    for (auto& [loc, ids] : by_loc) {
      if (ids.size() < 2) continue;
      // The item whose place came from the remote side keeps the name.
      std::stable_sort(ids.begin(), ids.end(), [&](const std::string& a, const std::string& b) {
        const Target& ta = targets_.at(a);
        const Target& tb = targets_.at(b);
        if (ta.loc_from_local != tb.loc_from_local) return !ta.loc_from_local;
        const bool ba = ta.base != nullptr && ta.local >= 0, bb = tb.base != nullptr && tb.local >= 0;
        if (ba != bb) return ba;
        return a < b;
      });
      for (size_t i = 1; i < ids.size(); ++i) {
        Target& t = targets_.at(ids[i]);
        for (int attempt = 1;; ++attempt) {
          std::string name = ConflictName(loc.second, DeviceName(), std::time(nullptr), attempt);
          if (taken.insert({loc.first, name}).second) {
            t.name = name;
            break;
          }
        }
        t.loc_from_local = true;
        t.conflict_copy = true;
        stats_.conflicts++;
      }
    }
  }

  Status ComputeFinalPaths() {
    for (auto& [id, t] : targets_) {
      if (t.deleted) continue;
      std::string rel = t.name;
      std::string cur = t.parent;
      int guard = 0;
      while (!cur.empty()) {
        const Target& p = targets_.at(cur);
        rel = p.name + "/" + rel;
        cur = p.parent;
        if (++guard > 100000) return InternalError("sync plan has a folder loop");
      }
      t.final_rel = rel;
      if (t.conflict_copy) stats_.conflict_paths.push_back(rel);
    }
    return OkStatus();
  }

  // ---- dry run ----
  void Describe() {
    for (auto& [id, t] : targets_) {
      const LocalEntry* le = t.local >= 0 ? &locals_[t.local] : nullptr;
      if (t.deleted) {
        if (t.remote) stats_.pending.push_back("delete remotely " + t.remote->rel);
        if (le) stats_.pending.push_back("delete locally " + le->rel);
        continue;
      }
      if (!t.remote || t.recreate) {
        stats_.pending.push_back(std::string("upload ") + (t.dir ? "folder " : "") + t.final_rel);
      } else if (t.content == ContentFrom::kLocal) {
        stats_.pending.push_back("upload " + t.final_rel);
      } else if (t.remote->rel != t.final_rel) {
        stats_.pending.push_back("move remotely " + t.remote->rel + " -> " + t.final_rel);
      }
      if (!le) {
        stats_.pending.push_back(std::string("download ") + (t.dir ? "folder " : "") + t.final_rel);
      } else {
        if (le->rel != t.final_rel) stats_.pending.push_back("move locally " + le->rel + " -> " + t.final_rel);
        if (t.content == ContentFrom::kRemote) stats_.pending.push_back("download " + t.final_rel);
      }
    }
    std::sort(stats_.pending.begin(), stats_.pending.end());
  }

  // ---- remote side ----
  std::vector<Target*> ByFinalDepth() {
    std::vector<Target*> out;
    for (auto& [id, t] : targets_) {
      if (!t.deleted) out.push_back(&t);
    }
    std::sort(out.begin(), out.end(), [](const Target* a, const Target* b) {
      size_t da = Depth(a->final_rel), db = Depth(b->final_rel);
      return da != db ? da < db : a->final_rel < b->final_rel;
    });
    return out;
  }

  std::string RemoteParentId(const Target& t) {
    if (t.parent.empty()) return remote_root_id_;
    return targets_.at(t.parent).remote_id;
  }

  Status ApplyRemote() {
    std::unique_ptr<ContentUploader> uploader;
    CopyStats copy_stats;
    std::vector<Op> ops;
    std::vector<std::string> touched;  // remote ids whose planned state the commit relies on
    std::vector<Placement> placed;     // (parent, name) each op takes
    std::vector<Target*> in_batch;

    auto flush = [&]() -> Status {
      if (ops.empty()) return OkStatus();
      if (uploader) COFFER_RETURN_IF_ERROR(uploader->Flush());
      auto precondition = [&, touched, placed](Journal& j) -> Status { return StillAsPlanned(j, touched, placed); };
      auto committed = journal_.Commit(std::move(ops), precondition);
      if (!committed.ok()) {
        // Someone else changed what this plan relied on (or it no longer applies): re-plan.
        if (committed.status().code() == StatusCode::kFailedPrecondition) replan_ = true;
        return committed.status();
      }
      stats_.revisions++;
      planned_head_ = journal_.head();  // our own revision is part of the plan now
      for (Target* t : in_batch) MarkRemoteDone(*t);
      ops.clear();
      touched.clear();
      placed.clear();
      in_batch.clear();
      return OkStatus();
    };

    for (Target* tp : ByFinalDepth()) {
      Target& t = *tp;
      const std::string parent_id = RemoteParentId(t);
      const bool is_new = !t.remote || t.recreate;
      const bool upload = !t.dir && t.content == ContentFrom::kLocal;
      const bool moved = !is_new && (t.remote->row->parent_id != parent_id || t.remote->row->name != t.name);
      if (!is_new && !upload && !moved) {
        t.done = t.local >= 0 && t.content != ContentFrom::kRemote;  // remote already right
        continue;
      }
      Op op;
      COFFER_ASSIGN_OR_RETURN(op.item_id, IdFromHex(t.remote_id));
      COFFER_ASSIGN_OR_RETURN(op.parent_id, IdFromHex(parent_id));
      op.name = t.name;
      if (upload) {
        if (!uploader) {
          COFFER_ASSIGN_OR_RETURN(uploader, ContentUploader::Create(vault_, copy_stats));
        }
        const LocalEntry& le = locals_[t.local];
        struct stat st;
        auto content = uploader->Upload(Abs(le.rel), st, [&](uint64_t n) { Tick(n); });
        if (!content.ok()) {
          if (content.status().code() == StatusCode::kAborted || content.status().code() == StatusCode::kFailedPrecondition) {
            // Changing or vanished while read: never upload a torn version; next pass.
            t.deferred = true;
            stats_.deferred++;
            stats_.warnings.push_back(le.rel + ": " + content.status().message() + " (retried next pass)");
            continue;
          }
          return content.status();
        }
        t.uploaded_meta = MetaOf(st);
        op.type = OpType::kPut;
        op.kind = ItemKind::kFile;
        op.mtime_ns = t.uploaded_meta.mtime_ns;
        op.mode = t.uploaded_meta.mode;
        op.content = *content;
        t.uploaded = std::move(*content);
        stats_.uploaded++;
      } else if (is_new) {
        op.type = OpType::kPut;
        if (t.dir) {
          op.kind = ItemKind::kDir;
          if (t.local >= 0) {
            op.mtime_ns = locals_[t.local].meta.mtime_ns;
            op.mode = locals_[t.local].meta.mode;
          } else {
            op.mode = 0755;
          }
          stats_.folders_created++;
        } else {
          // A new remote file whose content is already remote (a conflict copy reused) never
          // reaches here; anything else new must be uploaded.
          continue;
        }
      } else {
        op.type = OpType::kMove;
        stats_.remote_moves++;
      }
      if (!is_new) touched.push_back(t.remote_id);
      if (t.parent.empty() || !targets_.at(t.parent).remote || targets_.at(t.parent).recreate) {
        // parent is the root or created in this pass: nothing to check remotely
      } else {
        touched.push_back(parent_id);
      }
      placed.push_back(Placement{parent_id, t.name, t.remote_id});
      ops.push_back(std::move(op));
      in_batch.push_back(&t);
      if (ops.size() >= kOpsPerRevision) COFFER_RETURN_IF_ERROR(flush());
    }
    // Deletions: trash the top-most deleted remote items only (a trashed folder hides all).
    for (auto& [id, t] : targets_) {
      if (!t.deleted || !t.remote) continue;
      const std::string& rparent = t.remote->row->parent_id;
      if (rparent != remote_root_id_) {
        auto p = targets_.find(rparent);
        if (p != targets_.end() && p->second.deleted && p->second.remote) continue;
      }
      // Only when every surviving child went elsewhere: a deleted folder has no survivors.
      Op op;
      op.type = OpType::kTrash;
      COFFER_ASSIGN_OR_RETURN(op.item_id, IdFromHex(t.remote_id));
      touched.push_back(t.remote_id);
      ops.push_back(std::move(op));
      in_batch.push_back(&t);
      stats_.remote_deletes++;
      if (ops.size() >= kOpsPerRevision) COFFER_RETURN_IF_ERROR(flush());
    }
    COFFER_RETURN_IF_ERROR(flush());
    stats_.chunks_uploaded += copy_stats.chunks_uploaded;
    stats_.bytes_uploaded += copy_stats.bytes_uploaded;
    return OkStatus();
  }

  void MarkRemoteDone(Target& t) {
    t.committed = true;
    if (t.deleted) {
      t.done = t.local < 0;
      return;
    }
    t.done = t.local >= 0 && t.content != ContentFrom::kRemote;
  }

  // The commit goes through only if no other device touched what the plan relies on.
  Status StillAsPlanned(Journal& j, const std::vector<std::string>& touched, const std::vector<Placement>& placed) {
    if (j.head() == planned_head_) return OkStatus();
    // A name this batch takes must not have been taken meanwhile by another device's item
    // (two items with one name would make one of them unreachable by path).
    std::set<std::string> moving(touched.begin(), touched.end());
    for (const Placement& p : placed) moving.insert(p.item);
    for (const Placement& p : placed) {
      COFFER_ASSIGN_OR_RETURN(auto holder, j.Child(p.parent, p.name));
      if (holder && holder->item_id != p.item && !moving.count(holder->item_id)) {
        return FailedPreconditionError("remote name " + p.name + " was taken during the sync pass");
      }
    }
    for (const std::string& id : touched) {
      auto idx = remote_index_.find(id);
      if (idx == remote_index_.end()) continue;  // created by this pass
      const ItemRow* planned = &remote_all_[idx->second];
      COFFER_ASSIGN_OR_RETURN(auto now, j.Get(id));
      if (!now || now->trashed != planned->trashed || now->version != planned->version ||
          now->parent_id != planned->parent_id || now->name != planned->name) {
        return FailedPreconditionError("remote item " + id + " changed during the sync pass");
      }
    }
    return OkStatus();
  }

  // ---- local side ----
  Status ApplyLocal() {
    // Current local path of every target that has a local entry; moves update descendants.
    for (auto& [id, t] : targets_) {
      if (t.local >= 0) cur_rel_[id] = locals_[t.local].rel;
    }
    for (Target* tp : ByFinalDepth()) {
      Target& t = *tp;
      if (t.deferred) continue;
      const std::string parent_rel = t.parent.empty() ? "" : CurrentRel(t.parent);
      if (!t.parent.empty() && parent_rel.empty()) {
        t.deferred = true;  // its folder could not be placed
        stats_.deferred++;
        stats_.warnings.push_back(t.final_rel + ": its folder is not in place yet; synced next pass");
        continue;
      }
      const std::string want = JoinRel(parent_rel, t.name);
      if (t.local >= 0) {
        const std::string have = cur_rel_.at(t.id);
        if (have != want) {
          Status st = MoveLocal(t, have, want);
          if (!st.ok()) {
            t.deferred = true;
            stats_.deferred++;
            stats_.warnings.push_back(st.message());
            continue;
          }
          stats_.local_moves++;
        }
        if (!t.dir && t.content == ContentFrom::kRemote) {
          COFFER_RETURN_IF_ERROR(DownloadOver(t, want));
        } else if (!t.deferred) {
          t.done = true;
        }
      } else if (t.dir) {
        struct stat st;
        if (::lstat(Abs(want).c_str(), &st) == 0) {
          if (!S_ISDIR(st.st_mode)) {
            t.deferred = true;
            stats_.deferred++;
            stats_.warnings.push_back("cannot create folder " + want + ": something else appeared there");
            continue;
          }
        } else if (::mkdir(Abs(want).c_str(), 0755) != 0) {
          return LocalError("cannot create folder " + Abs(want) + ": " + Errno());
        }
        if (t.remote) ::chmod(Abs(want).c_str(), (t.remote->row->mode & 07777) ? t.remote->row->mode & 07777 : 0755);
        cur_rel_[t.id] = want;
        t.done = true;
      } else {
        COFFER_RETURN_IF_ERROR(DownloadOver(t, want));
      }
    }
    // Deletions: files first, then folders deepest first, each only if still as scanned.
    std::vector<Target*> dirs;
    for (auto& [id, t] : targets_) {
      if (!t.deleted || t.local < 0) continue;
      if (t.dir) {
        dirs.push_back(&t);
        continue;
      }
      const LocalEntry& le = locals_[t.local];
      const std::string rel = CurrentRel(t.id);
      struct stat st;
      if (::lstat(Abs(rel).c_str(), &st) != 0 || !SameFile(MetaOf(st), le.meta)) {
        t.deferred = true;
        stats_.deferred++;
        stats_.warnings.push_back(rel + " changed during the sync pass; not deleted, synced next pass");
        continue;
      }
      if (::unlink(Abs(rel).c_str()) != 0 && errno != ENOENT) {
        return LocalError("cannot delete " + Abs(rel) + ": " + Errno());
      }
      stats_.local_deletes++;
      t.done = true;
    }
    std::sort(dirs.begin(), dirs.end(), [&](Target* a, Target* b) { return Depth(CurrentRel(a->id)) > Depth(CurrentRel(b->id)); });
    for (Target* t : dirs) {
      const std::string rel = CurrentRel(t->id);
      if (::rmdir(Abs(rel).c_str()) != 0) {
        if (errno == ENOENT) {
          t->done = true;
          continue;
        }
        // Not empty: something new appeared inside; it is uploaded next pass.
        t->deferred = true;
        stats_.deferred++;
        const std::string why = Errno();
        std::string inside;
        std::error_code ec;
        for (auto it = std::filesystem::directory_iterator(Abs(rel), ec); !ec && it != std::filesystem::directory_iterator();
             it.increment(ec)) {
          inside = it->path().filename().string();
          break;
        }
        stats_.warnings.push_back("folder " + rel + " was deleted remotely but is not empty here (" + why +
                                  (inside.empty() ? "" : ", e.g. " + inside) + ")");
        continue;
      }
      stats_.local_deletes++;
      t->done = true;
    }
    return OkStatus();
  }

  std::string CurrentRel(const std::string& id) {
    auto it = cur_rel_.find(id);
    return it == cur_rel_.end() ? "" : it->second;
  }

  Status MoveLocal(Target& t, const std::string& from, const std::string& to) {
    const LocalEntry& le = locals_[t.local];
    struct stat st;
    if (::lstat(Abs(from).c_str(), &st) != 0 || st.st_ino != le.meta.ino) {
      return LocalError(from + " changed during the sync pass; it is synced next pass");
    }
    struct stat occupant;
    if (::lstat(Abs(to).c_str(), &occupant) == 0) {
      // The place is held by another item that moves or goes away later in this pass: park
      // it under a temporary name in the same folder.
      std::string owner;
      for (const auto& [oid, rel] : cur_rel_) {
        if (rel == to) owner = oid;
      }
      if (owner.empty() || owner == t.id) return LocalError("cannot move " + from + " to " + to + ": the name is taken");
      const std::string parked = JoinRel(ParentRel(to), std::string(kMoveTempPrefix) + owner.substr(0, 12) + "-" + BaseNameOf(to));
      if (::rename(Abs(to).c_str(), Abs(parked).c_str()) != 0) return LocalError("cannot move " + Abs(to) + ": " + Errno());
      Relocate(owner, to, parked);
    }
    if (::rename(Abs(from).c_str(), Abs(to).c_str()) != 0) {
      return LocalError("cannot move " + Abs(from) + " to " + Abs(to) + ": " + Errno());
    }
    Relocate(t.id, from, to);
    return OkStatus();
  }

  // Updates the current path of `id` and of everything below it.
  void Relocate(const std::string& id, const std::string& from, const std::string& to) {
    const std::string prefix = from + "/";
    for (auto& [oid, rel] : cur_rel_) {
      if (rel == from) {
        rel = to;
      } else if (rel.compare(0, prefix.size(), prefix) == 0) {
        rel = to + rel.substr(from.size());
      }
    }
    cur_rel_[id] = to;
  }

  Status DownloadOver(Target& t, const std::string& rel) {
    // Overwrite a local file only if it is still exactly what the scan saw.
    struct stat st;
    if (::lstat(Abs(rel).c_str(), &st) == 0) {
      const bool ours = t.local >= 0 && SameFile(MetaOf(st), locals_[t.local].meta);
      if (!ours) {
        t.deferred = true;
        stats_.deferred++;
        stats_.warnings.push_back(rel + " changed during the sync pass; it is synced next pass");
        return OkStatus();
      }
    }
    auto full = journal_.Get(t.remote->row->item_id);
    if (!full.ok()) return full.status();
    if (!*full) return DataLossError("remote item " + t.remote->row->item_id + " vanished from the verified state");
    Status st2 = DownloadFile(vault_, **full, Abs(rel), root_.remote_path + "/" + t.remote->rel,
                              [&](uint64_t n) {
                                stats_.bytes_downloaded += n;
                                Tick(n);
                              });
    if (!st2.ok()) {
      // A local problem (disk full, permissions) is reported; a security failure stops all.
      return st2.WithContext("downloading " + rel);
    }
    cur_rel_[t.id] = rel;
    stats_.downloaded++;
    t.done = true;
    return OkStatus();
  }

  void Tick(uint64_t bytes) {
    progress_state_.bytes_done += bytes;
    if (progress_) progress_(progress_state_);
  }

  // ---- base ----
  // Writes only the rows that differ from the loaded base, so that a pass over an unchanged
  // tree of 100,000 files writes nothing but its timestamp.
  Status SaveBase() {
    LocalState& state = journal_state();
    COFFER_RETURN_IF_ERROR(state.Begin());
    auto fail = [&](Status st) {
      state.Rollback();
      return st;
    };
    Stmt ins(state.db(),
             "INSERT OR REPLACE INTO sync_base(root_id, item_id, rel, dir, version, size, mtime_ns, mode, ino) "
             "VALUES(?,?,?,?,?,?,?,?,?)");
    Stmt del(state.db(), "DELETE FROM sync_base WHERE root_id=? AND item_id=?");
    auto put = [&](const std::string& id, const std::string& rel, uint64_t version, const FileMeta& m) -> Status {
      ins.Reset();
      ins.Bind(1, root_.id).Bind(2, id).Bind(3, rel).Bind(4, int64_t{m.dir}).Bind(5, static_cast<int64_t>(version));
      ins.Bind(6, static_cast<int64_t>(m.size)).Bind(7, m.mtime_ns).Bind(8, static_cast<int64_t>(m.mode));
      ins.Bind(9, static_cast<int64_t>(m.ino));
      return ins.Run();
    };
    auto erase = [&](const std::string& id) -> Status {
      del.Reset();
      del.Bind(1, root_.id).Bind(2, id);
      return del.Run();
    };
    for (auto& [id, t] : targets_) {
      Status st;
      if (t.done && t.deleted) {
        if (t.base) st = erase(t.base->id);
      } else if (t.done) {
        const std::string rel = CurrentRel(id);
        const bool acted = t.committed || t.local < 0 || rel != locals_[t.local].rel || t.content == ContentFrom::kRemote;
        uint64_t version = t.remote ? t.remote->row->version : 0;
        FileMeta meta = t.local >= 0 ? locals_[t.local].meta : FileMeta{};
        bool known = !rel.empty() && (t.remote || t.committed);
        if (acted) {
          struct stat lst;
          auto remote = journal_.Get(t.remote_id);
          if (rel.empty() || ::lstat(Abs(rel).c_str(), &lst) != 0 || !remote.ok() || !*remote) {
            known = false;
          } else {
            version = (*remote)->version;
            meta = MetaOf(lst);
            // An upload recorded what was read; if the file moved on since, the next pass sees it.
            if (t.content == ContentFrom::kLocal && !t.dir) meta = t.uploaded_meta;
          }
        }
        if (!known) continue;  // keep the old row (if any): the next pass decides again
        const bool same = t.base && t.base->id == t.remote_id && t.base->rel == rel && t.base->version == version &&
                          SameFile(t.base->meta, meta);
        if (!same) {
          if (t.base && t.base->id != t.remote_id) st = erase(t.base->id);
          if (st.ok()) st = put(t.remote_id, rel, version, meta);
        }
      }
      if (!st.ok()) return fail(st);
      if (!t.deferred && !t.deleted && t.content == ContentFrom::kSame) stats_.unchanged++;
    }
    Stmt last(state.db(), "UPDATE sync_roots SET last_sync=? WHERE root_id=?");
    last.Bind(1, static_cast<int64_t>(std::time(nullptr))).Bind(2, root_.id);
    Status st = last.Run();
    if (!st.ok()) return fail(st);
    return state.Commit();
  }

  Vault& vault_;
  Journal& journal_;
  const SyncRoot& root_;
  bool dry_run_;
  const ProgressFn& progress_;
  SyncStats& stats_;
  Progress progress_state_;
  IgnoreRules ignore_;

  std::map<std::string, BaseRow> base_;
  std::unordered_map<std::string, std::string> base_by_rel_;
  std::vector<LocalEntry> locals_;
  std::unordered_map<std::string, int> local_by_rel_;
  std::string remote_root_id_;
  uint64_t planned_head_ = 0;
  std::vector<ItemRow> remote_all_;
  std::unordered_map<std::string, size_t> remote_index_;
  bool replan_ = false;
  std::unordered_map<std::string, RemoteEntry> remote_;
  std::unordered_map<std::string, std::string> remote_by_rel_;
  std::set<std::string> downloaded_unrecorded_;  // see Match()
  std::map<std::string, Target> targets_;
  std::unordered_map<std::string, std::string> cur_rel_;
};

}  // namespace

StatusOr<SyncStats> SyncOnce(Vault& vault, Journal& journal, const SyncRoot& root, bool dry_run,
                             const ProgressFn& progress) {
  // One pass at a time per profile: two would plan against each other's half-done work.
  const std::string lock_path = vault.home() + "/sync.lock";
  int lock_fd = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd < 0) return LocalError("cannot open " + lock_path + ": " + Errno());
  struct LockGuard {
    int fd;
    ~LockGuard() { ::close(fd); }  // closing releases the flock
  } guard{lock_fd};
  if (::flock(lock_fd, (dry_run ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0) {
    if (errno == EWOULDBLOCK) {
      // Wait a little: a watcher's pass usually ends within seconds.
      bool got = false;
      for (int i = 0; i < 100 && !got; ++i) {
        ::usleep(100'000);
        got = ::flock(lock_fd, (dry_run ? LOCK_SH : LOCK_EX) | LOCK_NB) == 0;
      }
      if (!got) {
        return FailedPreconditionError("another coffer sync of this profile is running (" + lock_path +
                                       "); try again when it has finished");
      }
    } else {
      return LocalError("cannot lock " + lock_path + ": " + Errno());
    }
  }
  COFFER_RETURN_IF_ERROR(EnsureSchema(vault.state()));
  for (int attempt = 0; attempt < kMaxReplans; ++attempt) {
    SyncStats stats;
    SyncPass pass(vault, journal, root, dry_run, progress, stats);
    Status st = pass.Run();
    if (st.ok()) return stats;
    // Another device changed what this pass planned on: plan again from the new state.
    if (pass.needs_replan()) continue;
    return st;
  }
  return AbortedError("the remote folder " + root.remote_path + " kept changing during sync; try again");
}

}  // namespace coffer::client
