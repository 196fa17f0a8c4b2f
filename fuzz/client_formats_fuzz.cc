// Every decoder of src/client/formats.h on arbitrary bytes.
//
// Input: byte 0 selects the decoder (mod the number of decoders), the rest is the encoded
// object. Decoders must never crash; when one accepts, the object is re-encoded and must
// give back exactly the input: every format here is canonical (fixed widths, explicit
// lengths, no optional or ignored bytes), so a difference means a decoder accepts bytes it
// does not account for, and two encodings would then hash and sign differently.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "client/formats.h"
#include "fuzz_common.h"
#include "util/bytes.h"

using namespace coffer;
using namespace coffer::client;

namespace {

enum Decoder : uint8_t {
  kChainEntry,
  kSealedKeyEnvelope,
  kKeyringContents,
  kKeyringBlob,
  kRecoveryBlob,
  kContent,
  kOps,
  kRevisionBlob,
  kCheckpointBlob,
  kChunkContainer,
  kPairingRequest,
  kPairingResponse,
  kNumDecoders,
};

const char* const kNames[kNumDecoders] = {
    "ChainEntry",     "SealedKeyEnvelope", "KeyringContents", "KeyringBlob",
    "RecoveryBlob",   "Content",           "DecodeOps",       "RevisionBlob",
    "CheckpointBlob", "ChunkContainer",    "PairingRequest",  "PairingResponse",
};

void ExpectRoundTrip(Decoder d, ByteView input, const Bytes& reencoded) {
  if (reencoded.size() == input.size() && std::memcmp(reencoded.data(), input.data(), input.size()) == 0)
    return;
  coffer::fuzz::Finding("decode/encode round trip is not byte-identical for",
                        std::string(kNames[d]) + " (input " + std::to_string(input.size()) +
                            " bytes, re-encoded " + std::to_string(reencoded.size()) + " bytes)");
}

// Decodes with T::Decode and, on success, checks the round trip.
template <typename T>
void Check(Decoder d, ByteView in) {
  auto r = T::Decode(in);
  if (!r.ok()) return;
  ExpectRoundTrip(d, in, r->Encode());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const auto d = static_cast<Decoder>(data[0] % kNumDecoders);
  const ByteView in(data + 1, size - 1);
  switch (d) {
    case kChainEntry: {
      auto r = ChainEntry::Decode(in);
      if (!r.ok()) return 0;
      ExpectRoundTrip(d, in, r->Encode());
      // The signed part is a prefix of the encoding (everything but the two signatures).
      const Bytes sp = r->SignedPart();
      if (sp.size() + 128 != in.size() || std::memcmp(sp.data(), in.data(), sp.size()) != 0)
        coffer::fuzz::Finding("ChainEntry::SignedPart is not the encoding minus the signatures");
      break;
    }
    case kSealedKeyEnvelope:
      Check<SealedKeyEnvelope>(d, in);
      break;
    case kKeyringContents: {
      auto r = KeyringContents::Decode(in);
      if (!r.ok()) return 0;
      ExpectRoundTrip(d, in, r->Encode());
      r->Wipe();
      break;
    }
    case kKeyringBlob:
      Check<KeyringBlob>(d, in);
      break;
    case kRecoveryBlob:
      Check<RecoveryBlob>(d, in);
      break;
    case kContent: {
      auto r = Content::Decode(in);
      if (!r.ok()) return 0;
      ExpectRoundTrip(d, in, r->Encode());
      (void)r->Size();
      break;
    }
    case kOps: {
      auto r = DecodeOps(in);
      if (!r.ok()) return 0;
      ExpectRoundTrip(d, in, EncodeOps(*r));
      for (const Op& op : *r) (void)op.content.Size();
      break;
    }
    case kRevisionBlob:
      Check<RevisionBlob>(d, in);
      break;
    case kCheckpointBlob:
      Check<CheckpointBlob>(d, in);
      break;
    case kChunkContainer: {
      auto r = ChunkContainer::Decode(in);
      if (!r.ok()) return 0;
      ExpectRoundTrip(d, in, r->Encode());
      (void)r->Aad(Hash32{});
      break;
    }
    case kPairingRequest: {
      auto r = PairingRequest::Decode(in);
      if (!r.ok()) return 0;
      ExpectRoundTrip(d, in, r->Encode());
      (void)r->MacPart();
      break;
    }
    case kPairingResponse:
      Check<PairingResponse>(d, in);
      break;
    case kNumDecoders:
      break;
  }
  return 0;
}
