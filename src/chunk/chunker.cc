#include "chunk/chunker.h"

#include <sodium.h>

#include <algorithm>
#include <bit>
#include <cassert>
#include <limits>
#include <string>

namespace coffer::chunk {
namespace {

constexpr size_t kGearKeyBytes = 32;
constexpr uint32_t kMaxChunkLimit = 16 * 1024 * 1024;  // the server's chunk body limit

// Normalized chunking level 2 (FastCDC, Xia et al. 2016): the mask before avg_size has two
// more 1-bits than log2(avg_size), the mask after it two fewer. This is the paper's
// recommended level: it narrows the size distribution (few chunks near min or max, so few
// forced cuts that would not resynchronise) while deduplicating about as well as plain CDC.
constexpr int kNormalizationLevel = 2;

// Bit k of the gear hash depends on the last k+1 bytes only: `h << 1` pushes older bytes out
// at the top. With a mask of low bits every cut would depend on the last few bytes only, so a
// short pattern repeated in low-entropy data would decide all cuts. Like the paper's masks,
// ours spread their 1-bits evenly over the upper 48 bits: each cut sees 17..64 bytes.
constexpr int kMaskLowestBit = 16;
constexpr int kMaskSpan = 64 - kMaskLowestBit;

uint64_t SpreadMask(int bits) {
  assert(bits >= 1 && bits <= kMaskSpan);
  uint64_t mask = 0;
  for (int k = 0; k < bits; ++k) {
    // Distinct because bits <= kMaskSpan; the top bit (the widest window) is always used.
    mask |= uint64_t{1} << (63 - (k * kMaskSpan) / bits);
  }
  return mask;
}

// Scans data[begin, end) with the gear hash and returns the length of the chunk ending at the
// first position whose hash has all `mask` bits clear, or 0 if there is none (a real cut is
// never 0; `end` itself would be ambiguous with a cut on the last byte).
//
// Per byte: one table load, one shift-add (a single `lea`) and one test-and-branch; no
// bounds checks, since Cut() has clamped `end` to the data. The shift-add chain, one cycle per
// byte, is the limit: unrolling by 8 by hand measured no faster (~4 GB/s either way).
inline size_t ScanForCut(const uint8_t* data, size_t begin, size_t end, uint64_t mask,
                         const uint64_t* gear, uint64_t& hash) {
  uint64_t h = hash;
  for (size_t i = begin; i < end; ++i) {
    h = (h << 1) + gear[data[i]];
    if ((h & mask) == 0) [[unlikely]] {
      hash = h;
      return i + 1;
    }
  }
  hash = h;
  return 0;
}

}  // namespace

ChunkerParams DefaultChunkerParams() {
  // Chosen by bench/chunker_bench.cc; the measurements are in bench/CHUNKING.md.
  return ChunkerParams{.min_size = 64 * 1024, .avg_size = 256 * 1024, .max_size = 1024 * 1024};
}

StatusOr<Chunker> Chunker::Create(const crypto::SecretBytes& gear_key, ChunkerParams params) {
  if (gear_key.size() != kGearKeyBytes) {
    return InvalidArgumentError("chunker: gear key must be 32 bytes, got " +
                                std::to_string(gear_key.size()));
  }
  if (!(params.min_size < params.avg_size && params.avg_size < params.max_size)) {
    return InvalidArgumentError("chunker: need min_size < avg_size < max_size");
  }
  if (!std::has_single_bit(params.avg_size)) {
    return InvalidArgumentError("chunker: avg_size must be a power of two");
  }
  if (params.max_size > kMaxChunkLimit) {
    return InvalidArgumentError("chunker: max_size must be at most 16 MiB");
  }
  COFFER_RETURN_IF_ERROR(crypto::Init());

  Chunker chunker;
  chunker.params_ = params;
  const int bits = std::countr_zero(params.avg_size);  // log2(avg_size), at most 23
  // For tiny averages the loose mask would have no bits left; one bit keeps it a real test.
  chunker.mask_small_ = SpreadMask(bits + kNormalizationLevel);
  chunker.mask_large_ = SpreadMask(std::max(bits - kNormalizationLevel, 1));

  // The gear table is the keystream of ChaCha20 seeded with the key
  // (randombytes_buf_deterministic), read as little-endian u64s so that every client, on any
  // architecture, cuts the same bytes at the same places (dedup across a user's devices).
  static_assert(kGearKeyBytes == randombytes_SEEDBYTES);
  uint8_t stream[256 * sizeof(uint64_t)];
  randombytes_buf_deterministic(stream, sizeof(stream),
                                gear_key.Reveal(crypto::SecretAccess::Get()).data());
  for (size_t i = 0; i < chunker.gear_.size(); ++i) {
    uint64_t v = 0;
    for (int b = 7; b >= 0; --b) v = (v << 8) | stream[i * 8 + b];
    chunker.gear_[i] = v;
  }
  sodium_memzero(stream, sizeof(stream));
  return chunker;
}

size_t Chunker::Cut(ByteView data, bool at_eof) const {
  // A short buffer that is not the tail would give a boundary that depends on read sizes.
  assert(at_eof || data.size() >= params_.max_size);
  (void)at_eof;  // Only the assertion needs it: beyond max_size nothing is ever read.

  size_t n = data.size();
  if (n <= params_.min_size) return n;
  if (n > params_.max_size) n = params_.max_size;
  // FastCDC with normalized chunking: no hashing in the first min_size bytes (a cut there is
  // forbidden anyway, and skipping them is most of FastCDC's speed-up), the strict mask up to
  // avg_size, the loose one after it, a forced cut at max_size. As in the paper the hash
  // starts from 0 at min_size: warming it up on earlier bytes would cost time and change
  // nothing that matters (cuts before min_size + 64 just see a shorter window).
  const size_t normal = std::min<size_t>(n, params_.avg_size);
  uint64_t h = 0;
  size_t cut = ScanForCut(data.data(), params_.min_size, normal, mask_small_, gear_.data(), h);
  if (cut != 0) return cut;
  cut = ScanForCut(data.data(), normal, n, mask_large_, gear_.data(), h);
  return cut != 0 ? cut : n;
}

uint64_t PadmeLength(uint64_t len) {
  // Padmé is undefined (log2 of 0) or trivial below 2.
  if (len < 2) return len;
  const int e = std::bit_width(len) - 1;  // floor(log2 len), >= 1
  const int s = std::bit_width(static_cast<uint64_t>(e));  // floor(log2 e) + 1
  const int last_bits = e - s;  // at most 63 - 6 = 57
  const uint64_t bit_mask = (uint64_t{1} << last_bits) - 1;
  // (len + bit_mask) & ~bit_mask, rewritten so that the sum cannot wrap for len near 2^64.
  const uint64_t padded_minus_one = (len - 1) | bit_mask;
  if (padded_minus_one == std::numeric_limits<uint64_t>::max()) {
    // The padded length would be 2^64: unreachable for real data (above 2^64 - 2^57);
    // saturate rather than wrap so that the result stays >= len.
    return std::numeric_limits<uint64_t>::max();
  }
  return padded_minus_one + 1;
}

}  // namespace coffer::chunk
