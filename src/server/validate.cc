#include "server/validate.h"

#include <arpa/inet.h>

#include <algorithm>

#include <charconv>
#include <limits>

namespace coffer::server {
namespace {

using nlohmann::json;

constexpr int kMaxJsonDepth = 16;

std::string TypeName(const json& v) {
  if (v.is_number_integer()) return "integer";
  if (v.is_number_float()) return "number with a fraction";
  return v.type_name();  // "string", "object", "array", "boolean", "null"
}

// Thrown from the parser callback to abort parsing of a too-deep document; caught in
// ParseJsonObject. nlohmann's parser is iterative, but a deep document still costs memory
// and nothing legitimate nests that deep.
struct TooDeep {};

}  // namespace

bool IsLowerHex(std::string_view s, size_t len) {
  if (s.size() != len) return false;
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

Status CheckHexId(std::string_view value, size_t len, std::string_view what) {
  if (IsLowerHex(value, len)) return OkStatus();
  return InvalidArgumentError(std::string(what) + " must be " + std::to_string(len) +
                              " lowercase hex characters (got " + std::to_string(value.size()) +
                              " characters" + (value.size() == len ? " that are not all [0-9a-f])" : ")"));
}

StatusOr<std::string> NormalizeEmail(std::string_view email) {
  if (email.size() < 3 || email.size() > 254) {
    return InvalidArgumentError("email must be 3 to 254 characters long (got " +
                                std::to_string(email.size()) + ")");
  }
  std::string out;
  out.reserve(email.size());
  size_t ats = 0;
  for (unsigned char c : email) {
    if (c <= 0x20 || c == 0x7f) {
      return InvalidArgumentError("email must not contain spaces or control characters");
    }
    if (c == '@') ++ats;
    out.push_back((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c));
  }
  if (ats != 1 || out.front() == '@' || out.back() == '@') {
    return InvalidArgumentError("email must look like name@domain (exactly one '@' with text on both sides)");
  }
  return out;
}

StatusOr<json> ParseJsonObject(ByteView body) {
  if (body.empty()) return InvalidArgumentError("request body is empty; expected a JSON object");
  json value;
  try {
    json::parser_callback_t cb = [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxJsonDepth) throw TooDeep{};
      return true;
    };
    value = json::parse(body.begin(), body.end(), cb, /*allow_exceptions=*/true);
  } catch (const TooDeep&) {
    return InvalidArgumentError("request body nests JSON deeper than " + std::to_string(kMaxJsonDepth) +
                                " levels");
  } catch (const json::exception& e) {
    // e.what() names the byte position and the token; it never contains more than a few
    // bytes of the input.
    return InvalidArgumentError(std::string("request body is not valid JSON: ") + e.what());
  }
  if (!value.is_object()) {
    return InvalidArgumentError("request body must be a JSON object, got " + TypeName(value));
  }
  return value;
}

bool JsonFields::Has(std::string_view name) const {
  auto it = object_.find(name);
  return it != object_.end() && !it->is_null();
}

StatusOr<const json*> JsonFields::Required(std::string_view name) const {
  auto it = object_.find(name);
  if (it == object_.end() || it->is_null()) {
    return InvalidArgumentError("missing field \"" + Path(name) + "\"");
  }
  return &*it;
}

StatusOr<JsonFields> JsonFields::Object(std::string_view name) const {
  COFFER_ASSIGN_OR_RETURN(const json* v, Required(name));
  if (!v->is_object()) {
    return InvalidArgumentError("field \"" + Path(name) + "\" must be an object, got " + TypeName(*v));
  }
  return JsonFields(*v, Path(name) + ".");
}

StatusOr<std::string> JsonFields::String(std::string_view name, size_t min_len, size_t max_len) const {
  COFFER_ASSIGN_OR_RETURN(const json* v, Required(name));
  if (!v->is_string()) {
    return InvalidArgumentError("field \"" + Path(name) + "\" must be a string, got " + TypeName(*v));
  }
  const std::string& s = v->get_ref<const std::string&>();
  if (s.size() < min_len || s.size() > max_len) {
    return InvalidArgumentError("field \"" + Path(name) + "\" must be " + std::to_string(min_len) + ".." +
                                std::to_string(max_len) + " bytes long (got " + std::to_string(s.size()) +
                                ")");
  }
  return s;
}

StatusOr<Bytes> JsonFields::Base64(std::string_view name, size_t min_len, size_t max_len) const {
  COFFER_ASSIGN_OR_RETURN(const json* v, Required(name));
  const std::string expected =
      min_len == max_len ? "base64 of " + std::to_string(min_len) + " bytes"
                         : "base64 of " + std::to_string(min_len) + ".." + std::to_string(max_len) + " bytes";
  if (!v->is_string()) {
    return InvalidArgumentError("field \"" + Path(name) + "\" must be a string with " + expected + ", got " +
                                TypeName(*v));
  }
  const std::string& s = v->get_ref<const std::string&>();
  // Bound the work before decoding: base64 is 4 characters per 3 bytes.
  if (s.size() / 4 * 3 > max_len + 3) {
    return InvalidArgumentError("field \"" + Path(name) + "\": expected " + expected + ", got about " +
                                std::to_string(s.size() / 4 * 3) + " bytes");
  }
  auto decoded = Base64Decode(s);
  if (!decoded.ok() || (s.size() % 4) != 0) {
    return InvalidArgumentError("field \"" + Path(name) + "\" is not standard base64 with padding");
  }
  if (decoded->size() < min_len || decoded->size() > max_len) {
    return InvalidArgumentError("field \"" + Path(name) + "\": expected " + expected + ", got " +
                                std::to_string(decoded->size()) + " bytes");
  }
  return std::move(decoded).value();
}

StatusOr<uint64_t> JsonFields::Uint(std::string_view name, uint64_t min, uint64_t max) const {
  COFFER_ASSIGN_OR_RETURN(const json* v, Required(name));
  const std::string range = " in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (v->is_number_unsigned()) {
    uint64_t x = v->get<uint64_t>();
    if (x >= min && x <= max) return x;
    return InvalidArgumentError("field \"" + Path(name) + "\" must be an integer" + range + " (got " +
                                std::to_string(x) + ")");
  }
  if (v->is_number_integer()) {  // negative
    return InvalidArgumentError("field \"" + Path(name) + "\" must be an integer" + range + " (got " +
                                std::to_string(v->get<int64_t>()) + ")");
  }
  return InvalidArgumentError("field \"" + Path(name) + "\" must be an integer" + range + ", got " +
                              TypeName(*v));
}

StatusOr<int64_t> JsonFields::Int(std::string_view name, int64_t min, int64_t max) const {
  COFFER_ASSIGN_OR_RETURN(const json* v, Required(name));
  const std::string range = " in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (v->is_number_integer()) {
    if (v->is_number_unsigned() && v->get<uint64_t>() > static_cast<uint64_t>(max)) {
      return InvalidArgumentError("field \"" + Path(name) + "\" must be an integer" + range);
    }
    int64_t x = v->get<int64_t>();
    if (x >= min && x <= max) return x;
    return InvalidArgumentError("field \"" + Path(name) + "\" must be an integer" + range + " (got " +
                                std::to_string(x) + ")");
  }
  return InvalidArgumentError("field \"" + Path(name) + "\" must be an integer" + range + ", got " +
                              TypeName(*v));
}

StatusOr<std::string> JsonFields::HexId(std::string_view name, size_t len) const {
  COFFER_ASSIGN_OR_RETURN(const json* v, Required(name));
  if (!v->is_string()) {
    return InvalidArgumentError("field \"" + Path(name) + "\" must be a string of " + std::to_string(len) +
                                " lowercase hex characters, got " + TypeName(*v));
  }
  const std::string& s = v->get_ref<const std::string&>();
  COFFER_RETURN_IF_ERROR(CheckHexId(s, len, "field \"" + Path(name) + "\""));
  return s;
}

StatusOr<std::vector<std::string>> JsonFields::HexIdArray(std::string_view name, size_t len,
                                                          size_t max_count) const {
  COFFER_ASSIGN_OR_RETURN(const json* v, Required(name));
  if (!v->is_array()) {
    return InvalidArgumentError("field \"" + Path(name) + "\" must be an array of ids, got " + TypeName(*v));
  }
  if (v->size() > max_count) {
    return InvalidArgumentError("field \"" + Path(name) + "\" has " + std::to_string(v->size()) +
                                " ids; at most " + std::to_string(max_count) + " are allowed per request");
  }
  std::vector<std::string> out;
  out.reserve(v->size());
  for (size_t i = 0; i < v->size(); ++i) {
    const json& item = (*v)[i];
    const std::string what = "\"" + Path(name) + "[" + std::to_string(i) + "]\"";
    if (!item.is_string()) {
      return InvalidArgumentError(what + " must be a string of " + std::to_string(len) +
                                  " lowercase hex characters, got " + TypeName(item));
    }
    const std::string& s = item.get_ref<const std::string&>();
    COFFER_RETURN_IF_ERROR(CheckHexId(s, len, what));
    out.push_back(s);
  }
  return out;
}

StatusOr<std::map<std::string, std::string>> ParseQuery(std::string_view query,
                                                        const std::vector<std::string_view>& allowed) {
  std::map<std::string, std::string> out;
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    std::string_view name = part.substr(0, eq);
    std::string_view value = eq == std::string_view::npos ? std::string_view() : part.substr(eq + 1);
    if (name.empty()) return InvalidArgumentError("query has a parameter without a name");
    bool known = false;
    for (std::string_view a : allowed) known = known || a == name;
    if (!known) {
      std::string list;
      for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
      return InvalidArgumentError("unknown query parameter \"" + std::string(name.substr(0, 64)) + "\"" +
                                  (list.empty() ? "; this endpoint takes none" : "; allowed: " + list));
    }
    if (!out.emplace(std::string(name), std::string(value)).second) {
      return InvalidArgumentError("query parameter \"" + std::string(name) + "\" is repeated");
    }
  }
  return out;
}

StatusOr<uint64_t> ParseUint(std::string_view value, std::string_view what, uint64_t min, uint64_t max) {
  uint64_t x = 0;
  auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), x);
  const std::string range = " in [" + std::to_string(min) + ", " + std::to_string(max) + "]";
  if (value.empty() || value.size() > 20 || ec != std::errc() || ptr != value.data() + value.size()) {
    return InvalidArgumentError(std::string(what) + " must be a decimal integer" + range);
  }
  if (x < min || x > max) {
    return InvalidArgumentError(std::string(what) + " must be" + range + " (got " + std::to_string(x) + ")");
  }
  return x;
}

}  // namespace coffer::server

namespace coffer::server {

std::string ClientAddress(const std::string& peer, std::string_view forwarded,
                          const std::vector<std::string>& trusted_proxies) {
  if (forwarded.empty() || std::find(trusted_proxies.begin(), trusted_proxies.end(), peer) == trusted_proxies.end()) {
    return peer;
  }
  // The balancer appends the address it saw; earlier entries are whatever the client sent.
  const size_t comma = forwarded.rfind(',');
  std::string_view last = comma == std::string_view::npos ? forwarded : forwarded.substr(comma + 1);
  while (!last.empty() && (last.front() == ' ' || last.front() == '\t')) last.remove_prefix(1);
  while (!last.empty() && (last.back() == ' ' || last.back() == '\t')) last.remove_suffix(1);
  if (last.empty() || last.size() > 64) return peer;
  const std::string text(last);
  in_addr v4;
  in6_addr v6;
  if (::inet_pton(AF_INET, text.c_str(), &v4) == 1 || ::inet_pton(AF_INET6, text.c_str(), &v6) == 1) return text;
  return peer;
}

}  // namespace coffer::server
