// Keyed content-defined chunking (FastCDC with normalized chunking) and size padding.
//
// The gear table is derived from a per-account secret, so chunk boundaries depend on the key
// and do not fingerprint content across accounts (R19). Boundaries depend only on the bytes
// and the key, never on how the input was split into reads.
// Thread-safety: a Chunker is immutable after construction; Cut() may be called from several
// threads.
#ifndef COFFER_CHUNK_CHUNKER_H_
#define COFFER_CHUNK_CHUNKER_H_

#include <array>
#include <cstdint>

#include "crypto/secret.h"

namespace coffer::chunk {

struct ChunkerParams {
  uint32_t min_size = 64 * 1024;
  uint32_t avg_size = 256 * 1024;   // must be a power of two
  uint32_t max_size = 1024 * 1024;
};

// Parameters chosen by bench/chunker_bench.cc: min 64 KiB, avg 256 KiB, max 1 MiB. The
// measurements and the reasoning are in bench/CHUNKING.md (see also docs/FORMAT.md §chunking).
ChunkerParams DefaultChunkerParams();

class Chunker {
 public:
  // gear_key: 32 bytes. kInvalidArgument on a bad key or inconsistent params
  // (min < avg < max, avg a power of two, max <= 16 MiB).
  static StatusOr<Chunker> Create(const crypto::SecretBytes& gear_key, ChunkerParams params);

  // Length of the chunk starting at data[0]. `data` must hold at least max_size bytes
  // unless it is the final tail of the stream (at_eof). Returns data.size() if the whole
  // (short) tail is one chunk; never 0 for non-empty input. Every chunk but the last is
  // longer than min_size and at most max_size.
  size_t Cut(ByteView data, bool at_eof) const;

  const ChunkerParams& params() const { return params_; }

 private:
  Chunker() = default;
  ChunkerParams params_;
  uint64_t mask_small_ = 0;  // stricter mask before avg_size
  uint64_t mask_large_ = 0;  // looser mask after avg_size
  std::array<uint64_t, 256> gear_{};
};

// Padmé padding (Nikitin et al., PETS 2019): the padded length for `len`, leaking at most
// O(log log len) bits; overhead at most ~12%.
uint64_t PadmeLength(uint64_t len);

}  // namespace coffer::chunk

#endif  // COFFER_CHUNK_CHUNKER_H_
