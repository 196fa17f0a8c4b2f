// coffer-server's configuration: command-line flags, environment variables and a config file,
// merged with one documented precedence, and the URL redaction every log line and error uses.
//
// Precedence, highest first: flags > environment (COFFER_*) > config file (--config FILE or
// COFFER_CONFIG) > built-in defaults. Each setting is taken whole from the highest source
// that names it; sources are never merged inside one value.
//
// The config file is lines of `key = value`; `#` starts a comment (at the start of a line or
// after whitespace), blank lines are ignored, values may be wrapped in double quotes. It is
// strict: an unknown key, a repeated key or a bad value is an error naming FILE:LINE.
//
//   key                      environment variable            flag
//   listen                   COFFER_LISTEN                   --listen HOST:PORT
//   threads                  COFFER_THREADS                  --threads N
//   data                     COFFER_DATA                     --data DIR
//   metadata                 COFFER_METADATA                 --metadata URL (--meta-url)
//   blobs                    COFFER_BLOBS                    --blobs URL (--blob-url)
//   metadata_password_file   COFFER_METADATA_PASSWORD_FILE   --metadata-password-file FILE
//   blobs_credentials_file   COFFER_BLOBS_CREDENTIALS_FILE   --blobs-credentials-file FILE
//   log_key                  COFFER_LOG_KEY                  --log-key FILE (staff access log)
//   tls_cert / tls_key       COFFER_TLS_CERT / COFFER_TLS_KEY --tls-cert / --tls-key FILE
//   quota_bytes              COFFER_QUOTA_BYTES              --quota-bytes N
//   gc_grace                 COFFER_GC_GRACE                 --gc-grace SECONDS
//   quiet                    COFFER_QUIET (true/false)       --quiet
//   trusted_proxies          COFFER_TRUSTED_PROXIES          --trusted-proxies IP[,IP...]
//     (load balancers whose X-Forwarded-For names the client: the per-address login limit
//      then counts real clients, not the balancer)
//
// Secrets (database passwords, S3 keys) never need to be written into a URL: they come from
// the engines' own environment variables (PGPASSWORD, AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)
// or from the *_file settings, which name files the operator can keep at mode 0600.
//
// Thread-safety: pure functions.
#ifndef COFFER_SERVER_CONFIG_H_
#define COFFER_SERVER_CONFIG_H_

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "coffer/status.h"

namespace coffer::server {

struct ServerConfig {
  std::string config_file;  // the file that was read, empty if none
  std::string data_dir;
  std::string listen = "127.0.0.1:8420";
  int threads = 4;
  std::string tls_cert;
  std::string tls_key;
  uint64_t quota_bytes = 0;
  int64_t gc_grace = 3600;
  // The engine URLs as configured (with *_file credentials folded in by EngineUrls()).
  std::string meta_url;
  std::string blob_url;
  std::string metadata_password_file;
  std::string blobs_credentials_file;
  std::string log_key;  // the staff access log's signing key; empty = DATA/staff-log.key
  bool quiet = false;
  std::vector<std::string> trusted_proxies;
  bool help = false;  // --help was given: print the usage and exit 0
};

// The environment as name -> value (tests pass their own; main passes `environ`).
using Environment = std::map<std::string, std::string>;
Environment CurrentEnvironment();

// Merges flags (`args` is argv without the program name), `env` and the config file they
// name. kInvalidArgument names the offending flag, variable or FILE:LINE and says what was
// expected; kNotFound/kFailedPrecondition when the config file cannot be read. Values that
// may hold secrets are shown redacted in every message.
StatusOr<ServerConfig> LoadServerConfig(const std::vector<std::string>& args, const Environment& env);

// Parses config file text alone (`origin` names the file in messages); exposed for tests.
// Returns key -> (value, "FILE:LINE").
struct FileSetting {
  std::string value;
  std::string where;
};
StatusOr<std::map<std::string, FileSetting>> ParseConfigText(std::string_view text, const std::string& origin);

// The metadata and blob URLs the engines are opened with: data_dir defaults filled in and
// the credential files passed the way each engine accepts them (postgresql://…?password_file=
// for the metadata password). kInvalidArgument when a credential file is given for an engine
// that takes none.
struct EngineUrls {
  std::string meta_url;
  std::string blob_url;
};
StatusOr<EngineUrls> ResolveEngineUrls(const ServerConfig& config);

// `url` with its secrets replaced by "REDACTED": the password of the user-info part
// (scheme://user:PASSWORD@host) and the value of every query parameter whose name contains
// "password", "secret", "token", "signature" or "credential" or ends in "key" (names ending
// in "_file" or "file" are paths, not secrets, and stay). Safe on any string, URL or not.
std::string RedactUrl(std::string_view url);

// `text` with every secret that `url` carries (as RedactUrl finds them) and every value in
// `extra_secrets` replaced by "REDACTED": for error messages from engines that may echo
// their connection string.
std::string ScrubSecrets(std::string text, std::string_view url, const std::vector<std::string>& extra_secrets = {});

// The secrets in the environment that the engines read (PGPASSWORD, AWS_SECRET_ACCESS_KEY,
// AWS_SESSION_TOKEN), for ScrubSecrets.
std::vector<std::string> EnvironmentSecrets(const Environment& env);

}  // namespace coffer::server

#endif  // COFFER_SERVER_CONFIG_H_
