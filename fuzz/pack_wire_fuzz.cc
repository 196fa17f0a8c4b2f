// src/chunk/pack_wire.h: the chunk pack (CFPK, parsed by the server from any client) and the
// batched fetch reply (CFFR, parsed by the client from the server).
//
// Input: the first byte picks the parser. For packs, an accepted body must be canonical (the
// writer rebuilds it byte for byte from what the parser returned) and every entry's offset
// must point at its bytes. For fetch replies, the expected ids are taken from the body itself
// (so matching replies are reachable) or flipped (so the id check must refuse), and an
// accepted reply must re-encode to the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "chunk/pack_wire.h"
#include "fuzz_common.h"

using namespace coffer;
using coffer::fuzz::Finding;

namespace {

void FuzzPack(ByteView body) {
  auto entries = chunk::ParsePack(body);
  if (!entries.ok()) return;
  chunk::PackWriter w;
  for (const auto& e : *entries) {
    if (e.offset > body.size() || e.data.size() > body.size() - e.offset ||
        e.data.data() != body.data() + e.offset) {
      Finding("ParsePack returned an entry whose offset does not point at its bytes");
    }
    w.Add(e.id, e.sha256, e.data);
  }
  const Bytes again = w.Finish();
  if (again.size() != body.size() || !std::equal(again.begin(), again.end(), body.begin())) {
    Finding("ParsePack accepted a body the writer does not reproduce", "input hex " + HexEncode(body));
  }
}

void FuzzFetch(ByteView body, bool flip) {
  // Ids as they appear in a well-formed reply; the parser itself is what decides.
  std::vector<chunk::RawId> ids;
  size_t pos = chunk::kPackHeaderBytes;
  while (ids.size() < chunk::kPackMaxChunks && pos + chunk::kFetchEntryOverhead <= body.size()) {
    chunk::RawId id;
    std::copy(body.begin() + pos, body.begin() + pos + id.size(), id.begin());
    const uint32_t len = static_cast<uint32_t>(body[pos + 32]) | static_cast<uint32_t>(body[pos + 33]) << 8 |
                         static_cast<uint32_t>(body[pos + 34]) << 16 | static_cast<uint32_t>(body[pos + 35]) << 24;
    ids.push_back(id);
    if (len > body.size()) break;
    pos += chunk::kFetchEntryOverhead + len;
  }
  if (flip && !ids.empty()) ids.back()[0] ^= 1;
  auto parts = chunk::ParseFetchReply(body, ids);
  if (!parts.ok()) return;
  if (flip) Finding("ParseFetchReply accepted a reply naming a chunk that was not asked for");
  chunk::FetchReplyWriter w;
  for (size_t i = 0; i < parts->size(); ++i) w.Add(ids[i], (*parts)[i]);
  const Bytes again = w.Finish();
  if (again.size() != body.size() || !std::equal(again.begin(), again.end(), body.begin())) {
    Finding("ParseFetchReply accepted a body the writer does not reproduce", "input hex " + HexEncode(body));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t mode = data[0];
  const ByteView body(data + 1, size - 1);
  switch (mode % 3) {
    case 0: FuzzPack(body); break;
    case 1: FuzzFetch(body, false); break;
    default: FuzzFetch(body, true); break;
  }
  return 0;
}
