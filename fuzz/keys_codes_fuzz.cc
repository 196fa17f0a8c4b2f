// The human-typed secrets (recovery key, pairing code) and the device key file.
//
// Input: byte 0 selects the parser (mod 3), the rest is its input:
//   0  ParseRecoveryKey(text)   1  ParsePairingCode(text)   2  DeviceKeys::Load(file)
// Accepted codes must format back to the same characters (after the documented
// normalisation: separators dropped, upper case, 0->O 1->I 8->B) and parse again to the same
// secret; an accepted key file must save back to the same bytes.
#include <fcntl.h>
#include <unistd.h>

#include <cctype>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "client/keys.h"
#include "crypto/secret.h"
#include "fuzz_common.h"

using namespace coffer;
using namespace coffer::client;

namespace {

std::string g_dir;

void RemoveScratch() {
  std::error_code ec;
  std::filesystem::remove_all(g_dir, ec);
}

std::string Normalize(std::string_view text) {
  std::string out;
  for (char ch : text) {
    if (ch == '-' || ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r') continue;
    char c = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
    if (c == '0') c = 'O';
    if (c == '1') c = 'I';
    if (c == '8') c = 'B';
    out.push_back(c);
  }
  return out;
}

std::string WithoutDashes(const std::string& s) {
  std::string out;
  for (char c : s)
    if (c != '-') out.push_back(c);
  return out;
}

template <typename Parse, typename Format>
void CheckCode(const char* what, std::string_view text, Parse parse, Format format) {
  auto key = parse(text);
  if (!key.ok()) {
    if (key.status().code() != StatusCode::kInvalidArgument)
      coffer::fuzz::Finding(what,
                            "failed with a code other than kInvalidArgument: " + key.status().ToString());
    return;
  }
  const std::string formatted = format(*key);
  if (WithoutDashes(formatted) != Normalize(text))
    coffer::fuzz::Finding(what, "accepted text that does not format back to the same characters");
  auto again = parse(formatted);
  if (!again.ok() || !(*again == *key))
    coffer::fuzz::Finding(what, "formatted code does not parse to the same secret");
}

void CheckDeviceKeyFile(const uint8_t* data, size_t size) {
  const std::string path = g_dir + "/device.key";
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) coffer::fuzz::Finding("cannot write the scratch key file", path);
  if (size > 0 && ::write(fd, data, size) != static_cast<ssize_t>(size))
    coffer::fuzz::Finding("short write", path);
  ::close(fd);

  auto keys = DeviceKeys::Load(path);
  if (!keys.ok()) return;
  const std::string saved = g_dir + "/saved.key";
  if (Status st = keys->Save(saved); !st.ok())
    coffer::fuzz::Finding("DeviceKeys::Save failed:", st.ToString());
  std::ifstream in(saved, std::ios::binary);
  const std::string back((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (back.size() != size || back.compare(0, size, reinterpret_cast<const char*>(data), size) != 0)
    coffer::fuzz::Finding("DeviceKeys::Load accepted a file that does not save back to the same bytes");
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  if (!crypto::Init().ok()) coffer::fuzz::Finding("crypto::Init failed");
  g_dir = coffer::fuzz::ScratchDir("keys");
  std::atexit(RemoveScratch);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t which = data[0] % 3;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (which) {
    case 0:
      CheckCode("ParseRecoveryKey", text, ParseRecoveryKey,
                [](const crypto::SecretBytes& k) { return FormatRecoveryKey(k); });
      break;
    case 1:
      CheckCode("ParsePairingCode", text, ParsePairingCode,
                [](const crypto::SecretBytes& k) { return FormatPairingCode(k); });
      break;
    case 2:
      CheckDeviceKeyFile(data + 1, size - 1);
      break;
  }
  return 0;
}
