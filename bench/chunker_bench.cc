// Chunker measurements that chose DefaultChunkerParams() (results in bench/CHUNKING.md).
//
//   BM_ChunkThroughput/<avg>  Chunker::Cut over 64 MiB of random data (min = avg/4,
//                             max = 4*avg).
//   BM_ChunkParams/<avg>      the same parameters on a 200 MB random file: throughput, chunk
//                             count, bytes to re-upload after three kinds of edit, and the
//                             per-chunk costs on a model of the user's corpus.
//
// Random data is what matters for a backup of mostly compressed media and documents, and it
// is the worst case for speed (nothing cuts early). Run (Release build):
//   coffer_micro_bench --benchmark_filter=BM_Chunk --benchmark_counters_tabular=true
#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <ctime>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "chunk/chunker.h"
#include "crypto/secret.h"

namespace coffer::chunk {
namespace {

constexpr size_t kKiB = 1024;
constexpr size_t kMiB = 1024 * kKiB;
constexpr size_t kThroughputBytes = 64 * kMiB;
constexpr size_t kFileBytes = 200'000'000;  // "a 200 MB file"

// Corpus model: 23,000 files, sizes log-uniform between 10 KB and 5 MB.
constexpr int kCorpusFiles = 23'000;
constexpr double kCorpusMinFile = 10'000;
constexpr double kCorpusMaxFile = 5'000'000;
// What a chunk costs besides its bytes: its manifest entry (id, size, key, framing), and one
// PUT on upload.
constexpr double kManifestBytesPerChunk = 100;

Bytes RandomData(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  Bytes out(n);
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const uint64_t v = rng();
    for (int b = 0; b < 8; ++b) out[i + b] = static_cast<uint8_t>(v >> (8 * b));
  }
  for (; i < n; ++i) out[i] = static_cast<uint8_t>(rng());
  return out;
}

ChunkerParams ParamsForAvg(int64_t avg) {
  return {.min_size = static_cast<uint32_t>(avg / 4), .avg_size = static_cast<uint32_t>(avg),
          .max_size = static_cast<uint32_t>(avg * 4)};
}

Chunker MakeChunker(ChunkerParams params) {
  Bytes raw(32);
  for (size_t i = 0; i < raw.size(); ++i) raw[i] = static_cast<uint8_t>(i * 13 + 5);
  StatusOr<Chunker> chunker = Chunker::Create(crypto::SecretBytes::FromBytes(raw), params);
  if (!chunker.ok()) std::abort();
  return std::move(chunker).value();
}

double ThreadCpuSeconds() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

std::vector<size_t> ChunkLengths(const Chunker& chunker, ByteView data) {
  std::vector<size_t> lengths;
  while (!data.empty()) {
    const size_t len = chunker.Cut(data, /*at_eof=*/true);
    lengths.push_back(len);
    data = data.subspan(len);
  }
  return lengths;
}

// Chunk identity for "is this content already uploaded": length and a 64-bit hash, ample
// for a few thousand random chunks.
uint64_t ContentKey(ByteView chunk) {
  return std::hash<std::string_view>()(AsChars(chunk)) ^ (chunk.size() * 0x9E3779B97F4A7C15u);
}

// The chunks of the original file, indexed for the re-upload measurement.
struct ChunkIndex {
  std::vector<size_t> ends;              // end offset of each chunk, ascending
  std::unordered_set<uint64_t> content;  // ContentKey of each chunk
};

ChunkIndex IndexChunks(ByteView data, const std::vector<size_t>& lengths) {
  ChunkIndex index;
  size_t pos = 0;
  for (size_t len : lengths) {
    index.content.insert(ContentKey(data.subspan(pos, len)));
    index.ends.push_back(pos += len);
  }
  return index;
}

struct EditKind {
  const char* name;
  size_t old_len;  // bytes of the original replaced...
  size_t new_len;  // ...by this many new bytes
};
constexpr EditKind kEdits[] = {
    {"ow1K", kKiB, kKiB},  // 1 KiB overwritten in place
    {"ow1M", kMiB, kMiB},  // 1 MiB overwritten in place
    {"ins100", 0, 100},    // 100 bytes inserted
};
// Besides the middle of the file (as specified), each edit is measured at this many random
// positions: a single position measures mostly the size of the one chunk it lands in.
constexpr int kEditSamples = 32;

const Bytes& OriginalFile() {
  static const Bytes* file = new Bytes(RandomData(kFileBytes, 1));
  return *file;
}

// Writes the original with `kind` applied at `pos` into `scratch`, which is reused: a fresh
// 200 MB allocation per edit would dominate the run time.
void ApplyEdit(const EditKind& kind, size_t pos, Bytes& scratch) {
  static const Bytes patch = RandomData(kMiB, 2);
  const Bytes& original = OriginalFile();
  scratch.resize(original.size() - kind.old_len + kind.new_len);
  std::copy_n(original.begin(), pos, scratch.begin());
  std::copy_n(patch.begin(), kind.new_len, scratch.begin() + pos);
  std::copy(original.begin() + pos + kind.old_len, original.end(),
            scratch.begin() + pos + kind.new_len);
}

struct Upload {
  double bytes = 0;
  double chunks = 0;
};

// The chunks of the edited file whose content is not a chunk of the original: what a client
// uploads after the edit. The file is re-chunked whole. A chunk clear of the edit whose
// (shifted) boundaries are those of an original chunk holds the same bytes, so only the
// remaining chunks need hashing; the result is exact and cheap enough to repeat.
Upload NewChunks(const Chunker& chunker, const ChunkIndex& before, ByteView after,
                 const EditKind& kind, size_t edit_pos) {
  const size_t edit_end = edit_pos + kind.new_len;
  auto to_old = [&](size_t x) { return x <= edit_pos ? x : x - kind.new_len + kind.old_len; };
  auto is_old_chunk = [&](size_t start, size_t end) {
    auto it = std::lower_bound(before.ends.begin(), before.ends.end(), end);
    if (it == before.ends.end() || *it != end) return false;
    return (it == before.ends.begin() ? 0 : *(it - 1)) == start;
  };
  Upload upload;
  size_t pos = 0;
  while (pos < after.size()) {
    const size_t len = chunker.Cut(after.subspan(pos), /*at_eof=*/true);
    const size_t end = pos + len;
    const bool clear_of_edit = end <= edit_pos || pos >= edit_end;
    if (!(clear_of_edit && is_old_chunk(to_old(pos), to_old(end))) &&
        !before.content.contains(ContentKey(after.subspan(pos, len)))) {
      upload.bytes += static_cast<double>(len);
      ++upload.chunks;
    }
    pos = end;
  }
  return upload;
}

void BM_ChunkThroughput(benchmark::State& state) {
  static const Bytes data = RandomData(kThroughputBytes, 3);
  const Chunker chunker = MakeChunker(ParamsForAvg(state.range(0)));
  size_t chunks = 0;
  for (auto _ : state) {
    ByteView rest = data;
    chunks = 0;
    while (!rest.empty()) {
      rest = rest.subspan(chunker.Cut(rest, /*at_eof=*/true));
      ++chunks;
    }
    benchmark::DoNotOptimize(chunks);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * data.size()));
  state.counters["chunks"] = static_cast<double>(chunks);
}
BENCHMARK(BM_ChunkThroughput)
    ->RangeMultiplier(2)
    ->Range(8 * 1024, 1024 * 1024)
    ->Unit(benchmark::kMillisecond);

void BM_ChunkParams(benchmark::State& state) {
  const Chunker chunker = MakeChunker(ParamsForAvg(state.range(0)));
  const Bytes& original = OriginalFile();
  Bytes scratch;

  for (auto _ : state) {
    // Thread CPU time, best of three passes: the build machine is shared, and wall time
    // there measures the neighbours (BM_ChunkThroughput also reports CPU time).
    std::vector<size_t> base;
    double seconds = 1e9;
    for (int pass = 0; pass < 3; ++pass) {
      const double start = ThreadCpuSeconds();
      base = ChunkLengths(chunker, original);
      seconds = std::min(seconds, ThreadCpuSeconds() - start);
    }
    state.counters["MB/s"] = kFileBytes / seconds / 1e6;
    state.counters["chunks"] = static_cast<double>(base.size());
    state.counters["mean_KiB"] = static_cast<double>(kFileBytes) / base.size() / kKiB;
    const ChunkIndex index = IndexChunks(original, base);

    // Re-upload cost, in KiB and in chunks (PUT requests).
    std::mt19937_64 rng(5);  // the same positions for every parameter set
    std::uniform_int_distribution<size_t> position(kMiB, kFileBytes - 2 * kMiB);
    std::vector<size_t> positions(kEditSamples);
    for (size_t& p : positions) p = position(rng);
    for (const EditKind& kind : kEdits) {
      ApplyEdit(kind, kFileBytes / 2, scratch);
      const Upload middle = NewChunks(chunker, index, scratch, kind, kFileBytes / 2);
      Upload sum;
      for (size_t p : positions) {
        ApplyEdit(kind, p, scratch);
        const Upload u = NewChunks(chunker, index, scratch, kind, p);
        sum.bytes += u.bytes;
        sum.chunks += u.chunks;
      }
      const std::string name = kind.name;
      state.counters[name + "_mid_KiB"] = middle.bytes / kKiB;
      state.counters[name + "_avg_KiB"] = sum.bytes / kEditSamples / kKiB;
      state.counters[name + "_avg_n"] = sum.chunks / kEditSamples;
    }

    // Corpus model. A file starting at a boundary of `base` is cut exactly where `base` is
    // (Cut looks only forward from a chunk start), so a file of size s has one chunk per base
    // boundary inside it plus its tail: no need to chunk 18 GB of synthetic files.
    const std::vector<size_t>& ends = index.ends;
    std::uniform_real_distribution<double> log_size(std::log(kCorpusMinFile),
                                                    std::log(kCorpusMaxFile));
    std::uniform_int_distribution<size_t> start_index(0, ends.size() / 2);
    double corpus_bytes = 0, corpus_chunks = 0, padded_bytes = 0;
    for (int i = 0; i < kCorpusFiles; ++i) {
      const size_t size = static_cast<size_t>(std::exp(log_size(rng)));
      const size_t file_start = ends[start_index(rng)];
      size_t chunk_start = file_start;
      for (auto it = std::upper_bound(ends.begin(), ends.end(), file_start);
           it != ends.end() && *it < file_start + size; ++it) {
        padded_bytes += static_cast<double>(PadmeLength(*it - chunk_start));
        chunk_start = *it;
        ++corpus_chunks;
      }
      padded_bytes += static_cast<double>(PadmeLength(file_start + size - chunk_start));
      ++corpus_chunks;
      corpus_bytes += static_cast<double>(size);
    }
    state.counters["corpus_chunks"] = corpus_chunks;
    state.counters["manifest_MB"] = corpus_chunks * kManifestBytesPerChunk / 1e6;
    state.counters["padme_%"] = (padded_bytes / corpus_bytes - 1) * 100;
  }
}
BENCHMARK(BM_ChunkParams)
    ->RangeMultiplier(2)
    ->Range(64 * 1024, 1024 * 1024)
    ->Iterations(1)
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace coffer::chunk
