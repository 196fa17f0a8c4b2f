#include "store/testing/blob_store_conformance.h"

#include <algorithm>
#include <atomic>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "store/testing/store_test_util.h"

namespace coffer::store::testing {

void PrintTo(const BlobStoreFixture& fixture, std::ostream* os) { *os << fixture.name; }

std::string BlobStoreFixtureName(const ::testing::TestParamInfo<BlobStoreFixture>& info) {
  return info.param.name;
}

void BlobStoreConformance::SetUp() {
  auto store = GetParam().make_empty();
  ASSERT_TRUE(store.ok()) << "make_empty for " << GetParam().name << ": " << store.status().ToString();
  store_ = std::move(*store);
  ASSERT_NE(store_, nullptr);
}

void BlobStoreConformance::TearDown() { store_.reset(); }

// Every test binary of the project links coffer_store_testing, and the linker may pull this
// object into one that instantiates nothing (archive members also get pulled in to resolve
// incidental template instantiations). Without this, gtest would fail such a binary with
// "UninstantiatedParameterizedTestSuite"; an implementation's own binary still instantiates
// the suite through COFFER_INSTANTIATE_..._CONFORMANCE.
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(BlobStoreConformance);

namespace {

constexpr char kAccountA[] = "0123456789abcdef0123456789abcdef";
constexpr char kAccountB[] = "fedcba9876543210fedcba9876543210";

std::string ChunkKey(const std::string& account, int i) {
  // Shaped like the server's keys: account id / 64-hex chunk id.
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  uint64_t x = static_cast<uint64_t>(i) * 0x9e3779b97f4a7c15ULL + 7;
  for (int j = 0; j < 64; ++j) {
    id += kHex[(x >> ((j % 16) * 4)) & 0xf];
    if (j % 16 == 15) x = x * 6364136223846793005ULL + 1442695040888963407ULL;
  }
  return account + "/" + id;
}

std::vector<std::string> ListAll(BlobStore& store, std::string_view prefix) {
  std::vector<std::string> keys;
  Status s = store.List(prefix, [&](const std::string& k) {
    keys.push_back(k);
    return true;
  });
  EXPECT_TRUE(s.ok()) << "List(\"" << prefix << "\"): " << s.ToString();
  std::sort(keys.begin(), keys.end());
  return keys;
}

std::vector<std::string> Sorted(std::vector<std::string> v) {
  std::sort(v.begin(), v.end());
  return v;
}

}  // namespace

TEST_P(BlobStoreConformance, PutThenGetRoundTrips) {
  const std::string key = ChunkKey(kAccountA, 1);
  const Bytes data = TestBytes(1000, 1);
  STORE_ASSERT_OK(store().Put(key, data));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store().Get(key));
  EXPECT_EQ(got, data);
}

TEST_P(BlobStoreConformance, EveryByteValueRoundTrips) {
  Bytes data(256 * 4);
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<uint8_t>(i);
  STORE_ASSERT_OK(store().Put("a/bin", data));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store().Get("a/bin"));
  EXPECT_EQ(got, data);
}

TEST_P(BlobStoreConformance, EmptyBlobRoundTrips) {
  STORE_ASSERT_OK(store().Put("a/empty", Bytes()));
  STORE_ASSERT_OK_AND_ASSIGN(bool exists, store().Exists("a/empty"));
  EXPECT_TRUE(exists);
  STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store().Get("a/empty"));
  EXPECT_TRUE(got.empty());
}

TEST_P(BlobStoreConformance, LargeBlobRoundTrips) {
  const Bytes data = TestBytes(8 << 20, 42);  // 8 MiB, larger than any chunk
  const std::string key = ChunkKey(kAccountA, 2);
  STORE_ASSERT_OK(store().Put(key, data));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store().Get(key));
  ASSERT_EQ(got.size(), data.size());
  EXPECT_TRUE(got == data);  // not EXPECT_EQ: a mismatch would print 8 MiB
}

TEST_P(BlobStoreConformance, GetRangeReadsAnyPartAndStopsAtTheEnd) {
  const std::string key = "a/packs/00ff";
  const Bytes data = TestBytes(100000, 7);
  STORE_ASSERT_OK(store().Put(key, data));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes head, store().GetRange(key, 0, 10));
  EXPECT_EQ(head, Bytes(data.begin(), data.begin() + 10));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes middle, store().GetRange(key, 54321, 4000));
  EXPECT_EQ(middle, Bytes(data.begin() + 54321, data.begin() + 58321));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes tail, store().GetRange(key, 99990, 1000));  // fewer: the blob ends
  EXPECT_EQ(tail, Bytes(data.end() - 10, data.end()));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes last, store().GetRange(key, 99999, 1));
  EXPECT_EQ(last, Bytes(data.end() - 1, data.end()));
  STORE_EXPECT_CODE(store().GetRange(key, 100000, 1), kOutOfRange);
  STORE_EXPECT_CODE(store().GetRange(key, 0, 0), kInvalidArgument);
  STORE_EXPECT_CODE(store().GetRange("a/packs/0100", 0, 1), kNotFound);
  STORE_EXPECT_CODE(store().GetRange("A/bad", 0, 1), kInvalidArgument);
}

TEST_P(BlobStoreConformance, GetMissingIsNotFound) {
  STORE_EXPECT_CODE(store().Get(ChunkKey(kAccountA, 3)), kNotFound);
  STORE_ASSERT_OK(store().Put(ChunkKey(kAccountA, 4), TestBytes(10, 4)));
  STORE_EXPECT_CODE(store().Get(ChunkKey(kAccountA, 3)), kNotFound);
  STORE_EXPECT_CODE(store().Get(ChunkKey(kAccountB, 4)), kNotFound);  // same name, other prefix
}

TEST_P(BlobStoreConformance, ExistsFollowsPutAndDelete) {
  const std::string key = ChunkKey(kAccountA, 5);
  STORE_ASSERT_OK_AND_ASSIGN(bool before, store().Exists(key));
  EXPECT_FALSE(before);
  STORE_ASSERT_OK(store().Put(key, TestBytes(5, 5)));
  STORE_ASSERT_OK_AND_ASSIGN(bool after_put, store().Exists(key));
  EXPECT_TRUE(after_put);
  STORE_ASSERT_OK(store().Delete(key));
  STORE_ASSERT_OK_AND_ASSIGN(bool after_delete, store().Exists(key));
  EXPECT_FALSE(after_delete);
  STORE_EXPECT_CODE(store().Get(key), kNotFound);
}

TEST_P(BlobStoreConformance, DeleteIsIdempotent) {
  const std::string key = ChunkKey(kAccountA, 6);
  STORE_EXPECT_OK(store().Delete(key));  // never existed
  STORE_ASSERT_OK(store().Put(key, TestBytes(5, 6)));
  STORE_EXPECT_OK(store().Delete(key));
  STORE_EXPECT_OK(store().Delete(key));  // already deleted
  EXPECT_TRUE(ListAll(store(), "").empty());
}

TEST_P(BlobStoreConformance, DeleteLeavesOtherKeys) {
  STORE_ASSERT_OK(store().Put(ChunkKey(kAccountA, 7), TestBytes(5, 7)));
  STORE_ASSERT_OK(store().Put(ChunkKey(kAccountA, 8), TestBytes(5, 8)));
  STORE_ASSERT_OK(store().Delete(ChunkKey(kAccountA, 7)));
  EXPECT_EQ(ListAll(store(), ""), std::vector<std::string>{ChunkKey(kAccountA, 8)});
}

TEST_P(BlobStoreConformance, PutOverwritesWithLongerAndShorterValues) {
  const std::string key = ChunkKey(kAccountA, 9);
  STORE_ASSERT_OK(store().Put(key, TestBytes(100, 1)));
  STORE_ASSERT_OK(store().Put(key, TestBytes(5000, 2)));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes longer, store().Get(key));
  EXPECT_EQ(longer, TestBytes(5000, 2));
  STORE_ASSERT_OK(store().Put(key, TestBytes(3, 3)));
  STORE_ASSERT_OK_AND_ASSIGN(Bytes shorter, store().Get(key));
  EXPECT_EQ(shorter, TestBytes(3, 3));
  EXPECT_EQ(ListAll(store(), ""), std::vector<std::string>{key});  // still one key
}

TEST_P(BlobStoreConformance, ListEmptyStoreVisitsNothing) {
  EXPECT_TRUE(ListAll(store(), "").empty());
  EXPECT_TRUE(ListAll(store(), std::string(kAccountA) + "/").empty());
}

TEST_P(BlobStoreConformance, ListFiltersByPrefix) {
  std::vector<std::string> a_keys, b_keys;
  for (int i = 0; i < 20; ++i) {
    a_keys.push_back(ChunkKey(kAccountA, i));
    b_keys.push_back(ChunkKey(kAccountB, i));
    STORE_ASSERT_OK(store().Put(a_keys.back(), TestBytes(i, i)));
    STORE_ASSERT_OK(store().Put(b_keys.back(), TestBytes(i, i + 100)));
  }
  std::vector<std::string> all = a_keys;
  all.insert(all.end(), b_keys.begin(), b_keys.end());
  EXPECT_EQ(ListAll(store(), ""), Sorted(all));
  EXPECT_EQ(ListAll(store(), std::string(kAccountA) + "/"), Sorted(a_keys));
  EXPECT_EQ(ListAll(store(), kAccountB), Sorted(b_keys));  // a prefix need not end at '/'
  EXPECT_EQ(ListAll(store(), "0123"), Sorted(a_keys));
  EXPECT_TRUE(ListAll(store(), "9").empty());

  // Prefixes reaching into the name, one and two characters and the whole key.
  const std::string one = a_keys[3];
  for (size_t len : {std::string(kAccountA).size() + 2, std::string(kAccountA).size() + 3, one.size()}) {
    const std::string prefix = one.substr(0, len);
    std::vector<std::string> want;
    for (const std::string& k : a_keys) {
      if (k.starts_with(prefix)) want.push_back(k);
    }
    EXPECT_EQ(ListAll(store(), prefix), Sorted(want)) << "prefix " << prefix;
  }
}

TEST_P(BlobStoreConformance, ListStopsWhenCallbackReturnsFalse) {
  for (int i = 0; i < 30; ++i) STORE_ASSERT_OK(store().Put(ChunkKey(kAccountA, i), TestBytes(1, i)));
  for (int stop_after : {1, 7}) {
    int calls = 0;
    STORE_EXPECT_OK(store().List("", [&](const std::string&) { return ++calls < stop_after; }));
    EXPECT_EQ(calls, stop_after);
  }
}

TEST_P(BlobStoreConformance, ListCallbackMayDeleteWhatItSees) {
  for (int i = 0; i < 25; ++i) STORE_ASSERT_OK(store().Put(ChunkKey(kAccountA, i), TestBytes(1, i)));
  std::set<std::string> seen;
  STORE_ASSERT_OK(store().List(kAccountA, [&](const std::string& key) {
    seen.insert(key);
    return store().Delete(key).ok();
  }));
  EXPECT_EQ(seen.size(), 25u);
  EXPECT_TRUE(ListAll(store(), "").empty());
}

TEST_P(BlobStoreConformance, KeyShapesDoNotCollide) {
  // Keys that a naive path mapping could confuse: no '/', several '/', a name equal to a
  // prefix segment, one-character names, a key that is another key's prefix.
  const std::vector<std::string> keys = {"a",     "ab",    "abc",     "a/a",   "a/ab",   "ab/a",
                                         "a/a/a", "a/b/c", "a/b/c/d", "cd",    "cd/cd",  "cd/cd/cd",
                                         "x_y",   "x-y",   "x/y_z",   "x/y-z", "x/y/z-0"};
  for (size_t i = 0; i < keys.size(); ++i) STORE_ASSERT_OK(store().Put(keys[i], TestBytes(i + 1, i)));
  for (size_t i = 0; i < keys.size(); ++i) {
    STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store().Get(keys[i]));
    EXPECT_EQ(got, TestBytes(i + 1, i)) << keys[i];
  }
  EXPECT_EQ(ListAll(store(), ""), Sorted(keys));
  EXPECT_EQ(ListAll(store(), "a/"), Sorted({"a/a", "a/ab", "a/a/a", "a/b/c", "a/b/c/d"}));
  EXPECT_EQ(ListAll(store(), "a/b"), Sorted({"a/b/c", "a/b/c/d"}));
  EXPECT_EQ(ListAll(store(), "cd"), Sorted({"cd", "cd/cd", "cd/cd/cd"}));
  EXPECT_EQ(ListAll(store(), "x/y"), Sorted({"x/y_z", "x/y-z", "x/y/z-0"}));
  STORE_ASSERT_OK(store().Delete("a/a"));
  STORE_ASSERT_OK_AND_ASSIGN(bool nested, store().Exists("a/a/a"));
  EXPECT_TRUE(nested);
}

TEST_P(BlobStoreConformance, InvalidKeysAreRejectedByEveryMethod) {
  const std::vector<std::string> bad = {"",
                                        "/a",
                                        "a/",
                                        "a//b",
                                        "A/b",
                                        "a/B",
                                        "a/../b",
                                        "..",
                                        "a/.b",
                                        "a.b",
                                        "a b",
                                        "a\\b",
                                        "a\nb",
                                        std::string(201, 'a'),
                                        std::string("a\0b", 3)};
  for (const std::string& key : bad) {
    SCOPED_TRACE("key \"" + key + "\"");
    STORE_EXPECT_CODE(store().Put(key, TestBytes(3, 1)), kInvalidArgument);
    STORE_EXPECT_CODE(store().Get(key), kInvalidArgument);
    STORE_EXPECT_CODE(store().Exists(key), kInvalidArgument);
    STORE_EXPECT_CODE(store().Delete(key), kInvalidArgument);
  }
  EXPECT_TRUE(ListAll(store(), "").empty());
  // The longest valid key works.
  const std::string longest = "a/" + std::string(198, 'b');
  STORE_EXPECT_OK(store().Put(longest, TestBytes(3, 1)));
  STORE_EXPECT_OK(store().Get(longest));
}

TEST_P(BlobStoreConformance, InvalidListPrefixIsRejected) {
  STORE_ASSERT_OK(store().Put("a/b", TestBytes(3, 1)));
  for (const std::string& prefix :
       std::vector<std::string>{"../", "/", "a//", "A", "a.b", std::string(201, 'a')}) {
    int calls = 0;
    STORE_EXPECT_CODE(store().List(prefix,
                                   [&](const std::string&) {
                                     ++calls;
                                     return true;
                                   }),
                      kInvalidArgument);
    EXPECT_EQ(calls, 0) << prefix;
  }
}

TEST_P(BlobStoreConformance, ConcurrentPutsOfOneKeyLeaveOneCompleteValue) {
  // Writers replace one key with large, distinct values while readers check that every read
  // is exactly one of them: never a mix, a truncation or an error.
  const std::string key = ChunkKey(kAccountA, 10);
  constexpr int kWriters = 8;
  constexpr size_t kSize = 512 << 10;
  std::vector<Bytes> values;
  for (int i = 0; i < kWriters; ++i) values.push_back(TestBytes(kSize + i, 1000 + i));
  STORE_ASSERT_OK(store().Put(key, values[0]));

  std::atomic<bool> done{false};
  std::atomic<int> bad_reads{0}, failed_puts{0}, reads{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < kWriters; ++w) {
    threads.emplace_back([&, w] {
      for (int round = 0; round < 4; ++round) {
        if (!store().Put(key, values[w]).ok()) ++failed_puts;
      }
    });
  }
  for (int r = 0; r < 2; ++r) {
    threads.emplace_back([&] {
      while (!done.load()) {
        auto got = store().Get(key);
        ++reads;
        if (!got.ok() || std::find(values.begin(), values.end(), *got) == values.end()) ++bad_reads;
      }
    });
  }
  for (int w = 0; w < kWriters; ++w) threads[w].join();
  done = true;
  for (size_t t = kWriters; t < threads.size(); ++t) threads[t].join();

  EXPECT_EQ(failed_puts.load(), 0);
  EXPECT_EQ(bad_reads.load(), 0) << "of " << reads.load() << " reads";
  STORE_ASSERT_OK_AND_ASSIGN(Bytes final_value, store().Get(key));
  EXPECT_NE(std::find(values.begin(), values.end(), final_value), values.end());
  EXPECT_EQ(ListAll(store(), ""), std::vector<std::string>{key});
}

TEST_P(BlobStoreConformance, ConcurrentPutsOfDistinctKeysAllLand) {
  constexpr int kThreads = 8, kPerThread = 25;
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        const int n = t * kPerThread + i;
        // Two accounts, so that threads also race to create the same directories.
        if (!store().Put(ChunkKey(n % 2 ? kAccountA : kAccountB, n), TestBytes(64, n)).ok()) ++failures;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(ListAll(store(), "").size(), static_cast<size_t>(kThreads * kPerThread));
  for (int n = 0; n < kThreads * kPerThread; ++n) {
    STORE_ASSERT_OK_AND_ASSIGN(Bytes got, store().Get(ChunkKey(n % 2 ? kAccountA : kAccountB, n)));
    EXPECT_EQ(got, TestBytes(64, n));
  }
}

}  // namespace coffer::store::testing
