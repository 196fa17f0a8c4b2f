// coffer-server: the untrusted store (docs/API.md).
//
//   coffer-server --data DIR [--listen 127.0.0.1:8420] [--threads N]
//                 [--tls-cert FILE --tls-key FILE] [--quota-bytes N] [--gc-grace SECONDS]
//                 [--meta-url URL] [--blob-url URL] [--quiet]
//
// Metadata goes to DIR/meta.sqlite, chunk bytes to DIR/blobs, unless --metadata / --blobs
// name other engines (store/open.h). Every setting can also come from the environment
// (COFFER_*) or a `--config FILE`; server/config.h has the keys and the precedence. Prints
// "coffer-server listening on URL" on stdout once it accepts connections (tests and scripts
// wait for that line). SIGINT/SIGTERM stop it gracefully with exit status 0.
#include <signal.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "crypto/secret.h"
#include "server/api.h"
#include "server/config.h"
#include "server/http_server.h"
#include "server/log.h"
#include "server/migrate.h"
#include "server/staff_admin.h"
#include "server/validate.h"
#include "store/open.h"

namespace {

using coffer::Status;
using coffer::StatusOr;

constexpr const char* kUsage =
    "usage: coffer-server [--config FILE] --data DIR [--listen HOST:PORT] [--threads N]\n"
    "                     [--tls-cert FILE --tls-key FILE] [--quota-bytes N] [--gc-grace SECONDS]\n"
    "                     [--meta-url URL] [--blob-url URL] [--quiet]\n"
    "\n"
    "  --config FILE        key = value settings (the keys below without \"--\", dashes as '_');\n"
    "                       precedence: flags > environment (COFFER_DATA, COFFER_METADATA, ...) > FILE\n"
    "  --data DIR           where to keep metadata (DIR/meta.sqlite) and chunks (DIR/blobs); created if "
    "missing\n"
    "  --listen HOST:PORT   address to listen on (default 127.0.0.1:8420; port 0 picks a free port).\n"
    "                       Plain HTTP is allowed only on loopback (127.0.0.0/8, ::1)\n"
    "  --threads N          I/O and handler threads (default 4)\n"
    "  --tls-cert FILE      PEM certificate chain; with --tls-key enables HTTPS (TLS 1.2+)\n"
    "  --tls-key FILE       PEM private key\n"
    "  --quota-bytes N      storage quota for accounts created from now on (default 0 = unlimited)\n"
    "  --gc-grace SECONDS   unreferenced chunks younger than this survive garbage collection (default 3600)\n"
    "  --metadata URL       metadata engine instead of DIR/meta.sqlite: sqlite:///abs/path/meta.sqlite or\n"
    "                       postgresql://user@host/db[?schema=NAME] (alias --meta-url)\n"
    "  --blobs URL          blob engine instead of DIR/blobs: file:///abs/dir or\n"
    "                       s3://bucket?endpoint=URL&region=R (alias --blob-url)\n"
    "  --metadata-password-file FILE   PostgreSQL password (else PGPASSWORD)\n"
    "  --blobs-credentials-file FILE   S3 credentials (else AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY)\n"
    "  --log-key FILE       access-log signing key (default DIR/staff-log.key; created 0600 if missing)\n"
    "  --quiet              do not log one line per request\n"
    "\n"
    "       coffer-server staff add|list|disable ...   manage support staff (coffer-server staff --help)\n";

// Flags, environment and config file, merged by server/config.h.
using Flags = coffer::server::ServerConfig;

int Fail(const std::string& message) {
  std::fprintf(stderr, "coffer-server: %s\n", message.c_str());
  return 2;
}

StatusOr<Flags> ParseFlags(int argc, char** argv) {
  COFFER_ASSIGN_OR_RETURN(Flags f, coffer::server::LoadServerConfig(std::vector<std::string>(argv + 1, argv + argc),
                                                                     coffer::server::CurrentEnvironment()));
  if (f.help) {
    std::fputs(kUsage, stdout);
    std::exit(0);
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  coffer::crypto::DisableCoreDumps();
  if (argc > 1 && std::string(argv[1]) == "staff") {
    return coffer::server::StaffAdminMain(std::vector<std::string>(argv + 2, argv + argc));
  }
  if (argc > 1 && std::string(argv[1]) == "migrate") {
    return coffer::server::MigrateMain(std::vector<std::string>(argv + 2, argv + argc));
  }
  auto flags_or = ParseFlags(argc, argv);
  if (!flags_or.ok()) return Fail(flags_or.status().message() + "\n\n" + kUsage);
  const Flags& flags = *flags_or;
  coffer::server::SetVerboseLogging(!flags.quiet);

  auto listen = coffer::server::ParseListenAddress(flags.listen);
  if (!listen.ok()) return Fail(listen.status().message());

  std::string meta_url = flags.meta_url;
  std::string blob_url = flags.blob_url;
  std::string log_key_file = flags.log_key;
  if (!flags.data_dir.empty()) {
    std::error_code fs_ec;
    const std::filesystem::path data = std::filesystem::absolute(flags.data_dir, fs_ec);
    if (fs_ec) return Fail("data directory " + flags.data_dir + ": " + fs_ec.message());
    std::filesystem::create_directories(data, fs_ec);
    if (fs_ec || !std::filesystem::is_directory(data)) {
      return Fail("cannot create data directory " + data.string() + ": " +
                  (fs_ec ? fs_ec.message() : std::string("not a directory")));
    }
    // The data is ciphertext, but login hashes and session hashes are in there too.
    ::chmod(data.c_str(), 0700);
    if (meta_url.empty()) meta_url = "sqlite://" + (data / "meta.sqlite").string();
    if (blob_url.empty()) blob_url = "file://" + (data / "blobs").string();
    if (log_key_file.empty()) log_key_file = (data / "staff-log.key").string();
  }

  {
    Flags with_defaults = flags;
    with_defaults.meta_url = meta_url;
    with_defaults.blob_url = blob_url;
    auto engines = coffer::server::ResolveEngineUrls(with_defaults);
    if (!engines.ok()) return Fail(engines.status().message());
    meta_url = engines->meta_url;
    blob_url = engines->blob_url;
  }
  // Engine errors may echo a connection string: nothing secret reaches the log or stderr.
  const auto secrets = coffer::server::EnvironmentSecrets(coffer::server::CurrentEnvironment());
  auto open_failed = [&](const std::string& what, const std::string& url, const coffer::Status& st) {
    return Fail(coffer::server::ScrubSecrets(
        "cannot open " + what + " " + coffer::server::RedactUrl(url) + ": " + st.ToString(), url, secrets));
  };
  auto meta = coffer::store::OpenMetaStore(meta_url);
  if (!meta.ok()) return open_failed("metadata store", meta_url, meta.status());
  auto blobs = coffer::store::OpenBlobStore(blob_url);
  if (!blobs.ok()) return open_failed("blob store", blob_url, blobs.status());
  coffer::server::LogLine("metadata " + coffer::server::RedactUrl(meta_url) + ", blobs " +
                          coffer::server::RedactUrl(blob_url) +
                          (flags.config_file.empty() ? "" : ", config " + flags.config_file));

  // The support console needs the access log's key; without one (no --data, no --log-key)
  // the staff API stays off rather than run unlogged.
  std::unique_ptr<coffer::store::StaffStore> staff_store;
  if (!log_key_file.empty()) {
    auto opened = coffer::store::OpenStaffStore(meta_url);
    if (!opened.ok()) return open_failed("staff store", meta_url, opened.status());
    staff_store = std::move(opened).value();
  } else {
    coffer::server::LogLine("no --log-key and no --data: the staff console API is disabled");
  }
  coffer::server::ApiOptions api_options;
  api_options.staff = staff_store.get();
  api_options.log_key_file = log_key_file;
  api_options.default_quota_bytes = flags.quota_bytes;
  api_options.gc_grace_seconds = flags.gc_grace;
  auto api = coffer::server::Api::Create(**meta, **blobs, std::move(api_options));
  if (!api.ok()) return Fail(coffer::server::ScrubSecrets("cannot start: " + api.status().ToString(), meta_url, secrets));

  // Block the stop signals in every thread (the server's threads inherit this mask) and
  // take them synchronously below with sigwait, so no handler runs in async-signal context.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  // A client that hangs up mid-write must not kill the process.
  signal(SIGPIPE, SIG_IGN);

  coffer::server::HttpServerOptions http_options;
  http_options.host = listen->first;
  http_options.port = listen->second;
  http_options.threads = flags.threads;
  http_options.tls_cert_file = flags.tls_cert;
  http_options.tls_key_file = flags.tls_key;
  http_options.trusted_proxies = flags.trusted_proxies;
  auto server = coffer::server::HttpServer::Start(**api, http_options);
  if (!server.ok()) return Fail(server.status().message());

  std::printf("coffer-server listening on %s\n", (*server)->url().c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&stop_signals, &sig);
  coffer::server::LogLine(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                          "; finishing requests in flight");
  (*server)->Stop();
  (*server)->Wait();
  coffer::server::LogLine("stopped");
  return 0;
}
