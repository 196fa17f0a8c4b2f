#include "server/http_server.h"

#include <openssl/ssl.h>

#include <algorithm>
#include <atomic>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <vector>

#include "server/log.h"
#include "server/validate.h"

namespace coffer::server {
namespace {

namespace net = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Strand = net::strand<net::io_context::executor_type>;

constexpr auto kAsTuple = net::as_tuple(net::use_awaitable);
constexpr uint32_t kHeaderLimit = 16 * 1024;

// A vector body that grows as bytes arrive instead of reserving the declared Content-Length
// up front (beast::vector_body does reserve), so a client that announces a large body and
// then sends nothing holds no memory.
struct GrowingBody {
  using value_type = Bytes;
  static std::uint64_t size(const value_type& body) { return body.size(); }

  class reader {
   public:
    template <bool isRequest, class Fields>
    reader(http::header<isRequest, Fields>&, value_type& body) : body_(body) {}
    void init(const boost::optional<std::uint64_t>& length, beast::error_code& ec) {
      if (length) body_.reserve(static_cast<size_t>(std::min<std::uint64_t>(*length, 1 << 20)));
      ec = {};
    }
    template <class ConstBufferSequence>
    std::size_t put(const ConstBufferSequence& buffers, beast::error_code& ec) {
      const size_t n = beast::buffer_bytes(buffers);
      const size_t old = body_.size();
      body_.resize(old + n);
      ec = {};
      return net::buffer_copy(net::buffer(body_.data() + old, n), buffers);
    }
    void finish(beast::error_code& ec) { ec = {}; }

   private:
    value_type& body_;
  };
};

// What Stop() needs to reach a connection. Fields other than `strand` are touched only on
// that strand (by the connection's coroutine or by handlers posted to it).
struct Conn {
  explicit Conn(Strand s) : strand(std::move(s)) {}
  Strand strand;
  beast::tcp_stream* stream = nullptr;  // null once the connection has ended
  bool idle = false;                    // waiting for the next request's header
};

std::string Printable(std::string_view s, size_t max) {
  // The path comes from the client; control characters would let it forge log lines.
  std::string out;
  for (char ch : s.substr(0, max)) out.push_back(ch >= 0x20 && ch < 0x7f ? ch : '?');
  if (s.size() > max) out += "...";
  return out;
}

bool IsLoopback(const net::ip::address& a) {
  if (a.is_loopback()) return true;  // 127.0.0.0/8 and ::1
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return net::ip::make_address_v4(net::ip::v4_mapped, a.to_v6()).is_loopback();
  }
  return false;
}

std::chrono::milliseconds TransferDeadline(const HttpServerOptions& o, uint64_t bytes) {
  return o.header_timeout +
         std::chrono::milliseconds(bytes * 1000 / std::max<uint64_t>(o.min_transfer_rate, 1));
}

http::message_generator BuildMessage(const Response& r, unsigned version, bool keep_alive, bool head) {
  const auto status = static_cast<http::status>(r.status);
  auto fill = [&](auto& msg) {
    msg.set(http::field::server, "coffer-server");
    // Replies carry account data; nothing on the way should keep a copy.
    msg.set(http::field::cache_control, "no-store");
    if (!r.content_type.empty()) msg.set(http::field::content_type, r.content_type);
    for (const auto& [name, value] : r.headers) msg.set(name, value);
    msg.keep_alive(keep_alive);
  };
  if (head) {
    http::response<http::empty_body> msg{status, version};
    fill(msg);
    msg.content_length(r.head_content_length ? *r.head_content_length : r.body.size());
    return http::message_generator(std::move(msg));
  }
  http::response<http::vector_body<uint8_t>> msg{status, version};
  fill(msg);
  msg.body() = r.body;
  msg.prepare_payload();
  return http::message_generator(std::move(msg));
}

}  // namespace

struct HttpServer::Impl {
  Impl(const Api& a, HttpServerOptions o)
      : api(a), options(std::move(o)), acceptor(ioc), control(net::make_strand(ioc)), grace_timer(control) {}

  const Api& api;
  HttpServerOptions options;
  net::io_context ioc;
  std::optional<ssl::context> tls;
  tcp::acceptor acceptor;
  Strand control;  // serialises the acceptor close and the grace timer
  net::steady_timer grace_timer;
  std::vector<std::thread> threads;
  std::atomic<bool> stopping{false};
  std::atomic<size_t> active{0};
  uint16_t bound_port = 0;
  std::string host_for_url;

  std::mutex mu;
  std::set<std::shared_ptr<Conn>> conns;  // guarded by mu
  std::once_flag joined;

  net::awaitable<void> AcceptLoop();
  template <class Stream>
  net::awaitable<void> Serve(Stream stream, std::shared_ptr<Conn> conn, std::string peer);
  void OnConnectionEnd(const std::shared_ptr<Conn>& conn);
  void MaybeFinish();
  void Log(const std::string& peer, std::string_view method, std::string_view target, int status,
           size_t bytes, std::chrono::steady_clock::time_point start);
};

void HttpServer::Impl::Log(const std::string& peer, std::string_view method, std::string_view target,
                           int status, size_t bytes, std::chrono::steady_clock::time_point start) {
  if (!VerboseLogging()) return;
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - start).count();
  // Path only: ids are fine to log, query strings are not needed.
  std::string_view path = target.substr(0, target.find('?'));
  LogLine(peer + " " + Printable(method, 16) + " " + Printable(path, 200) + " " + std::to_string(status) +
          " " + std::to_string(bytes) + " " + std::to_string(ms) + "ms");
}

void HttpServer::Impl::OnConnectionEnd(const std::shared_ptr<Conn>& conn) {
  {
    std::lock_guard<std::mutex> lock(mu);
    conns.erase(conn);
  }
  active.fetch_sub(1);
  if (stopping.load()) MaybeFinish();
}

// Once stopping and no connection is left, cancel the grace timer: it is the last piece of
// work keeping io_context::run() from returning.
void HttpServer::Impl::MaybeFinish() {
  net::post(control, [this] {
    if (stopping.load() && active.load() == 0) grace_timer.cancel();
  });
}

net::awaitable<void> HttpServer::Impl::AcceptLoop() {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(net::make_strand(ioc), kAsTuple);
    if (stopping.load() || ec == net::error::operation_aborted) co_return;
    if (ec) {
      // Typically EMFILE: back off briefly instead of spinning.
      LogLine("accept failed: " + ec.message());
      net::steady_timer pause(co_await net::this_coro::executor, std::chrono::milliseconds(100));
      co_await pause.async_wait(kAsTuple);
      continue;
    }
    if (active.load() >= options.max_connections) {
      beast::error_code ignored;
      socket.close(ignored);
      continue;
    }
    beast::error_code peer_ec;
    const tcp::endpoint remote = socket.remote_endpoint(peer_ec);
    std::string peer = peer_ec ? std::string("unknown") : remote.address().to_string();
    auto conn = std::make_shared<Conn>(Strand(socket.get_executor()));
    {
      std::lock_guard<std::mutex> lock(mu);
      conns.insert(conn);
    }
    active.fetch_add(1);
    auto done = [this, conn](std::exception_ptr e) {
      if (e) {
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          LogLine(std::string("connection ended by an exception: ") + ex.what());
        } catch (...) {
          LogLine("connection ended by an unknown exception");
        }
      }
      OnConnectionEnd(conn);
    };
    beast::tcp_stream stream(std::move(socket));
    if (tls) {
      net::co_spawn(conn->strand,
                    Serve(beast::ssl_stream<beast::tcp_stream>(std::move(stream), *tls), conn, peer), done);
    } else {
      net::co_spawn(conn->strand, Serve(std::move(stream), conn, peer), done);
    }
  }
}

template <class Stream>
net::awaitable<void> HttpServer::Impl::Serve(Stream stream, std::shared_ptr<Conn> conn, std::string peer) {
  beast::tcp_stream& lowest = beast::get_lowest_layer(stream);
  conn->stream = &lowest;
  // Clears the pointer Stop() uses before the stream dies with this frame; runs on the strand.
  struct Detach {
    Conn* c;
    ~Detach() { c->stream = nullptr; }
  } detach{conn.get()};

  constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;
  if constexpr (kTls) {
    lowest.expires_after(options.header_timeout);
    auto [ec] = co_await stream.async_handshake(ssl::stream_base::server, kAsTuple);
    if (ec) co_return;  // scanners and plain-HTTP clients end here; not worth a log line
  }

  beast::flat_buffer buffer;
  // Beast sizes each socket read by the buffer's spare capacity (at least 512 bytes), so an
  // empty buffer turns a 1 MiB chunk upload into ~2000 tiny reads; 64 KiB reads instead.
  buffer.reserve(64 * 1024);
  for (;;) {
    http::request_parser<GrowingBody> parser;
    parser.header_limit(kHeaderLimit);
    // Beast compares Content-Length with body_limit while parsing the header, so the limit
    // stays open here; Api::Check refuses an oversized Content-Length, and the per-route limit
    // is applied below before any body byte is read.
    parser.body_limit(std::numeric_limits<std::uint64_t>::max());
    lowest.expires_after(options.header_timeout);
    conn->idle = true;
    if (stopping.load()) break;  // checked on the strand after setting idle: see Stop()
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, kAsTuple);
    conn->idle = false;
    const auto start = std::chrono::steady_clock::now();
    if (ec) {
      if (ec == http::error::end_of_stream || ec == beast::error::timeout ||
          ec == net::error::operation_aborted || ec == net::error::eof ||
          ec == net::error::connection_reset || ec == ssl::error::stream_truncated) {
        break;
      }
      // Garbage or an oversized header: say so, then close (the byte stream cannot be trusted
      // to find the next request).
      Response bad = ec == http::error::header_limit
                         ? ErrorResponse(431, "INVALID_ARGUMENT", "request header is larger than 16 KiB")
                         : ErrorResponse(400, "INVALID_ARGUMENT", "malformed HTTP request: " + ec.message());
      lowest.expires_after(options.header_timeout);
      co_await beast::async_write(stream, BuildMessage(bad, 11, false, false), kAsTuple);
      Log(peer, "-", "-", bad.status, bad.body.size(), start);
      break;
    }

    auto& header = parser.get();
    const std::string method(header.method_string());
    const std::string target(header.target());
    const bool is_head = header.method() == http::verb::head;
    std::optional<uint64_t> content_length;
    if (parser.content_length()) content_length = *parser.content_length();

    Preflight pre = api.Check(method, target, header[http::field::authorization], content_length);
    if (pre.reject) {
      // The body (if any) stays unread, so the connection cannot carry another request.
      const bool keep = !stopping.load() && parser.is_done() && header.keep_alive();
      lowest.expires_after(options.header_timeout);
      auto [wec, wn] = co_await beast::async_write(
          stream, BuildMessage(*pre.reject, header.version(), keep, is_head), kAsTuple);
      Log(peer, method, target, pre.reject->status, pre.reject->body.size(), start);
      if (wec || !keep) break;
      continue;
    }

    if (!parser.is_done()) {
      parser.body_limit(pre.body_limit);
      if (beast::iequals(header[http::field::expect], "100-continue")) {
        http::response<http::empty_body> cont{http::status::continue_, header.version()};
        lowest.expires_after(options.header_timeout);
        auto [cec, cn] = co_await http::async_write(stream, cont, kAsTuple);
        if (cec) break;
      }
      lowest.expires_after(TransferDeadline(options, content_length.value_or(pre.body_limit)));
      auto [bec, bn] = co_await http::async_read(stream, buffer, parser, kAsTuple);
      if (bec) {
        if (bec == http::error::body_limit) {
          Response big = ErrorResponse(413, "INVALID_ARGUMENT",
                                       "request body is larger than the " + std::to_string(pre.body_limit) +
                                           " bytes this endpoint accepts");
          lowest.expires_after(options.header_timeout);
          co_await beast::async_write(stream, BuildMessage(big, header.version(), false, false), kAsTuple);
          Log(peer, method, target, big.status, big.body.size(), start);
        } else if (bec != beast::error::timeout && bec != http::error::end_of_stream &&
                   bec != net::error::operation_aborted && bec != net::error::eof &&
                   bec != net::error::connection_reset && bec != http::error::partial_message) {
          Response bad =
              ErrorResponse(400, "INVALID_ARGUMENT", "malformed HTTP request body: " + bec.message());
          lowest.expires_after(options.header_timeout);
          co_await beast::async_write(stream, BuildMessage(bad, header.version(), false, false), kAsTuple);
          Log(peer, method, target, bad.status, bad.body.size(), start);
        }
        break;
      }
    }

    Request request;
    request.method = method;
    request.target = target;
    request.authorization = std::string(header[http::field::authorization]);
    request.content_sha256 = std::string(header["X-Coffer-Sha256"]);
    request.content_type = std::string(header[http::field::content_type]);
    request.peer = ClientAddress(peer, header["X-Forwarded-For"], options.trusted_proxies);
    const bool keep = !stopping.load() && header.keep_alive();
    const unsigned version = header.version();
    request.body = std::move(parser.get().body());

    // Synchronous store calls run right here, on this connection's strand; other
    // connections proceed on the other threads.
    Response response = api.Handle(request);
    if (response.poll_seconds > 0) {
      // Long poll: ask again every half second until the answer changes, time runs out or
      // the server stops. The store is the only state, so every instance sees every commit.
      const auto poll_end = std::chrono::steady_clock::now() + std::chrono::seconds(response.poll_seconds);
      lowest.expires_after(std::chrono::seconds(response.poll_seconds) + options.header_timeout);
      net::steady_timer pause(co_await net::this_coro::executor);
      while (response.poll_seconds > 0 && !stopping.load() && std::chrono::steady_clock::now() < poll_end) {
        pause.expires_after(std::chrono::milliseconds(500));
        co_await pause.async_wait(kAsTuple);
        response = api.Handle(request);
      }
    }
    request.body = Bytes();  // release a large upload before writing the reply

    const size_t bytes = is_head ? 0 : response.body.size();
    lowest.expires_after(TransferDeadline(options, bytes));
    auto [wec, wn] =
        co_await beast::async_write(stream, BuildMessage(response, version, keep, is_head), kAsTuple);
    Log(peer, method, target, response.status, bytes, start);
    if (wec || !keep) break;
  }

  // Orderly close. For TLS a close_notify is polite but not worth waiting long for.
  if constexpr (kTls) {
    lowest.expires_after(std::chrono::seconds(2));
    co_await stream.async_shutdown(kAsTuple);
  } else {
    beast::error_code ignored;
    lowest.socket().shutdown(tcp::socket::shutdown_send, ignored);
  }
}

HttpServer::HttpServer(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

HttpServer::~HttpServer() {
  Stop();
  Wait();
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Start(const Api& api, HttpServerOptions options) {
  if (options.threads < 1 || options.threads > 256) {
    return InvalidArgumentError("thread count must be 1..256 (got " + std::to_string(options.threads) + ")");
  }
  std::string host = options.host == "localhost" ? "127.0.0.1" : options.host;
  beast::error_code ec;
  const net::ip::address address = net::ip::make_address(host, ec);
  if (ec) return InvalidArgumentError("listen address \"" + options.host + "\" is not an IP address");
  const bool want_tls = !options.tls_cert_file.empty() || !options.tls_key_file.empty();
  if (want_tls && (options.tls_cert_file.empty() || options.tls_key_file.empty())) {
    return InvalidArgumentError("TLS needs both --tls-cert and --tls-key");
  }
  if (!want_tls && !IsLoopback(address)) {
    return FailedPreconditionError("refusing to serve plain HTTP on " + options.host +
                                   ": bearer tokens would cross the network in clear; pass --tls-cert and "
                                   "--tls-key, or listen on a loopback address (127.0.0.1 or ::1)");
  }

  auto impl = std::make_unique<Impl>(api, std::move(options));
  if (want_tls) {
    impl->tls.emplace(ssl::context::tls_server);
    ssl::context& ctx = *impl->tls;
    ctx.set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                    ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
    SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
    ctx.use_certificate_chain_file(impl->options.tls_cert_file, ec);
    if (ec)
      return InvalidArgumentError("cannot load TLS certificate " + impl->options.tls_cert_file + ": " +
                                  ec.message());
    ctx.use_private_key_file(impl->options.tls_key_file, ssl::context::pem, ec);
    if (ec)
      return InvalidArgumentError("cannot load TLS key " + impl->options.tls_key_file + ": " + ec.message());
    if (SSL_CTX_check_private_key(ctx.native_handle()) != 1) {
      return InvalidArgumentError("TLS key " + impl->options.tls_key_file + " does not match certificate " +
                                  impl->options.tls_cert_file);
    }
  }

  const tcp::endpoint endpoint(address, impl->options.port);
  const std::string where =
      (address.is_v6() ? "[" + host + "]" : host) + ":" + std::to_string(impl->options.port);
  tcp::acceptor& acc = impl->acceptor;
  acc.open(endpoint.protocol(), ec);
  if (!ec) acc.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) acc.bind(endpoint, ec);
  if (!ec) acc.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return UnavailableError("cannot listen on " + where + ": " + ec.message());
  impl->bound_port = acc.local_endpoint().port();
  impl->host_for_url = address.is_v6() ? "[" + host + "]" : host;

  Impl* raw = impl.get();
  net::co_spawn(raw->control, raw->AcceptLoop(), [](std::exception_ptr e) {
    if (e) LogLine("the accept loop ended by an exception; no new connections will be accepted");
  });
  for (int i = 0; i < raw->options.threads; ++i) {
    raw->threads.emplace_back([raw] {
      // Handlers catch their own exceptions; this is the last line for anything else (a bug
      // in a completion handler), so the thread keeps serving.
      for (;;) {
        try {
          raw->ioc.run();
          return;
        } catch (const std::exception& e) {
          LogLine(std::string("io thread caught: ") + e.what());
        }
      }
    });
  }
  return std::unique_ptr<HttpServer>(new HttpServer(std::move(impl)));
}

uint16_t HttpServer::port() const { return impl_->bound_port; }

std::string HttpServer::url() const {
  return std::string(impl_->tls ? "https://" : "http://") + impl_->host_for_url + ":" +
         std::to_string(port());
}

void HttpServer::Stop() {
  Impl* impl = impl_.get();
  if (impl->stopping.exchange(true)) return;
  net::post(impl->control, [impl] {
    beast::error_code ignored;
    impl->acceptor.close(ignored);
    // Requests still running after the grace period are cut off.
    impl->grace_timer.expires_after(impl->options.shutdown_grace);
    impl->grace_timer.async_wait([impl](beast::error_code ec) {
      if (ec) return;  // cancelled: everything finished in time
      std::lock_guard<std::mutex> lock(impl->mu);
      for (const auto& c : impl->conns) {
        net::post(c->strand, [c] {
          if (c->stream) c->stream->cancel();
        });
      }
    });
  });
  // Idle keep-alive connections are closed now; busy ones see `stopping` after their reply.
  std::lock_guard<std::mutex> lock(impl->mu);
  for (const auto& c : impl->conns) {
    net::post(c->strand, [c] {
      if (c->stream && c->idle) c->stream->cancel();
    });
  }
  impl->MaybeFinish();
}

void HttpServer::Wait() {
  std::call_once(impl_->joined, [this] {
    for (auto& t : impl_->threads) t.join();
  });
}

StatusOr<std::pair<std::string, uint16_t>> ParseListenAddress(std::string_view text) {
  std::string_view host;
  std::string_view port;
  if (!text.empty() && text.front() == '[') {
    size_t close = text.find(']');
    if (close == std::string_view::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      return InvalidArgumentError("listen address must look like [::1]:PORT");
    }
    host = text.substr(1, close - 1);
    port = text.substr(close + 2);
  } else {
    size_t colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return InvalidArgumentError("listen address must look like 127.0.0.1:PORT");
    host = text.substr(0, colon);
    port = text.substr(colon + 1);
  }
  if (host.empty()) return InvalidArgumentError("listen address has no host; use e.g. 127.0.0.1:PORT");
  uint32_t value = 0;
  if (port.empty() || port.size() > 5) return InvalidArgumentError("listen port must be a number 0..65535");
  for (char ch : port) {
    if (ch < '0' || ch > '9') return InvalidArgumentError("listen port must be a number 0..65535");
    value = value * 10 + static_cast<uint32_t>(ch - '0');
  }
  if (value > 65535) return InvalidArgumentError("listen port must be a number 0..65535");
  std::string h(host);
  if (h != "localhost") {
    beast::error_code ec;
    net::ip::make_address(h, ec);
    if (ec) return InvalidArgumentError("listen host \"" + h + "\" is not an IP address (or localhost)");
  }
  return std::make_pair(h, static_cast<uint16_t>(value));
}

}  // namespace coffer::server
