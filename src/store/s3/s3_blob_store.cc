#include "store/s3/s3_blob_store.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <fstream>
#include <mutex>
#include <random>
#include <thread>

#include "crypto/hash.h"
#include "store/s3/s3_xml.h"

namespace coffer::store::s3 {
namespace {

constexpr std::string_view kScheme = "s3://";
constexpr std::string_view kEmptySha256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
// Bodies that are not object data (XML listings, errors, multipart replies) are small; a
// longer one is refused rather than buffered.
constexpr size_t kMaxXmlBody = 16 << 20;
constexpr size_t kMaxPartCount = 10000;  // S3's limit per multipart upload
constexpr size_t kMultipartParallelism = 4;  // parts in flight per multipart Put

Status CurlInit() {
  // curl_global_init is not thread-safe and must run once before any other libcurl call.
  static std::once_flag once;
  static CURLcode result = CURLE_OK;
  std::call_once(once, [] { result = curl_global_init(CURL_GLOBAL_DEFAULT); });
  if (result != CURLE_OK) return InternalError(std::string("curl_global_init: ") + curl_easy_strerror(result));
  return OkStatus();
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
        std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

std::string Trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

// S3 bucket naming rules (the DNS-compatible subset every implementation accepts).
Status ValidateBucketName(std::string_view bucket) {
  if (bucket.size() < 3 || bucket.size() > 63) {
    return InvalidArgumentError("S3 bucket name \"" + std::string(bucket) + "\" must be 3 to 63 characters");
  }
  for (char c : bucket) {
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.')) {
      return InvalidArgumentError("S3 bucket name \"" + std::string(bucket) +
                                  "\" may use only a-z, 0-9, '-' and '.'");
    }
  }
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(bucket.front()) || !alnum(bucket.back())) {
    return InvalidArgumentError("S3 bucket name \"" + std::string(bucket) + "\" must start and end with a letter or digit");
  }
  return OkStatus();
}

struct Endpoint {
  std::string scheme;     // "http" or "https"
  std::string authority;  // host[:port] as given
  std::string host;       // without port or brackets
};

StatusOr<Endpoint> ParseEndpoint(std::string_view endpoint) {
  Endpoint out;
  std::string_view rest;
  if (endpoint.starts_with("http://")) {
    out.scheme = "http";
    rest = endpoint.substr(7);
  } else if (endpoint.starts_with("https://")) {
    out.scheme = "https";
    rest = endpoint.substr(8);
  } else {
    return InvalidArgumentError("S3 endpoint \"" + std::string(endpoint) +
                                "\" must start with http:// or https://, as in endpoint=http://127.0.0.1:7480");
  }
  if (rest.ends_with('/')) rest.remove_suffix(1);
  if (rest.empty() || rest.find_first_of("/?#@ ") != std::string_view::npos) {
    return InvalidArgumentError("S3 endpoint \"" + std::string(endpoint) +
                                "\" must be scheme://host[:port] with no path, query or user");
  }
  out.authority = std::string(rest);
  if (rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close == std::string_view::npos) return InvalidArgumentError("S3 endpoint \"" + std::string(endpoint) + "\": unclosed '['");
    out.host = std::string(rest.substr(1, close - 1));
  } else {
    out.host = std::string(rest.substr(0, rest.find(':')));
  }
  if (out.host.empty()) return InvalidArgumentError("S3 endpoint \"" + std::string(endpoint) + "\" has no host");
  return out;
}

bool IsIpOrLocalhost(const std::string& host) {
  if (host == "localhost" || host.find(':') != std::string::npos) return true;  // ':' only in IPv6
  return std::all_of(host.begin(), host.end(), [](char c) { return (c >= '0' && c <= '9') || c == '.'; });
}

// Reads aws_access_key_id / aws_secret_access_key (and aws_session_token) from an AWS
// shared-credentials file: the [default] profile, or the only one.
Status ReadCredentialsFile(const std::string& path, S3Config& config) {
  std::ifstream in(path);
  if (!in) return InvalidArgumentError("cannot read S3 credentials_file \"" + path + "\"");
  std::string line, section;
  struct Profile {
    std::string access_key, secret, token;
  };
  std::vector<std::pair<std::string, Profile>> profiles;
  size_t line_count = 0;
  while (std::getline(in, line)) {
    if (++line_count > 10000) return InvalidArgumentError("S3 credentials_file \"" + path + "\" is too long");
    const std::string t = Trim(line);
    if (t.empty() || t[0] == '#' || t[0] == ';') continue;
    if (t.front() == '[' && t.back() == ']') {
      profiles.emplace_back(Trim(std::string_view(t).substr(1, t.size() - 2)), Profile{});
      continue;
    }
    const size_t eq = t.find('=');
    if (eq == std::string::npos) continue;
    if (profiles.empty()) profiles.emplace_back("default", Profile{});
    const std::string name = Trim(std::string_view(t).substr(0, eq));
    std::string value = Trim(std::string_view(t).substr(eq + 1));
    Profile& p = profiles.back().second;
    if (name == "aws_access_key_id") p.access_key = value;
    if (name == "aws_secret_access_key") p.secret = value;
    if (name == "aws_session_token") p.token = value;
    std::fill(value.begin(), value.end(), '\0');
  }
  const Profile* chosen = nullptr;
  for (const auto& [name, profile] : profiles) {
    if (name == "default") chosen = &profile;
  }
  if (chosen == nullptr && profiles.size() == 1) chosen = &profiles[0].second;
  if (chosen == nullptr || chosen->access_key.empty() || chosen->secret.empty()) {
    return InvalidArgumentError("S3 credentials_file \"" + path +
                                "\" needs aws_access_key_id and aws_secret_access_key in a [default] profile");
  }
  config.access_key_id = chosen->access_key;
  config.secret_access_key = crypto::SecretBytes::FromBytes(AsBytes(chosen->secret));
  config.session_token = chosen->token;
  for (auto& [name, profile] : profiles) std::fill(profile.secret.begin(), profile.secret.end(), '\0');
  return OkStatus();
}

bool IsRetryableHttp(long status) { return status == 429 || (status >= 500 && status <= 599); }

size_t WriteToBytes(char* data, size_t size, size_t count, void* user);
size_t ReadFromView(char* buffer, size_t size, size_t count, void* user);
size_t CollectHeader(char* data, size_t size, size_t count, void* user);

}  // namespace

// ---- request plumbing --------------------------------------------------------------------------

struct S3BlobStore::Request {
  std::string method = {};
  std::string object = {};  // object name ("" for the bucket itself)
  std::vector<std::pair<std::string, std::string>> query = {};
  HeaderList headers = {};  // extra headers, signed
  ByteView body = {};
  bool head = false;             // HEAD: no body expected
  size_t max_body = kMaxXmlBody;  // refuse longer replies
  std::string what = {};         // for error messages: "GET a/b"
};

struct S3BlobStore::Response {
  long status = 0;  // 0 when transport_error is set
  Bytes body;
  std::string etag;
  Status transport_error;  // no HTTP reply (or an unusable one)
  bool timed_out = false;  // transport_error is a timeout, which is worth retrying
};

namespace {

struct BodySink {
  Bytes* out;
  size_t max;
  bool too_large = false;
};

struct BodySource {
  ByteView data;
  size_t pos = 0;
};

size_t WriteToBytes(char* data, size_t size, size_t count, void* user) {
  auto* sink = static_cast<BodySink*>(user);
  const size_t n = size * count;
  if (sink->out->size() + n > sink->max) {
    sink->too_large = true;
    return 0;  // makes curl fail the transfer with CURLE_WRITE_ERROR
  }
  sink->out->insert(sink->out->end(), reinterpret_cast<uint8_t*>(data), reinterpret_cast<uint8_t*>(data) + n);
  return n;
}

size_t ReadFromView(char* buffer, size_t size, size_t count, void* user) {
  auto* source = static_cast<BodySource*>(user);
  const size_t n = std::min(size * count, source->data.size() - source->pos);
  std::copy_n(source->data.data() + source->pos, n, reinterpret_cast<uint8_t*>(buffer));
  source->pos += n;
  return n;
}

size_t CollectHeader(char* data, size_t size, size_t count, void* user) {
  const size_t n = size * count;
  std::string_view line(data, n);
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    std::string name(line.substr(0, colon));
    std::transform(name.begin(), name.end(), name.begin(), ::tolower);
    if (name == "etag") *static_cast<std::string*>(user) = Trim(line.substr(colon + 1));
  }
  return n;
}

}  // namespace

// A bounded set of CURL easy handles. A handle keeps its connection cache across requests, so
// reusing handles reuses keep-alive connections to the endpoint.
class S3BlobStore::HandlePool {
 public:
  explicit HandlePool(size_t max) : max_(max) {}
  ~HandlePool() {
    for (CURL* h : idle_) curl_easy_cleanup(h);
  }

  class Lease {
   public:
    Lease(HandlePool* pool, CURL* handle) : pool_(pool), handle_(handle) {}
    Lease(const Lease&) = delete;
    Lease& operator=(const Lease&) = delete;
    ~Lease() { pool_->Release(handle_); }
    CURL* get() const { return handle_; }

   private:
    HandlePool* pool_;
    CURL* handle_;
  };

  // nullptr only if libcurl cannot allocate a handle.
  std::unique_ptr<Lease> Acquire() {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !idle_.empty() || in_use_ < max_; });
    CURL* handle = nullptr;
    if (!idle_.empty()) {
      handle = idle_.back();
      idle_.pop_back();
    } else {
      handle = curl_easy_init();
      if (handle == nullptr) return nullptr;
    }
    ++in_use_;
    return std::make_unique<Lease>(this, handle);
  }

 private:
  void Release(CURL* handle) {
    {
      std::lock_guard lock(mu_);
      --in_use_;
      idle_.push_back(handle);
    }
    cv_.notify_one();
  }

  const size_t max_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<CURL*> idle_;  // guarded by mu_
  size_t in_use_ = 0;        // guarded by mu_
};

// ---- URL and Open -----------------------------------------------------------------------------

StatusOr<S3Config> ParseS3Url(const std::string& url) {
  if (!url.starts_with(kScheme)) {
    return InvalidArgumentError("S3 URL must start with s3://, as in s3://bucket?endpoint=http://127.0.0.1:7480");
  }
  std::string_view rest = std::string_view(url).substr(kScheme.size());
  std::string_view query;
  if (size_t q = rest.find('?'); q != std::string_view::npos) {
    query = rest.substr(q + 1);
    rest = rest.substr(0, q);
  }
  S3Config config;
  const size_t slash = rest.find('/');
  config.bucket = std::string(rest.substr(0, slash));
  COFFER_RETURN_IF_ERROR(ValidateBucketName(config.bucket));
  if (slash != std::string_view::npos) {
    std::string_view prefix = rest.substr(slash + 1);
    while (prefix.ends_with('/')) prefix.remove_suffix(1);
    if (!prefix.empty()) {
      Status s = ValidateBlobKey(prefix);
      if (!s.ok()) return InvalidArgumentError("S3 URL key prefix \"" + std::string(prefix) + "\": " + s.message());
      config.key_prefix = std::string(prefix) + "/";
    }
  }

  std::string endpoint, addressing, credentials_file;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const size_t eq = pair.find('=');
    const std::string name(pair.substr(0, eq));
    const std::string value = eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1));
    if (name == "endpoint") {
      endpoint = value;
    } else if (name == "region") {
      config.region = value;
    } else if (name == "addressing") {
      addressing = value;
    } else if (name == "credentials_file") {
      credentials_file = value;
    } else {
      return InvalidArgumentError("S3 URL: unknown parameter \"" + name +
                                  "\" (known: endpoint, region, addressing, credentials_file)");
    }
  }
  if (endpoint.empty()) {
    return InvalidArgumentError("S3 URL needs endpoint=, as in s3://" + config.bucket +
                                "?endpoint=http://127.0.0.1:7480&region=us-east-1");
  }
  COFFER_ASSIGN_OR_RETURN(Endpoint parsed, ParseEndpoint(endpoint));
  config.endpoint = parsed.scheme + "://" + parsed.authority;
  if (config.region.empty() ||
      !std::all_of(config.region.begin(), config.region.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '-'; })) {
    return InvalidArgumentError("S3 URL: region must be letters, digits and '-', as in region=us-east-1");
  }
  if (addressing.empty()) {
    config.virtual_host_addressing = !IsIpOrLocalhost(parsed.host);
  } else if (addressing == "path" || addressing == "virtual") {
    config.virtual_host_addressing = addressing == "virtual";
  } else {
    return InvalidArgumentError("S3 URL: addressing must be path or virtual, not \"" + addressing + "\"");
  }
  if (config.virtual_host_addressing && IsIpOrLocalhost(parsed.host)) {
    return InvalidArgumentError("S3 URL: virtual-host addressing needs a DNS name, not " + parsed.host +
                                "; use addressing=path");
  }

  if (!credentials_file.empty()) {
    COFFER_RETURN_IF_ERROR(ReadCredentialsFile(credentials_file, config));
  } else {
    const char* id = std::getenv("AWS_ACCESS_KEY_ID");
    const char* secret = std::getenv("AWS_SECRET_ACCESS_KEY");
    if (id == nullptr || *id == '\0' || secret == nullptr || *secret == '\0') {
      return InvalidArgumentError(
          "no S3 credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or add "
          "credentials_file=/path/to/credentials to the blob store URL");
    }
    config.access_key_id = id;
    config.secret_access_key = crypto::SecretBytes::FromBytes(AsBytes(secret));
    if (const char* token = std::getenv("AWS_SESSION_TOKEN")) config.session_token = token;
  }
  return config;
}

StatusOr<std::unique_ptr<S3BlobStore>> S3BlobStore::Open(const std::string& url) {
  COFFER_ASSIGN_OR_RETURN(S3Config config, ParseS3Url(url));
  return Open(std::move(config));
}

StatusOr<std::unique_ptr<S3BlobStore>> S3BlobStore::Open(S3Config config) {
  COFFER_RETURN_IF_ERROR(CurlInit());
  COFFER_RETURN_IF_ERROR(crypto::Init());
  COFFER_RETURN_IF_ERROR(ValidateBucketName(config.bucket));
  COFFER_ASSIGN_OR_RETURN(Endpoint endpoint, ParseEndpoint(config.endpoint));
  if (config.access_key_id.empty() || config.secret_access_key.empty()) {
    return InvalidArgumentError("S3 credentials are missing (access key id and secret)");
  }
  if (config.multipart_part_size < (5u << 20) || config.multipart_threshold < config.multipart_part_size) {
    return InvalidArgumentError("S3 multipart part size must be at least 5 MiB and at most the threshold");
  }
  if (config.max_attempts < 1 || config.max_connections < 1) {
    return InvalidArgumentError("S3 max_attempts and max_connections must be at least 1");
  }
  SigV4Signer signer(SigV4Credentials{config.access_key_id, config.secret_access_key.Clone(), config.session_token},
                     SigV4Options{.region = config.region});
  std::unique_ptr<S3BlobStore> store(new S3BlobStore(std::move(config), std::move(signer)));
  if (store->config_.create_bucket_if_missing) COFFER_RETURN_IF_ERROR(store->EnsureBucket());
  return store;
}

namespace {
std::string AuthorityFor(const S3Config& c) {
  auto endpoint = ParseEndpoint(c.endpoint);  // validated by Open before the constructor runs
  return c.virtual_host_addressing ? c.bucket + "." + endpoint->authority : endpoint->authority;
}
std::string SchemeOf(const S3Config& c) { return c.endpoint.substr(0, c.endpoint.find("://")); }
}  // namespace

S3BlobStore::S3BlobStore(S3Config config, SigV4Signer signer)
    : config_(std::move(config)),
      signer_(std::move(signer)),
      authority_(AuthorityFor(config_)),
      base_url_(SchemeOf(config_) + "://" + authority_),
      base_path_(config_.virtual_host_addressing ? "" : "/" + config_.bucket),
      pool_(std::make_unique<HandlePool>(config_.max_connections)) {}

S3BlobStore::~S3BlobStore() = default;

// ---- sending -----------------------------------------------------------------------------------

S3BlobStore::Response S3BlobStore::ExecuteOnce(const Request& request, const std::string& payload_sha256) {
  Response response;
  std::unique_ptr<HandlePool::Lease> lease = pool_->Acquire();
  if (lease == nullptr) {
    response.transport_error = UnavailableError("libcurl could not allocate a handle");
    return response;
  }
  CURL* curl = lease->get();
  curl_easy_reset(curl);  // keeps the connection cache

  const std::string path = base_path_ + "/" + request.object;
  SigV4Request to_sign{.method = request.method,
                       .path = path,
                       .query = request.query,
                       .headers = request.headers,
                       .payload_sha256_hex = payload_sha256};
  to_sign.headers.emplace_back("Host", authority_);
  const SigV4Signature signature = signer_.Sign(to_sign, std::chrono::system_clock::now());

  std::string url = base_url_ + EncodedPath(path);
  if (!request.query.empty()) url += "?" + CanonicalQueryString(request.query);

  curl_slist* header_list = nullptr;
  auto add_header = [&](const std::string& name, const std::string& value) {
    header_list = curl_slist_append(header_list, (name + ": " + value).c_str());
  };
  for (const auto& [name, value] : to_sign.headers) add_header(name, value);
  for (const auto& [name, value] : signature.headers_to_add) add_header(name, value);
  // curl would otherwise wait for "100 Continue" before large bodies and add a form type.
  header_list = curl_slist_append(header_list, "Expect:");
  header_list = curl_slist_append(header_list, "Content-Type:");
  std::unique_ptr<curl_slist, decltype(&curl_slist_free_all)> headers_owner(header_list, curl_slist_free_all);

  BodySink sink{&response.body, request.max_body};
  BodySource source{request.body};
  curl_easy_setopt(curl, CURLOPT_URL, url.c_str());
  curl_easy_setopt(curl, CURLOPT_HTTPHEADER, header_list);
  curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(config_.connect_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1024L);
  curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, static_cast<long>(config_.stall_timeout.count()));
  curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, WriteToBytes);
  curl_easy_setopt(curl, CURLOPT_WRITEDATA, &sink);
  curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, CollectHeader);
  curl_easy_setopt(curl, CURLOPT_HEADERDATA, &response.etag);
  if (request.head) {
    curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
  } else if (request.method == "PUT" || request.method == "POST") {
    curl_easy_setopt(curl, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(curl, CURLOPT_READFUNCTION, ReadFromView);
    curl_easy_setopt(curl, CURLOPT_READDATA, &source);
    curl_easy_setopt(curl, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(request.body.size()));
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  } else if (request.method != "GET") {
    curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, request.method.c_str());
  }

  requests_sent_.fetch_add(1);
  const CURLcode code = curl_easy_perform(curl);
  if (sink.too_large) {
    response.transport_error = DataLossError(request.what + ": the reply from " + config_.endpoint +
                                             " is longer than " + std::to_string(request.max_body) + " bytes");
  } else if (code != CURLE_OK) {
    std::string reason = curl_easy_strerror(code);
    if (code == CURLE_COULDNT_CONNECT) reason += " (is the S3 server running and listening there?)";
    response.transport_error =
        UnavailableError(request.what + ": cannot reach S3 endpoint " + config_.endpoint + ": " + reason);
    response.timed_out = code == CURLE_OPERATION_TIMEDOUT;
  } else {
    curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &response.status);
  }
  return response;
}

StatusOr<S3BlobStore::Response> S3BlobStore::Execute(const Request& request) {
  thread_local std::mt19937_64 rng(std::random_device{}());
  // Hashed once for all attempts, and before a pooled connection is taken (16 MiB take a while).
  const std::string payload_sha256 =
      request.body.empty() ? std::string(kEmptySha256) : HexEncode(crypto::Sha256(request.body));
  for (int attempt = 1;; ++attempt) {
    Response response = ExecuteOnce(request, payload_sha256);
    const bool retry = response.transport_error.ok() ? IsRetryableHttp(response.status) : response.timed_out;
    if (!retry || attempt >= config_.max_attempts) {
      if (!response.transport_error.ok()) return response.transport_error;
      return response;
    }
    // Exponential backoff with full jitter: a random wait in [0, min(max, initial * 2^n)].
    const auto cap = std::min<int64_t>(config_.max_backoff.count(),
                                       config_.initial_backoff.count() << std::min(attempt - 1, 20));
    std::uniform_int_distribution<int64_t> wait(0, std::max<int64_t>(cap, 0));
    std::this_thread::sleep_for(std::chrono::milliseconds(wait(rng)));
  }
}

Status S3BlobStore::ErrorFor(const Response& response, std::string_view what) const {
  const S3Error error = ParseS3Error(AsChars(response.body));
  std::string detail = "HTTP " + std::to_string(response.status);
  if (!error.code.empty()) detail += " " + error.code;
  if (!error.message.empty()) detail += ": " + error.message;
  const std::string where = std::string(what) + " on S3 endpoint " + config_.endpoint + " (bucket " + config_.bucket + ")";
  if (response.status == 403 && error.code == "RequestTimeTooSkewed") {
    return PermissionDeniedError(where + " was refused (" + detail +
                                 "): this machine's clock is too far from the S3 server's; fix the clock (NTP)");
  }
  if (response.status == 403) {
    return PermissionDeniedError(where + " was refused (" + detail +
                                 "): check the S3 credentials (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the "
                                 "URL's credentials_file), the region, and the key's permissions on the bucket");
  }
  if (response.status == 404) return NotFoundError(where + ": " + detail);
  if (IsRetryableHttp(response.status)) {
    return UnavailableError(where + " failed after " + std::to_string(config_.max_attempts) + " attempts (" + detail + ")");
  }
  return FailedPreconditionError(where + " was rejected (" + detail + ")");
}

// ---- bucket ------------------------------------------------------------------------------------

Status S3BlobStore::EnsureBucket() {
  Request head{.method = "HEAD", .object = "", .head = true, .what = "HEAD bucket"};
  COFFER_ASSIGN_OR_RETURN(Response response, Execute(head));
  if (response.status == 200) return OkStatus();
  if (response.status != 404) return ErrorFor(response, "checking the bucket");

  std::string body;
  if (config_.region != "us-east-1") {
    body = "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><LocationConstraint>" +
           config_.region + "</LocationConstraint></CreateBucketConfiguration>";
  }
  Request create{.method = "PUT", .object = "", .body = AsBytes(body), .what = "creating the bucket"};
  COFFER_ASSIGN_OR_RETURN(Response created, Execute(create));
  if (created.status == 200) return OkStatus();
  // Another server (or test process) may have created it at the same moment.
  if (created.status == 409) {
    COFFER_ASSIGN_OR_RETURN(Response again, Execute(head));
    if (again.status == 200) return OkStatus();
  }
  return ErrorFor(created, "creating the bucket");
}

// ---- BlobStore ---------------------------------------------------------------------------------

Status S3BlobStore::Put(std::string_view key, ByteView data) {
  COFFER_RETURN_IF_ERROR(ValidateBlobKey(key));
  const std::string object = ObjectName(key);
  if (data.size() > config_.multipart_threshold) return PutMultipart(object, data);
  Request put{.method = "PUT", .object = object, .body = data, .what = "PUT " + std::string(key)};
  COFFER_ASSIGN_OR_RETURN(Response response, Execute(put));
  if (response.status != 200) return ErrorFor(response, put.what);
  return OkStatus();
}

Status S3BlobStore::PutMultipart(const std::string& object, ByteView data) {
  const std::string what = "multipart PUT " + object;
  const size_t part_size = std::max(config_.multipart_part_size, (data.size() + kMaxPartCount - 1) / kMaxPartCount);
  Request initiate{.method = "POST", .object = object, .query = {{"uploads", ""}}, .what = what + " (initiate)"};
  COFFER_ASSIGN_OR_RETURN(Response started, Execute(initiate));
  if (started.status != 200) return ErrorFor(started, initiate.what);
  COFFER_ASSIGN_OR_RETURN(std::string upload_id, ParseInitiateMultipartUpload(AsChars(started.body)));

  auto abort_upload = [&](Status cause) {
    Request abort{.method = "DELETE", .object = object, .query = {{"uploadId", upload_id}}, .what = what + " (abort)"};
    (void)Execute(abort);  // best effort: the cause is what the caller needs to see
    return cause;
  };

  // Parts go up on a few threads at once (each on its own pooled connection); the first
  // failure stops the others from starting new parts.
  const size_t part_count = (data.size() + part_size - 1) / part_size;
  std::vector<std::string> etags(part_count);
  std::atomic<size_t> next_part{0};
  std::mutex failure_mu;
  Status failure;  // guarded by failure_mu
  std::atomic<bool> failed{false};
  auto upload_parts = [&] {
    for (size_t i = next_part++; i < part_count && !failed.load(); i = next_part++) {
      const size_t offset = i * part_size;
      const std::string part_number = std::to_string(i + 1);
      Request part{.method = "PUT",
                   .object = object,
                   .query = {{"partNumber", part_number}, {"uploadId", upload_id}},
                   .body = data.subspan(offset, std::min(part_size, data.size() - offset)),
                   .what = what + " (part " + part_number + ")"};
      StatusOr<Response> response = Execute(part);
      Status s;
      if (!response.ok()) {
        s = response.status();
      } else if (response->status != 200) {
        s = ErrorFor(*response, part.what);
      } else if (response->etag.empty()) {
        s = DataLossError(part.what + ": the reply carries no ETag");
      } else {
        etags[i] = response->etag;
        continue;
      }
      std::lock_guard lock(failure_mu);
      if (failure.ok()) failure = s;
      failed = true;
    }
  };
  {
    const size_t workers = std::min<size_t>({kMultipartParallelism, part_count, config_.max_connections});
    std::vector<std::jthread> threads;
    for (size_t w = 1; w < workers; ++w) threads.emplace_back(upload_parts);
    upload_parts();
  }  // joins the threads
  if (failed) return abort_upload(failure);

  std::string body = "<CompleteMultipartUpload>";
  for (size_t i = 0; i < etags.size(); ++i) {
    body += "<Part><PartNumber>" + std::to_string(i + 1) + "</PartNumber><ETag>" + XmlEscape(etags[i]) + "</ETag></Part>";
  }
  body += "</CompleteMultipartUpload>";
  Request complete{.method = "POST", .object = object, .query = {{"uploadId", upload_id}}, .body = AsBytes(body),
                   .what = what + " (complete)"};
  StatusOr<Response> done = Execute(complete);
  if (!done.ok()) return abort_upload(done.status());
  if (done->status != 200) return abort_upload(ErrorFor(*done, complete.what));
  // S3 may answer 200 and still report an error in the body once it has started replying.
  const S3Error error = ParseS3Error(AsChars(done->body));
  if (!error.code.empty()) {
    return abort_upload(UnavailableError(complete.what + " failed on " + config_.endpoint + ": " + error.code));
  }
  return OkStatus();
}

StatusOr<Bytes> S3BlobStore::Get(std::string_view key) {
  COFFER_RETURN_IF_ERROR(ValidateBlobKey(key));
  Request get{.method = "GET", .object = ObjectName(key), .max_body = SIZE_MAX, .what = "GET " + std::string(key)};
  COFFER_ASSIGN_OR_RETURN(Response response, Execute(get));
  if (response.status != 200) return ErrorFor(response, get.what);
  return std::move(response.body);
}

StatusOr<Bytes> S3BlobStore::GetRange(std::string_view key, uint64_t offset, uint64_t length) {
  COFFER_RETURN_IF_ERROR(ValidateBlobKey(key));
  if (length == 0) return InvalidArgumentError("GetRange of " + std::string(key) + ": length must be at least 1");
  if (offset > UINT64_MAX - length) return InvalidArgumentError("GetRange of " + std::string(key) + ": range overflows");
  Request get{.method = "GET",
              .object = ObjectName(key),
              .headers = {{"Range", "bytes=" + std::to_string(offset) + "-" + std::to_string(offset + length - 1)}},
              // An error reply can be longer than a short range.
              .max_body = static_cast<size_t>(std::max<uint64_t>(std::min<uint64_t>(length, SIZE_MAX), kMaxXmlBody)),
              .what = "GET " + std::string(key) + " bytes " + std::to_string(offset) + "+" + std::to_string(length)};
  COFFER_ASSIGN_OR_RETURN(Response response, Execute(get));
  if (response.status == 416) {
    return OutOfRangeError(get.what + ": offset is at or past the end of the object");
  }
  if (response.status == 206) return std::move(response.body);
  // 200: the server ignored the range (HTTP allows that) and sent the whole object, which
  // the body limit above bounds; cut the range out ourselves.
  if (response.status == 200) {
    if (offset >= response.body.size()) return OutOfRangeError(get.what + ": offset is at or past the end of the object");
    const size_t end = static_cast<size_t>(std::min<uint64_t>(response.body.size(), offset + length));
    return Bytes(response.body.begin() + static_cast<ptrdiff_t>(offset), response.body.begin() + static_cast<ptrdiff_t>(end));
  }
  return ErrorFor(response, get.what);
}

StatusOr<bool> S3BlobStore::Exists(std::string_view key) {
  COFFER_RETURN_IF_ERROR(ValidateBlobKey(key));
  Request head{.method = "HEAD", .object = ObjectName(key), .head = true, .what = "HEAD " + std::string(key)};
  COFFER_ASSIGN_OR_RETURN(Response response, Execute(head));
  if (response.status == 200) return true;
  if (response.status == 404) return false;
  return ErrorFor(response, head.what);
}

Status S3BlobStore::Delete(std::string_view key) {
  COFFER_RETURN_IF_ERROR(ValidateBlobKey(key));
  Request del{.method = "DELETE", .object = ObjectName(key), .what = "DELETE " + std::string(key)};
  COFFER_ASSIGN_OR_RETURN(Response response, Execute(del));
  if (response.status == 204 || response.status == 200 || response.status == 404) return OkStatus();
  return ErrorFor(response, del.what);
}

Status S3BlobStore::List(std::string_view prefix, const std::function<bool(const std::string&)>& fn) {
  COFFER_RETURN_IF_ERROR(ValidateBlobKeyPrefix(prefix));
  const std::string object_prefix = config_.key_prefix + std::string(prefix);
  std::string continuation;
  for (;;) {
    Request list{.method = "GET",
                 .object = "",
                 .query = {{"list-type", "2"}, {"prefix", object_prefix}, {"max-keys", "1000"}},
                 .what = "LIST " + std::string(prefix)};
    if (!continuation.empty()) list.query.emplace_back("continuation-token", continuation);
    COFFER_ASSIGN_OR_RETURN(Response response, Execute(list));
    if (response.status != 200) return ErrorFor(response, list.what);
    COFFER_ASSIGN_OR_RETURN(ListPage page, ParseListObjectsV2(AsChars(response.body)));
    for (const std::string& object : page.keys) {
      if (!object.starts_with(object_prefix)) continue;  // a misbehaving server; never hand it on
      std::string key = object.substr(config_.key_prefix.size());
      if (!ValidateBlobKey(key).ok()) continue;  // a foreign object sharing the bucket
      if (!fn(key)) return OkStatus();
    }
    if (!page.truncated) return OkStatus();
    if (page.next_continuation_token.empty() || page.next_continuation_token == continuation) {
      return DataLossError(list.what + ": S3 endpoint " + config_.endpoint +
                           " reported a truncated listing without a new continuation token");
    }
    continuation = page.next_continuation_token;
  }
}

}  // namespace coffer::store::s3
