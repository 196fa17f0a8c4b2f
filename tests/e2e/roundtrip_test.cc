// Large round trip and deduplication through a real server (DESIGN §5, issue "Coffer core").
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <random>

#include "harness.h"

namespace coffer::e2e {
namespace {

uint64_t Field(const std::string& json, const std::string& name) {
  auto pos = json.find("\"" + name + "\":");
  if (pos == std::string::npos) return ~0ull;
  return std::stoull(json.substr(pos + name.size() + 3));
}

TEST(RoundTrip, BigTreeWithManySmallFilesAndOneLargeFileIsIdenticalAfterwards) {
  TempDir tmp;
  Server server(tmp.path() / "server");
  server.Start();
  Device d(tmp.path() / "home", server.url());
  ASSERT_EQ(d.Run({"account", "create", "--email", "big@example.org", "--recovery-key-file",
                   (tmp.path() / "rk").string()}).exit_code, 0);
  const fs::path tree = tmp.path() / "tree";
  WriteRandomFile(tree / "video" / "holiday film.bin", 200u << 20, 7);
  std::mt19937_64 rng(11);
  for (int i = 0; i < 5000; ++i) {
    const fs::path dir = tree / ("folder " + std::to_string(i % 50)) / (i % 3 == 0 ? "naïve ünïcode" : "plain");
    std::string body(static_cast<size_t>(rng() % 6000), 'a');
    for (auto& c : body) c = static_cast<char>('a' + rng() % 26);
    WriteFile(dir / ("file " + std::to_string(i) + (i % 7 == 0 ? " – résumé.txt" : ".txt")), body);
  }
  WriteFile(tree / "empty.txt", "");
  fs::create_directories(tree / "empty dir" / "nested empty");
  ::chmod((tree / "empty.txt").c_str(), 0600);

  RunResult put = d.Run({"--json", "put", tree.string(), "/"});
  ASSERT_EQ(put.exit_code, 0) << put.err;
  RunResult get = d.Run({"get", "/tree", (tmp.path() / "back").string()});
  ASSERT_EQ(get.exit_code, 0) << get.err;
  EXPECT_EQ(CompareTrees(tree, tmp.path() / "back"), "");

  // The same 200 MB under a second name: no chunk is stored or sent again.
  fs::copy_file(tree / "video" / "holiday film.bin", tmp.path() / "copy of film.bin");
  RunResult dup = d.Run({"--json", "put", (tmp.path() / "copy of film.bin").string(), "/"});
  ASSERT_EQ(dup.exit_code, 0) << dup.err;
  EXPECT_EQ(Field(dup.out, "chunks_uploaded"), 0u) << dup.out;
  EXPECT_LT(Field(dup.out, "bytes_sent"), 1u << 20) << dup.out;

  // 1 MB changed in the middle: only the chunks around it travel.
  {
    std::fstream f(tree / "video" / "holiday film.bin", std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(100u << 20);
    std::string noise(1u << 20, 'z');
    f.write(noise.data(), static_cast<std::streamsize>(noise.size()));
  }
  RunResult edit = d.Run({"--json", "put", (tree / "video" / "holiday film.bin").string(), "/tree/video"});
  ASSERT_EQ(edit.exit_code, 0) << edit.err;
  EXPECT_LT(Field(edit.out, "bytes_sent"), 5u << 20) << edit.out;
  EXPECT_GT(Field(edit.out, "chunks_uploaded"), 0u);

  // An unchanged re-run sends nothing but metadata.
  RunResult again = d.Run({"--json", "put", tree.string(), "/"});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(Field(again.out, "chunks_uploaded"), 0u);
  EXPECT_EQ(Field(again.out, "revisions"), 0u) << again.out;
  RunResult verify = d.Run({"verify"});
  EXPECT_EQ(verify.exit_code, 0) << verify.err;
}

}  // namespace
}  // namespace coffer::e2e
