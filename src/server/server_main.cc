// coffer-server: the untrusted store (docs/API.md).
//
//   coffer-server --data DIR [--listen 127.0.0.1:8420] [--threads N]
//                 [--tls-cert FILE --tls-key FILE] [--quota-bytes N] [--gc-grace SECONDS]
//                 [--meta-url URL] [--blob-url URL] [--quiet]
//
// Metadata goes to DIR/meta.sqlite, chunk bytes to DIR/blobs, unless --meta-url / --blob-url
// name other engines (store/open.h). Prints
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
#include "server/http_server.h"
#include "server/log.h"
#include "server/staff_admin.h"
#include "server/validate.h"
#include "store/open.h"

namespace {

using coffer::Status;
using coffer::StatusOr;

constexpr const char* kUsage =
    "usage: coffer-server --data DIR [--listen HOST:PORT] [--threads N]\n"
    "                     [--tls-cert FILE --tls-key FILE] [--quota-bytes N] [--gc-grace SECONDS]\n"
    "                     [--meta-url URL] [--blob-url URL] [--quiet]\n"
    "\n"
    "  --data DIR           where to keep metadata (DIR/meta.sqlite) and chunks (DIR/blobs); created if "
    "missing\n"
    "  --listen HOST:PORT   address to listen on (default 127.0.0.1:8420; port 0 picks a free port).\n"
    "                       Plain HTTP is allowed only on loopback (127.0.0.0/8, ::1)\n"
    "  --threads N          I/O and handler threads (default 4)\n"
    "  --tls-cert FILE      PEM certificate chain; with --tls-key enables HTTPS (TLS 1.2+)\n"
    "  --tls-key FILE       PEM private key\n"
    "  --quota-bytes N      storage quota for accounts created from now on (default 0 = unlimited)\n"
    "  --gc-grace SECONDS   unreferenced chunks younger than this survive garbage collection (default 3600)\n"
    "  --meta-url URL       metadata engine instead of DIR/meta.sqlite, e.g. sqlite:///abs/path/meta.sqlite\n"
    "  --blob-url URL       blob engine instead of DIR/blobs, e.g. file:///abs/dir\n"
    "  --log-key FILE       access-log signing key (default DIR/staff-log.key; created 0600 if missing)\n"
    "  --quiet              do not log one line per request\n"
    "\n"
    "       coffer-server staff add|list|disable ...   manage support staff (coffer-server staff --help)\n";

struct Flags {
  std::string data_dir;
  std::string listen = "127.0.0.1:8420";
  int threads = 4;
  std::string tls_cert;
  std::string tls_key;
  uint64_t quota_bytes = 0;
  int64_t gc_grace = 3600;
  std::string meta_url;
  std::string blob_url;
  std::string log_key;
  bool quiet = false;
};

int Fail(const std::string& message) {
  std::fprintf(stderr, "coffer-server: %s\n", message.c_str());
  return 2;
}

// A small hand parser: the flag set is tiny and the server does not link CLI11.
StatusOr<Flags> ParseFlags(int argc, char** argv) {
  Flags f;
  std::vector<std::string> args(argv + 1, argv + argc);
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::optional<std::string> inline_value;
    if (size_t eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto value = [&]() -> StatusOr<std::string> {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) return coffer::InvalidArgumentError(name + " needs a value");
      return args[++i];
    };
    if (name == "--help" || name == "-h") {
      std::fputs(kUsage, stdout);
      std::exit(0);
    } else if (name == "--quiet") {
      f.quiet = true;
    } else if (name == "--data") {
      COFFER_ASSIGN_OR_RETURN(f.data_dir, value());
    } else if (name == "--listen") {
      COFFER_ASSIGN_OR_RETURN(f.listen, value());
    } else if (name == "--tls-cert") {
      COFFER_ASSIGN_OR_RETURN(f.tls_cert, value());
    } else if (name == "--tls-key") {
      COFFER_ASSIGN_OR_RETURN(f.tls_key, value());
    } else if (name == "--meta-url") {
      COFFER_ASSIGN_OR_RETURN(f.meta_url, value());
    } else if (name == "--log-key") {
      COFFER_ASSIGN_OR_RETURN(f.log_key, value());
    } else if (name == "--blob-url") {
      COFFER_ASSIGN_OR_RETURN(f.blob_url, value());
    } else if (name == "--threads") {
      COFFER_ASSIGN_OR_RETURN(std::string v, value());
      COFFER_ASSIGN_OR_RETURN(uint64_t n, coffer::server::ParseUint(v, "--threads", 1, 256));
      f.threads = static_cast<int>(n);
    } else if (name == "--quota-bytes") {
      COFFER_ASSIGN_OR_RETURN(std::string v, value());
      COFFER_ASSIGN_OR_RETURN(f.quota_bytes, coffer::server::ParseUint(v, "--quota-bytes", 0, UINT64_MAX));
    } else if (name == "--gc-grace") {
      COFFER_ASSIGN_OR_RETURN(std::string v, value());
      COFFER_ASSIGN_OR_RETURN(uint64_t g, coffer::server::ParseUint(v, "--gc-grace", 0, 10ull * 365 * 86400));
      f.gc_grace = static_cast<int64_t>(g);
    } else {
      return coffer::InvalidArgumentError("unknown argument \"" + args[i] + "\"");
    }
  }
  if (f.data_dir.empty() && (f.meta_url.empty() || f.blob_url.empty())) {
    return coffer::InvalidArgumentError("--data DIR is required (or both --meta-url and --blob-url)");
  }
  if (f.tls_cert.empty() != f.tls_key.empty()) {
    return coffer::InvalidArgumentError("--tls-cert and --tls-key go together");
  }
  return f;
}

}  // namespace

int main(int argc, char** argv) {
  coffer::crypto::DisableCoreDumps();
  if (argc > 1 && std::string(argv[1]) == "staff") {
    return coffer::server::StaffAdminMain(std::vector<std::string>(argv + 2, argv + argc));
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

  auto meta = coffer::store::OpenMetaStore(meta_url);
  if (!meta.ok()) return Fail("cannot open metadata store " + meta_url + ": " + meta.status().ToString());
  auto blobs = coffer::store::OpenBlobStore(blob_url);
  if (!blobs.ok()) return Fail("cannot open blob store " + blob_url + ": " + blobs.status().ToString());

  // The support console needs the access log's key; without one (no --data, no --log-key)
  // the staff API stays off rather than run unlogged.
  std::unique_ptr<coffer::store::StaffStore> staff_store;
  if (!log_key_file.empty()) {
    auto opened = coffer::store::OpenStaffStore(meta_url);
    if (!opened.ok()) return Fail("cannot open staff store " + meta_url + ": " + opened.status().ToString());
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
  if (!api.ok()) return Fail("cannot start: " + api.status().ToString());

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
