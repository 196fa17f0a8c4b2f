// Unit tests of the HTTP transport: ApiClient against a scripted HTTP/1.1 server on
// loopback that records each request and answers with the next scripted reply (valid,
// erroneous, malformed, oversized, hung or trickling).
#include "client/api_client.h"

#include <arpa/inet.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <deque>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "client/http_transport.h"

namespace coffer::client {
namespace {

using ::nlohmann::json;
using ::testing::HasSubstr;
using ::testing::Not;

// ---------------------------------------------------------------------------------------
// Scripted server.

struct Captured {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // lower-case names
  std::string body;

  std::string Header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? "" : it->second;
  }
  bool HasHeader(const std::string& name) const { return headers.count(name) > 0; }
};

struct Reply {
  enum class After { kKeepOpen, kClose, kHang, kTrickle };
  std::string raw;  // bytes sent as soon as the request is read
  After after = After::kKeepOpen;
};

std::string StatusText(int status) {
  switch (status) {
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 204:
      return "No Content";
    case 404:
      return "Not Found";
    case 503:
      return "Service Unavailable";
    default:
      return "Status";
  }
}

Reply Http(int status, const std::string& body, const std::string& content_type = "application/json",
           const std::string& extra_headers = "") {
  std::string raw = "HTTP/1.1 " + std::to_string(status) + " " + StatusText(status) + "\r\n";
  if (status != 204) {
    raw += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  raw += extra_headers + "\r\n";
  if (status != 204) raw += body;
  return Reply{raw};
}
Reply JsonReply(int status, const json& j) { return Http(status, j.dump()); }
Reply RawReply(const std::string& bytes) { return Http(200, bytes, "application/octet-stream"); }
Reply NoContent() { return Http(204, ""); }
Reply ErrorReply(int status, const std::string& code, const std::string& message,
                 const std::string& extra_headers = "") {
  return Http(status, json{{"error", {{"code", code}, {"message", message}}}}.dump(), "application/json",
              extra_headers);
}

class FakeServer {
 public:
  FakeServer() {
    listen_fd_ = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    if (bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        listen(listen_fd_, 16) != 0) {
      ADD_FAILURE() << "cannot listen on 127.0.0.1";
    }
    socklen_t len = sizeof(addr);
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    accept_thread_ = std::thread([this] { AcceptLoop(); });
  }

  ~FakeServer() {
    stop_ = true;
    accept_thread_.join();
    std::vector<std::thread> threads;
    {
      std::lock_guard<std::mutex> lock(mu_);
      threads.swap(conn_threads_);
    }
    for (std::thread& t : threads) t.join();
    close(listen_fd_);
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }

  void Push(Reply r) {
    std::lock_guard<std::mutex> lock(mu_);
    script_.push_back(std::move(r));
  }
  std::vector<Captured> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  Captured last() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_.empty() ? Captured{} : requests_.back();
  }
  int connections() const { return connections_; }

 private:
  void AcceptLoop() {
    while (!stop_) {
      pollfd p{listen_fd_, POLLIN, 0};
      if (poll(&p, 1, 20) <= 0) continue;
      int fd = accept(listen_fd_, nullptr, nullptr);
      if (fd < 0) continue;
      ++connections_;
      std::lock_guard<std::mutex> lock(mu_);
      conn_threads_.emplace_back([this, fd] {
        Serve(fd);
        close(fd);
      });
    }
  }

  // Appends what arrives to *buf; false on EOF, error or shutdown.
  bool ReadMore(int fd, std::string* buf) {
    while (!stop_) {
      pollfd p{fd, POLLIN, 0};
      int r = poll(&p, 1, 20);
      if (r == 0) continue;
      if (r < 0) return false;
      char tmp[65536];
      ssize_t n = recv(fd, tmp, sizeof(tmp), 0);
      if (n <= 0) return false;
      buf->append(tmp, static_cast<size_t>(n));
      return true;
    }
    return false;
  }

  static bool SendAll(int fd, std::string_view data) {
    while (!data.empty()) {
      ssize_t n = send(fd, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  void Serve(int fd) {
    std::string buf;
    while (!stop_) {
      size_t end;
      while ((end = buf.find("\r\n\r\n")) == std::string::npos) {
        if (!ReadMore(fd, &buf)) return;
      }
      Captured c;
      std::string head = buf.substr(0, end);
      buf.erase(0, end + 4);
      size_t line_end = head.find("\r\n");
      std::string request_line = head.substr(0, line_end);
      size_t sp1 = request_line.find(' ');
      size_t sp2 = request_line.find(' ', sp1 + 1);
      c.method = request_line.substr(0, sp1);
      c.path = request_line.substr(sp1 + 1, sp2 - sp1 - 1);
      size_t pos = line_end == std::string::npos ? head.size() : line_end + 2;
      while (pos < head.size()) {
        size_t next = head.find("\r\n", pos);
        if (next == std::string::npos) next = head.size();
        std::string line = head.substr(pos, next - pos);
        size_t colon = line.find(':');
        if (colon != std::string::npos) {
          std::string name = line.substr(0, colon);
          for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
          std::string value = line.substr(colon + 1);
          while (!value.empty() && value.front() == ' ') value.erase(0, 1);
          c.headers[name] = value;
        }
        pos = next + 2;
      }
      const size_t content_length =
          c.HasHeader("content-length") ? std::stoul(c.Header("content-length")) : 0;
      while (buf.size() < content_length) {
        if (!ReadMore(fd, &buf)) return;
      }
      c.body = buf.substr(0, content_length);
      buf.erase(0, content_length);

      Reply reply;
      {
        std::lock_guard<std::mutex> lock(mu_);
        requests_.push_back(c);
        if (script_.empty()) {
          reply = ErrorReply(500, "INTERNAL", "no scripted reply");
        } else {
          reply = std::move(script_.front());
          script_.pop_front();
        }
      }
      if (!SendAll(fd, reply.raw)) return;
      switch (reply.after) {
        case Reply::After::kKeepOpen:
          break;
        case Reply::After::kClose:
          return;
        case Reply::After::kHang:
          while (!stop_) std::this_thread::sleep_for(std::chrono::milliseconds(10));
          return;
        case Reply::After::kTrickle:
          // A few bytes per second, forever: below any sane low-speed limit.
          while (!stop_ && SendAll(fd, "x")) std::this_thread::sleep_for(std::chrono::milliseconds(200));
          return;
      }
    }
  }

  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread accept_thread_;
  std::mutex mu_;
  std::vector<std::thread> conn_threads_;
  std::deque<Reply> script_;
  std::vector<Captured> requests_;
};

// ---------------------------------------------------------------------------------------
// Fixture and data.

const std::string kAccountId(32, 'a');
const std::string kDeviceId = "0123456789abcdef0123456789abcdef";
const std::string kCollectionId(32, 'c');
const std::string kPairingId(32, 'e');
const std::string kChunkId(64, 'f');
const std::string kToken = std::string(32, '1') + std::string(32, '2');

std::string B64(const std::string& s) { return Base64Encode(AsBytes(s)); }
std::string B64(const Bytes& b) { return Base64Encode(b); }
Bytes Filled(size_t n, uint8_t v) { return Bytes(n, v); }

json DeviceJsonReply(const std::string& id = kDeviceId) {
  return json{{"id", id},
              {"sign_pk", B64(Filled(32, 1))},
              {"box_pk", B64(Filled(32, 2))},
              {"name", "laptop"},
              {"status", "active"},
              {"created_at", 1700000000}};
}

internal::TransportOptions FastOptions() {
  internal::TransportOptions o;
  o.connect_timeout_ms = 2000;
  o.low_speed_time_s = 1;  // a hung server is detected after about a second
  o.base_timeout_ms = 20'000;
  o.retry_backoff_ms = {5, 5, 5};
  return o;
}

class ApiClientTest : public ::testing::Test {
 protected:
  ApiClientTest() : options_(FastOptions()) {}

  void SetUp() override {
    auto c = ApiClient::Create(server_.url());
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(c).value();
    client_->set_token(kToken);
  }

  static json BodyJson(const Captured& c) { return json::parse(c.body); }

  internal::ScopedTransportOptionsForTesting options_;
  FakeServer server_;
  std::unique_ptr<ApiClient> client_;
};

#define EXPECT_CODE(expr, code_value)                                          \
  do {                                                                         \
    const ::coffer::Status st_ = (expr);                                       \
    EXPECT_EQ(st_.code(), ::coffer::StatusCode::code_value) << st_.ToString(); \
  } while (0)

// ---------------------------------------------------------------------------------------
// URL handling.

TEST(ApiClientCreateTest, RefusesPlainHttpToNonLoopbackHosts) {
  for (const char* url : {"http://example.com", "http://10.1.2.3:8080", "http://127.0.0.1.nip.io:80",
                          "http://[2001:db8::1]:8080", "http://128.0.0.1"}) {
    auto c = ApiClient::Create(url);
    ASSERT_FALSE(c.ok()) << url;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_EQ(c.status().message(), "refusing plain HTTP to a non-loopback server; use https://") << url;
  }
}

TEST(ApiClientCreateTest, AcceptsHttpsAndLoopbackHttp) {
  for (const char* url : {"https://example.com", "https://example.com:8443", "http://127.0.0.1:1",
                          "http://localhost:8080", "http://[::1]:8080", "http://127.9.8.7"}) {
    auto c = ApiClient::Create(url);
    EXPECT_TRUE(c.ok()) << url << ": " << c.status().ToString();
  }
}

TEST(ApiClientCreateTest, NormalisesTrailingSlash) {
  auto c = ApiClient::Create("http://127.0.0.1:8080/");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ((*c)->base_url(), "http://127.0.0.1:8080");
}

TEST(ApiClientCreateTest, RejectsMalformedUrls) {
  for (const char* url :
       {"", "not a url", "ftp://example.com", "example.com", "https://user:secret@example.com",
        "https://example.com/?x=1", "https://example.com/#frag", "https://example.com/v1"}) {
    auto c = ApiClient::Create(url);
    ASSERT_FALSE(c.ok()) << url;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument) << url;
    EXPECT_THAT(c.status().message(), Not(HasSubstr("secret"))) << url;
  }
}

TEST(ApiClientCreateTest, RejectsUnreadableCaFile) {
  auto c = ApiClient::Create("https://example.com", "/nonexistent/ca.pem");
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
}

TEST(IsLoopbackHostTest, Classifies) {
  EXPECT_TRUE(internal::IsLoopbackHost("127.0.0.1"));
  EXPECT_TRUE(internal::IsLoopbackHost("127.255.0.3"));
  EXPECT_TRUE(internal::IsLoopbackHost("localhost"));
  EXPECT_TRUE(internal::IsLoopbackHost("LocalHost"));
  EXPECT_TRUE(internal::IsLoopbackHost("[::1]"));
  EXPECT_TRUE(internal::IsLoopbackHost("[::ffff:127.0.0.1]"));
  EXPECT_FALSE(internal::IsLoopbackHost("[::2]"));
  EXPECT_FALSE(internal::IsLoopbackHost("10.0.0.1"));
  EXPECT_FALSE(internal::IsLoopbackHost("localhost.example.com"));
  EXPECT_FALSE(internal::IsLoopbackHost("127.0.0.1.example.com"));
  EXPECT_FALSE(internal::IsLoopbackHost("::1"));  // URL hosts keep IPv6 brackets
}

// ---------------------------------------------------------------------------------------
// Requests and successful replies, endpoint by endpoint.

TEST_F(ApiClientTest, HealthIsUnauthenticatedGet) {
  server_.Push(JsonReply(200, {{"ok", true}, {"version", "0.1.0"}}));
  EXPECT_TRUE(client_->Health().ok());
  Captured c = server_.last();
  EXPECT_EQ(c.method, "GET");
  EXPECT_EQ(c.path, "/v1/health");
  EXPECT_FALSE(c.HasHeader("authorization"));  // the token goes only where it is needed
}

TEST_F(ApiClientTest, HealthNotOkIsUnavailable) {
  server_.Push(JsonReply(200, {{"ok", false}}));
  EXPECT_CODE(client_->Health(), kUnavailable);
}

TEST_F(ApiClientTest, GetLoginParams) {
  server_.Push(JsonReply(200, {{"salt", B64(Filled(16, 7))}, {"ops", 3}, {"mem", 67108864}}));
  auto p = client_->GetLoginParams("me@example.com");
  ASSERT_TRUE(p.ok()) << p.status().ToString();
  EXPECT_EQ(p->salt, Filled(16, 7));
  EXPECT_EQ(p->ops, 3u);
  EXPECT_EQ(p->mem, 67108864u);
  Captured c = server_.last();
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.path, "/v1/login/params");
  EXPECT_EQ(c.Header("content-type"), "application/json");
  EXPECT_FALSE(c.HasHeader("authorization"));
  EXPECT_FALSE(c.HasHeader("expect"));
  EXPECT_EQ(BodyJson(c), (json{{"email", "me@example.com"}}));
}

TEST_F(ApiClientTest, CreateAccountSendsEveryField) {
  CreateAccountRequest req;
  req.account_id = kAccountId;
  req.email = "me@example.com";
  req.login_salt = Filled(16, 1);
  req.login_ops = 2;
  req.login_mem = 1024;
  req.login_verifier = Filled(32, 2);
  req.recovery_verifier = Filled(32, 3);
  req.recovery_blob = Filled(50, 4);
  req.device = {kDeviceId, Filled(32, 5), Filled(32, 6), "laptop", "", 0};
  req.chain_entry = Filled(100, 7);
  req.sealed_key_epoch = 1;
  req.sealed_key = Filled(80, 8);
  req.keyring = Filled(90, 9);
  req.time = 1700000000;
  req.signature = Filled(64, 10);
  server_.Push(JsonReply(201, {{"account_id", kAccountId},
                               {"token", kToken},
                               {"expires_at", 1700604800},
                               {"session_kind", "device"}}));
  auto s = client_->CreateAccount(req);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->token, kToken);
  EXPECT_EQ(s->account_id, kAccountId);
  EXPECT_EQ(s->expires_at, 1700604800);
  EXPECT_EQ(s->session_kind, "device");
  EXPECT_EQ(s->device_status, "active");

  Captured c = server_.last();
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.path, "/v1/accounts");
  json expected = {
      {"account_id", kAccountId},
      {"email", "me@example.com"},
      {"login", {{"salt", B64(Filled(16, 1))}, {"ops", 2}, {"mem", 1024}, {"verifier", B64(Filled(32, 2))}}},
      {"recovery", {{"verifier", B64(Filled(32, 3))}, {"blob", B64(Filled(50, 4))}}},
      {"device",
       {{"id", kDeviceId},
        {"sign_pk", B64(Filled(32, 5))},
        {"box_pk", B64(Filled(32, 6))},
        {"name", "laptop"}}},
      {"chain_entry", B64(Filled(100, 7))},
      {"sealed_key", {{"epoch", 1}, {"blob", B64(Filled(80, 8))}}},
      {"keyring", B64(Filled(90, 9))},
      {"time", 1700000000},
      {"signature", B64(Filled(64, 10))},
  };
  EXPECT_EQ(BodyJson(c), expected);
}

TEST_F(ApiClientTest, CreateAccountRejectsReplyForAnotherAccount) {
  CreateAccountRequest req;
  req.account_id = kAccountId;
  server_.Push(JsonReply(201, {{"account_id", std::string(32, 'b')},
                               {"token", kToken},
                               {"expires_at", 1},
                               {"session_kind", "device"}}));
  auto s = client_->CreateAccount(req);
  EXPECT_CODE(s.status(), kDataLoss);
}

TEST_F(ApiClientTest, CreateAccountRejectsNonUtf8Text) {
  CreateAccountRequest req;
  req.account_id = kAccountId;
  req.email = "bad\xff@example.com";
  auto s = client_->CreateAccount(req);
  EXPECT_CODE(s.status(), kInvalidArgument);
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(ApiClientTest, LoginWithPassword) {
  LoginRequest req;
  req.email = "me@example.com";
  req.device = {kDeviceId, Filled(32, 5), Filled(32, 6), "phone", "", 0};
  req.time = 42;
  req.signature = Filled(64, 1);
  req.verifier = Filled(32, 9);
  server_.Push(JsonReply(201, {{"token", kToken},
                               {"expires_at", 99},
                               {"account_id", kAccountId},
                               {"session_kind", "pending"},
                               {"device_status", "pending"}}));
  auto s = client_->Login(req);
  ASSERT_TRUE(s.ok()) << s.status().ToString();
  EXPECT_EQ(s->session_kind, "pending");
  EXPECT_EQ(s->device_status, "pending");
  Captured c = server_.last();
  EXPECT_EQ(c.path, "/v1/sessions");
  json body = BodyJson(c);
  EXPECT_EQ(body["verifier"], B64(Filled(32, 9)));
  EXPECT_FALSE(body.contains("recovery_verifier"));
  EXPECT_EQ(body["device"]["name"], "phone");
  EXPECT_EQ(body["time"], 42);
  EXPECT_EQ(body["signature"], B64(Filled(64, 1)));
}

TEST_F(ApiClientTest, LoginWithDeviceKeyOmitsVerifiers) {
  LoginRequest req;
  req.email = "me@example.com";
  req.device = {kDeviceId, Filled(32, 5), Filled(32, 6), "phone", "", 0};
  server_.Push(JsonReply(201, {{"token", kToken},
                               {"expires_at", 99},
                               {"account_id", kAccountId},
                               {"session_kind", "device"},
                               {"device_status", "active"}}));
  ASSERT_TRUE(client_->Login(req).ok());
  json body = BodyJson(server_.last());
  EXPECT_FALSE(body.contains("verifier"));
  EXPECT_FALSE(body.contains("recovery_verifier"));
}

TEST_F(ApiClientTest, LoginRejectsTokenThatIsNotHex) {
  // A token with CR/LF would otherwise be injected into every later request's headers.
  server_.Push(JsonReply(201, {{"token", std::string(62, 'a') + "\r\n"},
                               {"expires_at", 99},
                               {"account_id", kAccountId},
                               {"session_kind", "device"},
                               {"device_status", "active"}}));
  auto s = client_->Login(LoginRequest{});
  EXPECT_CODE(s.status(), kDataLoss);
  EXPECT_THAT(s.status().message(), HasSubstr("token"));
}

TEST_F(ApiClientTest, LoginRejectsUnknownSessionKind) {
  server_.Push(JsonReply(201, {{"token", kToken},
                               {"expires_at", 99},
                               {"account_id", kAccountId},
                               {"session_kind", "admin"},
                               {"device_status", "active"}}));
  EXPECT_CODE(client_->Login(LoginRequest{}).status(), kDataLoss);
}

TEST_F(ApiClientTest, LogoutDeletesCurrentSessionWithBearerToken) {
  server_.Push(NoContent());
  EXPECT_TRUE(client_->Logout().ok());
  Captured c = server_.last();
  EXPECT_EQ(c.method, "DELETE");
  EXPECT_EQ(c.path, "/v1/sessions/current");
  EXPECT_EQ(c.Header("authorization"), "Bearer " + kToken);
}

TEST_F(ApiClientTest, NoAuthorizationHeaderWithoutToken) {
  client_->set_token("");
  server_.Push(JsonReply(200, {{"blob", B64("x")}}));
  ASSERT_TRUE(client_->GetRecoveryBlob().ok());
  EXPECT_FALSE(server_.last().HasHeader("authorization"));
}

TEST_F(ApiClientTest, GetAccount) {
  server_.Push(JsonReply(200, {{"account_id", kAccountId},
                               {"email", "me@example.com"},
                               {"created_at", 1700000000},
                               {"used_bytes", 1234},
                               {"quota_bytes", 10737418240ull},
                               {"device_count", 2},
                               {"locked", false}}));
  auto a = client_->GetAccount();
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->account_id, kAccountId);
  EXPECT_EQ(a->email, "me@example.com");
  EXPECT_EQ(a->created_at, 1700000000);
  EXPECT_EQ(a->used_bytes, 1234u);
  EXPECT_EQ(a->quota_bytes, 10737418240ull);
  EXPECT_EQ(a->device_count, 2u);
  EXPECT_FALSE(a->locked);
  Captured c = server_.last();
  EXPECT_EQ(c.method, "GET");
  EXPECT_EQ(c.path, "/v1/account");
  EXPECT_EQ(c.Header("authorization"), "Bearer " + kToken);
}

TEST_F(ApiClientTest, RecoveryAndLoginUpdates) {
  server_.Push(JsonReply(200, {{"blob", B64("wrapped")}}));
  auto blob = client_->GetRecoveryBlob();
  ASSERT_TRUE(blob.ok());
  EXPECT_EQ(*blob, ToBytes(std::string_view("wrapped")));
  EXPECT_EQ(server_.last().path, "/v1/account/recovery");

  server_.Push(NoContent());
  ASSERT_TRUE(client_->SetLogin(Filled(16, 1), 3, 4096, Filled(32, 2)).ok());
  Captured c = server_.last();
  EXPECT_EQ(c.method, "PUT");
  EXPECT_EQ(c.path, "/v1/account/login");
  EXPECT_EQ(
      BodyJson(c),
      (json{{"salt", B64(Filled(16, 1))}, {"ops", 3}, {"mem", 4096}, {"verifier", B64(Filled(32, 2))}}));

  server_.Push(NoContent());
  ASSERT_TRUE(client_->SetRecovery(Filled(32, 3), Filled(10, 4)).ok());
  c = server_.last();
  EXPECT_EQ(c.method, "PUT");
  EXPECT_EQ(c.path, "/v1/account/recovery");
  EXPECT_EQ(BodyJson(c), (json{{"verifier", B64(Filled(32, 3))}, {"blob", B64(Filled(10, 4))}}));
}

TEST_F(ApiClientTest, SetRecoveryWithoutVerifierKeepsTheStoredOne) {
  server_.Push(NoContent());
  ASSERT_TRUE(client_->SetRecovery({}, Filled(10, 4)).ok());
  EXPECT_EQ(BodyJson(server_.last()), (json{{"blob", B64(Filled(10, 4))}}));
}

TEST_F(ApiClientTest, ListDevices) {
  json second = DeviceJsonReply(std::string(32, 'd'));
  second["status"] = "revoked";
  server_.Push(JsonReply(200, {{"devices", {DeviceJsonReply(), second}}}));
  auto d = client_->ListDevices();
  ASSERT_TRUE(d.ok()) << d.status().ToString();
  ASSERT_EQ(d->size(), 2u);
  EXPECT_EQ((*d)[0].id, kDeviceId);
  EXPECT_EQ((*d)[0].sign_pk, Filled(32, 1));
  EXPECT_EQ((*d)[0].box_pk, Filled(32, 2));
  EXPECT_EQ((*d)[0].name, "laptop");
  EXPECT_EQ((*d)[0].created_at, 1700000000);
  EXPECT_EQ((*d)[1].status, "revoked");
  EXPECT_EQ(server_.last().path, "/v1/devices");
}

TEST_F(ApiClientTest, ListDevicesNamesTheBadField) {
  json bad = DeviceJsonReply();
  bad["sign_pk"] = B64(Filled(31, 1));
  server_.Push(JsonReply(200, {{"devices", {DeviceJsonReply(), bad}}}));
  auto d = client_->ListDevices();
  EXPECT_CODE(d.status(), kDataLoss);
  EXPECT_EQ(d.status().message(),
            "malformed reply from server to GET /v1/devices: field devices[1].sign_pk is not 32 bytes");
}

TEST_F(ApiClientTest, GetChain) {
  server_.Push(JsonReply(200, {{"from", 3}, {"entries", {B64("e3"), B64("e4")}}}));
  auto e = client_->GetChain(3);
  ASSERT_TRUE(e.ok()) << e.status().ToString();
  ASSERT_EQ(e->size(), 2u);
  EXPECT_EQ((*e)[1], ToBytes(std::string_view("e4")));
  EXPECT_EQ(server_.last().path, "/v1/chain?from=3");

  server_.Push(JsonReply(200, {{"from", 0}, {"entries", {B64("e0")}}}));
  EXPECT_CODE(client_->GetChain(3).status(), kDataLoss);  // shifted entries
}

TEST_F(ApiClientTest, AppendChainAddAndRevoke) {
  ChainEffect add;
  add.action = "add";
  add.device = {kDeviceId, Filled(32, 5), Filled(32, 6), "tablet", "", 0};
  server_.Push(Http(201, "{}"));
  ASSERT_TRUE(client_->AppendChain(4, Filled(20, 1), add).ok());
  Captured c = server_.last();
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.path, "/v1/chain");
  EXPECT_EQ(BodyJson(c), (json{{"seq", 4},
                               {"entry", B64(Filled(20, 1))},
                               {"effect",
                                {{"action", "add"},
                                 {"device",
                                  {{"id", kDeviceId},
                                   {"sign_pk", B64(Filled(32, 5))},
                                   {"box_pk", B64(Filled(32, 6))},
                                   {"name", "tablet"}}}}}}));

  ChainEffect revoke;
  revoke.action = "revoke";
  revoke.device_id = kDeviceId;
  server_.Push(Http(201, ""));
  ASSERT_TRUE(client_->AppendChain(5, Filled(20, 2), revoke).ok());
  EXPECT_EQ(BodyJson(server_.last())["effect"], (json{{"action", "revoke"}, {"device_id", kDeviceId}}));

  ChainEffect bogus;
  bogus.action = "promote";
  EXPECT_CODE(client_->AppendChain(6, Filled(20, 2), bogus), kInvalidArgument);
}

TEST_F(ApiClientTest, AppendChainConflictIsAbortedAndNotRetried) {
  server_.Push(
      Http(409, json{{"error", {{"code", "ABORTED"}, {"message", "chain moved"}}}, {"current", 7}}.dump()));
  ChainEffect revoke{"revoke", {}, kDeviceId};
  EXPECT_CODE(client_->AppendChain(4, Filled(20, 1), revoke), kAborted);
  server_.Push(ErrorReply(503, "UNAVAILABLE", "busy"));
  EXPECT_CODE(client_->AppendChain(4, Filled(20, 1), revoke), kUnavailable);
  EXPECT_EQ(server_.requests().size(), 2u);
}

TEST_F(ApiClientTest, SealedKeys) {
  server_.Push(NoContent());
  ASSERT_TRUE(client_->PutSealedKey(kDeviceId, 3, Filled(80, 1)).ok());
  Captured c = server_.last();
  EXPECT_EQ(c.method, "PUT");
  EXPECT_EQ(c.path, "/v1/keys/sealed/" + kDeviceId);
  EXPECT_EQ(BodyJson(c), (json{{"epoch", 3}, {"blob", B64(Filled(80, 1))}}));

  server_.Push(JsonReply(200, {{"epoch", 3}, {"blob", B64(Filled(80, 1))}}));
  auto k = client_->GetSealedKey(kDeviceId);
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->first, 3u);
  EXPECT_EQ(k->second, Filled(80, 1));
  EXPECT_EQ(server_.last().method, "GET");

  server_.Push(ErrorReply(404, "NOT_FOUND", "no sealed key"));
  EXPECT_CODE(client_->GetSealedKey(kDeviceId).status(), kNotFound);

  // Caller-supplied ids are validated before they reach a URL.
  EXPECT_CODE(client_->GetSealedKey("../account").status(), kInvalidArgument);
  EXPECT_CODE(client_->PutSealedKey(kDeviceId + "?x=1", 1, Filled(1, 1)), kInvalidArgument);
  EXPECT_EQ(server_.requests().size(), 3u);
}

TEST_F(ApiClientTest, Keyring) {
  server_.Push(JsonReply(200, {{"version", 2}, {"blob", B64("ring")}}));
  auto k = client_->GetKeyring();
  ASSERT_TRUE(k.ok()) << k.status().ToString();
  EXPECT_EQ(k->first, 2u);
  EXPECT_EQ(k->second, ToBytes(std::string_view("ring")));
  EXPECT_EQ(server_.last().path, "/v1/keyring");

  server_.Push(ErrorReply(404, "NOT_FOUND", "no keyring"));
  EXPECT_CODE(client_->GetKeyring().status(), kNotFound);

  server_.Push(NoContent());
  ASSERT_TRUE(client_->PutKeyring(3, ToBytes(std::string_view("ring3"))).ok());
  EXPECT_EQ(server_.last().method, "PUT");
  EXPECT_EQ(BodyJson(server_.last()), (json{{"version", 3}, {"blob", B64("ring3")}}));

  // A bare 409 on a compare-and-set write still means "lost the race".
  server_.Push(Http(409, "conflict", "text/plain"));
  EXPECT_CODE(client_->PutKeyring(3, Filled(4, 1)), kAborted);
}

TEST_F(ApiClientTest, ListCollections) {
  server_.Push(JsonReply(200, {{"collections", {{{"id", kCollectionId}, {"head", 12}}}}}));
  auto c = client_->ListCollections();
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  ASSERT_EQ(c->size(), 1u);
  EXPECT_EQ((*c)[0].first, kCollectionId);
  EXPECT_EQ((*c)[0].second, 12u);
  EXPECT_EQ(server_.last().path, "/v1/collections");
}

TEST_F(ApiClientTest, GetRevisions) {
  server_.Push(JsonReply(
      200, {{"head", 9},
            {"revisions", {{{"number", 5}, {"data", B64("r5")}}, {{"number", 6}, {"data", B64("r6")}}}}}));
  auto r = client_->GetRevisions(kCollectionId, 5, 2);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->first, 9u);
  ASSERT_EQ(r->second.size(), 2u);
  EXPECT_EQ(r->second[0].number, 5u);
  EXPECT_EQ(r->second[1].data, ToBytes(std::string_view("r6")));
  EXPECT_EQ(server_.last().path, "/v1/collections/" + kCollectionId + "/revisions?from=5&limit=2");

  // The server's maximum is 10000; asking for more is clamped.
  server_.Push(JsonReply(200, {{"head", 0}, {"revisions", json::array()}}));
  ASSERT_TRUE(client_->GetRevisions(kCollectionId, 1, 50000).ok());
  EXPECT_EQ(server_.last().path, "/v1/collections/" + kCollectionId + "/revisions?from=1&limit=10000");
}

TEST_F(ApiClientTest, GetRevisionsRejectsStructuralLies) {
  const std::vector<json> bad = {
      // gap
      {{"head", 9}, {"revisions", {{{"number", 5}, {"data", ""}}, {{"number", 7}, {"data", ""}}}}},
      // before `from`
      {{"head", 9}, {"revisions", {{{"number", 4}, {"data", ""}}}}},
      // beyond the head
      {{"head", 5}, {"revisions", {{{"number", 5}, {"data", ""}}, {{"number", 6}, {"data", ""}}}}},
      // more than the limit
      {{"head", 9},
       {"revisions",
        {{{"number", 5}, {"data", ""}}, {{"number", 6}, {"data", ""}}, {{"number", 7}, {"data", ""}}}}},
      // wrong types
      {{"head", "9"}, {"revisions", json::array()}},
      {{"head", 9}, {"revisions", {{{"number", -5}, {"data", ""}}}}},
      {{"head", 9}, {"revisions", {{{"number", 5.5}, {"data", ""}}}}},
      {{"head", 9}, {"revisions", {{{"number", 5}, {"data", "!!"}}}}},
      {{"head", 9}, {"revisions", {5}}},
      {{"head", 9}, {"revisions", "none"}},
      // numbers that wrap around 2^64 are not consecutive (found by fuzz/client_reply_fuzz.cc)
      {{"head", UINT64_MAX},
       {"revisions", {{{"number", UINT64_MAX}, {"data", ""}}, {{"number", 0}, {"data", ""}}}}},
  };
  for (const json& j : bad) {
    server_.Push(JsonReply(200, j));
    auto r = client_->GetRevisions(kCollectionId, 5, 2);
    EXPECT_CODE(r.status(), kDataLoss);
    EXPECT_THAT(r.status().message(), HasSubstr("malformed reply from server to GET /v1/collections/")) << j;
  }
}

TEST_F(ApiClientTest, PutRevisionSendsRawBody) {
  const Bytes data = {0, 1, 2, 255, 13, 10};
  server_.Push(JsonReply(201, {{"head", 10}}));
  ASSERT_TRUE(client_->PutRevision(kCollectionId, 10, data).ok());
  Captured c = server_.last();
  EXPECT_EQ(c.method, "PUT");
  EXPECT_EQ(c.path, "/v1/collections/" + kCollectionId + "/revisions/10");
  EXPECT_EQ(c.Header("content-type"), "application/octet-stream");
  EXPECT_EQ(c.Header("authorization"), "Bearer " + kToken);
  EXPECT_EQ(c.body, std::string(AsChars(data)));
}

TEST_F(ApiClientTest, PutRevisionConflictAndFailuresAreNotRetried) {
  server_.Push(
      Http(409, json{{"error", {{"code", "ABORTED"}, {"message", "head moved"}}}, {"head", 11}}.dump()));
  EXPECT_CODE(client_->PutRevision(kCollectionId, 10, Filled(3, 1)), kAborted);
  server_.Push(ErrorReply(503, "UNAVAILABLE", "restarting"));
  EXPECT_CODE(client_->PutRevision(kCollectionId, 10, Filled(3, 1)), kUnavailable);
  EXPECT_EQ(server_.requests().size(), 2u);
}

TEST_F(ApiClientTest, PutRevisionTooLargeFailsWithoutUpload) {
  const Bytes big(32 * 1024 * 1024 + 1, 0);
  EXPECT_CODE(client_->PutRevision(kCollectionId, 1, big), kInvalidArgument);
  EXPECT_TRUE(server_.requests().empty());
}

TEST_F(ApiClientTest, Checkpoints) {
  server_.Push(JsonReply(200, {{"number", 100}, {"data", B64("snapshot")}}));
  auto cp = client_->GetCheckpoint(kCollectionId);
  ASSERT_TRUE(cp.ok()) << cp.status().ToString();
  EXPECT_EQ(cp->number, 100u);
  EXPECT_EQ(cp->data, ToBytes(std::string_view("snapshot")));
  EXPECT_EQ(server_.last().path, "/v1/collections/" + kCollectionId + "/checkpoint");

  server_.Push(ErrorReply(404, "NOT_FOUND", "no checkpoint"));
  EXPECT_CODE(client_->GetCheckpoint(kCollectionId).status(), kNotFound);

  server_.Push(NoContent());
  ASSERT_TRUE(client_->PutCheckpoint(kCollectionId, 100, ToBytes(std::string_view("snap"))).ok());
  Captured c = server_.last();
  EXPECT_EQ(c.method, "PUT");
  EXPECT_EQ(c.path, "/v1/collections/" + kCollectionId + "/checkpoint/100");
  EXPECT_EQ(c.Header("content-type"), "application/octet-stream");
  EXPECT_EQ(c.body, "snap");
}

TEST_F(ApiClientTest, PutChunkSendsChecksumAndReportsCreation) {
  server_.Push(Http(201, ""));
  auto created = client_->PutChunk(kChunkId, ToBytes(std::string_view("abc")));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_TRUE(*created);
  Captured c = server_.last();
  EXPECT_EQ(c.method, "PUT");
  EXPECT_EQ(c.path, "/v1/chunks/" + kChunkId);
  EXPECT_EQ(c.body, "abc");
  EXPECT_EQ(c.Header("content-type"), "application/octet-stream");
  // SHA-256("abc"), FIPS 180-2 appendix B.1.
  EXPECT_EQ(c.Header("x-coffer-sha256"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");

  server_.Push(Http(200, ""));
  created = client_->PutChunk(kChunkId, ToBytes(std::string_view("abc")));
  ASSERT_TRUE(created.ok());
  EXPECT_FALSE(*created);

  server_.Push(Http(202, ""));
  EXPECT_CODE(client_->PutChunk(kChunkId, ToBytes(std::string_view("abc"))).status(), kDataLoss);
}

TEST_F(ApiClientTest, PutChunkErrors) {
  server_.Push(ErrorReply(507, "RESOURCE_EXHAUSTED", "10 GiB quota reached"));
  auto r = client_->PutChunk(kChunkId, Filled(10, 1));
  EXPECT_CODE(r.status(), kResourceExhausted);
  EXPECT_EQ(r.status().message(),
            "server refused PUT /v1/chunks/" + kChunkId + ": storage quota exceeded (10 GiB quota reached)");

  server_.Push(ErrorReply(400, "INVALID_ARGUMENT", "checksum mismatch"));
  EXPECT_CODE(client_->PutChunk(kChunkId, Filled(10, 1)).status(), kInvalidArgument);

  EXPECT_CODE(client_->PutChunk("ABC", Filled(10, 1)).status(), kInvalidArgument);
  EXPECT_CODE(client_->PutChunk(std::string(64, 'F'), Filled(10, 1)).status(), kInvalidArgument);
  EXPECT_EQ(server_.requests().size(), 2u);
}

TEST_F(ApiClientTest, HasChunkUsesHead) {
  server_.Push(Http(200, ""));
  auto has = client_->HasChunk(kChunkId);
  ASSERT_TRUE(has.ok()) << has.status().ToString();
  EXPECT_TRUE(*has);
  EXPECT_EQ(server_.last().method, "HEAD");
  EXPECT_EQ(server_.last().path, "/v1/chunks/" + kChunkId);

  server_.Push(Reply{"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"});
  has = client_->HasChunk(kChunkId);
  ASSERT_TRUE(has.ok()) << has.status().ToString();
  EXPECT_FALSE(*has);

  server_.Push(Reply{"HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n"});
  EXPECT_CODE(client_->HasChunk(kChunkId).status(), kUnauthenticated);
}

TEST_F(ApiClientTest, GetChunkReturnsRawBytes) {
  std::string payload(100000, '\0');
  for (size_t i = 0; i < payload.size(); ++i) payload[i] = static_cast<char>(i * 7);
  server_.Push(RawReply(payload));
  auto b = client_->GetChunk(kChunkId);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*b, ToBytes(std::string_view(payload)));
  EXPECT_EQ(server_.last().method, "GET");
  EXPECT_EQ(server_.last().path, "/v1/chunks/" + kChunkId);
}

TEST_F(ApiClientTest, GetChunkDataLossIsNotRetried) {
  server_.Push(ErrorReply(500, "DATA_LOSS", "chunk failed its checksum"));
  auto b = client_->GetChunk(kChunkId);
  EXPECT_CODE(b.status(), kDataLoss);
  EXPECT_EQ(b.status().message(),
            "server refused GET /v1/chunks/" + kChunkId + ": chunk failed its checksum");
  EXPECT_EQ(server_.requests().size(), 1u);
}

TEST_F(ApiClientTest, MissingChunks) {
  const std::string a(64, 'a');
  const std::string b(64, 'b');
  server_.Push(JsonReply(200, {{"missing", {b}}}));
  auto m = client_->MissingChunks({a, b});
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, std::vector<std::string>{b});
  Captured c = server_.last();
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.path, "/v1/chunks/missing");
  EXPECT_EQ(BodyJson(c), (json{{"ids", {a, b}}}));

  // Nothing to ask: no request.
  m = client_->MissingChunks({});
  ASSERT_TRUE(m.ok());
  EXPECT_TRUE(m->empty());
  EXPECT_EQ(server_.requests().size(), 1u);

  // An id that was not asked about, or one repeated, is a lie.
  server_.Push(JsonReply(200, {{"missing", {std::string(64, 'c')}}}));
  EXPECT_CODE(client_->MissingChunks({a, b}).status(), kDataLoss);
  server_.Push(JsonReply(200, {{"missing", {a, a}}}));
  EXPECT_CODE(client_->MissingChunks({a, b}).status(), kDataLoss);
  server_.Push(JsonReply(200, {{"missing", {"A" + a.substr(1)}}}));
  EXPECT_CODE(client_->MissingChunks({a, b}).status(), kDataLoss);
}

TEST_F(ApiClientTest, MissingChunksSplitsLargeSets) {
  std::vector<std::string> ids;
  for (int i = 0; i < 100001; ++i) {
    char buf[65];
    snprintf(buf, sizeof(buf), "%064x", i);
    ids.emplace_back(buf);
  }
  server_.Push(JsonReply(200, {{"missing", json::array()}}));
  server_.Push(JsonReply(200, {{"missing", {ids.back()}}}));
  auto m = client_->MissingChunks(ids);
  ASSERT_TRUE(m.ok()) << m.status().ToString();
  EXPECT_EQ(*m, std::vector<std::string>{ids.back()});
  auto reqs = server_.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(BodyJson(reqs[0])["ids"].size(), 100000u);
  EXPECT_EQ(BodyJson(reqs[1])["ids"].size(), 1u);
}

TEST_F(ApiClientTest, ListChunksAndGc) {
  server_.Push(JsonReply(200, {{"chunks", {{{"id", kChunkId}, {"size", 4096}}}}}));
  auto l = client_->ListChunks();
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].id, kChunkId);
  EXPECT_EQ((*l)[0].size, 4096u);
  EXPECT_EQ(server_.last().path, "/v1/chunks");

  server_.Push(JsonReply(200, {{"chunks", {{{"id", kChunkId}, {"size", 1ull << 40}}}}}));
  EXPECT_CODE(client_->ListChunks().status(), kDataLoss);

  server_.Push(JsonReply(200, {{"deleted", 3}, {"freed_bytes", 12345}}));
  auto g = client_->CollectGarbage({kChunkId});
  ASSERT_TRUE(g.ok()) << g.status().ToString();
  EXPECT_EQ(g->deleted, 3u);
  EXPECT_EQ(g->freed_bytes, 12345u);
  Captured c = server_.last();
  EXPECT_EQ(c.method, "POST");
  EXPECT_EQ(c.path, "/v1/gc");
  EXPECT_EQ(BodyJson(c), (json{{"live", {kChunkId}}}));
}

TEST_F(ApiClientTest, Pairing) {
  server_.Push(Http(201, ""));
  ASSERT_TRUE(client_->PutPairingRequest(kPairingId, ToBytes(std::string_view("hello"))).ok());
  Captured c = server_.last();
  EXPECT_EQ(c.method, "PUT");
  EXPECT_EQ(c.path, "/v1/pairing/" + kPairingId);
  EXPECT_EQ(c.body, "hello");
  EXPECT_EQ(c.Header("content-type"), "application/octet-stream");

  server_.Push(ErrorReply(409, "ALREADY_EXISTS", "pairing id in use"));
  EXPECT_CODE(client_->PutPairingRequest(kPairingId, ToBytes(std::string_view("hello"))), kAlreadyExists);

  server_.Push(RawReply("hello"));
  auto req = client_->GetPairingRequest(kPairingId);
  ASSERT_TRUE(req.ok());
  EXPECT_EQ(*req, ToBytes(std::string_view("hello")));
  EXPECT_EQ(server_.last().method, "GET");

  server_.Push(Http(201, ""));
  ASSERT_TRUE(client_->PutPairingResponse(kPairingId, ToBytes(std::string_view("answer"))).ok());
  EXPECT_EQ(server_.last().path, "/v1/pairing/" + kPairingId + "/response");
  EXPECT_EQ(server_.last().method, "PUT");

  server_.Push(ErrorReply(404, "NOT_FOUND", "not answered yet"));
  EXPECT_CODE(client_->GetPairingResponse(kPairingId).status(), kNotFound);
  server_.Push(RawReply("answer"));
  auto resp = client_->GetPairingResponse(kPairingId);
  ASSERT_TRUE(resp.ok());
  EXPECT_EQ(*resp, ToBytes(std::string_view("answer")));
  EXPECT_EQ(server_.last().path, "/v1/pairing/" + kPairingId + "/response");

  EXPECT_CODE(client_->PutPairingRequest(kPairingId, Bytes(64 * 1024 + 1, 0)), kInvalidArgument);
}

// ---------------------------------------------------------------------------------------
// Error mapping.

struct ErrorCase {
  Reply reply;
  StatusCode code;
  std::string message;  // exact expected message
};

TEST_F(ApiClientTest, ErrorBodiesAndStatusesMapToStatusCodes) {
  const std::string p = "server refused PUT /v1/keyring: ";
  const std::vector<ErrorCase> cases = {
      {ErrorReply(400, "INVALID_ARGUMENT", "bad version"), StatusCode::kInvalidArgument, p + "bad version"},
      {ErrorReply(401, "UNAUTHENTICATED", "session expired"), StatusCode::kUnauthenticated,
       p + "session expired"},
      {ErrorReply(403, "PERMISSION_DENIED", "this device is not approved yet"), StatusCode::kPermissionDenied,
       p + "this device is not approved yet"},
      {ErrorReply(404, "NOT_FOUND", "gone"), StatusCode::kNotFound, p + "gone"},
      {ErrorReply(409, "ALREADY_EXISTS", "taken"), StatusCode::kAlreadyExists, p + "taken"},
      {ErrorReply(409, "ABORTED", "moved"), StatusCode::kAborted, p + "moved"},
      {ErrorReply(412, "FAILED_PRECONDITION", "first do X"), StatusCode::kFailedPrecondition,
       p + "first do X"},
      {ErrorReply(416, "OUT_OF_RANGE", "past end"), StatusCode::kOutOfRange, p + "past end"},
      {ErrorReply(500, "DATA_LOSS", "corrupt"), StatusCode::kDataLoss, p + "corrupt"},
      {ErrorReply(500, "INTERNAL", "bug"), StatusCode::kUnavailable, p + "bug"},
      // Without a usable code, the HTTP status decides.
      {Http(400, ""), StatusCode::kInvalidArgument, p + "the request was rejected as malformed"},
      {Http(401, "<html>login</html>", "text/html"), StatusCode::kUnauthenticated,
       p + "not logged in, or the session expired"},
      {Http(403, "{}"), StatusCode::kPermissionDenied, p + "permission denied"},
      {Http(404, "[]"), StatusCode::kNotFound, p + "not found"},
      {Http(413, ""), StatusCode::kInvalidArgument, p + "request too large for the server"},
      {ErrorReply(423, "", "contact support"), StatusCode::kPermissionDenied,
       p + "account locked by the operator (contact support)"},
      {Http(423, ""), StatusCode::kPermissionDenied, p + "account locked by the operator"},
      {Http(429, "", "text/plain", "Retry-After: 30\r\n"), StatusCode::kResourceExhausted,
       p + "too many requests; retry after 30 s"},
      {Http(502, "<html>bad gateway</html>", "text/html"), StatusCode::kUnavailable,
       p + "server error (HTTP 502)"},
      {Http(507, ""), StatusCode::kResourceExhausted, p + "storage quota exceeded"},
      {Http(302, "", "text/plain", "Location: https://evil.example/\r\n"), StatusCode::kUnavailable,
       p + "the server answered with a redirect (HTTP 302), which Coffer does not follow; check the server "
           "URL"},
      // The server cannot claim the client's own verdicts (kSecurity) or invent codes.
      {ErrorReply(403, "SECURITY", "trust me"), StatusCode::kPermissionDenied, p + "trust me"},
      {ErrorReply(400, "WHATEVER", "odd"), StatusCode::kInvalidArgument, p + "odd"},
      {Http(400, R"({"error": {"code": 5, "message": ["x"]}})"), StatusCode::kInvalidArgument,
       p + "the request was rejected as malformed"},
      // Terminal escapes and other bytes outside printable ASCII are neutralised.
      {ErrorReply(400, "INVALID_ARGUMENT", "bad\x1b[2Jthing\n"), StatusCode::kInvalidArgument,
       p + "bad?[2Jthing?"},
  };
  for (const ErrorCase& ec : cases) {
    server_.Push(ec.reply);
    Status s = client_->PutKeyring(1, Filled(4, 1));
    EXPECT_EQ(s.code(), ec.code) << ec.reply.raw << "\n" << s.ToString();
    EXPECT_EQ(s.message(), ec.message) << ec.reply.raw;
  }
  // PUT keyring is never retried, and a redirect is never followed.
  EXPECT_EQ(server_.requests().size(), cases.size());
}

TEST_F(ApiClientTest, RateLimitRetryAfterFromBody) {
  server_.Push(Http(429,
                    json{{"error", {{"code", "RESOURCE_EXHAUSTED"}, {"message", "too many login attempts"}}},
                         {"retry_after", 120}}
                        .dump(),
                    "application/json", "Retry-After: 120\r\n"));
  auto s = client_->Login(LoginRequest{});
  EXPECT_CODE(s.status(), kResourceExhausted);
  EXPECT_EQ(s.status().message(),
            "server refused POST /v1/sessions: too many login attempts; retry after 120 s");
}

TEST_F(ApiClientTest, ErrorMessagesNeverContainTheToken) {
  server_.Push(ErrorReply(401, "UNAUTHENTICATED", "expired"));
  Status s = client_->GetAccount().status();
  EXPECT_THAT(s.message(), Not(HasSubstr(kToken)));
  client_->set_token("bad token\r\nX-Injected: 1");
  s = client_->GetAccount().status();
  EXPECT_CODE(s, kInvalidArgument);
  EXPECT_THAT(s.message(), Not(HasSubstr("bad token")));
  EXPECT_EQ(server_.requests().size(), 1u);
}

// ---------------------------------------------------------------------------------------
// Malformed replies: every one is kDataLoss, none crashes.

TEST_F(ApiClientTest, MalformedRepliesAreDataLoss) {
  const std::vector<std::string> bodies = {
      "",
      "not json",
      "{\"account_id\": ",
      "[1,2,3]",
      "null",
      "42",
      "{}",
      std::string(100, '[') + std::string(100, ']'),
      "{\"a\":" + std::string(1000, '[') + std::string(1000, ']') + "}",
      json{{"account_id", 5}}.dump(),
  };
  for (const std::string& body : bodies) {
    server_.Push(Http(200, body));
    auto a = client_->GetAccount();
    EXPECT_CODE(a.status(), kDataLoss);
    EXPECT_THAT(a.status().message(), HasSubstr("malformed reply from server to GET /v1/account")) << body;
  }
}

TEST_F(ApiClientTest, WrongFieldTypesAreDataLossNamingTheField) {
  const json good = {{"account_id", kAccountId}, {"email", "me@example.com"}, {"created_at", 1},
                     {"used_bytes", 1},          {"quota_bytes", 2},          {"device_count", 1},
                     {"locked", false}};
  const std::vector<std::pair<std::string, json>> mutations = {
      {"account_id", std::string(31, 'a')},
      {"account_id", std::string(32, 'A')},
      {"account_id", std::string(31, 'a') + "g"},
      {"account_id", nullptr},
      {"email", 7},
      {"email", std::string(300, 'x')},
      {"created_at", "yesterday"},
      {"created_at", 18446744073709551615ull},
      {"used_bytes", -1},
      {"used_bytes", 1.5},
      {"used_bytes", "1"},
      {"quota_bytes", true},
      {"device_count", json::array()},
      {"locked", 0},
  };
  for (const auto& [field, value] : mutations) {
    json j = good;
    j[field] = value;
    server_.Push(JsonReply(200, j));
    auto a = client_->GetAccount();
    EXPECT_CODE(a.status(), kDataLoss);
    EXPECT_THAT(a.status().message(), HasSubstr("field " + field)) << j;
  }
  json missing = good;
  missing.erase("locked");
  server_.Push(JsonReply(200, missing));
  auto a = client_->GetAccount();
  EXPECT_EQ(a.status().message(), "malformed reply from server to GET /v1/account: field locked is missing");
}

TEST_F(ApiClientTest, BadBase64IsDataLoss) {
  for (const std::string& blob :
       {std::string("not base64!"), std::string("YWJj\n"), std::string("YWJ"), std::string("YW=j")}) {
    server_.Push(JsonReply(200, {{"version", 1}, {"blob", blob}}));
    auto k = client_->GetKeyring();
    EXPECT_CODE(k.status(), kDataLoss);
    EXPECT_EQ(k.status().message(),
              "malformed reply from server to GET /v1/keyring: field blob is not valid base64")
        << blob;
  }
  server_.Push(JsonReply(200, {{"salt", B64(Filled(15, 1))}, {"ops", 1}, {"mem", 1}}));
  EXPECT_CODE(client_->GetLoginParams("a@b").status(), kDataLoss);
}

// ---------------------------------------------------------------------------------------
// Size caps, hangs and unreachable servers.

TEST_F(ApiClientTest, OversizedReplyWithContentLengthIsDataLoss) {
  server_.Push(Http(200, std::string(2 * 1024 * 1024, ' ')));
  auto a = client_->GetAccount();
  EXPECT_CODE(a.status(), kDataLoss);
  EXPECT_THAT(a.status().message(), HasSubstr("reply from server to GET /v1/account exceeds"));
}

TEST_F(ApiClientTest, OversizedReplyWithoutContentLengthIsDataLoss) {
  // No Content-Length: the body runs until the connection closes. Only the running count in
  // the write callback can stop it.
  Reply r{"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n" +
          std::string(200 * 1024, 'x')};
  r.after = Reply::After::kClose;
  server_.Push(r);
  auto b = client_->GetPairingRequest(kPairingId);
  EXPECT_CODE(b.status(), kDataLoss);
  EXPECT_EQ(b.status().message(),
            "reply from server to GET /v1/pairing/" + kPairingId + " exceeds 65536 bytes");
}

TEST_F(ApiClientTest, LyingContentLengthDoesNotMatter) {
  // Announces 10 bytes, sends them, then garbage that belongs to no response: curl must
  // take only 10 bytes, and the next request must still work on a fresh connection.
  Reply r{"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789GARBAGE"};
  r.after = Reply::After::kClose;
  server_.Push(r);
  auto b = client_->GetChunk(kChunkId);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*b, ToBytes(std::string_view("0123456789")));
  server_.Push(RawReply("next"));
  ASSERT_TRUE(client_->GetChunk(kChunkId).ok());
}

TEST_F(ApiClientTest, ServerThatHangsAfterHeadersIsUnavailable) {
  Reply r{"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"salt\":"};
  r.after = Reply::After::kHang;
  server_.Push(r);
  const auto start = std::chrono::steady_clock::now();
  auto p = client_->GetLoginParams("me@example.com");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_CODE(p.status(), kUnavailable);
  EXPECT_THAT(p.status().message(), HasSubstr("cannot reach the Coffer server at " + server_.url()));
  EXPECT_LT(elapsed, std::chrono::seconds(5));
}

TEST_F(ApiClientTest, ServerThatNeverAnswersIsUnavailable) {
  server_.Push(Reply{"", Reply::After::kHang});
  const auto start = std::chrono::steady_clock::now();
  EXPECT_CODE(client_->Logout(), kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST_F(ApiClientTest, TricklingServerIsUnavailable) {
  Reply r{"HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n"};
  r.after = Reply::After::kTrickle;
  server_.Push(r);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_CODE(client_->PutPairingResponse(kPairingId, Filled(5, 1)), kUnavailable);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
}

TEST(ApiClientNetworkTest, ConnectionRefusedIsUnavailable) {
  internal::ScopedTransportOptionsForTesting options(FastOptions());
  // Bind a port and release it without listening: connecting to it is refused.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto c = ApiClient::Create(url);
  ASSERT_TRUE(c.ok());
  (*c)->set_token(kToken);
  Status s = (*c)->Health();
  EXPECT_CODE(s, kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("cannot reach the Coffer server at " + url + ": "));
  EXPECT_THAT(s.message(), Not(HasSubstr(kToken)));
  // Idempotent: the three retries were attempted too.
  EXPECT_EQ((*c)->stats().requests, 4u);
}

TEST(ApiClientNetworkTest, HttpsToAPlainServerFailsTheHandshake) {
  internal::ScopedTransportOptionsForTesting options(FastOptions());
  // Exercises the TLS path: the peer answers the ClientHello with plain HTTP, so the
  // handshake fails at once.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  ASSERT_EQ(listen(fd, 8), 0);
  socklen_t len = sizeof(addr);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  std::thread plain([fd] {
    for (int i = 0; i < 4; ++i) {  // the first attempt and three retries
      pollfd p{fd, POLLIN, 0};
      if (poll(&p, 1, 3000) <= 0) return;  // never block the test on a missing attempt
      int c = accept(fd, nullptr, nullptr);
      if (c < 0) return;
      const char kReply[] = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n";
      send(c, kReply, sizeof(kReply) - 1, MSG_NOSIGNAL);
      close(c);
    }
  });
  const std::string url = "https://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  auto c = ApiClient::Create(url);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  const auto start = std::chrono::steady_clock::now();
  Status s = (*c)->GetAccount().status();
  EXPECT_CODE(s, kUnavailable);
  EXPECT_THAT(s.message(), HasSubstr("cannot reach the Coffer server at " + url));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
  plain.join();
  close(fd);
}

// ---------------------------------------------------------------------------------------
// Retries, keep-alive and statistics.

TEST_F(ApiClientTest, GetChunkRetriesUnavailableAndSucceedsOnThirdAttempt) {
  server_.Push(ErrorReply(503, "UNAVAILABLE", "restarting"));
  server_.Push(Http(503, "", "text/plain"));
  server_.Push(RawReply("chunk!"));
  auto b = client_->GetChunk(kChunkId);
  ASSERT_TRUE(b.ok()) << b.status().ToString();
  EXPECT_EQ(*b, ToBytes(std::string_view("chunk!")));
  EXPECT_EQ(server_.requests().size(), 3u);
  EXPECT_EQ(client_->stats().requests, 3u);
}

TEST_F(ApiClientTest, RetriesUseTheDefaultBackoffSchedule) {
  internal::ScopedTransportOptionsForTesting defaults(internal::TransportOptions{});
  auto c = ApiClient::Create(server_.url());
  ASSERT_TRUE(c.ok());
  server_.Push(Http(503, ""));
  server_.Push(Http(503, ""));
  server_.Push(RawReply("ok"));
  const auto start = std::chrono::steady_clock::now();
  ASSERT_TRUE((*c)->GetChunk(kChunkId).ok());
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_GE(elapsed, std::chrono::milliseconds(500));  // 100 ms + 400 ms
  EXPECT_LT(elapsed, std::chrono::milliseconds(1500));
}

TEST_F(ApiClientTest, RetriesGiveUpAfterThreeRetries) {
  for (int i = 0; i < 5; ++i) server_.Push(ErrorReply(503, "UNAVAILABLE", "down"));
  EXPECT_CODE(client_->GetChunk(kChunkId).status(), kUnavailable);
  EXPECT_EQ(server_.requests().size(), 4u);
}

TEST_F(ApiClientTest, PutChunkIsRetriedButOtherErrorsAreNot) {
  server_.Push(ErrorReply(503, "UNAVAILABLE", "down"));
  server_.Push(Http(201, ""));
  auto created = client_->PutChunk(kChunkId, Filled(3, 1));
  ASSERT_TRUE(created.ok()) << created.status().ToString();
  EXPECT_EQ(server_.requests().size(), 2u);
  EXPECT_EQ(server_.requests()[1].body, std::string(3, '\x01'));

  server_.Push(ErrorReply(404, "NOT_FOUND", "no"));
  EXPECT_CODE(client_->GetChunk(kChunkId).status(), kNotFound);
  server_.Push(ErrorReply(503, "UNAVAILABLE", "down"));
  EXPECT_CODE(client_->GetLoginParams("a@b").status(), kUnavailable);  // POST: not retried
  EXPECT_EQ(server_.requests().size(), 4u);
}

TEST_F(ApiClientTest, ConnectionIsReused) {
  for (int i = 0; i < 5; ++i) {
    server_.Push(RawReply("x"));
    ASSERT_TRUE(client_->GetChunk(kChunkId).ok());
  }
  EXPECT_EQ(server_.connections(), 1);
}

TEST_F(ApiClientTest, StatsCountBodiesAndRequests) {
  EXPECT_EQ(client_->stats().requests, 0u);
  server_.Push(Http(201, ""));
  ASSERT_TRUE(client_->PutChunk(kChunkId, Filled(1000, 1)).ok());
  EXPECT_EQ(client_->stats().bytes_sent, 1000u);
  EXPECT_EQ(client_->stats().bytes_received, 0u);
  EXPECT_EQ(client_->stats().requests, 1u);

  server_.Push(RawReply(std::string(777, 'z')));
  ASSERT_TRUE(client_->GetChunk(kChunkId).ok());
  EXPECT_EQ(client_->stats().bytes_sent, 1000u);
  EXPECT_EQ(client_->stats().bytes_received, 777u);
  EXPECT_EQ(client_->stats().requests, 2u);

  // Error replies and JSON bodies count too.
  const std::string err = json{{"error", {{"code", "NOT_FOUND"}, {"message", "x"}}}}.dump();
  server_.Push(Http(404, err));
  EXPECT_FALSE(client_->GetPairingResponse(kPairingId).ok());
  EXPECT_EQ(client_->stats().bytes_received, 777u + err.size());
  server_.Push(NoContent());
  ASSERT_TRUE(client_->SetRecovery(Filled(32, 3), Filled(10, 4)).ok());
  EXPECT_EQ(client_->stats().bytes_sent, 1000u + server_.last().body.size());
  EXPECT_EQ(client_->stats().requests, 4u);
}

}  // namespace
}  // namespace coffer::client
