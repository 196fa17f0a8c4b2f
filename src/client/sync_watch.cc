// The watch loop of `coffer sync --watch`: inotify for local changes, the server's long poll
// for remote ones (docs/API.md GET /v1/collections?since=&wait=).
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <mutex>
#include <thread>

#include "client/sync.h"

namespace coffer::client {
namespace {

constexpr uint32_t kWatchMask = IN_CREATE | IN_DELETE | IN_MODIFY | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO |
                                IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

// Watches every folder below the roots. inotify is not recursive, so the set is rebuilt
// after each pass (folders may have appeared); an overflow only means "something changed".
class LocalWatcher {
 public:
  ~LocalWatcher() {
    if (fd_ >= 0) ::close(fd_);
  }
  Status Rebuild(const std::vector<SyncRoot>& roots) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
    if (fd_ < 0) return FailedPreconditionError(std::string("cannot watch local folders: ") + std::strerror(errno));
    for (const SyncRoot& r : roots) {
      Add(r.local_path);
      std::error_code ec;
      for (auto it = std::filesystem::recursive_directory_iterator(r.local_path, ec);
           !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
        if (it->is_directory(ec) && !it->is_symlink(ec)) Add(it->path().string());
      }
    }
    return OkStatus();
  }
  int fd() const { return fd_; }
  // True if any event was pending.
  bool Drain() {
    bool any = false;
    alignas(struct inotify_event) char buf[64 * 1024];
    while (true) {
      ssize_t n = ::read(fd_, buf, sizeof buf);
      if (n <= 0) break;
      any = true;
    }
    return any;
  }

 private:
  void Add(const std::string& dir) {
    // ENOSPC (max_user_watches) leaves part of the tree unwatched; the long poll and the
    // next pass still catch up, so it is not fatal.
    (void)::inotify_add_watch(fd_, dir.c_str(), kWatchMask);
  }
  int fd_ = -1;
};

}  // namespace

Status WatchAndSync(Vault& vault, Journal& journal, const std::vector<SyncRoot>& roots, const WatchOptions& options) {
  auto stop = [&] { return options.stop && options.stop(); };
  // The long poll runs on its own connection so that a pass never waits behind it.
  COFFER_ASSIGN_OR_RETURN(std::unique_ptr<ApiClient> poll_api, vault.NewConnection());
  int wake[2];
  if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) {
    return FailedPreconditionError(std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  std::atomic<bool> done{false};
  std::mutex error_mu;
  Status remote_error;
  std::thread remote([&] {
    std::string token;
    int failures = 0;
    while (!done.load()) {
      auto next = poll_api->WaitForCollectionChange(token, 20);
      if (!next.ok()) {
        if (next.status().code() != StatusCode::kUnavailable) {
          std::lock_guard<std::mutex> lock(error_mu);
          remote_error = next.status();
          (void)!::write(wake[1], "e", 1);
          return;
        }
        // Offline: back off (at most a minute) and try again.
        for (int i = 0; i < std::min(60, 1 << std::min(failures, 6)) * 2 && !done.load(); ++i) {
          std::this_thread::sleep_for(std::chrono::milliseconds(500));
        }
        ++failures;
        continue;
      }
      failures = 0;
      if (!token.empty() && *next != token) (void)!::write(wake[1], "r", 1);
      token = *next;
    }
  });
  auto finish = [&](Status st) {
    done = true;
    remote.join();
    ::close(wake[0]);
    ::close(wake[1]);
    return st;
  };

  LocalWatcher watcher;
  bool pending = true;  // the first pass runs at once
  int network_failures = 0;
  while (!stop()) {
    if (pending) {
      pending = false;
      // Watch first, then sync: a change made while the pass runs is then seen (the pass's own
      // writes cause one more pass, which finds nothing to do and writes nothing).
      if (Status ws = watcher.Rebuild(roots); !ws.ok()) return finish(ws);
      bool network_down = false;
      for (const SyncRoot& root : roots) {
        auto stats = SyncOnce(vault, journal, root, /*dry_run=*/false, nullptr);
        if (options.on_pass) options.on_pass(root, stats);
        if (!stats.ok()) {
          if (stats.status().code() == StatusCode::kUnavailable) {
            network_down = true;
            continue;
          }
          return finish(stats.status());
        }
        // Deferred items (files still being written) get another pass soon.
        if (stats->deferred > 0) pending = true;
      }
      if (network_down) {
        ++network_failures;
        pending = true;
        const int wait_s = std::min(60, 1 << std::min(network_failures, 6));
        for (int i = 0; i < wait_s * 2 && !stop(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(500));
        continue;
      }
      network_failures = 0;
      if (pending) {
        std::this_thread::sleep_for(std::chrono::milliseconds(options.debounce_ms));
        continue;
      }
    }
    struct pollfd fds[2] = {{watcher.fd(), POLLIN, 0}, {wake[0], POLLIN, 0}};
    int n = ::poll(fds, 2, 500);
    if (n <= 0) continue;
    if (fds[1].revents & POLLIN) {
      char buf[64];
      while (::read(wake[0], buf, sizeof buf) > 0) {
      }
      {
        std::lock_guard<std::mutex> lock(error_mu);
        if (!remote_error.ok()) return finish(remote_error);
      }
      pending = true;
    }
    if (fds[0].revents & POLLIN) {
      // Debounce: wait until the folder has been quiet for debounce_ms.
      watcher.Drain();
      auto quiet_since = std::chrono::steady_clock::now();
      while (!stop() && std::chrono::steady_clock::now() - quiet_since < std::chrono::milliseconds(options.debounce_ms)) {
        struct pollfd w = {watcher.fd(), POLLIN, 0};
        if (::poll(&w, 1, 100) > 0 && watcher.Drain()) quiet_since = std::chrono::steady_clock::now();
      }
      pending = true;
    }
  }
  return finish(OkStatus());
}

}  // namespace coffer::client
