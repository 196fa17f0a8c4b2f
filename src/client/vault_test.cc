// OpenAccountKeys against a server that returns damaged or substituted key blobs (R1, R2):
// ten thousand mutated sealed keys and keyrings, each of which must be refused with the one
// error class kSecurity, never accepted, never a crash; plus the named substitutions.
#include "client/vault.h"

#include <gtest/gtest.h>

#include <random>

#include "crypto/box.h"
#include "crypto/secret.h"

namespace coffer::client {
namespace {

// One account with one device, built the way Vault::CreateAccount builds it.
struct Account {
  Id account_id = RandomId();
  DeviceKeys device = DeviceKeys::Generate("laptop");
  UnlockedKeys keys;  // what the keyring holds, identity and account key included
  ChainState chain;
  Bytes sealed_key;
  Bytes keyring;

  Account() {
    keys.identity = Identity::Generate();
    const Identity& identity = keys.identity;
    Bytes genesis = MakeChainEntry(0, Hash32{}, account_id, ChainAction::kGenesis, device.device_id,
                                   device.sign.public_key(), device.box.public_key(), identity.sign, identity);
    auto verified = VerifyChain({genesis}, account_id, HashOf(genesis));
    EXPECT_TRUE(verified.ok()) << verified.status().ToString();
    chain = std::move(*verified);

    keys.account_key = crypto::SecretBytes::Random(32);
    keys.ak_epoch = 1;
    keys.keyring_version = 1;
    keys.recovery_public_key = crypto::BoxKeyPair::Generate().public_key();
    keys.genesis_hash = HashOf(genesis);
    keys.content.emplace(1, ContentEpochKeys{1, crypto::SecretBytes::Random(32), crypto::SecretBytes::Random(32),
                                             crypto::SecretBytes::Random(32)});
    CollectionInfo drive;
    drive.id = RandomId();
    drive.name = "drive";
    drive.kind = "drive";
    drive.keys.emplace(1, crypto::SecretBytes::Random(32));
    keys.collections.emplace(drive.id, std::move(drive));
    keys.device_names[device.device_id] = device.name;
    keyring = SealKeyring(keys, account_id, 1, 1);
    sealed_key = SealFor(device.device_id, device.box.public_key(), identity.sign);
  }

  const crypto::SigningKey& identity_sign() const { return keys.identity.sign; }

  Bytes SealFor(const Id& device_id, ByteView box_pk, const crypto::SigningKey& signer) const {
    SealedKeyEnvelope env;
    env.account_id = account_id;
    env.device_id = device_id;
    env.epoch = 1;
    env.chain_len = 1;
    env.sealed = *crypto::SealToPublicKey(box_pk, keys.account_key.Reveal(crypto::SecretAccess::Get()));
    env.signature = signer.Sign(env.SignedPart());
    return env.Encode();
  }

  StatusOr<std::unique_ptr<UnlockedKeys>> Open(ByteView sealed, ByteView ring) const {
    return OpenAccountKeys(chain, device, account_id, 1, 1, sealed, ring);
  }
};

// One random damage of the kinds a storage fault or an attacker produces.
Bytes Mutate(const Bytes& in, std::mt19937_64& rng) {
  Bytes b = in;
  auto pos = [&](size_t n) { return n == 0 ? 0 : static_cast<size_t>(rng() % n); };
  switch (rng() % 7) {
    case 0:  // one bit
      if (!b.empty()) b[pos(b.size())] ^= static_cast<uint8_t>(1u << (rng() % 8));
      break;
    case 1:  // a few random bytes
      for (int k = 0, n = 1 + static_cast<int>(rng() % 4); k < n && !b.empty(); ++k) {
        b[pos(b.size())] = static_cast<uint8_t>(rng());
      }
      break;
    case 2:  // truncated
      b.resize(pos(b.size()));
      break;
    case 3:  // extended
      for (int k = 0, n = 1 + static_cast<int>(rng() % 64); k < n; ++k) b.push_back(static_cast<uint8_t>(rng()));
      break;
    case 4: {  // a range removed
      const size_t at = pos(b.size());
      const size_t n = std::min<size_t>(b.size() - at, 1 + rng() % 32);
      b.erase(b.begin() + static_cast<std::ptrdiff_t>(at), b.begin() + static_cast<std::ptrdiff_t>(at + n));
      break;
    }
    case 5: {  // bytes inserted
      const size_t at = pos(b.size() + 1);
      Bytes extra(1 + rng() % 16);
      for (auto& x : extra) x = static_cast<uint8_t>(rng());
      b.insert(b.begin() + static_cast<std::ptrdiff_t>(at), extra.begin(), extra.end());
      break;
    }
    default: {  // a length or count field inflated: 4 or 8 bytes of 0xff somewhere
      const size_t width = rng() % 2 ? 4 : 8;
      if (b.size() >= width) std::fill_n(b.begin() + static_cast<std::ptrdiff_t>(pos(b.size() - width + 1)), width, 0xff);
      break;
    }
  }
  return b;
}

class OpenAccountKeysTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(crypto::Init().ok()); }
  Account alice_;
};

TEST_F(OpenAccountKeysTest, TheBlobsAsWrittenOpen) {
  auto keys = alice_.Open(alice_.sealed_key, alice_.keyring);
  ASSERT_TRUE(keys.ok()) << keys.status().ToString();
  EXPECT_EQ((*keys)->ak_epoch, 1u);
  EXPECT_EQ((*keys)->collections.size(), 1u);
  EXPECT_EQ((*keys)->identity.sign.public_key(), alice_.chain.identity_sign_pk);
}

// R2: ten thousand damaged key blobs, one outcome: refused as kSecurity.
TEST_F(OpenAccountKeysTest, TenThousandMutatedKeyBlobsAreAllRefusedTheSameWay) {
  std::mt19937_64 rng(0xC0FFE2);
  int refused = 0, unchanged = 0;
  for (int i = 0; i < 10000; ++i) {
    const bool damage_sealed_key = i % 2 == 0;
    const Bytes& original = damage_sealed_key ? alice_.sealed_key : alice_.keyring;
    Bytes damaged = Mutate(original, rng);
    if (damaged == original) {  // e.g. a byte overwritten with its own value
      ++unchanged;
      continue;
    }
    auto keys = damage_sealed_key ? alice_.Open(damaged, alice_.keyring) : alice_.Open(alice_.sealed_key, damaged);
    ASSERT_FALSE(keys.ok()) << "mutation " << i << " of the " << (damage_sealed_key ? "sealed key" : "keyring")
                            << " was accepted";
    ASSERT_EQ(keys.status().code(), StatusCode::kSecurity) << "mutation " << i << ": " << keys.status().ToString();
    ++refused;
  }
  EXPECT_GT(refused, 9900);
  EXPECT_LT(unchanged, 100);
}

TEST_F(OpenAccountKeysTest, SubstitutedBlobsAreRefused) {
  Account mallory;
  auto expect_refused = [&](ByteView sealed, ByteView ring, const std::string& wording) {
    auto keys = alice_.Open(sealed, ring);
    ASSERT_FALSE(keys.ok());
    EXPECT_EQ(keys.status().code(), StatusCode::kSecurity);
    EXPECT_NE(keys.status().message().find(wording), std::string::npos) << keys.status().message();
  };
  // Another account's blobs, each alone and both together.
  expect_refused(mallory.sealed_key, alice_.keyring, "not signed by the account identity");
  expect_refused(alice_.sealed_key, mallory.keyring, "not signed by the account identity");
  expect_refused(mallory.sealed_key, mallory.keyring, "not signed by the account identity");
  // The account key sealed to a key the server chose, even when signed by a real identity of
  // another account: it names the wrong account and does not open here.
  expect_refused(mallory.SealFor(alice_.device.device_id, alice_.device.box.public_key(), mallory.identity_sign()),
                 alice_.keyring, "not signed by the account identity");
  // Alice's own identity signing an envelope for another device: refused by its device id.
  DeviceKeys other = DeviceKeys::Generate("other");
  expect_refused(alice_.SealFor(other.device_id, other.box.public_key(), alice_.identity_sign()), alice_.keyring,
                 "another account or device");
  // Rollback floors: this device saw epoch 2 and keyring version 2 before.
  auto rolled = OpenAccountKeys(alice_.chain, alice_.device, alice_.account_id, 2, 1, alice_.sealed_key, alice_.keyring);
  ASSERT_FALSE(rolled.ok());
  EXPECT_NE(rolled.status().message().find("rollback"), std::string::npos) << rolled.status().message();
  rolled = OpenAccountKeys(alice_.chain, alice_.device, alice_.account_id, 1, 2, alice_.sealed_key, alice_.keyring);
  ASSERT_FALSE(rolled.ok());
  EXPECT_NE(rolled.status().message().find("rollback"), std::string::npos) << rolled.status().message();
}

}  // namespace
}  // namespace coffer::client
