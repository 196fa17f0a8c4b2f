// G4 pairing against a malicious server, and TLS with a self-signed certificate.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <chrono>
#include <thread>

#include "harness.h"

namespace coffer::e2e {
namespace {

std::vector<std::string> WaitForRows(const fs::path& db, const std::string& sql) {
  for (int i = 0; i < 400; ++i) {
    auto rows = Sql(db, sql);
    if (!rows.empty()) return rows;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  return {};
}

TEST(Pairing, ServerCannotCompleteOrAlterAPairing) {
  TempDir tmp;
  Server server(tmp.path() / "server");
  server.Start();
  const fs::path db = server.data_dir() / "meta.sqlite";
  Device laptop(tmp.path() / "laptop", server.url());
  ASSERT_EQ(laptop.Run({"account", "create", "--email", "p@example.org", "--recovery-key-file",
                        (tmp.path() / "rk").string()}).exit_code, 0);

  // 1. The server answers the new device's pairing request itself: refused.
  Device phone(tmp.path() / "phone", server.url());
  fs::path out = tmp.path() / "link1.out";
  pid_t pid = phone.Spawn({"--json", "device", "link", "--email", "p@example.org", "--timeout", "30"}, out);
  auto req = WaitForRows(db, "SELECT key FROM messages WHERE box = 'pairing'");
  ASSERT_EQ(req.size(), 1u) << ReadFile(out.string() + ".err");
  const std::string account = Sql(db, "SELECT account_id FROM accounts")[0];
  Sql(db, "INSERT INTO messages(account_id, box, key, data, expires_at) VALUES('" + account +
              "', 'pairing_response', '" + req[0] + "', ?, 9999999999)",
      {std::string(120, '\x42')});
  int status = 0;
  ::waitpid(pid, &status, 0);
  EXPECT_EQ(WEXITSTATUS(status), 3) << ReadFile(out) << ReadFile(out.string() + ".err");
  EXPECT_NE(ReadFile(out).find("pairing response failed authentication"), std::string::npos) << ReadFile(out);

  // 2. The server swaps the new device's keys in the request: the approving device refuses.
  Device tablet(tmp.path() / "tablet", server.url());
  fs::path out2 = tmp.path() / "link2.out";
  pid_t pid2 = tablet.Spawn({"--json", "device", "link", "--email", "p@example.org", "--timeout", "20"}, out2);
  std::string code;
  for (int i = 0; i < 400 && code.empty(); ++i) {
    code = JsonField(ReadFile(out2), "pairing_code");
    if (code.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  ASSERT_FALSE(code.empty());
  auto keys = Sql(db, "SELECT key FROM messages WHERE box = 'pairing' ORDER BY expires_at DESC");
  std::string stored = Sql(db, "SELECT data FROM messages WHERE box = 'pairing' AND key = '" + keys[0] + "'")[0];
  stored[5 + 16 + 3] ^= 0x01;  // a byte of the device signing key
  Sql(db, "UPDATE messages SET data = ? WHERE box = 'pairing' AND key = '" + keys[0] + "'", {stored});
  RunResult approve = laptop.Run({"device", "approve", code});
  EXPECT_EQ(approve.exit_code, 3) << approve.err;
  EXPECT_NE(approve.err.find("altered"), std::string::npos) << approve.err;
  ::kill(pid2, SIGTERM);
  ::waitpid(pid2, &status, 0);
  RunResult list = laptop.Run({"--json", "device", "list"});
  EXPECT_EQ(list.out.find("tablet"), std::string::npos);
}

TEST(Tls, ClientTalksToATlsServerAndRefusesAnUntrustedCertificate) {
  TempDir tmp;
  const std::string cert = (tmp.path() / "cert.pem").string(), key = (tmp.path() / "key.pem").string();
  RunResult gen = RunProcess({"/usr/bin/openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                              "ec_paramgen_curve:P-256", "-keyout", key, "-out", cert, "-days", "1", "-nodes", "-subj",
                              "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"},
                             {});
  ASSERT_EQ(gen.exit_code, 0) << gen.err;
  Server server(tmp.path() / "server", {"--tls-cert", cert, "--tls-key", key});
  server.Start();
  ASSERT_EQ(server.url().rfind("https://", 0), 0u) << server.url();
  Device d(tmp.path() / "home", server.url());
  RunResult untrusted = d.Run({"account", "create", "--email", "t@example.org"});
  EXPECT_EQ(untrusted.exit_code, 5) << untrusted.err;
  RunResult ok = d.Run({"--ca-file", cert, "account", "create", "--email", "t@example.org", "--recovery-key-file",
                        (tmp.path() / "rk").string()});
  ASSERT_EQ(ok.exit_code, 0) << ok.err;
  WriteFile(tmp.path() / "f.txt", "over TLS");
  EXPECT_EQ(d.Run({"--ca-file", cert, "put", (tmp.path() / "f.txt").string(), "/"}).exit_code, 0);
  RunResult get = d.Run({"--ca-file", cert, "get", "/f.txt", (tmp.path() / "back.txt").string()});
  EXPECT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(ReadFile(tmp.path() / "back.txt"), "over TLS");
}

}  // namespace
}  // namespace coffer::e2e
