// The server turns malicious: a proxy (attack_proxy.h) between the real coffer CLI and a real
// coffer-server plays one attack at a time from docs/THREAT_MODEL.md §12 (the published
// attacks on MEGA, Nextcloud and other end-to-end encrypted clouds, /ATTACKS.md R1–R23).
// For each attack the client must refuse with an error that names what failed, exit non-zero
// (3 for verification failures, 5 for a server that stops answering), keep local data
// intact, never crash or hang; once the proxy is honest again the same profile works.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "attack_proxy.h"
#include "client/formats.h"
#include "crypto/aead.h"
#include "crypto/box.h"
#include "crypto/hash.h"
#include "crypto/secret.h"
#include "crypto/sign.h"
#include "harness.h"
#include "util/bytes.h"

namespace coffer::e2e {
namespace {

using client::ChainAction;
using client::ChainEntry;
using client::IdHex;
using client::KeyringBlob;
using client::RecoveryBlob;
using client::SealedKeyEnvelope;
using nlohmann::json;

constexpr int kExitVerification = 3;
constexpr int kExitUnreachable = 5;
// Every client run gets a deadline: a hang is a failure, never a stuck CI job. The stall
// tests wait for the client's own 30 s low-speed abort, the rest take well under a second.
constexpr int kRunDeadlineSeconds = 90;

// Checkpoints every 2 revisions so that fresh devices read one (production: 500).
const std::map<std::string, std::string> kEnv = {{"COFFER_CHECKPOINT_EVERY", "2"}};

// ---- running the CLI with a deadline ----

RunResult RunBounded(const Device& device, const std::vector<std::string>& args, int deadline_s = kRunDeadlineSeconds) {
  static std::atomic<int> counter{0};
  TempDir tmp;
  const fs::path out = tmp.path() / ("run" + std::to_string(counter++));
  const pid_t pid = device.Spawn(args, out, kEnv);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(deadline_s);
  int status = 0;
  RunResult r;
  while (true) {
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      ADD_FAILURE() << "coffer " << args.front() << " hung for more than " << deadline_s << " s";
      r.exit_code = -1;
      r.err = ReadFile(out.string() + ".err");
      return r;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));  // polling a deadline, not synchronising
  }
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  r.out = ReadFile(out);
  r.err = ReadFile(out.string() + ".err");
  return r;
}

// The refusal every attack must produce: the exit code, no signal, and every word in stderr.
void ExpectRefused(const RunResult& r, int exit_code, const std::vector<std::string>& words, const std::string& attack) {
  EXPECT_EQ(r.exit_code, exit_code) << attack << ": " << r.err;
  EXPECT_LT(r.exit_code, 128) << attack << ": the client died from a signal";
  // "a|b": either wording names the failure (e.g. the object's own check, or the reply
  // parser's check of the same field when the object is empty).
  for (const std::string& w : words) {
    bool found = false;
    for (size_t start = 0; start <= w.size();) {
      const size_t bar = std::min(w.find('|', start), w.size());
      found = found || r.err.find(w.substr(start, bar - start)) != std::string::npos;
      start = bar + 1;
    }
    EXPECT_TRUE(found) << attack << ": stderr does not say \"" << w << "\": " << r.err;
  }
}

bool EmptyOrMissing(const fs::path& dir) { return !fs::exists(dir) || fs::is_empty(dir); }

// ---- object kinds the client downloads, and how to find them in a reply ----

enum class Kind { kChainEntry, kSealedKey, kKeyring, kRevision, kCheckpoint, kChunk, kRecoveryBlob };

// A batched chunk download (POST /v1/chunks/fetch, FORMAT.md §17): its reply carries chunks.
bool IsChunkFetch(const Exchange& ex) { return ex.method == "POST" && ex.Path() == "/v1/chunks/fetch"; }

bool Carries(const Exchange& ex, Kind kind) {
  if (kind == Kind::kChunk && IsChunkFetch(ex)) return ex.status == 200;
  if (ex.method != "GET" || ex.status != 200) return false;
  const std::string path = ex.Path();
  switch (kind) {
    case Kind::kChainEntry: return path == "/v1/chain";
    case Kind::kSealedKey: return path.rfind("/v1/keys/sealed/", 0) == 0;
    case Kind::kKeyring: return path == "/v1/keyring";
    case Kind::kRevision: return path.rfind("/v1/collections/", 0) == 0 && path.ends_with("/revisions");
    case Kind::kCheckpoint: return path.rfind("/v1/collections/", 0) == 0 && path.ends_with("/checkpoint");
    case Kind::kChunk: return path.rfind("/v1/chunks/", 0) == 0 && path.size() == 11 + 64;
    case Kind::kRecoveryBlob: return path == "/v1/account/recovery";
  }
  return false;
}

Bytes FromB64(const json& j) {
  auto r = Base64Decode(j.get<std::string>());
  if (!r.ok()) throw std::runtime_error("bad base64 in a server reply");
  return *r;
}

// The field of the reply that holds the object (the newest one for lists).
json* ObjectField(json& root, Kind kind) {
  switch (kind) {
    case Kind::kChainEntry: return root["entries"].empty() ? nullptr : &root["entries"].back();
    case Kind::kRevision: return root["revisions"].empty() ? nullptr : &root["revisions"].back()["data"];
    case Kind::kCheckpoint: return &root["data"];
    default: return &root["blob"];
  }
}

// Applies `change` to the bytes of the (newest) object a reply carries.
std::string ChangeObject(const std::string& body, Kind kind, const std::function<void(Bytes&)>& change) {
  if (kind == Kind::kChunk) {
    Bytes b(body.begin(), body.end());
    change(b);
    return std::string(b.begin(), b.end());
  }
  json root = json::parse(body);
  json* field = ObjectField(root, kind);
  if (field == nullptr) return body;
  Bytes b = FromB64(*field);
  change(b);
  *field = Base64Encode(b);
  return root.dump();
}

Attack ChangeEvery(Kind kind, std::function<void(Bytes&)> change) {
  Attack a;
  a.on_response = [kind, change](Exchange& ex) {
    if (Carries(ex, kind)) ex.body = ChangeObject(ex.body, kind, change);
    return Delivery::kNormal;
  };
  return a;
}

Attack ReplaceBody(std::function<bool(const Exchange&)> when, std::string body) {
  Attack a;
  a.on_response = [when, body](Exchange& ex) {
    if (when(ex)) ex.body = body;
    return Delivery::kNormal;
  };
  return a;
}

struct Mutation {
  std::string name;
  std::function<void(Bytes&)> change;
};

// Bit flips at the start (format/ids), the middle (ciphertext) and the end (tag or
// signature), and truncations; R1/R5.
std::vector<Mutation> Mutations() {
  return {
      {"bit flip in byte 5", [](Bytes& b) { b[std::min<size_t>(5, b.size() - 1)] ^= 0x01; }},
      {"bit flip in the middle", [](Bytes& b) { b[b.size() / 2] ^= 0x40; }},
      {"bit flip in the last byte", [](Bytes& b) { b.back() ^= 0x80; }},
      {"truncated by one byte", [](Bytes& b) { b.pop_back(); }},
      {"truncated to half", [](Bytes& b) { b.resize(b.size() / 2); }},
      {"emptied", [](Bytes& b) { b.clear(); }},
  };
}

// ---- one server, one proxy, two accounts, shared by the suite ----

struct World {
  TempDir tmp;
  std::unique_ptr<Server> server;
  std::unique_ptr<AttackProxy> proxy;
  std::unique_ptr<Device> alice;    // writes
  std::unique_ptr<Device> reader;   // alice's second device: reads what alice writes
  std::unique_ptr<Device> mallory;  // another account on the same server
  fs::path alice_rk, mallory_rk;
  int fresh_devices = 0;
  int puts = 0;
  std::vector<Exchange> mallory_traffic;   // everything mallory's device fetched at set-up
  std::vector<Exchange> a_bin_traffic;     // the reader's get of /docs/a.bin at set-up
};
World* world = nullptr;

class MaliciousServer : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    ASSERT_TRUE(crypto::Init().ok());
    world = new World();
    World& w = *world;
    w.server = std::make_unique<Server>(w.tmp.path() / "server");
    w.server->Start();
    w.proxy = std::make_unique<AttackProxy>(w.server->url());
    w.alice_rk = w.tmp.path() / "alice.rk";
    w.mallory_rk = w.tmp.path() / "mallory.rk";
    w.alice = std::make_unique<Device>(w.tmp.path() / "alice", w.proxy->url());
    w.mallory = std::make_unique<Device>(w.tmp.path() / "mallory", w.proxy->url());
    RunResult r = RunBounded(*w.alice, {"account", "create", "--email", "alice@example.org", "--recovery-key-file",
                                        w.alice_rk.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    WriteRandomFile(w.tmp.path() / "src" / "docs" / "a.bin", 3 << 20, 1);
    WriteRandomFile(w.tmp.path() / "src" / "docs" / "b.bin", 3 << 20, 2);
    WriteFile(w.tmp.path() / "src" / "docs" / "note.txt", "a small note\n");
    r = RunBounded(*w.alice, {"put", (w.tmp.path() / "src" / "docs").string(), "/"});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    w.reader = std::make_unique<Device>(NewDevice("reader"));
    size_t mark = w.proxy->Recorded().size();
    r = RunBounded(*w.mallory, {"account", "create", "--email", "mallory@example.org", "--recovery-key-file",
                                w.mallory_rk.string()});
    ASSERT_EQ(r.exit_code, 0) << r.err;
    WriteRandomFile(w.tmp.path() / "src" / "m.bin", 1 << 20, 3);
    ASSERT_EQ(RunBounded(*w.mallory, {"put", (w.tmp.path() / "src" / "m.bin").string(), "/"}).exit_code, 0);
    // Through the proxy, so that it has recorded each account's chunks and revisions.
    ASSERT_EQ(RunBounded(*w.mallory, {"get", "/m.bin", (w.tmp.path() / "m-back").string()}).exit_code, 0);
    std::vector<Exchange> all = w.proxy->Recorded();
    w.mallory_traffic.assign(all.begin() + static_cast<ptrdiff_t>(mark), all.end());
    mark = all.size();
    ASSERT_EQ(RunBounded(*w.reader, {"get", "/docs/a.bin", (w.tmp.path() / "a-back").string()}).exit_code, 0);
    all = w.proxy->Recorded();
    w.a_bin_traffic.assign(all.begin() + static_cast<ptrdiff_t>(mark), all.end());
  }

  static void TearDownTestSuite() {
    delete world;
    world = nullptr;
  }

  void SetUp() override { ASSERT_NE(world, nullptr); proxy().ClearAttack(); }
  void TearDown() override { proxy().ClearAttack(); }

  static AttackProxy& proxy() { return *world->proxy; }
  static const Device& alice() { return *world->alice; }
  static const Device& reader() { return *world->reader; }
  static const fs::path& tmp() { return world->tmp.path(); }

  // A new device of alice's account, made with the recovery key (it has seen nothing).
  static Device NewDevice(const std::string& name) {
    Device d(tmp() / ("device-" + name + "-" + std::to_string(world->fresh_devices++)), world->proxy->url());
    RunResult r = RunBounded(d, {"recover", "--email", "alice@example.org", "--recovery-key-file",
                                 world->alice_rk.string()});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return d;
  }

  // Alice writes a new small file (one or more revisions the reader has not seen).
  static std::string AlicePutsAFile() {
    const std::string name = "new-" + std::to_string(world->puts++) + ".txt";
    WriteFile(tmp() / "new" / name, "written by alice " + name + "\n");
    RunResult r = RunBounded(alice(), {"put", (tmp() / "new" / name).string(), "/docs"});
    EXPECT_EQ(r.exit_code, 0) << r.err;
    return name;
  }

  // Every mutation of `kind` makes `run` fail with `words`; the honest replay then works.
  void ExpectEveryMutationRefused(Kind kind, const std::string& what, const std::function<RunResult()>& run,
                                  const std::vector<std::string>& words) {
    for (const Mutation& m : Mutations()) {
      proxy().SetAttack(ChangeEvery(kind, m.change));
      RunResult r = run();
      EXPECT_GT(proxy().attacked(), 0) << what << ", " << m.name << ": the attack was never played";
      ExpectRefused(r, kExitVerification, words, what + ", " + m.name);
    }
    proxy().ClearAttack();
  }

  // The honest replies of `kind` recorded so far (of `traffic`, or of everything), oldest first.
  static std::vector<Exchange> RecordedOf(Kind kind, const std::vector<Exchange>* traffic = nullptr) {
    std::vector<Exchange> out;
    for (const Exchange& ex : traffic ? *traffic : proxy().Recorded())
      if (Carries(ex, kind)) out.push_back(ex);
    return out;
  }
  // The body of mallory's newest reply of `kind` (recorded at set-up).
  static std::string MalloryObject(Kind kind) {
    std::vector<Exchange> mine = RecordedOf(kind, &world->mallory_traffic);
    return mine.empty() ? "" : mine.back().body;
  }
};

// ---- R1/R5: bit flips and truncation in every kind of object ----

TEST_F(MaliciousServer, DeviceChainEntryFlippedOrTruncatedIsRefused) {
  ExpectEveryMutationRefused(Kind::kChainEntry, "device chain entry", [] { return RunBounded(alice(), {"ls", "/docs"}); },
                             {"device chain|GET /v1/chain"});
  RunResult r = RunBounded(alice(), {"ls", "/docs"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("a.bin"), std::string::npos) << r.out;
}

TEST_F(MaliciousServer, SealedAccountKeyFlippedOrTruncatedIsRefused) {
  ExpectEveryMutationRefused(Kind::kSealedKey, "sealed account key", [] { return RunBounded(alice(), {"ls", "/docs"}); },
                             {"sealed account key|GET /v1/keys/sealed/"});
  EXPECT_EQ(RunBounded(alice(), {"ls", "/docs"}).exit_code, 0);
}

TEST_F(MaliciousServer, KeyringFlippedOrTruncatedIsRefusedAndPutSendsNothing) {
  ExpectEveryMutationRefused(Kind::kKeyring, "keyring", [] { return RunBounded(alice(), {"ls", "/docs"}); }, {"keyring"});
  // A put under the attack uploads nothing and leaves the source alone.
  const fs::path src = tmp() / "put-src" / "kept.txt";
  WriteFile(src, "must not be uploaded\n");
  proxy().SetAttack(ChangeEvery(Kind::kKeyring, [](Bytes& b) { b[b.size() / 2] ^= 1; }));
  ExpectRefused(RunBounded(alice(), {"put", src.string(), "/docs"}), kExitVerification, {"keyring"}, "put, keyring flipped");
  proxy().ClearAttack();
  EXPECT_EQ(ReadFile(src), "must not be uploaded\n");
  RunResult ls = RunBounded(alice(), {"ls", "/docs"});
  EXPECT_EQ(ls.exit_code, 0) << ls.err;
  EXPECT_EQ(ls.out.find("kept.txt"), std::string::npos) << ls.out;
}

TEST_F(MaliciousServer, RevisionFlippedOrTruncatedIsRefused) {
  const std::string name = AlicePutsAFile();
  ExpectEveryMutationRefused(Kind::kRevision, "revision", [] { return RunBounded(reader(), {"ls", "/docs"}); },
                             {"revision"});
  RunResult r = RunBounded(reader(), {"ls", "/docs"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(name), std::string::npos) << r.out;
}

TEST_F(MaliciousServer, CheckpointFlippedOrTruncatedIsRefused) {
  AlicePutsAFile();
  AlicePutsAFile();  // at least one checkpoint exists (every 2 revisions)
  Device fresh = NewDevice("checkpoint");
  ExpectEveryMutationRefused(Kind::kCheckpoint, "checkpoint", [&] { return RunBounded(fresh, {"ls", "/docs"}); },
                             {"checkpoint"});
  RunResult r = RunBounded(fresh, {"ls", "/docs"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("a.bin"), std::string::npos) << r.out;
}

TEST_F(MaliciousServer, ChunkFlippedOrTruncatedIsRefusedAndNoPartialFileIsLeft) {
  const fs::path out = tmp() / "chunk-flip-out";
  fs::create_directories(out);
  ExpectEveryMutationRefused(Kind::kChunk, "chunk", [&] { return RunBounded(alice(), {"get", "/docs/b.bin", out.string()}); },
                             {"chunk"});
  EXPECT_TRUE(EmptyOrMissing(out)) << "a refused get left files behind in " << out;
  RunResult r = RunBounded(alice(), {"get", "/docs/b.bin", out.string()});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(ReadFile(out / "b.bin"), ReadFile(tmp() / "src" / "docs" / "b.bin"));
}

TEST_F(MaliciousServer, RecoveryBlobFlippedOrTruncatedIsRefused) {
  Device fresh(tmp() / "recover-flip", proxy().url());
  const std::vector<std::string> recover = {"recover", "--email", "alice@example.org", "--recovery-key-file",
                                            world->alice_rk.string()};
  ExpectEveryMutationRefused(Kind::kRecoveryBlob, "recovery blob", [&] { return RunBounded(fresh, recover); },
                             {"recovery blob"});
  RunResult r = RunBounded(fresh, recover);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RunBounded(fresh, {"ls", "/docs"}).exit_code, 0);
}


// ---- R6/R19: chunks swapped between files and accounts, withheld ----

// The chunk ids an exchange asked for: one for a GET, the list for a batched fetch.
std::vector<std::string> ChunkIdsOf(const Exchange& ex) {
  if (IsChunkFetch(ex)) return json::parse(ex.request_body)["ids"].get<std::vector<std::string>>();
  return {ex.Path().substr(std::string("/v1/chunks/").size())};
}

TEST_F(MaliciousServer, ChunkOfAnotherFileServedIsRefused) {
  // a.bin's chunks were fetched by the reader at set-up; the server answers every request for
  // a chunk of b.bin with one of a.bin's.
  std::set<std::string> a_ids;
  for (const Exchange& ex : RecordedOf(Kind::kChunk, &world->a_bin_traffic))
    for (const std::string& id : ChunkIdsOf(ex)) a_ids.insert(id);
  ASSERT_FALSE(a_ids.empty());
  Attack swap;
  const std::string a_chunk = *a_ids.begin();
  swap.on_request = [a_ids, a_chunk](Exchange& ex) {
    if (IsChunkFetch(ex)) {
      json root = json::parse(ex.request_body);
      for (auto& id : root["ids"])
        if (!a_ids.count(id.get<std::string>())) id = a_chunk;
      ex.request_body = root.dump();
    } else if (ex.Is("GET", "/v1/chunks/") && !a_ids.count(ChunkIdsOf(ex)[0])) {
      ex.target = "/v1/chunks/" + a_chunk;
    }
  };
  swap.on_response = [](Exchange&) { return Delivery::kNormal; };
  proxy().SetAttack(swap);
  const fs::path out = tmp() / "swap-file-out";
  fs::create_directories(out);
  RunResult r = RunBounded(alice(), {"get", "/docs/b.bin", out.string()});
  ExpectRefused(r, kExitVerification, {"chunk", "b.bin", "swapped"}, "chunk of a.bin served for b.bin");
  EXPECT_TRUE(EmptyOrMissing(out));
  proxy().ClearAttack();
  EXPECT_EQ(RunBounded(alice(), {"get", "/docs/b.bin", out.string()}).exit_code, 0);
}

TEST_F(MaliciousServer, ChunkOfAnotherAccountServedIsRefused) {
  // Mallory's chunk (recorded when mallory fetched m.bin) is served for every chunk alice asks for.
  const std::string mallory_chunk = MalloryObject(Kind::kChunk);
  ASSERT_FALSE(mallory_chunk.empty());
  proxy().SetAttack(ReplaceBody([](const Exchange& ex) { return Carries(ex, Kind::kChunk); }, mallory_chunk));
  const fs::path out = tmp() / "swap-account-out";
  fs::create_directories(out);
  RunResult r = RunBounded(alice(), {"get", "/docs/a.bin", out.string()});
  EXPECT_GT(proxy().attacked(), 0);
  ExpectRefused(r, kExitVerification, {"chunk", "a.bin"}, "chunk of another account");
  EXPECT_TRUE(EmptyOrMissing(out));
}

TEST_F(MaliciousServer, ChunkWithheldIsReportedByName) {
  Attack withhold;
  withhold.on_response = [](Exchange& ex) {
    if (Carries(ex, Kind::kChunk)) {
      ex.status = 404;
      ex.body = R"({"error":{"code":"NOT_FOUND","message":"no such chunk"}})";
    }
    return Delivery::kNormal;
  };
  proxy().SetAttack(withhold);
  const fs::path out = tmp() / "withheld-out";
  fs::create_directories(out);
  RunResult r = RunBounded(alice(), {"get", "/docs/a.bin", out.string()});
  ExpectRefused(r, kExitVerification, {"chunk", "a.bin", "missing on the server"}, "chunk withheld");
  EXPECT_TRUE(EmptyOrMissing(out));
}

// ---- R7/R8/R12: revisions dropped, duplicated, re-ordered, replayed, moved between accounts ----

// Rewrites the reader's revision listing; the reader has seen revisions[0] (the listing starts
// at the revision it has seen) and not the rest.
Attack RewriteRevisions(std::function<void(json& root, json& revisions)> rewrite) {
  Attack a;
  a.on_response = [rewrite](Exchange& ex) {
    if (!Carries(ex, Kind::kRevision)) return Delivery::kNormal;
    json root = json::parse(ex.body);
    if (root["revisions"].size() < 3) return Delivery::kNormal;  // nothing unseen to play with
    rewrite(root, root["revisions"]);
    ex.body = root.dump();
    return Delivery::kNormal;
  };
  return a;
}

void PlayRevisionAttack(AttackProxy& proxy, const Device& reader, const std::string& name, Attack attack,
                        const std::vector<std::string>& words) {
  proxy.SetAttack(std::move(attack));
  RunResult r = RunBounded(reader, {"ls", "/docs"});
  EXPECT_GT(proxy.attacked(), 0) << name << ": not played";
  ExpectRefused(r, kExitVerification, words, name);
  proxy.ClearAttack();
}

TEST_F(MaliciousServer, RevisionDroppedIsDetected) {
  AlicePutsAFile();
  const std::string last = AlicePutsAFile();
  PlayRevisionAttack(proxy(), reader(), "revision dropped", RewriteRevisions([](json&, json& revs) {
                       revs.erase(revs.begin() + 1);
                     }),
                     {"revision", "dropped or re-ordered|number is out of sequence"});
  PlayRevisionAttack(proxy(), reader(), "revision dropped and the rest renumbered",
                     RewriteRevisions([](json& root, json& revs) {
                       revs.erase(revs.begin() + 1);
                       for (size_t i = 1; i < revs.size(); ++i) revs[i]["number"] = revs[i]["number"].get<uint64_t>() - 1;
                       root["head"] = root["head"].get<uint64_t>() - 1;
                     }),
                     {"revision", "replayed or moved"});
  RunResult r = RunBounded(reader(), {"ls", "/docs"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find(last), std::string::npos);
}

TEST_F(MaliciousServer, RevisionDuplicatedIsDetected) {
  AlicePutsAFile();
  AlicePutsAFile();
  PlayRevisionAttack(proxy(), reader(), "revision duplicated", RewriteRevisions([](json&, json& revs) {
                       revs.insert(revs.begin() + 2, revs[1]);
                     }),
                     {"revision", "dropped or re-ordered|number is out of sequence"});
  PlayRevisionAttack(proxy(), reader(), "revision duplicated under the next number",
                     RewriteRevisions([](json& root, json& revs) {
                       json copy = revs[1];
                       for (size_t i = 2; i < revs.size(); ++i) revs[i]["number"] = revs[i]["number"].get<uint64_t>() + 1;
                       copy["number"] = copy["number"].get<uint64_t>() + 1;
                       revs.insert(revs.begin() + 2, copy);
                       root["head"] = root["head"].get<uint64_t>() + 1;
                     }),
                     {"revision", "replayed or moved"});
  EXPECT_EQ(RunBounded(reader(), {"ls", "/docs"}).exit_code, 0);
}

TEST_F(MaliciousServer, RevisionsReorderedAreDetected) {
  AlicePutsAFile();
  AlicePutsAFile();
  PlayRevisionAttack(proxy(), reader(), "revisions re-ordered", RewriteRevisions([](json&, json& revs) {
                       std::swap(revs[1], revs[2]);
                     }),
                     {"revision", "dropped or re-ordered|number is out of sequence"});
  PlayRevisionAttack(proxy(), reader(), "revision contents swapped, numbers kept",
                     RewriteRevisions([](json&, json& revs) { std::swap(revs[1]["data"], revs[2]["data"]); }),
                     {"revision", "replayed or moved"});
  EXPECT_EQ(RunBounded(reader(), {"ls", "/docs"}).exit_code, 0);
}

TEST_F(MaliciousServer, OldRevisionReplayedUnderANewNumberIsDetected) {
  AlicePutsAFile();
  AlicePutsAFile();
  // The revision the reader has seen, replayed as the newest one.
  PlayRevisionAttack(proxy(), reader(), "old revision replayed as the newest", RewriteRevisions([](json& root, json& revs) {
                       json old = revs[0];
                       old["number"] = root["head"].get<uint64_t>() + 1;
                       revs.push_back(old);
                       root["head"] = root["head"].get<uint64_t>() + 1;
                     }),
                     {"revision", "replayed or moved"});
  EXPECT_EQ(RunBounded(reader(), {"ls", "/docs"}).exit_code, 0);
}

TEST_F(MaliciousServer, RevisionOfAnotherAccountIsRefused) {
  AlicePutsAFile();
  AlicePutsAFile();
  // Mallory's revision, recorded when mallory read its own journal at set-up.
  std::string mallory_rev;
  for (const Exchange& ex : RecordedOf(Kind::kRevision, &world->mallory_traffic)) {
    json root = json::parse(ex.body);
    if (!root["revisions"].empty()) mallory_rev = root["revisions"].back()["data"];
  }
  ASSERT_FALSE(mallory_rev.empty());
  PlayRevisionAttack(proxy(), reader(), "revision of another account",
                     RewriteRevisions([mallory_rev](json&, json& revs) { revs[1]["data"] = mallory_rev; }),
                     {"revision", "another account|replayed or moved"});
  EXPECT_EQ(RunBounded(reader(), {"ls", "/docs"}).exit_code, 0);
}

// ---- R10: rollback of the journal head, the device chain and the keyring ----

// The oldest recorded reply of `kind` to the same path as `ex`.
std::string OldestRecorded(const std::vector<Exchange>& recorded, const std::string& path) {
  for (const Exchange& ex : recorded)
    if (ex.Path() == path) return ex.body;
  return "";
}

Attack ServeOldest(Kind kind, std::vector<Exchange> recorded) {
  Attack a;
  a.on_response = [kind, recorded](Exchange& ex) {
    if (!Carries(ex, kind)) return Delivery::kNormal;
    const std::string old = OldestRecorded(recorded, ex.Path());
    if (!old.empty()) ex.body = old;
    return Delivery::kNormal;
  };
  return a;
}

TEST_F(MaliciousServer, JournalHeadRolledBackIsDetected) {
  AlicePutsAFile();
  ASSERT_EQ(RunBounded(reader(), {"ls", "/docs"}).exit_code, 0);  // the reader sees the newest head
  AlicePutsAFile();
  proxy().SetAttack(ServeOldest(Kind::kRevision, RecordedOf(Kind::kRevision)));
  RunResult r = RunBounded(reader(), {"ls", "/docs"});
  EXPECT_GT(proxy().attacked(), 0);
  ExpectRefused(r, kExitVerification, {"rollback detected", "revision"}, "journal head rolled back");
  proxy().ClearAttack();
  EXPECT_EQ(RunBounded(reader(), {"ls", "/docs"}).exit_code, 0);
}

TEST_F(MaliciousServer, DeviceChainRolledBackIsDetected) {
  NewDevice("grow-chain");  // the chain is longer than anything recorded at the start
  ASSERT_EQ(RunBounded(alice(), {"ls", "/docs"}).exit_code, 0);
  proxy().SetAttack(ServeOldest(Kind::kChainEntry, RecordedOf(Kind::kChainEntry)));
  RunResult r = RunBounded(alice(), {"ls", "/docs"});
  EXPECT_GT(proxy().attacked(), 0);
  ExpectRefused(r, kExitVerification, {"rollback detected", "device chain"}, "device chain rolled back");
  proxy().ClearAttack();
  EXPECT_EQ(RunBounded(alice(), {"ls", "/docs"}).exit_code, 0);
}

TEST_F(MaliciousServer, KeyringRolledBackIsDetected) {
  NewDevice("grow-keyring");  // recovery adds the device's name: a newer keyring version
  ASSERT_EQ(RunBounded(alice(), {"ls", "/docs"}).exit_code, 0);
  proxy().SetAttack(ServeOldest(Kind::kKeyring, RecordedOf(Kind::kKeyring)));
  RunResult r = RunBounded(alice(), {"ls", "/docs"});
  EXPECT_GT(proxy().attacked(), 0);
  ExpectRefused(r, kExitVerification, {"rollback detected", "keyring version"}, "keyring rolled back");
  proxy().ClearAttack();
  EXPECT_EQ(RunBounded(alice(), {"ls", "/docs"}).exit_code, 0);
}

// ---- R11: different histories to two devices (fork) ----

// Its own server: the operator copies the data directory to fork the service.
TEST_F(MaliciousServer, DifferentHeadsToTwoDevicesAreDetectedByBoth) {
  TempDir tmp;
  Server server(tmp.path() / "server");
  server.Start();
  AttackProxy to_alpha(server.url()), to_beta(server.url());
  Device alpha(tmp.path() / "alpha", to_alpha.url()), beta(tmp.path() / "beta", to_beta.url());
  const fs::path rk = tmp.path() / "rk";
  ASSERT_EQ(RunBounded(alpha, {"account", "create", "--email", "fork@example.org", "--recovery-key-file", rk.string()})
                .exit_code, 0);
  WriteFile(tmp.path() / "src" / "base.txt", "base\n");
  ASSERT_EQ(RunBounded(alpha, {"put", (tmp.path() / "src" / "base.txt").string(), "/"}).exit_code, 0);
  ASSERT_EQ(RunBounded(beta, {"recover", "--email", "fork@example.org", "--recovery-key-file", rk.string()}).exit_code, 0);
  ASSERT_EQ(RunBounded(alpha, {"ls"}).exit_code, 0);
  ASSERT_EQ(RunBounded(beta, {"ls"}).exit_code, 0);
  // The operator forks the service and shows beta the copy from now on.
  server.Stop();
  CopyTree(server.data_dir(), tmp.path() / "fork");
  server.Start();
  Server fork(tmp.path() / "fork");
  fork.Start();
  to_beta.SetUpstream(fork.url());
  WriteFile(tmp.path() / "src" / "alpha.txt", "alpha's branch\n");
  WriteFile(tmp.path() / "src" / "beta.txt", "beta's branch\n");
  ASSERT_EQ(RunBounded(alpha, {"put", (tmp.path() / "src" / "alpha.txt").string(), "/"}).exit_code, 0);
  ASSERT_EQ(RunBounded(beta, {"put", (tmp.path() / "src" / "beta.txt").string(), "/"}).exit_code, 0);
  // Each branch is linear on its own; shown the other branch, each device refuses.
  to_alpha.SetUpstream(fork.url());
  to_beta.SetUpstream(server.url());
  ExpectRefused(RunBounded(alpha, {"ls"}), kExitVerification, {"fork detected"}, "alpha shown beta's branch");
  ExpectRefused(RunBounded(beta, {"ls"}), kExitVerification, {"fork detected"}, "beta shown alpha's branch");
  // Back on its own branch alpha works; beta, which saw the forked branch, keeps refusing.
  to_alpha.SetUpstream(server.url());
  EXPECT_EQ(RunBounded(alpha, {"ls"}).exit_code, 0);
  ExpectRefused(RunBounded(beta, {"ls"}), kExitVerification, {"fork detected"}, "beta after the fork");
}

// ---- R4/R13: keys substituted or added by the server ----

struct Attacker {
  crypto::SigningKey identity = crypto::SigningKey::Generate();
  crypto::BoxKeyPair box = crypto::BoxKeyPair::Generate();
  Bytes account_key = crypto::RandomBytes(32);
};

std::vector<Bytes> ChainEntriesOf(const std::string& body) {
  std::vector<Bytes> out;
  const json root = json::parse(body);
  for (const json& e : root.at("entries")) out.push_back(FromB64(e));
  return out;
}

std::string WithChainEntries(const std::string& body, const std::vector<Bytes>& entries) {
  json root = json::parse(body);
  root["entries"] = json::array();
  for (const Bytes& e : entries) root["entries"].push_back(Base64Encode(e));
  return root.dump();
}

TEST_F(MaliciousServer, DeviceAddedToTheChainByTheServerIsRefused) {
  auto attacker = std::make_shared<Attacker>();
  Attack add;
  add.on_response = [attacker](Exchange& ex) {
    if (!Carries(ex, Kind::kChainEntry)) return Delivery::kNormal;
    std::vector<Bytes> entries = ChainEntriesOf(ex.body);
    if (entries.empty()) return Delivery::kNormal;
    auto last = ChainEntry::Decode(entries.back());
    if (!last.ok()) return Delivery::kNormal;
    ChainEntry ghost = *last;
    ghost.seq = entries.size();
    const Bytes prev = crypto::Hash(entries.back());
    std::copy(prev.begin(), prev.end(), ghost.prev_hash.begin());
    ghost.action = ChainAction::kAdd;
    const Bytes id = crypto::RandomBytes(ghost.device_id.size());
    std::copy(id.begin(), id.end(), ghost.device_id.begin());
    ghost.device_sign_pk = attacker->identity.public_key();
    ghost.device_box_pk = attacker->box.public_key();
    ghost.sig_prev_identity = attacker->identity.Sign(ghost.SignedPart());
    ghost.sig_new_identity = ghost.sig_prev_identity;
    entries.push_back(ghost.Encode());
    ex.body = WithChainEntries(ex.body, entries);
    return Delivery::kNormal;
  };
  proxy().SetAttack(add);
  ExpectRefused(RunBounded(alice(), {"ls", "/docs"}), kExitVerification, {"device chain entry", "injected device"},
                "ghost device added to the chain");
  ExpectRefused(RunBounded(reader(), {"device", "list"}), kExitVerification, {"device chain entry"},
                "ghost device, device list");
  proxy().ClearAttack();
  RunResult list = RunBounded(alice(), {"device", "list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
}

TEST_F(MaliciousServer, DeviceKeySubstitutedInTheChainIsRefused) {
  auto attacker = std::make_shared<Attacker>();
  Attack substitute;
  substitute.on_response = [attacker](Exchange& ex) {
    if (!Carries(ex, Kind::kChainEntry)) return Delivery::kNormal;
    std::vector<Bytes> entries = ChainEntriesOf(ex.body);
    // Every device's keys become the attacker's, re-signed by the attacker (entry 0 is the
    // genesis, pinned by every device).
    for (size_t i = 1; i < entries.size(); ++i) {
      auto e = ChainEntry::Decode(entries[i]);
      if (!e.ok() || e->action != ChainAction::kAdd) continue;
      e->device_sign_pk = attacker->identity.public_key();
      e->device_box_pk = attacker->box.public_key();
      e->sig_prev_identity = attacker->identity.Sign(e->SignedPart());
      e->sig_new_identity = e->sig_prev_identity;
      entries[i] = e->Encode();
    }
    ex.body = WithChainEntries(ex.body, entries);
    return Delivery::kNormal;
  };
  proxy().SetAttack(substitute);
  ExpectRefused(RunBounded(reader(), {"ls", "/docs"}), kExitVerification, {"device chain entry"},
                "device keys substituted in the chain");
  proxy().ClearAttack();
  EXPECT_EQ(RunBounded(reader(), {"ls", "/docs"}).exit_code, 0);
}

TEST_F(MaliciousServer, SealedAccountKeySubstitutedIsRefused) {
  // The attacker seals its own account key to the device's (public) box key and signs the
  // envelope with its own identity: if accepted, everything the device encrypts next is the
  // attacker's to read (the "new keys from the server" attack on Sync; MEGA key overwrite).
  auto attacker = std::make_shared<Attacker>();
  std::map<std::string, Bytes> box_keys;  // device id hex -> box public key, from the chain
  for (const Bytes& raw : ChainEntriesOf(RecordedOf(Kind::kChainEntry).back().body)) {
    auto e = ChainEntry::Decode(raw);
    if (e.ok() && e->action != ChainAction::kRevoke) box_keys[IdHex(e->device_id)] = e->device_box_pk;
  }
  Attack substitute;
  substitute.on_response = [attacker, box_keys](Exchange& ex) {
    if (!Carries(ex, Kind::kSealedKey)) return Delivery::kNormal;
    json root = json::parse(ex.body);
    auto env = SealedKeyEnvelope::Decode(FromB64(root["blob"]));
    if (!env.ok()) return Delivery::kNormal;
    auto box = box_keys.find(IdHex(env->device_id));
    if (box == box_keys.end()) return Delivery::kNormal;
    env->sealed = *crypto::SealToPublicKey(box->second, attacker->account_key);
    env->signature = attacker->identity.Sign(env->SignedPart());
    root["blob"] = Base64Encode(env->Encode());
    ex.body = root.dump();
    return Delivery::kNormal;
  };
  proxy().SetAttack(substitute);
  ExpectRefused(RunBounded(alice(), {"ls", "/docs"}), kExitVerification, {"sealed account key", "substituted"},
                "sealed account key substituted");
  EXPECT_GT(proxy().attacked(), 0);
  // Mallory's own, validly signed sealed key, served for alice's device.
  const std::string mallory_sealed = MalloryObject(Kind::kSealedKey);
  ASSERT_FALSE(mallory_sealed.empty());
  proxy().SetAttack(ReplaceBody([](const Exchange& ex) { return Carries(ex, Kind::kSealedKey); }, mallory_sealed));
  ExpectRefused(RunBounded(reader(), {"ls", "/docs"}), kExitVerification,
                {"sealed account key"}, "another account's sealed key");
  proxy().ClearAttack();
  EXPECT_EQ(RunBounded(alice(), {"ls", "/docs"}).exit_code, 0);
}

TEST_F(MaliciousServer, KeyringRewrappedUnderAnAttackerKeyIsRefused) {
  // Collection keys live in the keyring: the attacker replaces it with one that wraps keys it
  // chose under an account key it knows, for the current and for the next version.
  auto attacker = std::make_shared<Attacker>();
  for (uint64_t bump : {0, 1}) {
    Attack rewrap;
    rewrap.on_response = [attacker, bump](Exchange& ex) {
      if (!Carries(ex, Kind::kKeyring)) return Delivery::kNormal;
      json root = json::parse(ex.body);
      auto kr = KeyringBlob::Decode(FromB64(root["blob"]));
      if (!kr.ok()) return Delivery::kNormal;
      kr->header.version += bump;
      const crypto::SecretBytes wrap =
          crypto::DeriveKey(crypto::SecretBytes::FromBytes(attacker->account_key), "keyring");
      kr->ciphertext = *crypto::AeadSeal(wrap, crypto::RandomBytes(400), kr->header.Encode());
      kr->signature = attacker->identity.Sign(kr->SignedPart());
      root["version"] = kr->header.version;
      root["blob"] = Base64Encode(kr->Encode());
      ex.body = root.dump();
      return Delivery::kNormal;
    };
    proxy().SetAttack(rewrap);
    ExpectRefused(RunBounded(alice(), {"ls", "/docs"}), kExitVerification, {"keyring", "not signed"},
                  "keyring re-wrapped, version +" + std::to_string(bump));
  }
  const std::string mallory_keyring = MalloryObject(Kind::kKeyring);
  ASSERT_FALSE(mallory_keyring.empty());
  proxy().SetAttack(ReplaceBody([](const Exchange& ex) { return Carries(ex, Kind::kKeyring); }, mallory_keyring));
  ExpectRefused(RunBounded(alice(), {"ls", "/docs"}), kExitVerification, {"keyring"}, "another account's keyring");
  proxy().ClearAttack();
  EXPECT_EQ(RunBounded(alice(), {"ls", "/docs"}).exit_code, 0);
}

TEST_F(MaliciousServer, RecoveryBlobReplacedIsRefused) {
  auto attacker = std::make_shared<Attacker>();
  Attack replace;
  replace.on_response = [attacker](Exchange& ex) {
    if (!Carries(ex, Kind::kRecoveryBlob)) return Delivery::kNormal;
    json root = json::parse(ex.body);
    auto blob = RecoveryBlob::Decode(FromB64(root["blob"]));
    if (!blob.ok()) return Delivery::kNormal;
    blob->ciphertext = *crypto::SealToPublicKey(attacker->box.public_key(), crypto::RandomBytes(64));
    blob->signature = attacker->identity.Sign(blob->SignedPart());
    root["blob"] = Base64Encode(blob->Encode());
    ex.body = root.dump();
    return Delivery::kNormal;
  };
  Device fresh(tmp() / "recover-replaced", proxy().url());
  const std::vector<std::string> recover = {"recover", "--email", "alice@example.org", "--recovery-key-file",
                                            world->alice_rk.string()};
  proxy().SetAttack(replace);
  ExpectRefused(RunBounded(fresh, recover), kExitVerification, {"recovery blob", "replaced"}, "recovery blob replaced");
  // Mallory's recovery blob (valid, signed by mallory's identity), recorded below.
  Device mallory2(tmp() / "mallory-recover", proxy().url());
  proxy().ClearAttack();
  ASSERT_EQ(RunBounded(mallory2, {"recover", "--email", "mallory@example.org", "--recovery-key-file",
                                  world->mallory_rk.string()}).exit_code, 0);
  const std::string mallory_blob = RecordedOf(Kind::kRecoveryBlob).back().body;
  proxy().SetAttack(ReplaceBody([](const Exchange& ex) { return Carries(ex, Kind::kRecoveryBlob); }, mallory_blob));
  ExpectRefused(RunBounded(fresh, recover), kExitVerification, {"recovery blob", "another account"},
                "another account's recovery blob");
  proxy().ClearAttack();
  RunResult r = RunBounded(fresh, recover);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RunBounded(fresh, {"ls", "/docs"}).exit_code, 0);
}

// ---- G4: the device list is the verified chain, whatever the server's own list says ----

TEST_F(MaliciousServer, ServerDeviceListLiesDoNotReachTheUser) {
  RunResult honest = RunBounded(alice(), {"--json", "device", "list"});
  ASSERT_EQ(honest.exit_code, 0) << honest.err;
  const std::string ghost = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
  // The server's device table claims a ghost device is active and every real one revoked.
  Attack lie;
  lie.on_response = [ghost](Exchange& ex) {
    if (ex.method != "GET" || ex.Path() != "/v1/devices") return Delivery::kNormal;
    ex.body = json{{"devices",
                    {{{"id", ghost}, {"name", "ghost"}, {"status", "active"}, {"sign_pk", Base64Encode(Bytes(32, 1))},
                      {"box_pk", Base64Encode(Bytes(32, 2))}}}}}
                  .dump();
    return Delivery::kNormal;
  };
  proxy().SetAttack(lie);
  RunResult r = RunBounded(alice(), {"--json", "device", "list"});
  proxy().ClearAttack();
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(json::parse(r.out)["devices"], json::parse(honest.out)["devices"]);
  EXPECT_EQ(r.out.find(ghost), std::string::npos) << r.out;
}

// ---- R9: KDF-parameter downgrade ----

TEST_F(MaliciousServer, PasswordHashingDowngradeIsRefusedBeforeAnyVerifierIsSent) {
  // The server asks for cheap password hashing so that the verifier it receives can be
  // brute-forced offline (R9). The client must refuse before it hashes or sends anything.
  Device bob(tmp() / "kdf-downgrade", proxy().url());
  ASSERT_EQ(RunBounded(bob, {"account", "create", "--email", "bob-kdf@example.org", "--recovery-key-file",
                             (tmp() / "bob-kdf.rk").string()}).exit_code, 0);
  ASSERT_EQ(RunBounded(bob, {"logout"}).exit_code, 0);
  struct Lie {
    std::string name;
    json fields;
    std::string words;
  };
  const std::vector<Lie> lies = {
      {"one pass", json{{"ops", 1}}, "below the minimum"},
      {"1 MiB of memory", json{{"mem", 1 << 20}}, "below the minimum"},
      {"both at zero", json{{"ops", 0}, {"mem", 0}}, "below the minimum"},
      {"a cost no device can pay", json{{"ops", uint64_t{1} << 40}}, "far above"},
  };
  for (const Lie& lie : lies) {
    Attack a;
    a.on_response = [fields = lie.fields](Exchange& ex) {
      if (ex.method != "POST" || ex.Path() != "/v1/login/params" || ex.status != 200) return Delivery::kNormal;
      json root = json::parse(ex.body);
      for (const auto& [k, v] : fields.items()) root[k] = v;
      ex.body = root.dump();
      return Delivery::kNormal;
    };
    const size_t mark = proxy().Recorded().size();
    proxy().SetAttack(a);
    ExpectRefused(RunBounded(bob, {"login"}), kExitVerification, {"password hashing", lie.words}, lie.name);
    EXPECT_GT(proxy().attacked(), 0) << lie.name;
    // No login attempt followed: no verifier, however cheap, left the device.
    const std::vector<Exchange> after = proxy().Recorded();
    for (size_t i = mark; i < after.size(); ++i) {
      EXPECT_NE(after[i].Path(), "/v1/sessions") << lie.name << ": a login was sent after the downgrade";
      EXPECT_EQ(after[i].request_body.find("verifier"), std::string::npos) << lie.name << ": " << after[i].target;
    }
  }
  proxy().ClearAttack();
  RunResult r = RunBounded(bob, {"login"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(RunBounded(bob, {"ls", "/"}).exit_code, 0);
}

// ---- inflated lengths and counts ----

TEST_F(MaliciousServer, ContentLengthLargerThanTheBodyIsRefused) {
  Attack lie;
  lie.on_response = [](Exchange& ex) { return Carries(ex, Kind::kKeyring) ? Delivery::kInflatedLength : Delivery::kNormal; };
  proxy().SetAttack(lie);
  ExpectRefused(RunBounded(alice(), {"ls", "/docs"}), kExitUnreachable, {"GET /v1/keyring"},
                "Content-Length larger than the body");
  proxy().ClearAttack();
  EXPECT_EQ(RunBounded(alice(), {"ls", "/docs"}).exit_code, 0);
}

TEST_F(MaliciousServer, InflatedCountsAndLengthFieldsAreRefused) {
  AlicePutsAFile();
  // A head far beyond the revisions returned: the missing ones are reported as withheld.
  Attack head;
  head.on_response = [](Exchange& ex) {
    if (!Carries(ex, Kind::kRevision)) return Delivery::kNormal;
    json root = json::parse(ex.body);
    root["head"] = uint64_t{1} << 60;
    ex.body = root.dump();
    return Delivery::kNormal;
  };
  proxy().SetAttack(head);
  ExpectRefused(RunBounded(reader(), {"ls", "/docs"}), kExitVerification, {"withheld"}, "revision head inflated");
  // The device chain listed twice over (an inflated entry count).
  Attack twice;
  twice.on_response = [](Exchange& ex) {
    if (!Carries(ex, Kind::kChainEntry)) return Delivery::kNormal;
    std::vector<Bytes> entries = ChainEntriesOf(ex.body);
    const size_t n = entries.size();
    for (size_t i = 0; i < n; ++i) entries.push_back(entries[i]);
    ex.body = WithChainEntries(ex.body, entries);
    return Delivery::kNormal;
  };
  proxy().SetAttack(twice);
  ExpectRefused(RunBounded(reader(), {"ls", "/docs"}), kExitVerification, {"device chain entry"}, "chain entries doubled");
  // A chunk container whose epoch field is 2^32-1.
  proxy().SetAttack(ChangeEvery(Kind::kChunk, [](Bytes& b) { std::fill(b.begin() + 6, b.begin() + 10, 0xFF); }));
  const fs::path out = tmp() / "epoch-out";
  fs::create_directories(out);
  ExpectRefused(RunBounded(alice(), {"get", "/docs/a.bin", out.string()}), kExitVerification, {"chunk", "epoch"},
                "chunk epoch field inflated");
  EXPECT_TRUE(EmptyOrMissing(out));
  proxy().ClearAttack();
  EXPECT_EQ(RunBounded(reader(), {"ls", "/docs"}).exit_code, 0);
}

// ---- endless, oversized, deeply nested and stalled replies ----

TEST_F(MaliciousServer, EndlessReplyIsCutOffAtTheCap) {
  Attack endless;
  endless.on_response = [](Exchange& ex) { return Carries(ex, Kind::kKeyring) ? Delivery::kEndless : Delivery::kNormal; };
  proxy().SetAttack(endless);
  const auto start = std::chrono::steady_clock::now();
  ExpectRefused(RunBounded(alice(), {"ls", "/docs"}), kExitVerification, {"GET /v1/keyring", "exceeds"}, "endless reply");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  proxy().ClearAttack();
  EXPECT_EQ(RunBounded(alice(), {"ls", "/docs"}).exit_code, 0);
}

TEST_F(MaliciousServer, OversizedJsonIsRefusedWithoutReadingIt) {
  Attack huge;
  huge.on_response = [](Exchange& ex) { return Carries(ex, Kind::kKeyring) ? Delivery::kOversized : Delivery::kNormal; };
  proxy().SetAttack(huge);
  const auto start = std::chrono::steady_clock::now();
  ExpectRefused(RunBounded(alice(), {"ls", "/docs"}), kExitVerification, {"GET /v1/keyring", "exceeds"},
                "200 MiB JSON reply");
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(20));
  // Deep nesting inside the size cap.
  proxy().SetAttack(ReplaceBody([](const Exchange& ex) { return Carries(ex, Kind::kKeyring); },
                                std::string(100000, '[') + std::string(100000, ']')));
  ExpectRefused(RunBounded(alice(), {"ls", "/docs"}), kExitVerification, {"GET /v1/keyring", "nested too deeply"},
                "deeply nested JSON");
  proxy().ClearAttack();
  EXPECT_EQ(RunBounded(alice(), {"ls", "/docs"}).exit_code, 0);
}

TEST_F(MaliciousServer, SilentAndTricklingServersTimeOut) {
  // Both at once (each waits for the client's 30 s low-speed abort). POST /v1/login/params
  // is not retried, so one attempt decides.
  AttackProxy silent(world->server->url()), trickling(world->server->url());
  Attack never, drip;
  never.on_response = [](Exchange& ex) { return ex.Is("POST", "/v1/login/params") ? Delivery::kNeverAnswer : Delivery::kNormal; };
  drip.on_response = [](Exchange& ex) { return ex.Is("POST", "/v1/login/params") ? Delivery::kTrickle : Delivery::kNormal; };
  silent.SetAttack(never);
  trickling.SetAttack(drip);
  Device alice_silent(alice().home(), silent.url()), reader_trickled(reader().home(), trickling.url());
  const auto start = std::chrono::steady_clock::now();
  RunResult stalled, trickled;
  std::thread t([&] { trickled = RunBounded(reader_trickled, {"login"}); });
  stalled = RunBounded(alice_silent, {"login"});
  t.join();
  const auto took = std::chrono::steady_clock::now() - start;
  ExpectRefused(stalled, kExitUnreachable, {"POST /v1/login/params", "too slow"}, "server never answers");
  ExpectRefused(trickled, kExitUnreachable, {"POST /v1/login/params", "too slow"}, "server sends 1 byte/s");
  EXPECT_LT(took, std::chrono::seconds(75));
  EXPECT_GT(silent.attacked(), 0);
  EXPECT_GT(trickling.attacked(), 0);
  silent.Stop();
  trickling.Stop();
  EXPECT_EQ(RunBounded(alice(), {"login"}).exit_code, 0);
  EXPECT_EQ(RunBounded(alice(), {"ls", "/docs"}).exit_code, 0);
}

}  // namespace
}  // namespace coffer::e2e
