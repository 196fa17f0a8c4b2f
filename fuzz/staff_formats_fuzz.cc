// The support console's formats (docs/FORMAT.md §16, src/staff/formats/staff_formats.h):
// what the server reads back from its log store and from a pasted grant code, and what
// `coffer audit` reads from the server.
//
// Input: byte 0 selects the parser (mod 4), the rest is its input:
//   0  Grant::Decode          1  LogEntry::Decode       2  GlobalLogEntry::Decode
//   3  ParseGrantCode(text)
// All three byte formats are canonical, so an accepted object must re-encode to exactly the
// input; a refusal must be kDataLoss (decoders) or kInvalidArgument (the grant code, whose
// messages are shown to staff). An accepted grant code must be the formatted code of the
// grant it holds (whitespace aside), and the grant's signature check must refuse cleanly
// with kSecurity under a key that did not sign it.
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "crypto/secret.h"
#include "crypto/sign.h"
#include "fuzz_common.h"
#include "staff/formats/staff_formats.h"

using namespace coffer;
using namespace coffer::staff;

namespace {

// A key that signs nothing the fuzzer can produce (its seed is fixed, its signatures are
// never in the input): every grant signature check against it must fail with kSecurity.
const crypto::SigningKey& UnrelatedKey() {
  static const crypto::SigningKey key = [] {
    Bytes seed(32, 0x5a);
    auto k = crypto::SigningKey::FromSeed(crypto::SecretBytes::FromBytes(seed));
    if (!k.ok()) coffer::fuzz::Finding("SigningKey::FromSeed failed");
    return std::move(*k);
  }();
  return key;
}

void ExpectRefusal(const char* what, const Status& status, StatusCode expected) {
  if (status.code() != expected) {
    coffer::fuzz::Finding(what, "refused with an unexpected code: " + status.ToString());
  }
  if (status.message().empty()) coffer::fuzz::Finding(what, "refused without a message");
}

void CheckGrantSignatureRefused(const Grant& grant) {
  const Status st = VerifyGrantSignature(grant, UnrelatedKey().public_key());
  if (st.code() != StatusCode::kSecurity) {
    coffer::fuzz::Finding("VerifyGrantSignature", "a signature by an unrelated key was not refused with kSecurity: " +
                                                      st.ToString());
  }
}

void FuzzGrant(ByteView input) {
  auto grant = Grant::Decode(input);
  if (!grant.ok()) return ExpectRefusal("Grant::Decode", grant.status(), StatusCode::kDataLoss);
  if (grant->Encode() != Bytes(input.begin(), input.end())) {
    coffer::fuzz::Finding("Grant::Decode", "accepted bytes that do not re-encode to the input");
  }
  if (grant->note.size() > kMaxGrantNote) coffer::fuzz::Finding("Grant::Decode", "accepted an oversized note");
  CheckGrantSignatureRefused(*grant);
}

template <typename Entry>
void FuzzSignedEntry(const char* what, ByteView input) {
  Bytes signature;
  auto entry = Entry::Decode(input, &signature);
  if (!entry.ok()) return ExpectRefusal(what, entry.status(), StatusCode::kDataLoss);
  Bytes again = entry->SignedPart();
  again.insert(again.end(), signature.begin(), signature.end());
  if (again != Bytes(input.begin(), input.end())) {
    coffer::fuzz::Finding(what, "accepted bytes that do not re-encode to the input");
  }
  // Decoding without asking for the signature accepts the same bytes.
  if (!Entry::Decode(input, nullptr).ok()) coffer::fuzz::Finding(what, "decode depends on the signature pointer");
}

void CheckLogEntryFields(ByteView input) {
  auto entry = LogEntry::Decode(input, nullptr);
  if (!entry.ok()) return;
  if (entry->actor_id.size() > kMaxActorField || entry->actor_name.size() > kMaxActorField ||
      entry->role.size() > kMaxRoleField || entry->action.size() > kMaxActionField ||
      entry->reason.size() > kMaxReasonField || entry->detail.size() > kMaxDetailField) {
    coffer::fuzz::Finding("LogEntry::Decode", "accepted a field above its documented bound");
  }
  (void)OutcomeName(entry->outcome);
}

void FuzzGrantCode(std::string_view text) {
  auto grant = ParseGrantCode(text);
  if (!grant.ok()) return ExpectRefusal("ParseGrantCode", grant.status(), StatusCode::kInvalidArgument);
  std::string compact;
  for (char c : text) {
    if (!std::isspace(static_cast<unsigned char>(c))) compact.push_back(c);
  }
  const std::string formatted = FormatGrantCode(*grant);
  if (formatted != compact) {
    coffer::fuzz::Finding("ParseGrantCode", "accepted a code that is not the formatted code of its grant");
  }
  auto again = ParseGrantCode(formatted);
  if (!again.ok() || again->Encode() != grant->Encode()) {
    coffer::fuzz::Finding("ParseGrantCode", "the formatted code does not parse to the same grant");
  }
  CheckGrantSignatureRefused(*grant);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!crypto::Init().ok()) coffer::fuzz::Finding("crypto::Init failed");
  (void)UnrelatedKey();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const ByteView input(data + 1, size - 1);
  switch (data[0] % 4) {
    case 0:
      FuzzGrant(input);
      break;
    case 1:
      FuzzSignedEntry<LogEntry>("LogEntry::Decode", input);
      CheckLogEntryFields(input);
      break;
    case 2:
      FuzzSignedEntry<GlobalLogEntry>("GlobalLogEntry::Decode", input);
      break;
    case 3:
      FuzzGrantCode(std::string_view(reinterpret_cast<const char*>(input.data()), input.size()));
      break;
  }
  return 0;
}
