// coffer-server's configuration (src/server/config.h): the config file, the environment, and
// the URL redaction every log line and error message goes through.
//
// Input: byte 0 selects (mod 4), the rest is the text:
//   0 ParseConfigText(text, "fuzz.conf")
//   1 LoadServerConfig({"--config", FILE}) with the text as FILE, then ResolveEngineUrls
//   2 LoadServerConfig with an environment of "NAME=VALUE" lines (COFFER_* settings)
//   3 RedactUrl, ScrubSecrets, ParseListenAddress and the engines' URL parsers
//     (ParseConnectionUrl for postgresql://, ParseS3Url for s3://) on the text
// Must never crash. A finding (abort) is also: a refusal with another code than the header
// promises; a message about the file that does not name FILE:LINE; a parsed setting whose
// place is not FILE:LINE or whose value spans lines; RedactUrl not idempotent, or leaving a
// password of the user-info part in place; a PostgreSQL URL whose redacted form does not say
// "***" where the password was.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "server/config.h"
#include "server/http_server.h"
#include "store/postgres/pg_conn.h"
#include "store/s3/s3_blob_store.h"

using namespace coffer;
using namespace coffer::server;
using coffer::fuzz::Finding;

namespace {

std::string g_dir;

void RemoveScratch() {
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
}

void ExpectCode(const Status& status, std::initializer_list<StatusCode> allowed, const char* what) {
  for (StatusCode c : allowed)
    if (status.code() == c) return;
  Finding(what, "refused with an unexpected code: " + status.ToString());
}

void CheckLoaded(const StatusOr<ServerConfig>& config, const char* what) {
  if (!config.ok()) {
    ExpectCode(config.status(), {StatusCode::kInvalidArgument, StatusCode::kNotFound, StatusCode::kFailedPrecondition},
               what);
    return;
  }
  auto urls = ResolveEngineUrls(*config);
  if (!urls.ok()) ExpectCode(urls.status(), {StatusCode::kInvalidArgument}, "ResolveEngineUrls");
  (void)RedactUrl(config->meta_url);
  (void)RedactUrl(config->blob_url);
}

// The password of scheme://user:PASSWORD@host, as RedactUrl and ParseConnectionUrl find it
// (the authority ends at the first '/', '?' or '#'); empty if none.
std::string UserInfoPassword(std::string_view url) {
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return "";
  const size_t start = scheme_end + 3;
  const size_t end = std::min(url.find_first_of("/?#", start), url.size());
  const std::string_view authority = url.substr(start, end - start);
  const size_t at = authority.rfind('@');
  if (at == std::string_view::npos) return "";
  const std::string_view userinfo = authority.substr(0, at);
  const size_t colon = userinfo.find(':');
  if (colon == std::string_view::npos) return "";
  return std::string(userinfo.substr(colon + 1));
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  g_dir = coffer::fuzz::ScratchDir("config");
  std::atexit(RemoveScratch);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t which = data[0] % 4;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (which) {
    case 0: {
      auto settings = ParseConfigText(text, "fuzz.conf");
      if (!settings.ok()) {
        ExpectCode(settings.status(), {StatusCode::kInvalidArgument}, "ParseConfigText");
        if (settings.status().message().rfind("fuzz.conf:", 0) != 0)
          Finding("a config file error does not start with FILE:LINE:", settings.status().ToString());
        break;
      }
      for (const auto& [key, setting] : *settings) {
        if (setting.where.rfind("fuzz.conf:", 0) != 0) Finding("a setting's place is not FILE:LINE");
        if (setting.value.find('\n') != std::string::npos) Finding("a setting's value spans lines:", key);
      }
      break;
    }
    case 1: {
      const std::string path = g_dir + "/coffer.conf";
      const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
      if (fd < 0) Finding("cannot write the scratch config file", path);
      if (!text.empty() && ::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size()))
        Finding("short write", path);
      ::close(fd);
      CheckLoaded(LoadServerConfig({"--config", path}, Environment{}), "LoadServerConfig(--config)");
      break;
    }
    case 2: {
      Environment env;
      size_t pos = 0;
      while (pos < text.size()) {
        size_t end = text.find('\n', pos);
        if (end == std::string_view::npos) end = text.size();
        const std::string_view line = text.substr(pos, end - pos);
        pos = end + 1;
        const size_t eq = line.find('=');
        if (eq == std::string_view::npos) continue;
        env[std::string(line.substr(0, eq))] = std::string(line.substr(eq + 1));
      }
      env.erase("COFFER_CONFIG");  // a file name from the input could name any file
      CheckLoaded(LoadServerConfig({}, env), "LoadServerConfig(environment)");
      (void)EnvironmentSecrets(env);
      break;
    }
    default: {
      const std::string once = RedactUrl(text);
      if (RedactUrl(once) != once) Finding("RedactUrl is not idempotent");
      const std::string password = UserInfoPassword(text);
      if (!password.empty() && password != "REDACTED" && UserInfoPassword(once) != "REDACTED")
        Finding("RedactUrl left the user-info password in place");
      (void)ScrubSecrets(std::string(text), text, {"extra"});
      auto listen = ParseListenAddress(text);
      if (!listen.ok()) ExpectCode(listen.status(), {StatusCode::kInvalidArgument}, "ParseListenAddress");
      const std::string url(text);
      auto pg = store::pg::ParseConnectionUrl(url);
      if (!pg.ok()) {
        ExpectCode(pg.status(), {StatusCode::kInvalidArgument, StatusCode::kFailedPrecondition, StatusCode::kNotFound},
                   "ParseConnectionUrl");
      } else if (const std::string written = UserInfoPassword(url); !written.empty()) {
        // Where the password was written, the redacted URL says "***" (the rest of the URL is
        // kept, and may spell anything).
        if (UserInfoPassword(pg->redacted_url) != "***")
          Finding("ParseConnectionUrl: redacted_url does not hide the user-info password");
      }
      auto s3 = store::s3::ParseS3Url(url);
      if (!s3.ok())
        ExpectCode(s3.status(), {StatusCode::kInvalidArgument, StatusCode::kFailedPrecondition, StatusCode::kNotFound},
                   "ParseS3Url");
      break;
    }
  }
  return 0;
}
