// The real HTTP server, in process on 127.0.0.1 with port 0, spoken to over raw sockets:
// keep-alive, 413 before the body, slow clients timing out without blocking others, garbage,
// Expect: 100-continue, graceful shutdown, TLS, and the startup refusals.
#include "server/validate.h"
#include "server/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <cstdlib>
#include <thread>

#include "server/server_test_util.h"

namespace coffer::server::testing {
namespace {

using Clock = std::chrono::steady_clock;

// A blocking TCP client with a receive timeout, for speaking raw HTTP.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~RawClient() {
    if (fd_ >= 0) ::close(fd_);
  }
  bool connected() const { return connected_; }

  bool Send(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads until `pred(buffer)` holds, the peer closes, or the timeout passes.
  // Returns false on timeout.
  bool ReadUntil(const std::function<bool(const std::string&)>& pred, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    while (!pred(buf_)) {
      const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      if (left.count() <= 0) return false;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
      char tmp[65536];
      ssize_t n = ::recv(fd_, tmp, sizeof(tmp), 0);
      if (n <= 0) {
        closed_ = true;
        return pred(buf_);
      }
      buf_.append(tmp, static_cast<size_t>(n));
    }
    return true;
  }

  // Reads one complete response (Content-Length framed); returns "" on failure.
  std::string ReadResponse(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    size_t total = 0;
    auto complete = [&](const std::string& b) {
      size_t end = b.find("\r\n\r\n");
      if (end == std::string::npos) return false;
      std::string head = b.substr(0, end);
      for (auto& ch : head) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      size_t cl = head.find("content-length: ");
      size_t len = cl == std::string::npos ? 0 : std::stoul(head.substr(cl + 16));
      if (head.rfind("http/1.1 1", 0) == 0) len = 0;  // 1xx has no body
      total = end + 4 + len;
      return b.size() >= total;
    };
    if (!ReadUntil(complete, timeout)) return "";
    std::string out = buf_.substr(0, total);
    buf_.erase(0, total);
    return out;
  }

  // Reads a response header only (for HEAD, whose reply has no body); "" on failure.
  std::string ReadHeaderOnly(std::chrono::milliseconds timeout = std::chrono::milliseconds(5000)) {
    if (!ReadUntil([](const std::string& b) { return b.find("\r\n\r\n") != std::string::npos; }, timeout))
      return "";
    const size_t end = buf_.find("\r\n\r\n") + 4;
    std::string out = buf_.substr(0, end);
    buf_.erase(0, end);
    return out;
  }

  // True if the server closed the connection within the timeout.
  bool WaitClosed(std::chrono::milliseconds timeout) {
    ReadUntil([this](const std::string&) { return closed_; }, timeout);
    return closed_;
  }

 private:
  int fd_ = -1;
  bool connected_ = false;
  bool closed_ = false;
  std::string buf_;
};

int StatusOf(const std::string& response) {
  if (response.size() < 12 || response.rfind("HTTP/1.1 ", 0) != 0) return -1;
  return std::stoi(response.substr(9, 3));
}

std::string BodyOf(const std::string& response) {
  size_t end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

std::string Get(const std::string& target, const std::string& extra = "") {
  return "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\n" + extra + "\r\n";
}

class HttpServerTest : public ApiTest {
 protected:
  void SetUp() override {
    ApiTest::SetUp();
    options_.port = 0;
    options_.threads = 2;
    options_.header_timeout = std::chrono::milliseconds(1000);
    options_.shutdown_grace = std::chrono::milliseconds(3000);
  }
  void TearDown() override {
    server_.reset();
    ApiTest::TearDown();
  }
  void StartServer() {
    auto s = HttpServer::Start(*api_, options_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    server_ = std::move(s).value();
    ASSERT_NE(server_->port(), 0);
  }
  HttpServerOptions options_;
  std::unique_ptr<HttpServer> server_;
};

TEST_F(HttpServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
  StartServer();
  EXPECT_EQ(server_->url(), "http://127.0.0.1:" + std::to_string(server_->port()));
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(c.Send(Get("/v1/health")));
    std::string r = c.ReadResponse();
    ASSERT_EQ(StatusOf(r), 200) << r;
    EXPECT_NE(r.find("application/json"), std::string::npos);
    EXPECT_NE(r.find("Cache-Control: no-store"), std::string::npos);
    EXPECT_EQ(json::parse(BodyOf(r))["ok"], true);
  }
  // Two pipelined requests in one write.
  ASSERT_TRUE(c.Send(Get("/v1/health") + Get("/v1/nope")));
  EXPECT_EQ(StatusOf(c.ReadResponse()), 200);
  std::string nf = c.ReadResponse();
  EXPECT_EQ(StatusOf(nf), 404);
  EXPECT_EQ(json::parse(BodyOf(nf))["error"]["code"], "NOT_FOUND");
  // Connection: close is honoured.
  ASSERT_TRUE(c.Send(Get("/v1/health", "Connection: close\r\n")));
  EXPECT_EQ(StatusOf(c.ReadResponse()), 200);
  EXPECT_TRUE(c.WaitClosed(std::chrono::milliseconds(2000)));
}

TEST_F(HttpServerTest, OversizedContentLengthIs413BeforeTheBody) {
  StartServer();
  TestAccount a = CreateAccount("big@example.com");
  RawClient c(server_->port());
  ASSERT_TRUE(c.connected());
  // No body follows: the server must answer on the header alone.
  ASSERT_TRUE(c.Send("PUT /v1/chunks/" + RandomHex(32) + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                     a.token + "\r\nContent-Length: 16777217\r\n\r\n"));
  std::string r = c.ReadResponse();
  ASSERT_EQ(StatusOf(r), 413) << r;
  EXPECT_NE(json::parse(BodyOf(r))["error"]["message"].get<std::string>().find("16777216"),
            std::string::npos);
  EXPECT_TRUE(c.WaitClosed(std::chrono::milliseconds(2000)));

  // Same without a session: still 413 (limits are checked first), and a huge checkpoint
  // length from an anonymous client is refused as well.
  RawClient d(server_->port());
  ASSERT_TRUE(d.Send("PUT /v1/collections/" + RandomHex(16) +
                     "/checkpoint/1 HTTP/1.1\r\nHost: x\r\nContent-Length: 999999999999\r\n\r\n"));
  EXPECT_EQ(StatusOf(d.ReadResponse()), 413);

  // A chunked body that runs over the limit is cut off with 413 too.
  RawClient e(server_->port());
  std::string chunk(70 * 1024, 'p');
  char size_line[32];
  std::snprintf(size_line, sizeof(size_line), "%zx\r\n", chunk.size());
  ASSERT_TRUE(e.Send("PUT /v1/pairing/" + RandomHex(16) + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " +
                     a.token + "\r\nTransfer-Encoding: chunked\r\n\r\n" + size_line + chunk +
                     "\r\n0\r\n\r\n"));
  EXPECT_EQ(StatusOf(e.ReadResponse()), 413);
}

TEST_F(HttpServerTest, SlowClientTimesOutWithoutBlockingOthers) {
  // Generous numbers: CI machines are shared and slow.
  options_.header_timeout = std::chrono::milliseconds(2000);
  StartServer();
  RawClient slow(server_->port());
  ASSERT_TRUE(slow.connected());
  ASSERT_TRUE(slow.Send("GET /v1/health HTTP/1.1\r\nHost: x\r\n"));  // header never finished
  RawClient slow_body(server_->port());
  ASSERT_TRUE(
      slow_body.Send("POST /v1/login/params HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{\"em"));

  // Others are served at once, on every thread.
  const auto start = Clock::now();
  for (int i = 0; i < 4; ++i) {
    RawClient fast(server_->port());
    ASSERT_TRUE(fast.Send(Get("/v1/health")));
    EXPECT_EQ(StatusOf(fast.ReadResponse(std::chrono::milliseconds(1800))), 200);
  }
  // All served while the slow connections were still open.
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(1800));

  // The slow ones are cut off after the header timeout (2 s here; body: 2 s + 100 B at
  // 64 KiB/s).
  EXPECT_TRUE(slow.WaitClosed(std::chrono::milliseconds(6000)));
  EXPECT_TRUE(slow_body.WaitClosed(std::chrono::milliseconds(6000)));
  EXPECT_GE(Clock::now() - start, std::chrono::milliseconds(1900));
  // An idle keep-alive connection is closed after the same timeout.
  RawClient idle(server_->port());
  ASSERT_TRUE(idle.Send(Get("/v1/health")));
  EXPECT_EQ(StatusOf(idle.ReadResponse()), 200);
  EXPECT_TRUE(idle.WaitClosed(std::chrono::milliseconds(6000)));
}

TEST_F(HttpServerTest, GarbageGets400AndTheServerKeepsServing) {
  StartServer();
  const std::vector<std::string> garbage = {
      std::string("\x01\x02\x03 garbage\r\n\r\n", 15),
      "GET\r\n\r\n",
      "GET /v1/health HTTP/9.9\r\n\r\n",
      "GET /v1/health HTTP/1.1\r\nBad Header Line\r\n\r\n",
      "POST /v1/login/params HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
      "POST /v1/login/params HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
      "GET /v1/health HTTP/1.1\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n",
      "\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03",  // a TLS ClientHello to a plain server
  };
  for (const std::string& g : garbage) {
    RawClient c(server_->port());
    ASSERT_TRUE(c.connected());
    c.Send(g);
    std::string r = c.ReadResponse(std::chrono::milliseconds(3000));
    if (!r.empty()) {
      EXPECT_GE(StatusOf(r), 400) << r;
      EXPECT_LT(StatusOf(r), 500) << r;
      EXPECT_TRUE(json::parse(BodyOf(r), nullptr, false).contains("error")) << r;
    }
    EXPECT_TRUE(c.WaitClosed(std::chrono::milliseconds(3000))) << g.substr(0, 20);
  }
  RawClient ok(server_->port());
  ASSERT_TRUE(ok.Send(Get("/v1/health")));
  EXPECT_EQ(StatusOf(ok.ReadResponse()), 200);
}

TEST_F(HttpServerTest, FullRequestCycleOverTheWire) {
  StartServer();
  TestAccount a = CreateAccount("wire@example.com");
  const std::string id = RandomHex(32);
  const std::string data = "some ciphertext bytes";
  const std::string sha = HexEncode(crypto::Sha256(AsBytes(data)));
  RawClient c(server_->port());
  // Expect: 100-continue gets its interim reply, then the body is read.
  ASSERT_TRUE(c.Send("PUT /v1/chunks/" + id + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + a.token +
                     "\r\nX-Coffer-Sha256: " + sha +
                     "\r\nContent-Type: application/octet-stream\r\nContent-Length: " +
                     std::to_string(data.size()) + "\r\nExpect: 100-continue\r\n\r\n"));
  std::string cont = c.ReadResponse();
  ASSERT_EQ(StatusOf(cont), 100) << cont;
  ASSERT_TRUE(c.Send(data));
  std::string put = c.ReadResponse();
  ASSERT_EQ(StatusOf(put), 201) << put;

  ASSERT_TRUE(c.Send(Get("/v1/chunks/" + id, "Authorization: Bearer " + a.token + "\r\n")));
  std::string get = c.ReadResponse();
  ASSERT_EQ(StatusOf(get), 200) << get;
  EXPECT_EQ(BodyOf(get), data);
  EXPECT_NE(get.find("application/octet-stream"), std::string::npos);

  // HEAD: the length of the chunk, no body; the connection stays usable.
  ASSERT_TRUE(c.Send("HEAD /v1/chunks/" + id + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + a.token +
                     "\r\n\r\n"));
  std::string head = c.ReadHeaderOnly();
  EXPECT_EQ(StatusOf(head), 200) << head;
  EXPECT_NE(head.find("Content-Length: " + std::to_string(data.size())), std::string::npos) << head;
  ASSERT_TRUE(c.Send(Get("/v1/health")));
  // The HEAD reply carried no body, so the next bytes are the health reply.
  std::string next = c.ReadResponse();
  EXPECT_EQ(StatusOf(next), 200) << next;
  EXPECT_EQ(json::parse(BodyOf(next), nullptr, false).value("ok", false), true) << next;

  // 429 carries Retry-After on the wire.
  for (int i = 0; i < 5; ++i) Login("wire@example.com", TestDevice(), "password", crypto::RandomBytes(32));
  json login = LoginRequest("wire@example.com", TestDevice(), "password", a.verifier);
  const std::string body = login.dump();
  RawClient d(server_->port());
  ASSERT_TRUE(
      d.Send("POST /v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: " +
             std::to_string(body.size()) + "\r\n\r\n" + body));
  std::string limited = d.ReadResponse();
  EXPECT_EQ(StatusOf(limited), 429) << limited;
  EXPECT_NE(limited.find("Retry-After: "), std::string::npos);
}

TEST_F(HttpServerTest, GracefulShutdownFinishesQuickly) {
  StartServer();
  RawClient idle(server_->port());
  ASSERT_TRUE(idle.Send(Get("/v1/health")));
  ASSERT_EQ(StatusOf(idle.ReadResponse()), 200);
  const auto start = Clock::now();
  server_->Stop();
  server_->Wait();
  EXPECT_LT(Clock::now() - start, std::chrono::milliseconds(2500));  // well under the 3 s grace
  EXPECT_TRUE(idle.WaitClosed(std::chrono::milliseconds(1000)));
  RawClient late(server_->port());
  EXPECT_FALSE(late.connected() && late.Send(Get("/v1/health")) && StatusOf(late.ReadResponse()) == 200);
}

TEST_F(HttpServerTest, ShutdownFinishesARequestInFlight) {
  StartServer();
  TestAccount a = CreateAccount("inflight@example.com");
  const std::string id = RandomHex(32);
  const std::string data(1000, 'd');
  RawClient c(server_->port());
  ASSERT_TRUE(c.Send("PUT /v1/chunks/" + id + " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + a.token +
                     "\r\nX-Coffer-Sha256: " + HexEncode(crypto::Sha256(AsBytes(data))) +
                     "\r\nContent-Length: 1000\r\n\r\n" + data.substr(0, 400)));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));  // the server is now reading the body
  server_->Stop();
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  ASSERT_TRUE(c.Send(data.substr(400)));
  std::string r = c.ReadResponse();
  EXPECT_EQ(StatusOf(r), 201) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << r;
  EXPECT_TRUE(c.WaitClosed(std::chrono::milliseconds(2000)));
  server_->Wait();
  EXPECT_EQ(Send("HEAD", "/v1/chunks/" + id, {}, a.token).status, 200);
}

TEST_F(HttpServerTest, StartupRefusals) {
  options_.host = "0.0.0.0";
  auto open = HttpServer::Start(*api_, options_);
  ASSERT_FALSE(open.ok());
  EXPECT_EQ(open.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(open.status().message().find("--tls-cert"), std::string::npos);

  options_.host = "127.0.0.1";
  StartServer();
  options_.port = server_->port();
  auto busy = HttpServer::Start(*api_, options_);
  ASSERT_FALSE(busy.ok());
  EXPECT_EQ(busy.status().code(), StatusCode::kUnavailable);

  options_.port = 0;
  options_.tls_cert_file = dir_ + "/missing.pem";
  options_.tls_key_file = dir_ + "/missing.key";
  auto tls = HttpServer::Start(*api_, options_);
  ASSERT_FALSE(tls.ok());
  EXPECT_EQ(tls.status().code(), StatusCode::kInvalidArgument);

  EXPECT_EQ(*ParseListenAddress("127.0.0.1:8420"), std::make_pair(std::string("127.0.0.1"), uint16_t{8420}));
  EXPECT_EQ(*ParseListenAddress("[::1]:0"), std::make_pair(std::string("::1"), uint16_t{0}));
  EXPECT_EQ(ParseListenAddress("localhost:80")->first, "localhost");
  for (const char* bad : {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "host.example:80", ":80",
                          "[::1]80", "1.2.3.4:8x"}) {
    EXPECT_FALSE(ParseListenAddress(bad).ok()) << bad;
  }
}

TEST_F(HttpServerTest, ServesTls) {
  const std::string cert = dir_ + "/cert.pem", key = dir_ + "/key.pem";
  const std::string cmd =
      "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 -subj "
      "/CN=localhost -keyout " +
      key + " -out " + cert + " >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) GTEST_SKIP() << "openssl command not available";
  options_.tls_cert_file = cert;
  options_.tls_key_file = key;
  StartServer();
  EXPECT_EQ(server_->url().rfind("https://", 0), 0u);

  namespace net = boost::asio;
  namespace ssl = net::ssl;
  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(cert);
  ssl::stream<net::ip::tcp::socket> tls(ioc, ctx);
  tls.set_verify_mode(ssl::verify_peer);
  tls.lowest_layer().connect({net::ip::make_address("127.0.0.1"), server_->port()});
  tls.handshake(ssl::stream_base::client);
  const std::string req = Get("/v1/health", "Connection: close\r\n");
  net::write(tls, net::buffer(req));
  std::string reply;
  boost::system::error_code ec;
  char buf[4096];
  for (;;) {
    size_t n = tls.read_some(net::buffer(buf), ec);
    reply.append(buf, n);
    if (ec) break;
  }
  EXPECT_EQ(StatusOf(reply), 200) << reply;
  EXPECT_NE(reply.find("\"ok\":true"), std::string::npos);

  // TLS 1.1 is refused.
  ssl::context old_ctx(ssl::context::tlsv11_client);
  SSL_CTX_set_max_proto_version(old_ctx.native_handle(), TLS1_1_VERSION);
  SSL_CTX_set_security_level(old_ctx.native_handle(), 0);
  ssl::stream<net::ip::tcp::socket> old(ioc, old_ctx);
  old.lowest_layer().connect({net::ip::make_address("127.0.0.1"), server_->port()});
  old.handshake(ssl::stream_base::client, ec);
  EXPECT_TRUE(ec);

  // A key that does not match the certificate is refused at startup.
  const std::string other_key = dir_ + "/other.pem";
  ASSERT_EQ(std::system(("openssl genpkey -algorithm ec -pkeyopt ec_paramgen_curve:P-256 -out " + other_key +
                         " >/dev/null 2>&1")
                            .c_str()),
            0);
  options_.tls_key_file = other_key;
  auto mismatch = HttpServer::Start(*api_, options_);
  ASSERT_FALSE(mismatch.ok());
  EXPECT_EQ(mismatch.status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace coffer::server::testing

namespace coffer::server {
namespace {

TEST(ClientAddress, ForwardedForIsBelievedOnlyFromTrustedProxies) {
  const std::vector<std::string> trusted = {"127.0.0.1"};
  EXPECT_EQ(ClientAddress("127.0.0.1", "203.0.113.7", trusted), "203.0.113.7");
  // The balancer appends what it saw; what the client put in front is ignored.
  EXPECT_EQ(ClientAddress("127.0.0.1", "10.9.9.9, 198.51.100.2", trusted), "198.51.100.2");
  EXPECT_EQ(ClientAddress("127.0.0.1", "2001:db8::1", trusted), "2001:db8::1");
  // Anyone else cannot choose its address.
  EXPECT_EQ(ClientAddress("192.0.2.1", "203.0.113.7", trusted), "192.0.2.1");
  EXPECT_EQ(ClientAddress("192.0.2.1", "203.0.113.7", {}), "192.0.2.1");
  // Garbage falls back to the peer.
  EXPECT_EQ(ClientAddress("127.0.0.1", "not-an-ip", trusted), "127.0.0.1");
  EXPECT_EQ(ClientAddress("127.0.0.1", "1.2.3.4, ", trusted), "127.0.0.1");
  EXPECT_EQ(ClientAddress("127.0.0.1", "", trusted), "127.0.0.1");
}

}  // namespace
}  // namespace coffer::server
