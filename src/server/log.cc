#include "server/log.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <string>

namespace coffer::server {
namespace {
std::atomic<bool> g_verbose{true};
}  // namespace

void LogLine(std::string_view line) {
  const auto now = std::chrono::system_clock::now();
  const std::time_t secs = std::chrono::system_clock::to_time_t(now);
  const int millis = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char stamp[64];
  std::snprintf(stamp, sizeof(stamp), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, millis);
  std::string out = stamp;
  out.append(line);
  out.push_back('\n');
  // A single write keeps concurrent lines whole; a short write on a full pipe is not retried
  // because logging must never block or fail a request.
  [[maybe_unused]] ssize_t n = ::write(STDERR_FILENO, out.data(), out.size());
}

void SetVerboseLogging(bool on) { g_verbose.store(on); }
bool VerboseLogging() { return g_verbose.load(); }

}  // namespace coffer::server
