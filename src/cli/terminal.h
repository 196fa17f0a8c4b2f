// Terminal helpers for the CLI: password prompts, progress display, output formatting.
#ifndef COFFER_CLI_TERMINAL_H_
#define COFFER_CLI_TERMINAL_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "client/transfer.h"
#include "crypto/secret.h"

namespace coffer::cli {

// Reads a secret from environment variable `env` if set, else prompts on the terminal with
// echo off. kFailedPrecondition if neither is possible (no terminal, no variable).
StatusOr<crypto::SecretBytes> ReadSecret(const std::string& prompt, const char* env, bool confirm);

// Reads a whole (small) file into secure memory, e.g. --recovery-key-file.
StatusOr<crypto::SecretBytes> ReadSecretFile(const std::string& path);

std::string HumanBytes(uint64_t n);

// A one-line progress display on stderr (bytes, items, rate, ETA), only on a terminal.
class ProgressLine {
 public:
  explicit ProgressLine(bool enabled);
  ~ProgressLine();
  void Update(const client::Progress& p);
  void Finish();

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_;
};

}  // namespace coffer::cli

#endif  // COFFER_CLI_TERMINAL_H_
