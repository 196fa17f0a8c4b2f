// Scale-out: many devices of one account append to ONE collection at the same time. Under
// COFFER_E2E_BACKEND=cluster the requests go through HAProxy to three coffer-server instances
// on PostgreSQL + S3, so two consecutive requests of one client (and the two halves of one
// compare-and-set) usually land on different instances. Nothing may be lost or duplicated:
// the journal's head moves by exactly one revision per put, every file is there once with one
// version and its bytes, and `coffer verify` replays the whole chain.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"

namespace coffer::e2e {
namespace {

constexpr int kDevices = 20;
constexpr int kPutsPerDevice = 3;

uint64_t DriveHead(const Device& d) {
  RunResult status = d.Run({"--json", "status"});
  EXPECT_EQ(status.exit_code, 0) << status.err;
  auto json = nlohmann::json::parse(status.out, nullptr, /*allow_exceptions=*/false);
  EXPECT_TRUE(json.is_object()) << status.out;
  if (!json.is_object() || !json.contains("collections")) return 0;
  uint64_t head = 0;
  int drives = 0;
  for (const auto& c : json["collections"]) {
    if (c.value("name", "") == "drive") {
      head = c.value("revision", uint64_t{0});
      ++drives;
    }
  }
  EXPECT_EQ(drives, 1) << status.out;
  return head;
}

std::string FileContent(int device, int put) {
  // Distinct per file, a little above one chunk boundary's minimum so chunking runs for real.
  return "device " + std::to_string(device) + " put " + std::to_string(put) + "\n" +
         std::string(70000 + 997 * device + put, static_cast<char>('a' + (device + put) % 26));
}

TEST(ScaleOut, TwentyDevicesAppendToOneCollectionAtOnceWithoutLossOrDuplicates) {
  TempDir tmp;
  Server server(tmp.path() / "server");
  server.Start();
  const fs::path recovery_key = tmp.path() / "recovery.txt";

  std::vector<Device> devices;
  devices.emplace_back(tmp.path() / "home-0", server.url());
  RunResult created = devices[0].Run({"account", "create", "--email", "crowd@example.org", "--device-name", "dev-0",
                                      "--recovery-key-file", recovery_key.string()});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  // The folder exists before the race, so that every put only adds a file to it.
  RunResult mkdir = devices[0].Run({"mkdir", "/shared"});
  ASSERT_EQ(mkdir.exit_code, 0) << mkdir.err;
  // Every other profile is its own device of the same account, enrolled with the recovery key.
  for (int i = 1; i < kDevices; ++i) {
    devices.emplace_back(tmp.path() / ("home-" + std::to_string(i)), server.url());
    RunResult rec = devices[i].Run({"recover", "--email", "crowd@example.org", "--recovery-key-file",
                                    recovery_key.string(), "--name", "dev-" + std::to_string(i)});
    ASSERT_EQ(rec.exit_code, 0) << "device " << i << ": " << rec.err;
  }
  for (int i = 0; i < kDevices; ++i) {
    for (int p = 0; p < kPutsPerDevice; ++p) {
      WriteFile(tmp.path() / ("src-" + std::to_string(i)) / ("d" + std::to_string(i) + "-p" + std::to_string(p) + ".txt"),
                FileContent(i, p));
    }
  }

  // How many revisions one put of one file adds (one, unless the client's format changes).
  WriteFile(tmp.path() / "warmup.txt", "warm-up\n");
  const uint64_t before_warmup = DriveHead(devices[0]);
  RunResult warm = devices[0].Run({"put", (tmp.path() / "warmup.txt").string(), "/"});
  ASSERT_EQ(warm.exit_code, 0) << warm.err;
  const uint64_t head_before = DriveHead(devices[0]);
  const uint64_t per_put = head_before - before_warmup;
  ASSERT_GE(per_put, 1u);

  // The race: 20 devices, each putting its files one by one, all at once.
  std::vector<std::vector<RunResult>> results(kDevices);
  std::vector<std::thread> threads;
  for (int i = 0; i < kDevices; ++i) {
    threads.emplace_back([&, i] {
      for (int p = 0; p < kPutsPerDevice; ++p) {
        const fs::path file =
            tmp.path() / ("src-" + std::to_string(i)) / ("d" + std::to_string(i) + "-p" + std::to_string(p) + ".txt");
        results[i].push_back(devices[i].Run({"put", file.string(), "/shared"}));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int i = 0; i < kDevices; ++i) {
    for (int p = 0; p < kPutsPerDevice; ++p) {
      EXPECT_EQ(results[i][p].exit_code, 0) << "device " << i << " put " << p << ": " << results[i][p].err;
    }
  }

  // Exactly one revision per put: none lost (head too low) and none doubled (head too high).
  const uint64_t head_after = DriveHead(devices[0]);
  EXPECT_EQ(head_after - head_before, per_put * kDevices * kPutsPerDevice);

  // A device that took no part sees every file once, with one version, byte for byte.
  Device reader(tmp.path() / "home-reader", server.url());
  RunResult rec = reader.Run({"recover", "--email", "crowd@example.org", "--recovery-key-file",
                              recovery_key.string(), "--name", "reader"});
  ASSERT_EQ(rec.exit_code, 0) << rec.err;
  const fs::path restored = tmp.path() / "restored";
  fs::create_directories(restored);  // cp semantics: the folder goes inside an existing one
  RunResult got = reader.Run({"get", "/shared", restored.string()});
  ASSERT_EQ(got.exit_code, 0) << got.err;
  std::set<std::string> names;
  for (const auto& e : fs::directory_iterator(restored / "shared")) names.insert(e.path().filename().string());
  EXPECT_EQ(names.size(), static_cast<size_t>(kDevices * kPutsPerDevice));
  for (int i = 0; i < kDevices; ++i) {
    for (int p = 0; p < kPutsPerDevice; ++p) {
      const std::string name = "d" + std::to_string(i) + "-p" + std::to_string(p) + ".txt";
      EXPECT_TRUE(ReadFile(restored / "shared" / name) == FileContent(i, p)) << name << " is missing or differs";
    }
  }
  RunResult versions = reader.Run({"--json", "versions", "/shared/d7-p1.txt"});
  ASSERT_EQ(versions.exit_code, 0) << versions.err;
  auto vjson = nlohmann::json::parse(versions.out, nullptr, false);
  ASSERT_TRUE(vjson.is_object()) << versions.out;
  EXPECT_EQ(vjson.value("versions", nlohmann::json::array()).size(), 1u) << versions.out;

  // The whole chain replays and every chunk checks out, from the reader and from a writer.
  RunResult verify = reader.Run({"--json", "verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.out << verify.err;
  auto report = nlohmann::json::parse(verify.out, nullptr, false);
  ASSERT_TRUE(report.is_object()) << verify.out;
  EXPECT_TRUE(report.value("errors", nlohmann::json::array()).empty()) << verify.out;
  RunResult verify_writer = devices[kDevices - 1].Run({"verify"});
  EXPECT_EQ(verify_writer.exit_code, 0) << verify_writer.err;

  if (Server::Backend() == "cluster") {
    // The proof that it really was a cluster: every instance took revision appends.
    for (int i = 1; i <= 3; ++i) {
      const std::string log = ReadFile(tmp.path().string() + "/server-cluster/server-" + std::to_string(i) + ".log");
      EXPECT_NE(log.find("PUT /v1/collections/"), std::string::npos) << "instance " << i << " got no revision";
    }
  }
}

// The operator's configuration file reaches a real server: a setting from the file takes
// effect, and a mistake in it stops the server with the file and line before it listens.
TEST(ServerConfig, SettingsFromAConfigFileTakeEffectAndMistakesNameTheLine) {
  TempDir tmp;
  const fs::path conf = tmp.path() / "server.conf";
  WriteFile(conf, "# quota for new accounts\nquota_bytes = 1000000\nquiet = true\n");
  Server server(tmp.path() / "server", {"--config", conf.string()});
  server.Start();
  Device d(tmp.path() / "home", server.url());
  ASSERT_EQ(d.Run({"account", "create", "--email", "c@example.org", "--recovery-key-file", (tmp.path() / "rk").string()})
                .exit_code,
            0);
  WriteRandomFile(tmp.path() / "src" / "big.bin", 3 << 20, 9);
  RunResult put = d.Run({"put", (tmp.path() / "src" / "big.bin").string(), "/"});
  EXPECT_EQ(put.exit_code, 1) << put.err;
  EXPECT_NE(put.err.find("quota"), std::string::npos) << put.err;
  server.Stop();

  const fs::path bad = tmp.path() / "bad.conf";
  WriteFile(bad, "quota_bytes = 1000000\ngc_grace = soon\n");
  Server misconfigured(tmp.path() / "server2", {"--config", bad.string()});
  std::string error;
  try {
    misconfigured.Start();
  } catch (const std::exception& e) {
    error = e.what();
  }
  EXPECT_NE(error.find(bad.string() + ":2: gc_grace"), std::string::npos) << error;
  EXPECT_FALSE(misconfigured.running());
}

}  // namespace
}  // namespace coffer::e2e
