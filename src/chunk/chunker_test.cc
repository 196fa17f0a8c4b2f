#include "chunk/chunker.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sodium.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string_view>
#include <vector>

namespace coffer::chunk {
namespace {

using ::testing::ElementsAreArray;

constexpr size_t kMiB = 1024 * 1024;

// Small parameters keep the byte-at-a-time tests fast while exercising the same code paths.
constexpr ChunkerParams kSmallParams{.min_size = 2 * 1024, .avg_size = 8 * 1024,
                                     .max_size = 32 * 1024};

crypto::SecretBytes TestKey(uint8_t seed) {
  Bytes raw(32);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(seed * 31 + i * 7 + 1);
  return crypto::SecretBytes::FromBytes(raw);
}

// std::mt19937_64 is fully specified by the standard, so the data (and the golden boundaries
// below) are the same on every platform.
Bytes RandomData(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t v = rng();
    for (int b = 0; b < 8; ++b) out[i + b] = static_cast<uint8_t>(v >> (8 * b));
  }
  for (; i < n; ++i) out[i] = static_cast<uint8_t>(rng());
  return out;
}

Chunker MakeChunker(const crypto::SecretBytes& key, ChunkerParams params) {
  StatusOr<Chunker> chunker = Chunker::Create(key, params);
  EXPECT_TRUE(chunker.ok()) << chunker.status().ToString();
  return std::move(chunker).value();
}

// Chunk lengths when the whole input is in memory: every remainder is the tail of the stream.
std::vector<size_t> ChunkWhole(const Chunker& chunker, ByteView data) {
  std::vector<size_t> lengths;
  while (!data.empty()) {
    size_t len = chunker.Cut(data, /*at_eof=*/true);
    EXPECT_GT(len, 0u);
    EXPECT_LE(len, data.size());
    if (len == 0) break;
    lengths.push_back(len);
    data = data.subspan(len);
  }
  return lengths;
}

// Chunk lengths as a streaming reader would produce them: reads of `read_size(rng)` bytes
// into a buffer, cutting whenever it holds at least max_size bytes or the stream has ended.
template <typename ReadSize>
std::vector<size_t> ChunkStreaming(const Chunker& chunker, ByteView source, ReadSize read_size,
                                   uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::vector<size_t> lengths;
  Bytes buffer;
  size_t read_pos = 0;
  const size_t max_size = chunker.params().max_size;
  for (;;) {
    while (read_pos < source.size() && buffer.size() < max_size) {
      size_t n = std::min<size_t>(read_size(rng), source.size() - read_pos);
      buffer.insert(buffer.end(), source.begin() + read_pos, source.begin() + read_pos + n);
      read_pos += n;
    }
    if (buffer.empty()) break;
    const bool at_eof = read_pos == source.size();
    size_t len = chunker.Cut(buffer, at_eof);
    EXPECT_GT(len, 0u);
    if (len == 0) break;
    lengths.push_back(len);
    buffer.erase(buffer.begin(), buffer.begin() + len);
  }
  return lengths;
}

std::vector<size_t> Offsets(const std::vector<size_t>& lengths) {
  std::vector<size_t> offsets;
  size_t pos = 0;
  for (size_t len : lengths) offsets.push_back(pos += len);
  return offsets;
}

// Bytes of `after` that a client would upload: chunks whose content was not already a chunk
// of `before`.
size_t NewChunkBytes(ByteView before, const std::vector<size_t>& before_lengths, ByteView after,
                     const std::vector<size_t>& after_lengths, size_t* new_chunks) {
  std::set<std::string_view> known;
  size_t pos = 0;
  for (size_t len : before_lengths) {
    known.insert(AsChars(before.subspan(pos, len)));
    pos += len;
  }
  size_t bytes = 0;
  *new_chunks = 0;
  pos = 0;
  for (size_t len : after_lengths) {
    if (!known.contains(AsChars(after.subspan(pos, len)))) {
      bytes += len;
      ++*new_chunks;
    }
    pos += len;
  }
  return bytes;
}

TEST(ChunkerTest, DefaultParamsAreValid) {
  ChunkerParams p = DefaultChunkerParams();
  EXPECT_LT(p.min_size, p.avg_size);
  EXPECT_LT(p.avg_size, p.max_size);
  EXPECT_TRUE(Chunker::Create(TestKey(1), p).ok());
}

TEST(ChunkerTest, RejectsBadKeys) {
  for (size_t size : {0, 16, 31, 33, 64}) {
    StatusOr<Chunker> c =
        Chunker::Create(crypto::SecretBytes::FromBytes(Bytes(size, 7)), DefaultChunkerParams());
    ASSERT_FALSE(c.ok()) << size;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  }
}

TEST(ChunkerTest, RejectsInconsistentParams) {
  const ChunkerParams bad[] = {
      {.min_size = 256 * 1024, .avg_size = 256 * 1024, .max_size = kMiB},  // min == avg
      {.min_size = 300 * 1024, .avg_size = 256 * 1024, .max_size = kMiB},  // min > avg
      {.min_size = 64 * 1024, .avg_size = 256 * 1024, .max_size = 256 * 1024},  // max == avg
      {.min_size = 64 * 1024, .avg_size = 256 * 1024, .max_size = 128 * 1024},  // max < avg
      {.min_size = 64 * 1024, .avg_size = 200 * 1024, .max_size = kMiB},  // avg not 2^k
      {.min_size = 0, .avg_size = 0, .max_size = kMiB},                   // avg zero
      {.min_size = kMiB, .avg_size = 4 * kMiB, .max_size = 16 * kMiB + 1},  // max too big
      {.min_size = kMiB, .avg_size = 16 * kMiB, .max_size = 32 * kMiB},    // max too big
  };
  for (const ChunkerParams& p : bad) {
    StatusOr<Chunker> c = Chunker::Create(TestKey(1), p);
    ASSERT_FALSE(c.ok()) << p.min_size << " " << p.avg_size << " " << p.max_size;
    EXPECT_EQ(c.status().code(), StatusCode::kInvalidArgument);
  }
  // The extremes that are allowed.
  EXPECT_TRUE(Chunker::Create(TestKey(1), {.min_size = 0, .avg_size = 2, .max_size = 3}).ok());
  EXPECT_TRUE(
      Chunker::Create(TestKey(1), {.min_size = kMiB, .avg_size = 8 * kMiB, .max_size = 16 * kMiB})
          .ok());
}

TEST(ChunkerTest, ShortInputs) {
  Chunker c = MakeChunker(TestKey(1), kSmallParams);
  EXPECT_EQ(c.Cut(ByteView(), true), 0u);
  Bytes data = RandomData(kSmallParams.max_size, 5);
  for (size_t n : {size_t{1}, size_t{100}, size_t{kSmallParams.min_size}}) {
    EXPECT_EQ(c.Cut(ByteView(data).first(n), true), n) << n;  // at most min: one chunk
  }
  for (size_t n = kSmallParams.min_size + 1; n < kSmallParams.max_size; n += 997) {
    size_t len = c.Cut(ByteView(data).first(n), true);
    EXPECT_GT(len, kSmallParams.min_size);
    EXPECT_LE(len, n);
  }
}

TEST(ChunkerTest, ReadsNothingBeyondMaxSize) {
  Chunker c = MakeChunker(TestKey(2), kSmallParams);
  Bytes data = RandomData(4 * kMiB, 6);
  std::vector<size_t> lengths = ChunkWhole(c, data);
  size_t pos = 0;
  for (size_t len : lengths) {
    ByteView rest = ByteView(data).subspan(pos);
    if (rest.size() > kSmallParams.max_size) {
      // Different bytes after max_size must not change the cut.
      Bytes altered(rest.begin(), rest.begin() + kSmallParams.max_size);
      altered.resize(altered.size() + 4096, 0xA5);
      EXPECT_EQ(c.Cut(altered, false), len);
      EXPECT_EQ(c.Cut(ByteView(altered).first(kSmallParams.max_size), false), len);
    }
    pos += len;
  }
}

TEST(ChunkerTest, BoundariesIndependentOfReadSizes) {
  for (ChunkerParams params : {kSmallParams, DefaultChunkerParams()}) {
    Chunker c = MakeChunker(TestKey(3), params);
    const size_t size = params.max_size == kSmallParams.max_size ? 3 * kMiB + 123 : 24 * kMiB + 5;
    Bytes data = RandomData(size, 7);
    std::vector<size_t> whole = ChunkWhole(c, data);
    ASSERT_GT(whole.size(), 10u);
    const size_t max = params.max_size;
    auto tiny = [](std::mt19937_64& rng) { return 1 + rng() % 61; };
    auto varied = [max](std::mt19937_64& rng) { return 1 + rng() % (3 * max); };
    auto exact = [max](std::mt19937_64&) { return max; };
    auto odd = [](std::mt19937_64&) { return size_t{4093}; };
    if (params.max_size == kSmallParams.max_size) {  // byte-sized reads only on small data
      EXPECT_THAT(ChunkStreaming(c, data, tiny, 1), ElementsAreArray(whole));
    }
    EXPECT_THAT(ChunkStreaming(c, data, varied, 2), ElementsAreArray(whole));
    EXPECT_THAT(ChunkStreaming(c, data, exact, 3), ElementsAreArray(whole));
    EXPECT_THAT(ChunkStreaming(c, data, odd, 4), ElementsAreArray(whole));
  }
}

TEST(ChunkerTest, ChunkSizesWithinBounds) {
  for (ChunkerParams params : {kSmallParams, DefaultChunkerParams()}) {
    Chunker c = MakeChunker(TestKey(4), params);
    // Random data, and all-zero data whose gear hash settles on a constant (forced cuts only).
    for (const Bytes& data : {RandomData(16 * kMiB + 77, 8), Bytes(8 * kMiB + 77, 0)}) {
      std::vector<size_t> lengths = ChunkWhole(c, data);
      ASSERT_FALSE(lengths.empty());
      for (size_t i = 0; i + 1 < lengths.size(); ++i) {
        EXPECT_GE(lengths[i], params.min_size);
        EXPECT_LE(lengths[i], params.max_size);
      }
      EXPECT_GE(lengths.back(), 1u);
      EXPECT_LE(lengths.back(), params.max_size);
    }
  }
}

TEST(ChunkerTest, AverageNearTargetOnRandomData) {
  struct Case {
    ChunkerParams params;
    size_t data_size;
  };
  const Case cases[] = {
      {kSmallParams, 16 * kMiB},
      {{.min_size = 16 * 1024, .avg_size = 64 * 1024, .max_size = 256 * 1024}, 32 * kMiB},
      {DefaultChunkerParams(), 64 * kMiB},
  };
  for (const Case& tc : cases) {
    Chunker c = MakeChunker(TestKey(5), tc.params);
    std::vector<size_t> lengths = ChunkWhole(c, RandomData(tc.data_size, 9));
    const double mean = static_cast<double>(tc.data_size) / lengths.size();
    // Normalized chunking with min = avg/4 lands slightly above avg_size (about 1.1x).
    EXPECT_GT(mean, 0.8 * tc.params.avg_size) << tc.params.avg_size;
    EXPECT_LT(mean, 1.5 * tc.params.avg_size) << tc.params.avg_size;
    // Normalization keeps forced cuts at max_size rare.
    size_t at_max = std::count(lengths.begin(), lengths.end(), tc.params.max_size);
    EXPECT_LT(at_max * 100, lengths.size()) << tc.params.avg_size;
  }
}

TEST(ChunkerTest, DeterministicForSameKey) {
  Bytes data = RandomData(8 * kMiB, 10);
  Chunker a = MakeChunker(TestKey(6), kSmallParams);
  Chunker b = MakeChunker(TestKey(6), kSmallParams);  // separately derived gear table
  EXPECT_EQ(ChunkWhole(a, data), ChunkWhole(b, data));
}

TEST(ChunkerTest, DifferentKeysGiveDifferentBoundaries) {
  Bytes data = RandomData(8 * kMiB, 11);
  std::vector<size_t> a = Offsets(ChunkWhole(MakeChunker(TestKey(7), kSmallParams), data));
  std::vector<size_t> b = Offsets(ChunkWhole(MakeChunker(TestKey(8), kSmallParams), data));
  a.pop_back();  // the end of the data is a boundary for every key
  b.pop_back();
  std::vector<size_t> shared;
  std::set_intersection(a.begin(), a.end(), b.begin(), b.end(), std::back_inserter(shared));
  // Independent cut processes coincide only by chance (about 1 boundary in avg_size bytes).
  EXPECT_LT(shared.size() * 20, a.size()) << shared.size() << " of " << a.size();
}

TEST(ChunkerTest, EditsChangeOnlyNearbyChunks) {
  const ChunkerParams params = DefaultChunkerParams();
  Chunker c = MakeChunker(TestKey(9), params);
  const Bytes before = RandomData(20 * kMiB, 12);
  const std::vector<size_t> before_lengths = ChunkWhole(c, before);
  const size_t middle = before.size() / 2;

  Bytes inserted = before;
  const uint8_t extra[] = {1, 2, 3, 4, 5};
  inserted.insert(inserted.begin() + middle, std::begin(extra), std::end(extra));
  Bytes deleted(before.begin(), before.begin() + middle);  // 7 bytes deleted
  deleted.insert(deleted.end(), before.begin() + middle + 7, before.end());
  Bytes overwritten = before;
  for (size_t i = 0; i < 1024; ++i) overwritten[middle + i] ^= 0x5A;

  for (const Bytes* after : {&inserted, &deleted, &overwritten}) {
    std::vector<size_t> after_lengths = ChunkWhole(c, *after);
    size_t new_chunks = 0;
    size_t new_bytes = NewChunkBytes(before, before_lengths, *after, after_lengths, &new_chunks);
    // The edited chunk must change; boundaries resynchronise within a chunk or two after it.
    EXPECT_GE(new_chunks, 1u);
    EXPECT_LE(new_chunks, 3u);
    EXPECT_LE(new_bytes, 3 * size_t{params.max_size});
    // Most boundaries survive, shifted by the size change after the edit.
    EXPECT_GE(after_lengths.size() + 3, before_lengths.size());
  }
}

// A plain transcription of FastCDC with normalized chunking, with the gear table and masks
// as documented in chunker.cc, against which the optimised Cut() is checked.
class ReferenceChunker {
 public:
  ReferenceChunker(ByteView key, ChunkerParams params) : params_(params) {
    uint8_t stream[256 * 8];
    randombytes_buf_deterministic(stream, sizeof(stream), key.data());
    for (int i = 0; i < 256; ++i) {
      gear_[i] = 0;
      for (int b = 0; b < 8; ++b) gear_[i] |= uint64_t{stream[i * 8 + b]} << (8 * b);
    }
    const int bits = std::countr_zero(params.avg_size);
    mask_small_ = Mask(bits + 2);
    mask_large_ = Mask(std::max(bits - 2, 1));
  }

  size_t Cut(ByteView data) const {
    size_t n = std::min<size_t>(data.size(), params_.max_size);
    if (n <= params_.min_size) return n;
    uint64_t h = 0;
    for (size_t i = params_.min_size; i < n; ++i) {
      h = (h << 1) + gear_[data[i]];
      const uint64_t mask = i < params_.avg_size ? mask_small_ : mask_large_;
      if ((h & mask) == 0) return i + 1;
    }
    return n;
  }

 private:
  // `bits` ones spread evenly over bits 16..63, the top bit always included.
  static uint64_t Mask(int bits) {
    uint64_t mask = 0;
    for (int k = 0; k < bits; ++k) mask |= uint64_t{1} << (63 - k * 48 / bits);
    EXPECT_EQ(std::popcount(mask), bits);
    return mask;
  }
  ChunkerParams params_;
  uint64_t gear_[256];
  uint64_t mask_small_, mask_large_;
};

TEST(ChunkerTest, MatchesReferenceImplementation) {
  const ChunkerParams params_list[] = {
      kSmallParams,
      {.min_size = 0, .avg_size = 64, .max_size = 200},  // hashing from byte 0, 1-bit mask
      {.min_size = 1000, .avg_size = 4096, .max_size = 4097},
      {.min_size = 13, .avg_size = 1024, .max_size = 8191},  // odd sizes hit the scalar tails
      DefaultChunkerParams(),
  };
  Bytes key_raw(32);
  for (size_t i = 0; i < key_raw.size(); ++i) key_raw[i] = static_cast<uint8_t>(200 - i);
  const crypto::SecretBytes key = crypto::SecretBytes::FromBytes(key_raw);
  const Bytes data = RandomData(6 * kMiB + 3, 14);
  for (const ChunkerParams& params : params_list) {
    Chunker chunker = MakeChunker(key, params);
    ReferenceChunker reference(key_raw, params);
    ByteView rest = data;
    size_t count = 0;
    while (!rest.empty()) {
      const size_t len = chunker.Cut(rest, true);
      ASSERT_EQ(len, reference.Cut(rest)) << "chunk " << count << " avg " << params.avg_size;
      rest = rest.subspan(len);
      ++count;
    }
  }
}

// Boundaries are part of the storage format: a change would defeat dedup against data
// uploaded by older clients. Update these only with a format version bump.
TEST(ChunkerTest, GoldenBoundaries) {
  Chunker c = MakeChunker(TestKey(42), kSmallParams);
  std::vector<size_t> lengths = ChunkWhole(c, RandomData(160 * 1024, 42));
  EXPECT_THAT(lengths, ElementsAreArray<size_t>({11268, 11227, 3329, 2311, 10168, 7897, 11085,
                                                 10951, 10411, 9397, 9174, 8649, 9395, 8201,
                                                 8213, 11805, 9312, 5986, 5061}));
  // The default parameters, spelled out so that a change of default is a visible decision.
  Chunker def = MakeChunker(TestKey(42), {.min_size = 64 * 1024, .avg_size = 256 * 1024,
                                          .max_size = 1024 * 1024});
  EXPECT_THAT(ChunkWhole(def, RandomData(4 * kMiB, 43)),
              ElementsAreArray<size_t>({80943, 298968, 277501, 288782, 280233, 108197,
                                        268502, 319956, 269761, 123150, 288159, 262640,
                                        162290, 310250, 290769, 273705, 118707, 171791}));
}

TEST(PadmeTest, KnownValues) {
  // Worked by hand from E = floor(log2 L), S = floor(log2 E) + 1, low E - S bits cleared.
  const std::pair<uint64_t, uint64_t> cases[] = {
      {0, 0},       {1, 1},       {2, 2},        {3, 3},       {4, 4},    {5, 5},
      {7, 7},       {8, 8},       {9, 10},       {10, 10},     {11, 12},  {15, 16},
      {16, 16},     {17, 18},     {31, 32},      {32, 32},     {33, 36},  {100, 104},
      {129, 144},   {1000, 1024}, {1025, 1088},  {65536, 65536},
      {(1u << 20) + 1, (1u << 20) + (1u << 15)},  // E=20, S=5: 15 low bits cleared
      {uint64_t{1} << 63, uint64_t{1} << 63},
      {(uint64_t{1} << 63) + 1, (uint64_t{1} << 63) + (uint64_t{1} << 57)},
      {~uint64_t{0} - (uint64_t{1} << 57) + 1, ~uint64_t{0} - (uint64_t{1} << 57) + 1},
  };
  for (auto [len, padded] : cases) EXPECT_EQ(PadmeLength(len), padded) << len;
}

TEST(PadmeTest, SaturatesInsteadOfWrapping) {
  const uint64_t max = std::numeric_limits<uint64_t>::max();
  const uint64_t last_exact = max - (uint64_t{1} << 57) + 1;  // largest padded value < 2^64
  EXPECT_EQ(PadmeLength(last_exact + 1), max);
  EXPECT_EQ(PadmeLength(max - 1), max);
  EXPECT_EQ(PadmeLength(max), max);
}

// The properties the paper proves, checked exhaustively for small lengths and on samples
// up to 2^64: padded >= L, monotone, idempotent, at most S significant bits, and overhead
// below 2^-S (< 12.5% overall, the paper's "about 12%"; < 6.25% from 256 bytes on).
void CheckPadmeProperties(uint64_t len) {
  const uint64_t padded = PadmeLength(len);
  ASSERT_GE(padded, len);
  if (len < 2 || padded == std::numeric_limits<uint64_t>::max()) return;
  ASSERT_EQ(PadmeLength(padded), padded) << len;
  const int e = std::bit_width(len) - 1;
  const int s = std::bit_width(static_cast<uint64_t>(e));
  ASSERT_EQ(padded & ((uint64_t{1} << (e - s)) - 1), 0u) << len;
  // overhead < 2^-S, i.e. (padded - len) * 2^S < len, computed without overflow.
  ASSERT_LT(padded - len, (len >> s) + 1) << len;
  ASSERT_LT(static_cast<double>(padded - len), 0.125 * static_cast<double>(len)) << len;
  if (len >= 256) {
    ASSERT_LT(static_cast<double>(padded - len), 0.0625 * static_cast<double>(len)) << len;
  }
}

TEST(PadmeTest, PropertiesExhaustiveSmall) {
  uint64_t previous = 0;
  for (uint64_t len = 0; len <= (1u << 21); ++len) {
    CheckPadmeProperties(len);
    uint64_t padded = PadmeLength(len);
    ASSERT_GE(padded, previous) << len;  // monotone
    previous = padded;
  }
}

TEST(PadmeTest, PropertiesSampledLarge) {
  std::mt19937_64 rng(13);
  for (int i = 0; i < 200000; ++i) {
    const int shift = static_cast<int>(rng() % 64);
    uint64_t a = rng() >> shift;
    uint64_t b = rng() >> shift;
    CheckPadmeProperties(a);
    if (a > b) std::swap(a, b);
    ASSERT_LE(PadmeLength(a), PadmeLength(b)) << a << " " << b;
  }
  for (int k = 1; k < 64; ++k) {
    const uint64_t p = uint64_t{1} << k;
    for (uint64_t len : {p - 1, p, p + 1}) CheckPadmeProperties(len);
  }
}

TEST(PadmeTest, LeaksFewDistinctSizes) {
  // Between 2^16 and 2^17, S = 5: lengths round up to multiples of 2^11, 32 steps, so 33
  // sizes counting both powers of two, instead of 65536.
  std::set<uint64_t> sizes;
  for (uint64_t len = 1u << 16; len < (1u << 17); ++len) sizes.insert(PadmeLength(len));
  EXPECT_EQ(sizes.size(), 33u);
}

}  // namespace
}  // namespace coffer::chunk
