// VerifyChain (and CheckChainExtends) on arbitrary lists of device chain entries.
//
// Input: records of `u16 little-endian length || entry bytes` (fuzz_common.h). The account
// id is fixed (FixedAccountId) and the pinned genesis is the hash of the first record, so a
// seed chain built by make_seeds.cc verifies and the fuzzer can reorder, drop, duplicate
// and corrupt its entries. Must never crash; a chain that verifies must also satisfy the
// invariants below.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "client/keys.h"
#include "crypto/secret.h"
#include "fuzz_common.h"

using namespace coffer;
using namespace coffer::client;

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!crypto::Init().ok()) coffer::fuzz::Finding("crypto::Init failed");
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::vector<Bytes> entries = coffer::fuzz::SplitU16Records(data, size, 64);
  const Id account = coffer::fuzz::FixedAccountId();
  const Hash32 pinned = entries.empty() ? Hash32{} : HashOf(entries[0]);

  auto st = VerifyChain(entries, account, pinned);
  if (st.ok()) {
    if (st->length != entries.size())
      coffer::fuzz::Finding("verified chain length differs from the entry count");
    if (st->genesis_hash != pinned)
      coffer::fuzz::Finding("verified chain has another genesis than the pinned one");
    if (st->head_hash != HashOf(entries.back()))
      coffer::fuzz::Finding("verified chain head is not the last entry");
    if (st->account_id != account) coffer::fuzz::Finding("verified chain has another account id");
    for (const auto& [id, dev] : st->devices) {
      if (dev.device_id != id) coffer::fuzz::Finding("device map key differs from the device id");
      if (dev.added_at_seq >= entries.size())
        coffer::fuzz::Finding("device added after the end of the chain");
      if (dev.revoked_at_seq && *dev.revoked_at_seq <= dev.added_at_seq)
        coffer::fuzz::Finding("device revoked before it was added");
      (void)dev.ActiveAt(st->length);
    }
  } else if (st.status().code() != StatusCode::kSecurity) {
    coffer::fuzz::Finding("VerifyChain failed with a code other than kSecurity:", st.status().ToString());
  }

  // Rollback/fork detection against every prefix of what was given, including lengths past
  // the end (rollback) and a head that does not match (fork).
  if (!entries.empty()) {
    const uint64_t seen_len = data[0] % (entries.size() + 2);
    const Hash32 seen_head =
        seen_len >= 1 && seen_len <= entries.size() ? HashOf(entries[seen_len - 1]) : pinned;
    Status ext = CheckChainExtends(entries, seen_len, seen_head);
    if (seen_len >= 1 && seen_len <= entries.size() && !ext.ok())
      coffer::fuzz::Finding("CheckChainExtends refused a chain that extends what was seen:", ext.ToString());
    if (seen_len > entries.size() && ext.ok()) coffer::fuzz::Finding("CheckChainExtends accepted a rollback");
  }
  return 0;
}
