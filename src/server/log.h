// One-line log records on stderr for the server.
//
// Callers pass only what is safe to keep: method, path, status, sizes, timings, error
// messages. Never request or response bodies, tokens, Authorization headers or verifiers.
// Thread-safety: LogLine may be called from any thread; each line is written with a single
// write(2), so lines from different threads do not interleave.
#ifndef COFFER_SERVER_LOG_H_
#define COFFER_SERVER_LOG_H_

#include <string_view>

namespace coffer::server {

// Writes "<UTC time> <line>\n" to stderr.
void LogLine(std::string_view line);

// Turns request/event logging off (tests that do not want the noise). Errors still print.
void SetVerboseLogging(bool on);
bool VerboseLogging();

}  // namespace coffer::server

#endif  // COFFER_SERVER_LOG_H_
