// The sync `.cofferignore` parser and matcher (IgnoreRules in src/client/sync.h). The file is
// written by whoever can write into a synced folder, including another device of a shared
// folder, so its text is untrusted; so are the paths it is matched against (file names).
//
// Input: byte 0 picks a mode (mod 3), then the rules text up to the first NUL byte, then
// NUL-separated relative paths (at most 64); a path ending in '/' is asked as a folder.
//   0 the rules as given   1 the rules + "\n*" (the last rule ignores everything)
//   2 the rules + "\n*\n!*" (the last rule re-includes everything)
// Must never crash or hang. A finding (abort) is also: a refusal other than kInvalidArgument,
// and a path whose answer contradicts the last rule of modes 1 and 2 (gitignore: the last
// matching pattern decides).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "client/sync.h"
#include "fuzz_common.h"

using namespace coffer;
using coffer::fuzz::Finding;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t mode = data[0] % 3;
  std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);
  const size_t nul = rest.find('\0');
  std::string text(rest.substr(0, nul));
  if (mode == 1) text += "\n*";
  if (mode == 2) text += "\n*\n!*";
  auto rules = client::IgnoreRules::Parse(text);
  if (!rules.ok()) {
    if (rules.status().code() != StatusCode::kInvalidArgument)
      Finding("IgnoreRules::Parse refused with a code other than kInvalidArgument:", rules.status().ToString());
    return 0;
  }
  if (nul == std::string_view::npos) return 0;
  rest.remove_prefix(nul + 1);
  for (int n = 0; n < 64 && !rest.empty(); ++n) {
    const size_t end = rest.find('\0');
    std::string_view path = rest.substr(0, end);
    rest.remove_prefix(end == std::string_view::npos ? rest.size() : end + 1);
    const bool is_dir = !path.empty() && path.back() == '/';
    if (is_dir) path.remove_suffix(1);
    if (path.empty()) continue;  // the sync root itself is never matched
    const bool ignored = rules->Ignored(path, is_dir);
    if (mode == 1 && !ignored) Finding("a path is not ignored although the last rule is \"*\"");
    if (mode == 2 && ignored) Finding("a path is ignored although the last rule is \"!*\"");
  }
  return 0;
}
