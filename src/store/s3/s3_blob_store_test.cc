// S3BlobStore against a real S3 server (Ceph RGW from scripts/ceph.sh), plus the client's own
// logic (URL parsing, retries) against a tiny scripted HTTP server on loopback.
//
// The RGW tests need COFFER_TEST_S3_URL (and AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), as
// written by `scripts/ceph.sh start DIR` into DIR/env. Without them they FAIL, naming the
// script: a silently skipped storage engine is an untested one.
//
// ctest runs every case in its own process, possibly at the same time, so every store a test
// opens lives under its own random key prefix in the shared bucket and deletes what is left
// under it when it is destroyed.
#include "store/s3/s3_blob_store.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <optional>
#include <set>
#include <thread>

#include "crypto/secret.h"
#include "store/open.h"
#include "store/s3/s3_xml.h"
#include "store/testing/blob_store_conformance.h"
#include "store/testing/store_test_util.h"

namespace coffer::store::s3 {
namespace {

using testing::NewTempDir;
using testing::TestBytes;

constexpr char kNoRgw[] =
    "COFFER_TEST_S3_URL is not set. The S3 tests need a real S3 server: run\n"
    "  scripts/ceph.sh start /tmp/ceph && source /tmp/ceph/env\n"
    "(scripts/test.sh does this), then run the tests again.";

std::string RandomPrefix() {
  return "t-" + HexEncode(crypto::RandomBytes(8));
}

// The test RGW's configuration with a fresh random key prefix.
StatusOr<S3Config> TestConfig() {
  const char* url = std::getenv("COFFER_TEST_S3_URL");
  if (url == nullptr || *url == '\0') return FailedPreconditionError(kNoRgw);
  COFFER_ASSIGN_OR_RETURN(S3Config config, ParseS3Url(url));
  config.key_prefix += RandomPrefix() + "/";
  return config;
}

// Forwards to an S3BlobStore and, when destroyed, deletes every object under its prefix.
class SelfCleaningStore : public BlobStore {
 public:
  explicit SelfCleaningStore(std::unique_ptr<S3BlobStore> inner) : inner_(std::move(inner)) {}
  ~SelfCleaningStore() override {
    std::vector<std::string> keys;
    (void)inner_->List("", [&](const std::string& k) {
      keys.push_back(k);
      return true;
    });
    for (const std::string& k : keys) (void)inner_->Delete(k);
  }
  Status Put(std::string_view key, ByteView data) override { return inner_->Put(key, data); }
  StatusOr<Bytes> Get(std::string_view key) override { return inner_->Get(key); }
  StatusOr<bool> Exists(std::string_view key) override { return inner_->Exists(key); }
  Status Delete(std::string_view key) override { return inner_->Delete(key); }
  Status List(std::string_view prefix, const std::function<bool(const std::string&)>& fn) override {
    return inner_->List(prefix, fn);
  }
  S3BlobStore& s3() { return *inner_; }

 private:
  std::unique_ptr<S3BlobStore> inner_;
};

StatusOr<std::unique_ptr<SelfCleaningStore>> OpenTestStore() {
  COFFER_ASSIGN_OR_RETURN(S3Config config, TestConfig());
  COFFER_ASSIGN_OR_RETURN(std::unique_ptr<S3BlobStore> store, S3BlobStore::Open(std::move(config)));
  return std::make_unique<SelfCleaningStore>(std::move(store));
}

StatusOr<std::unique_ptr<BlobStore>> MakeEmptyRgwStore() {
  COFFER_ASSIGN_OR_RETURN(std::unique_ptr<SelfCleaningStore> store, OpenTestStore());
  return std::unique_ptr<BlobStore>(std::move(store));
}

COFFER_INSTANTIATE_BLOB_STORE_CONFORMANCE(CephRgw, ::coffer::store::testing::BlobStoreFixture{"CephRgw", MakeEmptyRgwStore});

// ---- against the real RGW ---------------------------------------------------------------------

TEST(S3BlobStoreRgwTest, MultipartRoundTripOf40MiB) {
  STORE_ASSERT_OK_AND_ASSIGN(auto store, OpenTestStore());
  const Bytes data = TestBytes(40 << 20, 40);
  const uint64_t before = store->s3().requests_sent();
  STORE_ASSERT_OK(store->Put("big/object", data));
  // initiate + 5 parts of 8 MiB + complete: it really went multipart.
  EXPECT_GE(store->s3().requests_sent() - before, 7u);
  STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store->Get("big/object"));
  ASSERT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);

  // Range reads across a part boundary (8 MiB) and at the end.
  STORE_ASSERT_OK_AND_ASSIGN(Bytes middle, store->s3().GetRange("big/object", (8 << 20) - 10, 20));
  EXPECT_EQ(middle, Bytes(data.begin() + (8 << 20) - 10, data.begin() + (8 << 20) + 10));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes tail, store->s3().GetRange("big/object", data.size() - 5, 100));
  EXPECT_EQ(tail, Bytes(data.end() - 5, data.end()));
  STORE_EXPECT_CODE(store->s3().GetRange("big/object", data.size(), 1), kOutOfRange);
  STORE_EXPECT_CODE(store->s3().GetRange("big/missing", 0, 1), kNotFound);
  STORE_EXPECT_CODE(store->s3().GetRange("big/object", 0, 0), kInvalidArgument);

  // Replacing it with a small value leaves exactly the small value.
  STORE_ASSERT_OK(store->Put("big/object", AsBytes("small")));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes small, store->Get("big/object"));
  EXPECT_EQ(small, ToBytes("small"));
}

TEST(S3BlobStoreRgwTest, ListFollowsContinuationTokensPastOneThousandKeys) {
  STORE_ASSERT_OK_AND_ASSIGN(auto store, OpenTestStore());
  constexpr int kKeys = 1150;
  std::vector<std::thread> writers;
  std::atomic<int> failures{0};
  for (int t = 0; t < 8; ++t) {
    writers.emplace_back([&, t] {
      for (int i = t; i < kKeys; i += 8) {
        if (!store->Put("acct/k" + std::to_string(i), TestBytes(3, i)).ok()) ++failures;
      }
    });
  }
  for (auto& w : writers) w.join();
  ASSERT_EQ(failures.load(), 0);
  STORE_ASSERT_OK(store->Put("other/x", AsBytes("x")));

  const uint64_t before = store->s3().requests_sent();
  std::set<std::string> seen;
  STORE_ASSERT_OK(store->List("acct/", [&](const std::string& k) {
    seen.insert(k);
    return true;
  }));
  EXPECT_EQ(seen.size(), static_cast<size_t>(kKeys));
  EXPECT_TRUE(seen.count("acct/k0") && seen.count("acct/k1149"));
  EXPECT_EQ(store->s3().requests_sent() - before, 2u) << "1150 keys take two pages of at most 1000";

  int calls = 0;
  STORE_ASSERT_OK(store->List("", [&](const std::string&) { return ++calls < 1001; }));
  EXPECT_EQ(calls, 1001);  // stopping early works across the page boundary too
}

TEST(S3BlobStoreRgwTest, MoreThreadsThanPooledConnectionsAllComplete) {
  STORE_ASSERT_OK_AND_ASSIGN(S3Config config, TestConfig());
  config.max_connections = 2;  // eight threads share two handles: the rest wait their turn
  STORE_ASSERT_OK_AND_ASSIGN(auto s3, S3BlobStore::Open(std::move(config)));
  SelfCleaningStore store(std::move(s3));
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        const std::string key = "acct/t" + std::to_string(t) + "-" + std::to_string(i);
        auto got = store.Put(key, TestBytes(1000, t * 8 + i)).ok() ? store.Get(key) : StatusOr<Bytes>(UnavailableError("put"));
        if (!got.ok() || *got != TestBytes(1000, t * 8 + i)) ++failures;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(store.s3().requests_sent(), 1u + 2 * 64) << "HEAD bucket, then one PUT and one GET each, no retries";
}

TEST(S3BlobStoreRgwTest, WrongSecretIsAClearPermissionError) {
  STORE_ASSERT_OK_AND_ASSIGN(S3Config config, TestConfig());
  const std::string wrong_secret = "definitely-not-the-secret-0123456789";
  config.secret_access_key = crypto::SecretBytes::FromBytes(AsBytes(wrong_secret));
  auto opened = S3BlobStore::Open(std::move(config));
  STORE_ASSERT_CODE(opened, kPermissionDenied);
  const std::string message = opened.status().message();
  EXPECT_NE(message.find("check the S3 credentials"), std::string::npos) << message;
  EXPECT_NE(message.find("AWS_SECRET_ACCESS_KEY"), std::string::npos) << message;
  EXPECT_EQ(message.find(wrong_secret), std::string::npos) << "the secret leaked into: " << message;

  // Same for a request on an already open store whose key is then wrong (Open checked nothing).
  STORE_ASSERT_OK_AND_ASSIGN(S3Config unchecked, TestConfig());
  unchecked.secret_access_key = crypto::SecretBytes::FromBytes(AsBytes(wrong_secret));
  unchecked.create_bucket_if_missing = false;
  STORE_ASSERT_OK_AND_ASSIGN(auto store, S3BlobStore::Open(std::move(unchecked)));
  const uint64_t before = store->requests_sent();
  STORE_EXPECT_CODE(store->Put("a/b", AsBytes("x")), kPermissionDenied);
  EXPECT_EQ(store->requests_sent() - before, 1u) << "a 403 is never retried";
}

TEST(S3BlobStoreRgwTest, OpenCreatesAMissingBucketAndTwoOpensAtOnceBothSucceed) {
  STORE_ASSERT_OK_AND_ASSIGN(S3Config base, TestConfig());
  const std::string bucket = "coffer-" + RandomPrefix();
  std::vector<std::thread> openers;
  std::atomic<int> failures{0};
  for (int i = 0; i < 2; ++i) {
    openers.emplace_back([&] {
      auto config = TestConfig();
      if (!config.ok()) return ++failures, void();
      config->bucket = bucket;
      auto store = S3BlobStore::Open(std::move(*config));
      if (!store.ok()) {
        ADD_FAILURE() << store.status().ToString();
        ++failures;
        return;
      }
      if (!(*store)->Put("a/b", AsBytes("x")).ok() || !(*store)->Delete("a/b").ok()) ++failures;
    });
  }
  for (auto& t : openers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(S3BlobStoreRgwTest, OpenBlobStoreOpensS3UrlsWithAKeyPrefix) {
  const char* url = std::getenv("COFFER_TEST_S3_URL");
  ASSERT_TRUE(url != nullptr && *url != '\0') << kNoRgw;
  std::string with_prefix = url;
  const std::string prefix = RandomPrefix();
  with_prefix.insert(with_prefix.find('?'), "/" + prefix);
  STORE_ASSERT_OK_AND_ASSIGN(auto store, OpenBlobStore(with_prefix));
  STORE_ASSERT_OK(store->Put("k", AsBytes("v")));
  std::vector<std::string> listed;
  STORE_ASSERT_OK(store->List("", [&](const std::string& k) { return listed.push_back(k), true; }));
  EXPECT_EQ(listed, std::vector<std::string>{"k"});

  // Without the prefix the same object is PREFIX/k.
  STORE_ASSERT_OK_AND_ASSIGN(auto whole_bucket, S3BlobStore::Open(std::string(url)));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes got, whole_bucket->Get(prefix + "/k"));
  EXPECT_EQ(got, ToBytes("v"));
  STORE_ASSERT_OK(store->Delete("k"));
  STORE_ASSERT_OK_AND_ASSIGN(bool still_there, whole_bucket->Exists(prefix + "/k"));
  EXPECT_FALSE(still_there);
}

// ---- without a server: URL parsing and transport errors -----------------------------------------

class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value == nullptr) {
      ::unsetenv(name);
    } else {
      ::setenv(name, value, 1);
    }
  }
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_.c_str(), old_->c_str(), 1);
    } else {
      ::unsetenv(name_.c_str());
    }
  }

 private:
  std::string name_;
  std::optional<std::string> old_;
};

TEST(S3UrlTest, ParsesBucketPrefixEndpointRegionAndAddressing) {
  ScopedEnv id("AWS_ACCESS_KEY_ID", "AKID");
  ScopedEnv secret("AWS_SECRET_ACCESS_KEY", "SECRET");
  STORE_ASSERT_OK_AND_ASSIGN(S3Config c, ParseS3Url("s3://my-bucket/pre/fix?endpoint=http://127.0.0.1:7480&region=eu-west-3"));
  EXPECT_EQ(c.bucket, "my-bucket");
  EXPECT_EQ(c.key_prefix, "pre/fix/");
  EXPECT_EQ(c.endpoint, "http://127.0.0.1:7480");
  EXPECT_EQ(c.region, "eu-west-3");
  EXPECT_FALSE(c.virtual_host_addressing);  // IP endpoint: path style
  EXPECT_EQ(c.access_key_id, "AKID");

  STORE_ASSERT_OK_AND_ASSIGN(S3Config d, ParseS3Url("s3://bkt?endpoint=https://s3.example.org/"));
  EXPECT_TRUE(d.virtual_host_addressing);  // DNS name: virtual-host style
  EXPECT_EQ(d.region, "us-east-1");
  EXPECT_EQ(d.key_prefix, "");
  STORE_ASSERT_OK_AND_ASSIGN(S3Config e, ParseS3Url("s3://bkt?endpoint=https://s3.example.org&addressing=path"));
  EXPECT_FALSE(e.virtual_host_addressing);
  STORE_ASSERT_OK_AND_ASSIGN(S3Config f, ParseS3Url("s3://bkt?endpoint=http://localhost:9000"));
  EXPECT_FALSE(f.virtual_host_addressing);
}

TEST(S3UrlTest, RejectsMalformedUrlsWithAClearMessage) {
  ScopedEnv id("AWS_ACCESS_KEY_ID", "AKID");
  ScopedEnv secret("AWS_SECRET_ACCESS_KEY", "SECRET");
  for (const std::string url : {"s3://?endpoint=http://h", "s3://ab?endpoint=http://h", "s3://Bad_Bucket?endpoint=http://h",
                                "s3://bkt", "s3://bkt?endpoint=ftp://h", "s3://bkt?endpoint=http://h/path",
                                "s3://bkt?endpoint=http://h&addressing=sideways", "s3://bkt?endpoint=http://h&regoin=x",
                                "s3://bkt/../x?endpoint=http://h", "s3://bkt/A?endpoint=http://h",
                                "s3://bkt?endpoint=http://127.0.0.1&addressing=virtual", "s3://bkt?endpoint=http://h&region="}) {
    SCOPED_TRACE(url);
    STORE_EXPECT_CODE(ParseS3Url(url), kInvalidArgument);
  }
  auto typo = ParseS3Url("s3://bkt?endpoint=http://h&regoin=x");
  EXPECT_NE(typo.status().message().find("unknown parameter \"regoin\""), std::string::npos) << typo.status().ToString();
}

TEST(S3UrlTest, CredentialsComeFromTheEnvironmentOrACredentialsFile) {
  ScopedEnv no_id("AWS_ACCESS_KEY_ID", nullptr);
  ScopedEnv no_secret("AWS_SECRET_ACCESS_KEY", nullptr);
  auto missing = ParseS3Url("s3://bkt?endpoint=http://127.0.0.1:1");
  STORE_ASSERT_CODE(missing, kInvalidArgument);
  EXPECT_NE(missing.status().message().find("AWS_ACCESS_KEY_ID"), std::string::npos);

  const std::string file = NewTempDir("creds") + "/credentials";
  std::ofstream(file) << "# comment\n[other]\naws_access_key_id = NOPE\naws_secret_access_key = nope\n"
                         "[default]\naws_access_key_id = FILEKEY\naws_secret_access_key = file/secret+value\n";
  STORE_ASSERT_OK_AND_ASSIGN(S3Config c, ParseS3Url("s3://bkt?endpoint=http://127.0.0.1:1&credentials_file=" + file));
  EXPECT_EQ(c.access_key_id, "FILEKEY");
  EXPECT_EQ(AsChars(c.secret_access_key.Reveal(crypto::SecretAccess::Get())), "file/secret+value");

  auto unreadable = ParseS3Url("s3://bkt?endpoint=http://127.0.0.1:1&credentials_file=/nonexistent/creds");
  STORE_EXPECT_CODE(unreadable, kInvalidArgument);
}

TEST(S3TransportTest, ConnectionRefusedIsUnavailableNamingTheEndpoint) {
  // A port that was just free: bind, read the port, close.
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  ::close(fd);
  const std::string endpoint = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));

  S3Config config;
  config.bucket = "coffer-test";
  config.endpoint = endpoint;
  config.access_key_id = "AKID";
  config.secret_access_key = crypto::SecretBytes::FromBytes(AsBytes("SECRET"));
  auto store = S3BlobStore::Open(std::move(config));
  STORE_ASSERT_CODE(store, kUnavailable);
  EXPECT_NE(store.status().message().find(endpoint), std::string::npos) << store.status().ToString();
}

// ---- retries, against a scripted HTTP server -----------------------------------------------------

// Answers each request with the next status of a script (the last one repeats). Status 0 means
// "read the request and never answer" (a hung server). One connection at a time, which is all
// a store with one pool handle needs.
struct ScriptedReply {
  ScriptedReply(int status) : status(status) {}  // NOLINT: implicit, so scripts read {503, 200}
  ScriptedReply(int status, std::string body) : status(status), body(std::move(body)) {}
  int status;
  std::string body;
};

class ScriptedHttpServer {
 public:
  explicit ScriptedHttpServer(std::vector<ScriptedReply> script) : script_(std::move(script)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listen_fd_, 8) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
    }
    socklen_t len = sizeof(addr);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    if (::pipe(wake_) != 0) ADD_FAILURE() << "pipe";
    thread_ = std::thread([this] { Serve(); });
  }
  ~ScriptedHttpServer() {
    (void)!::write(wake_[1], "x", 1);
    thread_.join();
    ::close(listen_fd_);
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int requests() const { return requests_.load(); }
  int connections() const { return connections_.load(); }
  // "METHOD target" and the Host header of every request so far.
  std::vector<std::string> request_lines() const {
    std::lock_guard lock(mu_);
    return request_lines_;
  }
  std::vector<std::string> hosts() const {
    std::lock_guard lock(mu_);
    return hosts_;
  }

 private:
  // Waits until fd is readable; false when the server is being stopped.
  bool WaitReadable(int fd) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    while (::poll(fds, 2, -1) < 0) {
    }
    return (fds[1].revents & POLLIN) == 0;
  }

  void Serve() {
    while (WaitReadable(listen_fd_)) {
      const int conn = ::accept(listen_fd_, nullptr, nullptr);
      if (conn < 0) continue;
      ++connections_;
      HandleConnection(conn);
      ::close(conn);
    }
  }

  void HandleConnection(int conn) {
    std::string buffer;
    for (;;) {
      // Read one request: headers, then Content-Length bytes of body.
      size_t header_end;
      while ((header_end = buffer.find("\r\n\r\n")) == std::string::npos) {
        if (!ReadMore(conn, buffer)) return;
      }
      const std::string raw_head = buffer.substr(0, header_end);
      std::string head = raw_head;
      for (char& c : head) c = static_cast<char>(::tolower(c));
      {
        std::lock_guard lock(mu_);
        const std::string first_line = raw_head.substr(0, raw_head.find("\r\n"));
        request_lines_.push_back(first_line.substr(0, first_line.rfind(' ')));
        const size_t host_at = head.find("\r\nhost: ");
        hosts_.push_back(host_at == std::string::npos ? ""
                                                      : raw_head.substr(host_at + 8, raw_head.find("\r\n", host_at + 2) - host_at - 8));
      }
      size_t content_length = 0;
      if (size_t at = head.find("content-length:"); at != std::string::npos) {
        content_length = std::stoul(head.substr(at + 15));
      }
      while (buffer.size() < header_end + 4 + content_length) {
        if (!ReadMore(conn, buffer)) return;
      }
      buffer.erase(0, header_end + 4 + content_length);

      const int n = requests_.fetch_add(1);
      const ScriptedReply& scripted = script_[std::min<size_t>(n, script_.size() - 1)];
      const int status = scripted.status;
      if (status == 0) {
        while (WaitReadable(conn)) {
          char sink[256];
          if (::read(conn, sink, sizeof(sink)) <= 0) return;  // the client gave up
        }
        return;
      }
      std::string body = scripted.body;
      if (body.empty() && status >= 300) {
        body = "<?xml version=\"1.0\"?><Error><Code>Scripted" + std::to_string(status) + "</Code></Error>";
      }
      const std::string reply = "HTTP/1.1 " + std::to_string(status) + " Scripted\r\nContent-Length: " +
                                std::to_string(body.size()) + "\r\nETag: \"etag-" + std::to_string(n) +
                                "\"\r\nConnection: keep-alive\r\n\r\n" + body;
      if (::write(conn, reply.data(), reply.size()) != static_cast<ssize_t>(reply.size())) return;
    }
  }

  bool ReadMore(int conn, std::string& buffer) {
    if (!WaitReadable(conn)) return false;
    char chunk[65536];
    const ssize_t n = ::read(conn, chunk, sizeof(chunk));
    if (n <= 0) return false;
    buffer.append(chunk, static_cast<size_t>(n));
    return true;
  }

  std::vector<ScriptedReply> script_;
  mutable std::mutex mu_;
  std::vector<std::string> request_lines_;  // guarded by mu_
  std::vector<std::string> hosts_;          // guarded by mu_
  int listen_fd_ = -1;
  int wake_[2] = {-1, -1};
  uint16_t port_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

S3Config ConfigFor(const ScriptedHttpServer& server, int max_attempts = 4) {
  S3Config config;
  config.bucket = "coffer-test";
  config.endpoint = server.endpoint();
  config.access_key_id = "AKID";
  config.secret_access_key = crypto::SecretBytes::FromBytes(AsBytes("SECRET"));
  config.create_bucket_if_missing = false;
  config.max_attempts = max_attempts;
  config.initial_backoff = std::chrono::milliseconds(1);
  config.max_backoff = std::chrono::milliseconds(20);
  config.stall_timeout = std::chrono::seconds(1);
  config.max_connections = 1;
  return config;
}

std::unique_ptr<S3BlobStore> StoreFor(const ScriptedHttpServer& server, int max_attempts = 4) {
  auto store = S3BlobStore::Open(ConfigFor(server, max_attempts));
  EXPECT_TRUE(store.ok()) << store.status().ToString();
  return store.ok() ? std::move(*store) : nullptr;
}

TEST(S3RetryTest, ServiceUnavailableTwiceThenSuccessIsRetried) {
  ScriptedHttpServer server({503, 503, 200});
  auto store = StoreFor(server);
  ASSERT_NE(store, nullptr);
  STORE_EXPECT_OK(store->Put("a/b", AsBytes("payload")));
  EXPECT_EQ(server.requests(), 3);
  EXPECT_EQ(store->requests_sent(), 3u);
  STORE_EXPECT_OK(store->Put("a/c", AsBytes("payload")));
  EXPECT_EQ(server.connections(), 1) << "the pooled handle keeps its connection alive across requests";
}

TEST(S3RetryTest, TooManyRequestsIsRetried) {
  ScriptedHttpServer server({429, 200});
  auto store = StoreFor(server);
  ASSERT_NE(store, nullptr);
  STORE_EXPECT_OK(store->Delete("a/b"));
  EXPECT_EQ(server.requests(), 2);
}

TEST(S3RetryTest, BadRequestIsNotRetried) {
  ScriptedHttpServer server({400, 200});
  auto store = StoreFor(server);
  ASSERT_NE(store, nullptr);
  Status s = store->Put("a/b", AsBytes("payload"));
  STORE_EXPECT_CODE(s, kFailedPrecondition);
  EXPECT_NE(s.message().find("Scripted400"), std::string::npos) << s.ToString();
  EXPECT_EQ(server.requests(), 1);
}

TEST(S3RetryTest, ClockSkewIsReportedAsAClockProblem) {
  ScriptedHttpServer server({{403, "<Error><Code>RequestTimeTooSkewed</Code><Message></Message></Error>"}});
  auto store = StoreFor(server);
  ASSERT_NE(store, nullptr);
  Status s = store->Put("a/b", AsBytes("payload"));
  STORE_EXPECT_CODE(s, kPermissionDenied);
  EXPECT_NE(s.message().find("clock"), std::string::npos) << s.ToString();
  EXPECT_EQ(server.requests(), 1);
}

TEST(S3RetryTest, NotFoundIsAnAnswerNotARetry) {
  ScriptedHttpServer server({404, 200});
  auto store = StoreFor(server);
  ASSERT_NE(store, nullptr);
  STORE_EXPECT_CODE(store->Get("a/b"), kNotFound);
  EXPECT_EQ(server.requests(), 1);
}

TEST(S3RetryTest, PersistentServerErrorsGiveUpAfterMaxAttempts) {
  ScriptedHttpServer server({500});
  auto store = StoreFor(server, 3);
  ASSERT_NE(store, nullptr);
  Status s = store->Put("a/b", AsBytes("payload"));
  STORE_EXPECT_CODE(s, kUnavailable);
  EXPECT_NE(s.message().find("after 3 attempts"), std::string::npos) << s.ToString();
  EXPECT_EQ(server.requests(), 3);
}

TEST(S3RetryTest, AHungServerTimesOutAndIsRetried) {
  ScriptedHttpServer server({0, 200});
  auto store = StoreFor(server);
  ASSERT_NE(store, nullptr);
  STORE_EXPECT_OK(store->Put("a/b", AsBytes("payload")));
  EXPECT_EQ(server.requests(), 2);
}

TEST(S3RequestShapeTest, PathStyleAndVirtualHostStyleAddressing) {
  ScriptedHttpServer server({200});
  {
    auto store = StoreFor(server);
    ASSERT_NE(store, nullptr);
    STORE_ASSERT_OK(store->Put("acct/chunk", AsBytes("x")));
  }
  {
    S3Config config = ConfigFor(server);
    // curl resolves *.localhost to loopback itself (RFC 6761), so no DNS is involved.
    config.endpoint = "http://localhost:" + server.endpoint().substr(server.endpoint().rfind(':') + 1);
    config.virtual_host_addressing = true;
    STORE_ASSERT_OK_AND_ASSIGN(auto store, S3BlobStore::Open(std::move(config)));
    STORE_ASSERT_OK(store->Put("acct/chunk", AsBytes("x")));
  }
  const std::string port = server.endpoint().substr(server.endpoint().rfind(':') + 1);
  EXPECT_EQ(server.request_lines(), (std::vector<std::string>{"PUT /coffer-test/acct/chunk", "PUT /acct/chunk"}));
  EXPECT_EQ(server.hosts(), (std::vector<std::string>{"127.0.0.1:" + port, "coffer-test.localhost:" + port}));
}

TEST(S3RequestShapeTest, AFailedPartAbortsTheMultipartUpload) {
  ScriptedHttpServer server({{200, "<InitiateMultipartUploadResult><UploadId>up-1</UploadId></InitiateMultipartUploadResult>"},
                             200, 400, 204});
  S3Config config = ConfigFor(server);
  config.multipart_threshold = 5 << 20;
  config.multipart_part_size = 5 << 20;
  STORE_ASSERT_OK_AND_ASSIGN(auto store, S3BlobStore::Open(std::move(config)));
  const Bytes data = TestBytes((5 << 20) * 2 + 1, 7);  // three parts
  Status s = store->Put("acct/big", data);
  STORE_EXPECT_CODE(s, kFailedPrecondition);
  EXPECT_NE(s.message().find("part 2"), std::string::npos) << s.ToString();
  EXPECT_EQ(server.request_lines(), (std::vector<std::string>{"POST /coffer-test/acct/big?uploads=",
                                                              "PUT /coffer-test/acct/big?partNumber=1&uploadId=up-1",
                                                              "PUT /coffer-test/acct/big?partNumber=2&uploadId=up-1",
                                                              "DELETE /coffer-test/acct/big?uploadId=up-1"}));
}

// ---- XML replies -----------------------------------------------------------------------------

TEST(S3XmlTest, ParsesAListingPage) {
  const std::string xml =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?><ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
      "<Name>b</Name><Prefix>p/</Prefix><KeyCount>2</KeyCount><MaxKeys>1000</MaxKeys><IsTruncated>true</IsTruncated>"
      "<NextContinuationToken>1a&amp;b&#x2F;&#61;</NextContinuationToken>"
      "<Contents><Key>p/a</Key><Size>3</Size></Contents><Contents><Key>p/b&lt;</Key></Contents></ListBucketResult>";
  STORE_ASSERT_OK_AND_ASSIGN(ListPage page, ParseListObjectsV2(xml));
  EXPECT_EQ(page.keys, (std::vector<std::string>{"p/a", "p/b<"}));
  EXPECT_TRUE(page.truncated);
  EXPECT_EQ(page.next_continuation_token, "1a&b/=");
}

TEST(S3XmlTest, RejectsMalformedReplies) {
  STORE_EXPECT_CODE(ParseListObjectsV2("<html>proxy error</html>"), kDataLoss);
  STORE_EXPECT_CODE(ParseListObjectsV2("<ListBucketResult><Contents><Key>abc"), kDataLoss);
  STORE_EXPECT_CODE(ParseListObjectsV2("<ListBucketResult><Key>a&bogus;</Key>"), kDataLoss);
  STORE_EXPECT_CODE(ParseListObjectsV2("<ListBucketResult><Key>&#0;</Key>"), kDataLoss);
  STORE_EXPECT_CODE(ParseListObjectsV2("<ListBucketResult><Key>&#x110000;</Key>"), kDataLoss);
  STORE_EXPECT_CODE(ParseListObjectsV2("<ListBucketResult><IsTruncated>maybe</IsTruncated>"), kDataLoss);
  STORE_EXPECT_CODE(ParseInitiateMultipartUpload("<InitiateMultipartUploadResult></InitiateMultipartUploadResult>"),
                    kDataLoss);
  STORE_ASSERT_OK_AND_ASSIGN(std::string id, ParseInitiateMultipartUpload("<R><UploadId>2~abc</UploadId></R>"));
  EXPECT_EQ(id, "2~abc");
}

TEST(S3XmlTest, ErrorBodiesYieldCodeAndAPrintableMessage) {
  S3Error e = ParseS3Error("<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</Code><Message></Message>"
                           "<RequestId>tx1</RequestId></Error>");
  EXPECT_EQ(e.code, "SignatureDoesNotMatch");
  EXPECT_EQ(e.message, "");
  S3Error binary = ParseS3Error("<Error><Code>X\x01\xff</Code></Error>");
  EXPECT_EQ(binary.code, "X??");
  EXPECT_EQ(ParseS3Error("not xml").code, "");
  EXPECT_EQ(XmlEscape("\"a&b<c>'"), "&quot;a&amp;b&lt;c&gt;&apos;");
}

}  // namespace
}  // namespace coffer::store::s3
