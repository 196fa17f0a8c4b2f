// A malicious server for the end-to-end tests: an HTTP proxy on 127.0.0.1 that sits between
// the real coffer CLI and a real coffer-server and applies one attack at a time to the
// traffic. Every request is forwarded to the real server; the current Attack may rewrite the
// request before it goes out, and rewrite the reply (status, body) or choose how it is
// delivered (a lying Content-Length, a stall, a 1 byte/s trickle, an endless or 200 MB body).
// Every honest exchange is recorded so that tests can replay older state (rollback, fork,
// another account's objects).
//
// Test-only: never part of a shipped binary. Attacks run on the proxy's connection threads,
// concurrently when the client fetches in parallel, so their state must be thread-safe.
#ifndef COFFER_TESTS_E2E_ATTACK_PROXY_H_
#define COFFER_TESTS_E2E_ATTACK_PROXY_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace coffer::e2e {

// One request and the reply to it. `status`, `headers` and `body` start as the real server's
// reply; an attack may change them.
struct Exchange {
  std::string method;
  std::string target;         // path and query, e.g. "/v1/chain?from=0"
  std::string authorization;  // the request's Authorization header: tells devices apart
  std::string request_body;
  int status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // reply headers except framing
  std::string body;

  std::string Path() const { return target.substr(0, target.find('?')); }
  bool Is(const std::string& m, const std::string& path_prefix) const {
    return method == m && target.rfind(path_prefix, 0) == 0;
  }
};

// How the (possibly rewritten) reply reaches the client.
enum class Delivery {
  kNormal,                // status line, headers, correct Content-Length, body; keep-alive
  kInflatedLength,        // Content-Length larger than the body, then the connection closes
  kNeverAnswer,           // the request is read and never answered; the connection stays open
  kTrickle,               // headers at once, then the body at 1 byte per second
  kEndless,               // a chunked body that never ends, as fast as the client reads
  kOversized,             // Content-Length: 200 MiB of JSON-looking filler, streamed
};

struct Attack {
  // Runs before forwarding; may rewrite method, target and request body.
  std::function<void(Exchange&)> on_request;
  // Runs on the real reply; may rewrite it; says how to deliver it.
  std::function<Delivery(Exchange&)> on_response;
};

class AttackProxy {
 public:
  // `upstream_url` is http://127.0.0.1:PORT of a coffer-server. Listens at once on an
  // ephemeral loopback port.
  explicit AttackProxy(const std::string& upstream_url);
  ~AttackProxy();
  AttackProxy(const AttackProxy&) = delete;
  AttackProxy& operator=(const AttackProxy&) = delete;

  const std::string& url() const { return url_; }
  // Later requests go to another real server (used to show devices different histories).
  void SetUpstream(const std::string& upstream_url);
  void SetAttack(Attack attack);
  void ClearAttack() { SetAttack(Attack{}); }
  // Replies the attack changed (body or status) or did not deliver normally, since the last
  // SetAttack: a test checks that its attack was actually played.
  int attacked() const { return attacked_.load(); }
  // Every exchange as the real server answered it, oldest first.
  std::vector<Exchange> Recorded() const;
  // Ends every connection (stalled ones included) and joins the threads.
  void Stop();

 private:
  void AcceptLoop();
  void Serve(int fd);
  bool Forward(Exchange& ex, const std::vector<std::pair<std::string, std::string>>& request_headers);
  bool Deliver(int fd, const Exchange& ex, Delivery how, bool keep_alive);
  bool WaitUntilStopped(int milliseconds);  // true when stopping

  int listen_fd_ = -1;
  std::string url_;
  mutable std::mutex mu_;
  std::condition_variable stop_cv_;
  bool stopping_ = false;
  std::string upstream_host_;
  int upstream_port_ = 0;
  std::shared_ptr<const Attack> attack_;
  std::atomic<int> attacked_{0};
  std::vector<Exchange> recorded_;
  std::vector<int> open_fds_;
  std::vector<std::thread> threads_;
  std::thread accept_thread_;
};

}  // namespace coffer::e2e

#endif  // COFFER_TESTS_E2E_ATTACK_PROXY_H_
