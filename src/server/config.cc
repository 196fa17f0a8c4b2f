#include "server/config.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <optional>
#include <sstream>

#include "server/http_server.h"
#include "server/validate.h"

extern char** environ;

namespace coffer::server {
namespace {

enum class Kind { kText, kPath, kUrl, kListen, kThreads, kBytes, kSeconds, kBool, kAddressList };

bool IsIpAddress(const std::string& text) {
  in6_addr v6;
  in_addr v4;
  return ::inet_pton(AF_INET, text.c_str(), &v4) == 1 || ::inet_pton(AF_INET6, text.c_str(), &v6) == 1;
}

struct SettingSpec {
  std::string_view key;       // config file key
  std::string_view env;       // environment variable
  std::string_view flag;      // primary flag
  std::string_view alias;     // older flag spelling, or empty
  Kind kind;
};

constexpr SettingSpec kSettings[] = {
    {"listen", "COFFER_LISTEN", "--listen", "", Kind::kListen},
    {"threads", "COFFER_THREADS", "--threads", "", Kind::kThreads},
    {"data", "COFFER_DATA", "--data", "", Kind::kPath},
    {"metadata", "COFFER_METADATA", "--metadata", "--meta-url", Kind::kUrl},
    {"blobs", "COFFER_BLOBS", "--blobs", "--blob-url", Kind::kUrl},
    {"metadata_password_file", "COFFER_METADATA_PASSWORD_FILE", "--metadata-password-file", "", Kind::kPath},
    {"blobs_credentials_file", "COFFER_BLOBS_CREDENTIALS_FILE", "--blobs-credentials-file", "", Kind::kPath},
    {"log_key", "COFFER_LOG_KEY", "--log-key", "", Kind::kPath},
    {"tls_cert", "COFFER_TLS_CERT", "--tls-cert", "", Kind::kPath},
    {"tls_key", "COFFER_TLS_KEY", "--tls-key", "", Kind::kPath},
    {"quota_bytes", "COFFER_QUOTA_BYTES", "--quota-bytes", "", Kind::kBytes},
    {"gc_grace", "COFFER_GC_GRACE", "--gc-grace", "", Kind::kSeconds},
    {"quiet", "COFFER_QUIET", "--quiet", "", Kind::kBool},
    {"trusted_proxies", "COFFER_TRUSTED_PROXIES", "--trusted-proxies", "", Kind::kAddressList},
};

const SettingSpec* FindByKey(std::string_view key) {
  for (const auto& s : kSettings)
    if (s.key == key) return &s;
  return nullptr;
}

const SettingSpec* FindByFlag(std::string_view flag) {
  for (const auto& s : kSettings)
    if (s.flag == flag || (!s.alias.empty() && s.alias == flag)) return &s;
  return nullptr;
}

std::string KnownKeys() {
  std::string out;
  for (const auto& s : kSettings) out += (out.empty() ? "" : ", ") + std::string(s.key);
  return out;
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\r')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) s.remove_suffix(1);
  return s;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Shows a value in a message: URLs redacted, and nothing longer than a line.
std::string Shown(const SettingSpec& spec, std::string_view value) {
  std::string shown = spec.kind == Kind::kUrl ? RedactUrl(value) : std::string(value);
  if (shown.size() > 200) shown = shown.substr(0, 200) + "...";
  return "\"" + shown + "\"";
}

Status Bad(std::string_view where, const SettingSpec& spec, std::string_view value, std::string_view expected) {
  return InvalidArgumentError(std::string(where) + ": " + std::string(spec.key) + " = " + Shown(spec, value) +
                              ": " + std::string(expected));
}

StatusOr<uint64_t> Number(std::string_view where, const SettingSpec& spec, std::string_view value, uint64_t min,
                          uint64_t max) {
  auto n = ParseUint(value, spec.key, min, max);
  if (!n.ok()) {
    return Bad(where, spec, value,
               "expected a whole number from " + std::to_string(min) + " to " + std::to_string(max));
  }
  return *n;
}

// Checks one value and stores it. `where` is "FILE:LINE", "environment variable X" or "--flag".
Status Apply(ServerConfig& config, const SettingSpec& spec, std::string_view value, std::string_view where) {
  if (value.find('\0') != std::string_view::npos) return Bad(where, spec, "", "contains a NUL byte");
  switch (spec.kind) {
    case Kind::kListen: {
      auto parsed = ParseListenAddress(value);
      if (!parsed.ok()) return Bad(where, spec, value, parsed.status().message());
      config.listen = std::string(value);
      return OkStatus();
    }
    case Kind::kThreads: {
      COFFER_ASSIGN_OR_RETURN(uint64_t n, Number(where, spec, value, 1, 256));
      config.threads = static_cast<int>(n);
      return OkStatus();
    }
    case Kind::kBytes: {
      COFFER_ASSIGN_OR_RETURN(config.quota_bytes, Number(where, spec, value, 0, UINT64_MAX));
      return OkStatus();
    }
    case Kind::kSeconds: {
      COFFER_ASSIGN_OR_RETURN(uint64_t g, Number(where, spec, value, 0, 10ull * 365 * 86400));
      config.gc_grace = static_cast<int64_t>(g);
      return OkStatus();
    }
    case Kind::kBool: {
      const std::string v = Lower(value);
      if (v == "true" || v == "yes" || v == "on" || v == "1") {
        config.quiet = true;
      } else if (v == "false" || v == "no" || v == "off" || v == "0") {
        config.quiet = false;
      } else {
        return Bad(where, spec, value, "expected true or false");
      }
      return OkStatus();
    }
    case Kind::kUrl: {
      const size_t colon = value.find("://");
      if (value.empty() || colon == std::string_view::npos || colon == 0) {
        // Not a URL, so RedactUrl cannot find a password in it: do not echo it at all.
        return Bad(where, spec, "(not shown: it may hold a password)",
                   spec.key == "metadata" ? "expected a URL: sqlite:///abs/path.sqlite or postgresql://user@host/db"
                                          : "expected a URL: file:///abs/dir or s3://bucket?endpoint=https://host");
      }
      (spec.key == "metadata" ? config.meta_url : config.blob_url) = std::string(value);
      return OkStatus();
    }
    case Kind::kAddressList: {
      // Comma-separated IP addresses of load balancers whose X-Forwarded-For is believed.
      std::vector<std::string> list;
      size_t pos = 0;
      while (pos <= value.size()) {
        size_t comma = value.find(',', pos);
        if (comma == std::string_view::npos) comma = value.size();
        std::string item(value.substr(pos, comma - pos));
        while (!item.empty() && item.front() == ' ') item.erase(0, 1);
        while (!item.empty() && item.back() == ' ') item.pop_back();
        if (!item.empty()) {
          if (!IsIpAddress(item)) return Bad(where, spec, value, "expected IP addresses separated by commas");
          list.push_back(item);
        }
        pos = comma + 1;
      }
      config.trusted_proxies = std::move(list);
      return OkStatus();
    }
    case Kind::kPath:
    case Kind::kText: {
      if (value.empty()) return Bad(where, spec, value, "expected a path, got nothing");
      std::string v(value);
      if (spec.key == "data") config.data_dir = v;
      if (spec.key == "metadata_password_file") config.metadata_password_file = v;
      if (spec.key == "blobs_credentials_file") config.blobs_credentials_file = v;
      if (spec.key == "log_key") config.log_key = v;
      if (spec.key == "tls_cert") config.tls_cert = v;
      if (spec.key == "tls_key") config.tls_key = v;
      return OkStatus();
    }
  }
  return InternalError("unhandled setting kind");
}

struct FlagValue {
  std::string value;
  std::string where;
};

// Splits the command line into the config file (if named) and flag settings, in order.
struct ParsedArgs {
  std::optional<FlagValue> config_file;
  std::vector<std::pair<const SettingSpec*, FlagValue>> settings;
  bool help = false;
};

StatusOr<ParsedArgs> ParseArgs(const std::vector<std::string>& args) {
  ParsedArgs out;
  for (size_t i = 0; i < args.size(); ++i) {
    std::string name = args[i];
    std::optional<std::string> inline_value;
    if (size_t eq = name.find('='); name.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    auto value = [&]() -> StatusOr<std::string> {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) return InvalidArgumentError(name + " needs a value");
      return args[++i];
    };
    if (name == "--help" || name == "-h") {
      out.help = true;
      continue;
    }
    if (name == "--config") {
      COFFER_ASSIGN_OR_RETURN(std::string file, value());
      out.config_file = FlagValue{file, "--config"};
      continue;
    }
    const SettingSpec* spec = FindByFlag(name);
    if (spec == nullptr) {
      return InvalidArgumentError("unknown argument \"" + args[i].substr(0, 100) + "\"");
    }
    if (spec->kind == Kind::kBool && !inline_value) {
      out.settings.push_back({spec, FlagValue{"true", name}});
      continue;
    }
    COFFER_ASSIGN_OR_RETURN(std::string v, value());
    out.settings.push_back({spec, FlagValue{v, name}});
  }
  return out;
}

StatusOr<std::string> ReadConfigFile(const std::string& path, std::string_view named_by) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return NotFoundError("cannot read the config file " + path + " (named by " + std::string(named_by) +
                         "): it does not exist or is not readable");
  }
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return FailedPreconditionError("cannot read the config file " + path);
  std::string s = text.str();
  constexpr size_t kMaxConfigBytes = 1 << 20;
  if (s.size() > kMaxConfigBytes) {
    return InvalidArgumentError("config file " + path + " is larger than 1 MiB; is it the right file?");
  }
  return s;
}

bool IsSecretParam(std::string_view name) {
  const std::string n = Lower(name);
  if (n.ends_with("file")) return false;  // a path to a secret, not the secret
  for (std::string_view word : {"password", "passwd", "secret", "token", "signature", "credential"}) {
    if (n.find(word) != std::string::npos) return true;
  }
  return n.ends_with("key");
}

// Every secret RedactUrl would hide in `url`, as they appear in it.
std::vector<std::string> SecretsInUrl(std::string_view url) {
  std::vector<std::string> secrets;
  const size_t scheme_end = url.find("://");
  if (scheme_end == std::string_view::npos) return secrets;
  const size_t authority_start = scheme_end + 3;
  const size_t authority_end = std::min(url.find_first_of("/?#", authority_start), url.size());
  std::string_view authority = url.substr(authority_start, authority_end - authority_start);
  // The last '@' ends the user-info (a password may itself contain an unescaped '@').
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    if (size_t colon = userinfo.find(':'); colon != std::string_view::npos && colon + 1 < userinfo.size()) {
      secrets.emplace_back(userinfo.substr(colon + 1));
    }
  }
  if (size_t q = url.find('?', authority_start); q != std::string_view::npos) {
    std::string_view query = url.substr(q + 1);
    query = query.substr(0, query.find('#'));
    while (!query.empty()) {
      const size_t amp = query.find('&');
      std::string_view pair = query.substr(0, amp);
      if (size_t eq = pair.find('='); eq != std::string_view::npos && eq + 1 < pair.size()) {
        if (IsSecretParam(pair.substr(0, eq))) secrets.emplace_back(pair.substr(eq + 1));
      }
      if (amp == std::string_view::npos) break;
      query.remove_prefix(amp + 1);
    }
  }
  return secrets;
}

void ReplaceAll(std::string& text, const std::string& needle, std::string_view with) {
  if (needle.empty()) return;
  for (size_t pos = text.find(needle); pos != std::string::npos; pos = text.find(needle, pos + with.size())) {
    text.replace(pos, needle.size(), with);
  }
}

}  // namespace

Environment CurrentEnvironment() {
  Environment env;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view kv = *e;
    const size_t eq = kv.find('=');
    if (eq != std::string_view::npos) env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
  }
  return env;
}

StatusOr<std::map<std::string, FileSetting>> ParseConfigText(std::string_view text, const std::string& origin) {
  std::map<std::string, FileSetting> out;
  size_t line_no = 0;
  for (bool more = true; more;) {
    ++line_no;
    const size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    more = nl != std::string_view::npos;
    text = more ? text.substr(nl + 1) : std::string_view();
    const std::string where = origin + ":" + std::to_string(line_no);
    // A comment starts a line or follows whitespace, so a '#' inside a value (a URL fragment,
    // a password) needs no quotes unless it follows a space.
    bool in_quotes = false;
    for (size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '"') in_quotes = !in_quotes;
      if (line[i] == '#' && !in_quotes && (i == 0 || line[i - 1] == ' ' || line[i - 1] == '\t')) {
        line = line.substr(0, i);
        break;
      }
    }
    line = Trim(line);
    if (line.empty()) continue;
    const size_t eq = line.find('=');
    if (eq == std::string_view::npos) {
      return InvalidArgumentError(where + ": expected \"key = value\", got \"" +
                                  std::string(line.substr(0, 80)) + "\"");
    }
    const std::string key(Trim(line.substr(0, eq)));
    std::string_view value = Trim(line.substr(eq + 1));
    if (FindByKey(key) == nullptr) {
      return InvalidArgumentError(where + ": unknown key \"" + key.substr(0, 80) + "\" (known keys: " +
                                  KnownKeys() + ")");
    }
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
      value = value.substr(1, value.size() - 2);
    } else if (value.find('"') != std::string_view::npos) {
      return InvalidArgumentError(where + ": " + key + ": unbalanced double quote");
    }
    if (auto it = out.find(key); it != out.end()) {
      return InvalidArgumentError(where + ": " + key + " is already set at " + it->second.where);
    }
    out.emplace(key, FileSetting{std::string(value), where});
  }
  return out;
}

StatusOr<ServerConfig> LoadServerConfig(const std::vector<std::string>& args, const Environment& env) {
  COFFER_ASSIGN_OR_RETURN(ParsedArgs parsed, ParseArgs(args));
  ServerConfig config;
  config.help = parsed.help;
  if (parsed.help) return config;

  // Lowest precedence first; each layer overwrites what the one below set.
  std::optional<FlagValue> file = parsed.config_file;
  if (!file) {
    if (auto it = env.find("COFFER_CONFIG"); it != env.end() && !it->second.empty()) {
      file = FlagValue{it->second, "environment variable COFFER_CONFIG"};
    }
  }
  if (file) {
    config.config_file = file->value;
    COFFER_ASSIGN_OR_RETURN(std::string text, ReadConfigFile(file->value, file->where));
    COFFER_ASSIGN_OR_RETURN(auto settings, ParseConfigText(text, file->value));
    for (const auto& [key, setting] : settings) {
      COFFER_RETURN_IF_ERROR(Apply(config, *FindByKey(key), setting.value, setting.where));
    }
  }
  for (const auto& spec : kSettings) {
    auto it = env.find(std::string(spec.env));
    if (it == env.end()) continue;
    COFFER_RETURN_IF_ERROR(Apply(config, spec, it->second, "environment variable " + std::string(spec.env)));
  }
  for (const auto& [spec, flag] : parsed.settings) {
    COFFER_RETURN_IF_ERROR(Apply(config, *spec, flag.value, flag.where));
  }

  if (config.data_dir.empty() && (config.meta_url.empty() || config.blob_url.empty())) {
    return InvalidArgumentError(
        "no storage configured: give a data directory (--data DIR, COFFER_DATA or `data =`) or both engine "
        "URLs (metadata and blobs)");
  }
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return InvalidArgumentError("tls_cert and tls_key go together: give both or neither");
  }
  return config;
}

StatusOr<EngineUrls> ResolveEngineUrls(const ServerConfig& config) {
  EngineUrls urls{config.meta_url, config.blob_url};
  if (!config.data_dir.empty()) {
    std::string dir = config.data_dir;
    while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
    if (urls.meta_url.empty()) urls.meta_url = "sqlite://" + dir + "/meta.sqlite";
    if (urls.blob_url.empty()) urls.blob_url = "file://" + dir + "/blobs";
  }
  if (!config.metadata_password_file.empty()) {
    if (!urls.meta_url.starts_with("postgresql://") && !urls.meta_url.starts_with("postgres://")) {
      return InvalidArgumentError("metadata_password_file is for a postgresql:// metadata store; " +
                                  RedactUrl(urls.meta_url) + " takes no password");
    }
    if (urls.meta_url.find("password_file=") != std::string::npos) {
      return InvalidArgumentError("the metadata URL already names a password_file; remove metadata_password_file");
    }
    urls.meta_url += (urls.meta_url.find('?') == std::string::npos ? "?" : "&");
    urls.meta_url += "password_file=" + config.metadata_password_file;
  }
  if (!config.blobs_credentials_file.empty()) {
    if (!urls.blob_url.starts_with("s3://")) {
      return InvalidArgumentError("blobs_credentials_file is for an s3:// blob store; " + RedactUrl(urls.blob_url) +
                                  " takes no credentials");
    }
    if (urls.blob_url.find("credentials_file=") != std::string::npos) {
      return InvalidArgumentError("the blobs URL already names a credentials_file; remove blobs_credentials_file");
    }
    urls.blob_url += (urls.blob_url.find('?') == std::string::npos ? "?" : "&");
    urls.blob_url += "credentials_file=" + config.blobs_credentials_file;
  }
  return urls;
}

std::string RedactUrl(std::string_view url) {
  std::string out(url);
  const size_t scheme_end = out.find("://");
  if (scheme_end == std::string::npos) return out;
  const size_t authority_start = scheme_end + 3;
  size_t authority_end = std::min(out.find_first_of("/?#", authority_start), out.size());
  std::string_view authority = std::string_view(out).substr(authority_start, authority_end - authority_start);
  if (size_t at = authority.rfind('@'); at != std::string_view::npos) {
    std::string_view userinfo = authority.substr(0, at);
    if (size_t colon = userinfo.find(':'); colon != std::string_view::npos) {
      const size_t pw_start = authority_start + colon + 1;
      const size_t pw_len = at - colon - 1;
      out.replace(pw_start, pw_len, "REDACTED");
    }
  }
  size_t q = out.find('?', authority_start);
  if (q == std::string::npos) return out;
  std::string rebuilt = out.substr(0, q + 1);
  std::string_view query = std::string_view(out).substr(q + 1);
  std::string fragment;
  if (size_t hash = query.find('#'); hash != std::string_view::npos) {
    fragment = std::string(query.substr(hash));
    query = query.substr(0, hash);
  }
  bool first = true;
  while (true) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    if (!first) rebuilt += '&';
    first = false;
    const size_t eq = pair.find('=');
    if (eq != std::string_view::npos && IsSecretParam(pair.substr(0, eq))) {
      rebuilt += std::string(pair.substr(0, eq + 1)) + "REDACTED";
    } else {
      rebuilt += pair;
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return rebuilt + fragment;
}

std::string ScrubSecrets(std::string text, std::string_view url, const std::vector<std::string>& extra_secrets) {
  std::vector<std::string> secrets = SecretsInUrl(url);
  secrets.insert(secrets.end(), extra_secrets.begin(), extra_secrets.end());
  // Longest first, so a secret that contains another is replaced whole.
  std::sort(secrets.begin(), secrets.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  for (const auto& s : secrets) {
    ReplaceAll(text, s, "REDACTED");
  }
  return text;
}

std::vector<std::string> EnvironmentSecrets(const Environment& env) {
  std::vector<std::string> out;
  for (const char* name : {"PGPASSWORD", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"}) {
    if (auto it = env.find(name); it != env.end() && !it->second.empty()) out.push_back(it->second);
  }
  return out;
}

}  // namespace coffer::server
