// The ApiClient's reply handling: JSON reply parsing (ReplyParser, ParseSession,
// ParseDevice), error mapping (ErrorFromReply, RetryAfterSeconds) and the per-call checks.
//
// Those helpers are file-local in src/client/api_client.cc, so this target reaches them the
// way a hostile server does: a tiny HTTP/1.1 server on 127.0.0.1 inside this process answers
// every request with the fuzzed status, headers and body, and the real ApiClient (libcurl,
// keep-alive, no retries) makes one call per input.
//
// Input: byte 0 selects the ApiClient call (mod the number of calls); byte 1 the HTTP
// status; byte 2 flags (bit 0: a Retry-After header follows as a u8-length string; bits
// 1-3: `limit`, bits 4-7: `from` for GetRevisions/GetChain); the rest is the reply body.
//
// Must never crash or hang. A finding (abort) is also: a call that succeeds on a non-2xx
// reply; an error the server could choose that is kSecurity or kInternal (reserved for the
// client's own verdicts); an error message with bytes outside printable ASCII (server text
// reaches the terminal); and, on success, a result that breaks what the call promises
// (revisions ascending and consecutive from `from` up to the head, missing ids among those
// asked and not repeated, chunk sizes within the limit).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/api_client.h"
#include "client/http_transport.h"
#include "crypto/secret.h"
#include "fuzz_common.h"

using namespace coffer;
using namespace coffer::client;
using coffer::fuzz::Finding;

namespace {

// ---- the fake server ----
struct Canned {
  int status = 200;
  std::string retry_after;  // "" = no header
  std::string body;
};

std::mutex g_mu;
Canned g_reply;
int g_port = 0;

bool ReadRequest(int fd, std::string& buf) {
  // Headers.
  size_t header_end;
  while ((header_end = buf.find("\r\n\r\n")) == std::string::npos) {
    char tmp[4096];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
  }
  std::string head = buf.substr(0, header_end);
  for (char& c : head) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t body_len = 0;
  if (size_t p = head.find("\r\ncontent-length:"); p != std::string::npos)
    body_len = std::strtoull(head.c_str() + p + 17, nullptr, 10);
  const bool is_head = head.rfind("head ", 0) == 0;
  (void)is_head;
  // Body.
  while (buf.size() < header_end + 4 + body_len) {
    char tmp[65536];
    ssize_t n = ::recv(fd, tmp, sizeof tmp, 0);
    if (n <= 0) return false;
    buf.append(tmp, static_cast<size_t>(n));
  }
  const bool head_method = buf.rfind("HEAD ", 0) == 0;
  buf.erase(0, header_end + 4 + body_len);
  // Remember the method for the reply framing.
  buf.insert(0, head_method ? "H" : "G");
  return true;
}

void Serve(int fd) {
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  std::string buf;
  while (true) {
    if (!ReadRequest(fd, buf)) break;
    const bool head_method = buf[0] == 'H';
    buf.erase(0, 1);
    Canned c;
    {
      std::lock_guard<std::mutex> lock(g_mu);
      c = g_reply;
    }
    const bool no_body = head_method || c.status == 204 || c.status == 304;
    std::string out = "HTTP/1.1 " + std::to_string(c.status) + " Fuzz\r\n";
    out += "Content-Type: application/json\r\n";
    if (!c.retry_after.empty()) out += "Retry-After: " + c.retry_after + "\r\n";
    if (c.status != 204 && c.status != 304)
      out += "Content-Length: " + std::to_string(head_method ? 0 : c.body.size()) + "\r\n";
    out += "\r\n";
    if (!no_body) out += c.body;
    size_t off = 0;
    while (off < out.size()) {
      ssize_t n = ::send(fd, out.data() + off, out.size() - off, MSG_NOSIGNAL);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
  }
  ::close(fd);
}

void StartServer() {
  int ls = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  if (::bind(ls, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(ls, 16) != 0)
    Finding("cannot listen on 127.0.0.1");
  socklen_t len = sizeof addr;
  getsockname(ls, reinterpret_cast<sockaddr*>(&addr), &len);
  g_port = ntohs(addr.sin_port);
  std::thread([ls] {
    while (true) {
      int fd = ::accept4(ls, nullptr, nullptr, SOCK_CLOEXEC);
      if (fd < 0) continue;
      std::thread(Serve, fd).detach();
    }
  }).detach();
}

// ---- the client side ----
std::unique_ptr<ApiClient> g_client;
internal::ScopedTransportOptionsForTesting* g_options = nullptr;

const std::string kId(32, 'a');
const std::string kChunkA(64, 'a');
const std::string kChunkB(64, 'b');

const int kStatuses[] = {200, 201, 204, 206, 299, 300, 301, 302, 304, 400, 401, 403, 404, 405, 408, 409, 410,
                         412, 413, 416, 418, 423, 429, 451, 499, 500, 501, 502, 503, 504, 507, 599, 600, 999};

void CheckStatus(const char* call, const Status& st, int http) {
  if (st.ok()) {
    if (http < 200 || http > 299) Finding(call, "succeeded on HTTP " + std::to_string(http));
    return;
  }
  if (st.code() == StatusCode::kSecurity || st.code() == StatusCode::kInternal)
    Finding(call, "a server reply produced " + st.ToString());
  for (unsigned char c : st.message()) {
    if (c < 0x20 || c > 0x7e) Finding(call, "error message carries a non-printable byte from the server");
  }
}

template <typename T>
void CheckResult(const char* call, const StatusOr<T>& r, int http) {
  CheckStatus(call, r.status(), http);
}

DeviceInfo SomeDevice() {
  DeviceInfo d;
  d.id = kId;
  d.sign_pk = Bytes(32, 1);
  d.box_pk = Bytes(32, 2);
  d.name = "device";
  return d;
}

constexpr int kNumCalls = 32;

void Call(int which, int http, uint8_t flags) {
  ApiClient& c = *g_client;
  const uint64_t from = flags >> 4;
  const uint64_t limit = (flags >> 1) & 7;
  switch (which) {
    case 0:
      CheckStatus("Health", c.Health(), http);
      break;
    case 1:
      CheckResult("GetLoginParams", c.GetLoginParams("a@example.org"), http);
      break;
    case 2: {
      CreateAccountRequest req;
      req.account_id = kId;
      req.email = "a@example.org";
      req.device = SomeDevice();
      auto r = c.CreateAccount(req);
      CheckResult("CreateAccount", r, http);
      if (r.ok() && r->account_id != kId) Finding("CreateAccount accepted another account id");
      break;
    }
    case 3: {
      LoginRequest req;
      req.email = "a@example.org";
      req.device = SomeDevice();
      auto r = c.Login(req);
      CheckResult("Login", r, http);
      if (r.ok() && r->token.size() != 64) Finding("Login accepted a malformed token");
      break;
    }
    case 4:
      CheckStatus("Logout", c.Logout(), http);
      break;
    case 5:
      CheckResult("GetAccount", c.GetAccount(), http);
      break;
    case 6:
      CheckResult("GetRecoveryBlob", c.GetRecoveryBlob(), http);
      break;
    case 7:
      CheckStatus("SetLogin", c.SetLogin(Bytes(16), 3, 1 << 26, Bytes(32)), http);
      break;
    case 8:
      CheckStatus("SetRecovery", c.SetRecovery(Bytes(32), AsBytes("blob")), http);
      break;
    case 9: {
      auto r = c.ListDevices();
      CheckResult("ListDevices", r, http);
      if (r.ok())
        for (const auto& d : *r)
          if (d.sign_pk.size() != 32 || d.box_pk.size() != 32 || d.id.size() != 32)
            Finding("ListDevices accepted a malformed device");
      break;
    }
    case 10:
      CheckResult("GetChain", c.GetChain(from), http);
      break;
    case 11: {
      ChainEffect e;
      e.action = flags & 1 ? "revoke" : "add";
      e.device = SomeDevice();
      e.device_id = kId;
      CheckStatus("AppendChain", c.AppendChain(1, AsBytes("entry"), e), http);
      break;
    }
    case 12:
      CheckStatus("PutSealedKey", c.PutSealedKey(kId, 1, AsBytes("sealed")), http);
      break;
    case 13:
      CheckResult("GetSealedKey", c.GetSealedKey(kId), http);
      break;
    case 14:
      CheckResult("GetKeyring", c.GetKeyring(), http);
      break;
    case 15:
      CheckStatus("PutKeyring", c.PutKeyring(2, AsBytes("keyring")), http);
      break;
    case 16:
      CheckResult("ListCollections", c.ListCollections(), http);
      break;
    case 17: {
      auto r = c.GetRevisions(kId, from, limit);
      CheckResult("GetRevisions", r, http);
      if (r.ok()) {
        const auto& [head, revs] = *r;
        if (limit > 0 && revs.size() > limit) Finding("GetRevisions returned more revisions than the limit");
        for (size_t i = 0; i < revs.size(); ++i) {
          if (revs[i].number > head) Finding("GetRevisions returned a revision beyond the head");
          if (i == 0 && revs[i].number < from) Finding("GetRevisions returned a revision before `from`");
          if (i > 0 && revs[i].number <= revs[i - 1].number)
            Finding("GetRevisions returned revisions that are not ascending:",
                    std::to_string(revs[i - 1].number) + " then " + std::to_string(revs[i].number));
        }
      }
      break;
    }
    case 18:
      CheckStatus("PutRevision", c.PutRevision(kId, 3, AsBytes("revision")), http);
      break;
    case 19:
      CheckResult("GetCheckpoint", c.GetCheckpoint(kId), http);
      break;
    case 20:
      CheckStatus("PutCheckpoint", c.PutCheckpoint(kId, 3, AsBytes("checkpoint")), http);
      break;
    case 21:
      CheckResult("PutChunk", c.PutChunk(kChunkA, AsBytes("chunk")), http);
      break;
    case 22: {
      auto r = c.HasChunk(kChunkA);
      if (!(http == 404 && r.ok() && !*r)) CheckResult("HasChunk", r, http);
      break;
    }
    case 23:
      CheckResult("GetChunk", c.GetChunk(kChunkA), http);
      break;
    case 24: {
      auto r = c.MissingChunks({kChunkA, kChunkB});
      CheckResult("MissingChunks", r, http);
      if (r.ok()) {
        std::set<std::string> seen;
        for (const auto& id : *r) {
          if (id != kChunkA && id != kChunkB)
            Finding("MissingChunks returned an id that was not asked about");
          if (!seen.insert(id).second) Finding("MissingChunks returned an id twice");
        }
      }
      break;
    }
    case 25: {
      auto r = c.ListChunks();
      CheckResult("ListChunks", r, http);
      if (r.ok())
        for (const auto& e : *r)
          if (e.id.size() != 64 || e.size > (16u << 20)) Finding("ListChunks accepted a malformed entry");
      break;
    }
    case 26:
      CheckResult("CollectGarbage", c.CollectGarbage({kChunkA}, {{kId, 4}}), http);
      break;
    case 27:
      CheckStatus("PutPairingRequest", c.PutPairingRequest(kId, AsBytes("request")), http);
      break;
    case 28:
      CheckResult("GetPairingRequest", c.GetPairingRequest(kId), http);
      break;
    case 29:
      CheckStatus("PutPairingResponse", c.PutPairingResponse(kId, AsBytes("response")), http);
      break;
    case 30:
      CheckResult("GetPairingResponse", c.GetPairingResponse(kId), http);
      break;
    case 31: {
      // The long poll of `sync --watch` (the fake server answers at once).
      auto r = c.WaitForCollectionChange((flags & 2) ? std::string(32, 'a') : "", 1);
      CheckResult("WaitForCollectionChange", r, http);
      if (r.ok() && (r->size() != 32 || r->find_first_not_of("0123456789abcdef") != std::string::npos))
        Finding("WaitForCollectionChange accepted a token that is not 32 lower-case hex digits");
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!crypto::Init().ok()) Finding("crypto::Init failed");
  StartServer();
  internal::TransportOptions opts = internal::CurrentTransportOptions();
  opts.retry_backoff_ms.clear();  // one request per call: the reply is the input
  opts.connect_timeout_ms = 5000;
  // Never destroyed: the override must outlive every transport (a global keeps it reachable).
  g_options = new internal::ScopedTransportOptionsForTesting(opts);
  auto client = ApiClient::Create("http://127.0.0.1:" + std::to_string(g_port));
  if (!client.ok()) Finding("ApiClient::Create:", client.status().ToString());
  g_client = std::move(client).value();
  g_client->set_token(std::string(64, 'f'));
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 3) return 0;
  const int which = data[0] % kNumCalls;
  const int http = kStatuses[data[1] % (sizeof kStatuses / sizeof kStatuses[0])];
  const uint8_t flags = data[2];
  const uint8_t* p = data + 3;
  const uint8_t* end = data + size;
  Canned c;
  c.status = http;
  if (flags & 1) {
    size_t n = p < end ? *p++ : 0;
    n = std::min<size_t>(n, static_cast<size_t>(end - p));
    for (size_t i = 0; i < n; ++i) {
      const char ch = static_cast<char>(p[i]);
      // Header values cannot carry line breaks (or NUL) on the wire.
      if (ch != '\r' && ch != '\n' && ch != '\0') c.retry_after.push_back(ch);
    }
    p += n;
    // Leading/trailing blanks are stripped by HTTP parsers; keep the header non-empty.
    if (c.retry_after.find_first_not_of(" \t") == std::string::npos) c.retry_after.clear();
  }
  c.body.assign(reinterpret_cast<const char*>(p), static_cast<size_t>(end - p));
  {
    std::lock_guard<std::mutex> lock(g_mu);
    g_reply = std::move(c);
  }
  Call(which, http, flags);
  return 0;
}
