// Shared by the libFuzzer targets in fuzz/ and by make_seeds.cc. Not part of any library.
#ifndef COFFER_FUZZ_FUZZ_COMMON_H_
#define COFFER_FUZZ_FUZZ_COMMON_H_

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <initializer_list>
#include <string>
#include <vector>

#include "client/formats.h"
#include "util/bytes.h"

namespace coffer::fuzz {

// The account id chain_verify_fuzz passes to VerifyChain; make_seeds.cc builds its seed
// chains for this account so that the seeds get past the account check.
inline client::Id FixedAccountId() {
  client::Id id;
  for (size_t i = 0; i < id.size(); ++i) id[i] = static_cast<uint8_t>(0xA0 + i);
  return id;
}

// A finding: print what and where, then abort so libFuzzer saves the input.
[[noreturn]] inline void Finding(const char* what, const std::string& detail = "") {
  std::fprintf(stderr, "\n==== FUZZ FINDING: %s %s\n", what, detail.c_str());
  std::abort();
}

// Splits `data` into records of `u16 little-endian length || bytes` (the framing
// chain_verify_fuzz uses for a list of chain entries). A truncated last record keeps what
// is there.
inline std::vector<Bytes> SplitU16Records(const uint8_t* data, size_t size, size_t max_records) {
  std::vector<Bytes> out;
  size_t pos = 0;
  while (pos < size && out.size() < max_records) {
    size_t len = data[pos];
    if (pos + 1 < size) len |= static_cast<size_t>(data[pos + 1]) << 8;
    pos += 2;
    if (pos > size) pos = size;
    if (len > size - pos) len = size - pos;
    out.emplace_back(data + pos, data + pos + len);
    pos += len;
  }
  return out;
}

inline Bytes JoinU16Records(const std::vector<Bytes>& records) {
  ByteWriter w;
  for (const Bytes& r : records) {
    w.U16(static_cast<uint16_t>(r.size()));
    w.Raw(r);
  }
  return w.Take();
}

// A scratch directory for targets that need files: tmpfs when available (fsync is free
// there), else $TMPDIR or /tmp.
inline std::string ScratchDir(const char* tag) {
  std::string base = "/dev/shm";
  if (FILE* f = std::fopen("/dev/shm/.coffer-fuzz-probe", "w")) {
    std::fclose(f);
    std::remove("/dev/shm/.coffer-fuzz-probe");
  } else {
    const char* t = std::getenv("TMPDIR");
    base = t && *t ? t : "/tmp";
  }
  std::string tmpl = base + "/coffer-fuzz-" + tag + "-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("mkdtemp");
    std::abort();
  }
  return tmpl;
}

// ---- server_request_fuzz input layout (make_seeds.cc writes seeds in it) ----
//   byte 0  method: kServerMethods[b % size]
//   byte 1  target: kServerTargets[b % size]; each {capture} is filled per byte 3
//   byte 2  flags: bits 0-1 Authorization (0 none, 1 "Bearer <the fuzzer's real session>",
//                  2 "Bearer " + fuzzed, or the fuzzer's staff (admin) session when the
//                  fuzzed string is empty, 3 fuzzed as is); bits 2-3 X-Coffer-Sha256 (0 none,
//                  1 SHA-256 of the body, 2 fuzzed, 3 upper-case SHA-256); bit 4 append
//                  "?" + fuzzed query; bit 5 re-sign a login/account body (time = now, the
//                  fuzzer's device key) and a "grant" field (base64 Grant or grant code:
//                  made the fuzzer's, issued now, signed by its device); bits 6-7 the Content-Length given to Api::Check
//                  (0 body size, 1 unknown, 2 body size + 2^20, 3 2^64-1)
//   byte 3  captures: bits 0-1 the first, bits 2-3 the second: 0 the real id (the session's
//           device, a fixed collection/chunk/pairing id, revision 1), 1 the fuzzed string as
//           is, 2 hex of the fuzzed string padded to the id length, 3 a decimal number
//   then four strings, each u8 length || bytes: capture 1, capture 2, query, authorization
//   the rest is the body
inline constexpr const char* kServerMethods[] = {"GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "get", ""};
inline constexpr const char* kServerTargets[] = {
    "/v1/health",
    "/v1/login/params",
    "/v1/accounts",
    "/v1/sessions",
    "/v1/sessions/current",
    "/v1/account",
    "/v1/account/recovery",
    "/v1/account/login",
    "/v1/devices",
    "/v1/chain",
    "/v1/keys/sealed/{device_id}",
    "/v1/keyring",
    "/v1/collections",
    "/v1/collections/{collection_id}/revisions",
    "/v1/collections/{collection_id}/revisions/{n}",
    "/v1/collections/{collection_id}/checkpoint",
    "/v1/collections/{collection_id}/checkpoint/{n}",
    "/v1/chunks/{chunk_id}",
    "/v1/chunks/missing",
    "/v1/chunks",
    "/v1/gc",
    "/v1/pairing/{pairing_id}",
    "/v1/pairing/{pairing_id}/response",
    "{raw}",  // the first capture is the whole target
    "/v1/{raw}",
    "/v1/chunks/{raw}/{raw}",
    // The staff console's routes (server/staff_api.h), added after the user API's so that
    // the indices above stay what older seeds mean.
    "/v1/staff/login",
    "/v1/staff/logout",
    "/v1/staff/lookup",
    "/v1/staff/lock",
    "/v1/staff/unlock",
    "/v1/staff/reset-login",
    "/v1/staff/metadata",
    "/v1/staff/restore-trash",
    "/v1/support/grants",
    "/v1/support/grants/{grant_id}",
    "/v1/log",
    "/v1/log/global",
    "/v1/account/login-reset",
    // Chunk packs (src/chunk/pack_wire.h): a CFPK body, and the batched fetch.
    "/v1/chunks/pack",
    "/v1/chunks/fetch",
};
inline constexpr size_t kNumServerMethods = sizeof(kServerMethods) / sizeof(kServerMethods[0]);
inline constexpr size_t kNumServerTargets = sizeof(kServerTargets) / sizeof(kServerTargets[0]);

// Fixed ids the fuzzer's account uses, so that seeds can name them.
inline constexpr const char* kFuzzCollectionId = "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf";
inline constexpr const char* kFuzzChunkId =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
inline constexpr const char* kFuzzPairingId = "9a9b9c9d9e9f90919293949596979899";
inline constexpr const char* kFuzzAccountId = "a0a1a2a3a4a5a6a7a8a9aaabacadaeaf";
inline constexpr const char* kFuzzDeviceId = "d0d1d2d3d4d5d6d7d8d9dadbdcdddedf";
inline constexpr const char* kFuzzEmail = "fuzz@example.org";

struct ServerRequestSeed {
  uint8_t method = 0, target = 0, flags = 0, captures = 0;
  std::string cap1, cap2, query, auth;
  Bytes body;
  Bytes Encode() const {
    ByteWriter w;
    w.U8(method);
    w.U8(target);
    w.U8(flags);
    w.U8(captures);
    for (const std::string* s : {&cap1, &cap2, &query, &auth}) {
      w.U8(static_cast<uint8_t>(s->size()));
      w.Raw(std::string_view(*s).substr(0, 255));
    }
    w.Raw(body);
    return w.Take();
  }
};

}  // namespace coffer::fuzz

#endif  // COFFER_FUZZ_FUZZ_COMMON_H_
