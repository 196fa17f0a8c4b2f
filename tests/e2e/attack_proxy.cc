#include "attack_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <chrono>
#include <stdexcept>

namespace coffer::e2e {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

// Larger than any body the real client sends (checkpoints are at most 256 MiB).
constexpr uint64_t kMaxRequestBody = 300ull << 20;
// Larger than any reply the real server sends in these tests.
constexpr uint64_t kMaxUpstreamReply = 1ull << 30;
constexpr uint64_t kOversizedBytes = 200ull << 20;

bool SendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

std::pair<std::string, int> ParseHttpUrl(const std::string& url) {
  const std::string prefix = "http://";
  if (url.rfind(prefix, 0) != 0) throw std::runtime_error("AttackProxy needs an http:// upstream, not " + url);
  const std::string rest = url.substr(prefix.size());
  const size_t colon = rest.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("AttackProxy upstream has no port: " + url);
  return {rest.substr(0, colon), std::stoi(rest.substr(colon + 1))};
}

std::string StatusLine(int status) {
  const std::string_view reason = http::obsolete_reason(static_cast<http::status>(status));
  return "HTTP/1.1 " + std::to_string(status) + " " + std::string(reason.empty() ? "Status" : reason) + "\r\n";
}

// A piece of a JSON collection listing, repeated to make bodies that look plausible to a
// parser until the client's cap stops them.
const std::string& Filler() {
  static const std::string filler = [] {
    std::string one = "{\"id\":\"" + std::string(32, '0') + "\",\"head\":1},";
    std::string out;
    while (out.size() < 64 * 1024) out += one;
    return out;
  }();
  return filler;
}

}  // namespace

AttackProxy::AttackProxy(const std::string& upstream_url) {
  SetUpstream(upstream_url);
  attack_ = std::make_shared<const Attack>();
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listen_fd_ < 0) throw std::runtime_error("AttackProxy: socket failed");
  const int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof(addr);
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 || ::listen(listen_fd_, 128) != 0 ||
      ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(listen_fd_);
    throw std::runtime_error("AttackProxy: cannot listen on 127.0.0.1");
  }
  url_ = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port));
  accept_thread_ = std::thread([this] { AcceptLoop(); });
}

AttackProxy::~AttackProxy() { Stop(); }

void AttackProxy::SetUpstream(const std::string& upstream_url) {
  auto [host, port] = ParseHttpUrl(upstream_url);
  std::lock_guard<std::mutex> lock(mu_);
  upstream_host_ = host;
  upstream_port_ = port;
}

void AttackProxy::SetAttack(Attack attack) {
  std::lock_guard<std::mutex> lock(mu_);
  attack_ = std::make_shared<const Attack>(std::move(attack));
  attacked_ = 0;
}

std::vector<Exchange> AttackProxy::Recorded() const {
  std::lock_guard<std::mutex> lock(mu_);
  return recorded_;
}

void AttackProxy::Stop() {
  std::vector<std::thread> threads;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    // shutdown() wakes threads blocked in accept() and recv() on these descriptors.
    ::shutdown(listen_fd_, SHUT_RDWR);
    for (int fd : open_fds_) ::shutdown(fd, SHUT_RDWR);
  }
  stop_cv_.notify_all();
  accept_thread_.join();
  {
    std::lock_guard<std::mutex> lock(mu_);
    threads.swap(threads_);
  }
  for (auto& t : threads) t.join();
  ::close(listen_fd_);
}

bool AttackProxy::WaitUntilStopped(int milliseconds) {
  std::unique_lock<std::mutex> lock(mu_);
  return stop_cv_.wait_for(lock, std::chrono::milliseconds(milliseconds), [this] { return stopping_; });
}

void AttackProxy::AcceptLoop() {
  while (true) {
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) {
      if (fd >= 0) ::close(fd);
      return;
    }
    if (fd < 0) continue;
    open_fds_.push_back(fd);
    threads_.emplace_back([this, fd] { Serve(fd); });
  }
}

void AttackProxy::Serve(int fd) {
  asio::io_context io;
  tcp::socket socket(io);
  socket.assign(tcp::v4(), fd);
  beast::flat_buffer buffer;
  while (true) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(kMaxRequestBody);
    beast::error_code ec;
    http::read(socket, buffer, parser, ec);
    if (ec) break;
    http::request<http::string_body> req = parser.release();

    Exchange ex;
    ex.method = std::string(req.method_string());
    ex.target = std::string(req.target());
    ex.authorization = std::string(req[http::field::authorization]);
    ex.request_body = std::move(req.body());
    std::vector<std::pair<std::string, std::string>> request_headers;
    for (const auto& field : req) {
      const http::field name = field.name();
      if (name == http::field::host || name == http::field::connection || name == http::field::content_length ||
          name == http::field::transfer_encoding) {
        continue;
      }
      request_headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    std::shared_ptr<const Attack> attack;
    {
      std::lock_guard<std::mutex> lock(mu_);
      attack = attack_;
    }
    if (attack->on_request) attack->on_request(ex);
    if (!Forward(ex, request_headers)) {
      Exchange failed = ex;
      failed.status = 502;
      failed.headers = {{"Content-Type", "text/plain"}};
      failed.body = "attack proxy: the real server did not answer";
      Deliver(fd, failed, Delivery::kNormal, false);
      break;
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      recorded_.push_back(ex);
    }
    Delivery how = Delivery::kNormal;
    if (attack->on_response) {
      const int honest_status = ex.status;
      const std::string honest_body = ex.body;
      how = attack->on_response(ex);
      if (how != Delivery::kNormal || ex.status != honest_status || ex.body != honest_body) ++attacked_;
    }
    if (!Deliver(fd, ex, how, req.keep_alive())) break;
    if (!req.keep_alive()) break;
  }
  std::lock_guard<std::mutex> lock(mu_);
  open_fds_.erase(std::remove(open_fds_.begin(), open_fds_.end(), fd), open_fds_.end());
  beast::error_code ignored;
  socket.shutdown(tcp::socket::shutdown_both, ignored);
  socket.close(ignored);  // under the lock: Stop() must not shut down a reused descriptor
}

bool AttackProxy::Forward(Exchange& ex, const std::vector<std::pair<std::string, std::string>>& request_headers) {
  std::string host;
  int port = 0;
  {
    std::lock_guard<std::mutex> lock(mu_);
    host = upstream_host_;
    port = upstream_port_;
  }
  try {
    asio::io_context io;
    tcp::socket upstream(io);
    upstream.connect(tcp::endpoint(asio::ip::make_address(host), static_cast<unsigned short>(port)));
    http::request<http::string_body> req;
    req.method_string(ex.method);
    req.target(ex.target);
    req.version(11);
    for (const auto& [name, value] : request_headers) req.set(name, value);
    req.set(http::field::host, host + ":" + std::to_string(port));
    req.set(http::field::connection, "close");
    req.body() = ex.request_body;
    req.prepare_payload();
    http::write(upstream, req);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.body_limit(kMaxUpstreamReply);
    if (ex.method == "HEAD") parser.skip(true);
    http::read(upstream, buffer, parser);
    http::response<http::string_body> res = parser.release();
    ex.status = static_cast<int>(res.result_int());
    ex.headers.clear();
    for (const auto& field : res) {
      const http::field name = field.name();
      if (name == http::field::content_length || name == http::field::connection ||
          name == http::field::transfer_encoding || name == http::field::keep_alive) {
        continue;
      }
      ex.headers.emplace_back(std::string(field.name_string()), std::string(field.value()));
    }
    ex.body = std::move(res.body());
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

bool AttackProxy::Deliver(int fd, const Exchange& ex, Delivery how, bool keep_alive) {
  std::string head = StatusLine(ex.status);
  for (const auto& [name, value] : ex.headers) head += name + ": " + value + "\r\n";
  switch (how) {
    case Delivery::kNormal:
      head += "Content-Length: " + std::to_string(ex.body.size()) + "\r\n";
      if (!keep_alive) head += "Connection: close\r\n";
      return SendAll(fd, head + "\r\n") && (ex.method == "HEAD" || SendAll(fd, ex.body));
    case Delivery::kInflatedLength:
      head += "Content-Length: " + std::to_string(ex.body.size() * 2 + 4096) + "\r\nConnection: close\r\n\r\n";
      SendAll(fd, head);
      SendAll(fd, ex.body);
      return false;  // closes the connection short of the announced length
    case Delivery::kNeverAnswer:
      WaitUntilStopped(24 * 3600 * 1000);
      return false;
    case Delivery::kTrickle:
      head += "Content-Length: " + std::to_string(ex.body.size()) + "\r\n\r\n";
      if (!SendAll(fd, head)) return false;
      for (char c : ex.body) {
        if (WaitUntilStopped(1000) || !SendAll(fd, std::string_view(&c, 1))) return false;
      }
      return keep_alive;
    case Delivery::kEndless: {
      head += "Transfer-Encoding: chunked\r\n\r\n";
      if (!SendAll(fd, head)) return false;
      std::string first = "{\"collections\":[";
      char size_line[32];
      std::snprintf(size_line, sizeof(size_line), "%zx\r\n", first.size());
      if (!SendAll(fd, size_line + first + "\r\n")) return false;
      std::snprintf(size_line, sizeof(size_line), "%zx\r\n", Filler().size());
      const std::string chunk = size_line + Filler() + "\r\n";
      while (!WaitUntilStopped(0)) {
        if (!SendAll(fd, chunk)) return false;
      }
      return false;
    }
    case Delivery::kOversized: {
      head += "Content-Length: " + std::to_string(kOversizedBytes) + "\r\nConnection: close\r\n\r\n";
      const std::string first = "{\"collections\":[";
      if (!SendAll(fd, head) || !SendAll(fd, first)) return false;
      uint64_t sent = first.size();
      while (sent < kOversizedBytes && !WaitUntilStopped(0)) {
        const size_t n = static_cast<size_t>(std::min<uint64_t>(Filler().size(), kOversizedBytes - sent));
        if (!SendAll(fd, std::string_view(Filler()).substr(0, n))) return false;
        sent += n;
      }
      return false;
    }
  }
  return false;
}

}  // namespace coffer::e2e
