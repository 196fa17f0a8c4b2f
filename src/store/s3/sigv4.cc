#include "store/s3/sigv4.h"

#include <algorithm>
#include <ctime>
#include <map>

#include "crypto/hash.h"

namespace coffer::store::s3 {
namespace {

constexpr std::string_view kAlgorithm = "AWS4-HMAC-SHA256";

bool IsUnreserved(unsigned char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' ||
         c == '_' || c == '~';
}

std::string Lowercase(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

// SigV4's Trimall: no leading or trailing white space, inner runs collapse to one space.
std::string TrimAll(std::string_view v) {
  std::string out;
  bool pending_space = false;
  for (char c : v) {
    if (IsSpace(c)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out += ' ';
    pending_space = false;
    out += c;
  }
  return out;
}

// RFC 3986 §5.2.4 dot-segment removal plus collapsing of empty segments, as the generic
// (non-S3) AWS services canonicalise a path.
std::string NormalizePath(std::string_view path) {
  std::vector<std::string_view> segments;
  size_t pos = 0;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view segment = path.substr(pos, slash - pos);
    if (segment == "..") {
      if (!segments.empty()) segments.pop_back();
    } else if (!segment.empty() && segment != ".") {
      segments.push_back(segment);
    }
    pos = slash + 1;
  }
  std::string out;
  for (std::string_view s : segments) {
    out += '/';
    out += s;
  }
  const bool trailing_slash = path.ends_with('/') && !segments.empty();
  if (out.empty() || trailing_slash) out += '/';
  return out;
}

std::string FormatUtc(std::chrono::system_clock::time_point t, const char* format) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[32];
  const size_t n = std::strftime(buffer, sizeof(buffer), format, &utc);
  return std::string(buffer, n);
}

}  // namespace

std::string UriEncode(std::string_view s, bool keep_slash) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    const auto c = static_cast<unsigned char>(ch);
    if (IsUnreserved(c) || (keep_slash && c == '/')) {
      out += ch;
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 0xf];
    }
  }
  return out;
}

std::string CanonicalQueryString(const std::vector<std::pair<std::string, std::string>>& query) {
  std::vector<std::pair<std::string, std::string>> encoded;
  encoded.reserve(query.size());
  for (const auto& [name, value] : query) encoded.emplace_back(UriEncode(name, false), UriEncode(value, false));
  std::sort(encoded.begin(), encoded.end());
  std::string out;
  for (const auto& [name, value] : encoded) {
    if (!out.empty()) out += '&';
    out += name;
    out += '=';
    out += value;
  }
  return out;
}

std::string AmzDate(std::chrono::system_clock::time_point t) { return FormatUtc(t, "%Y%m%dT%H%M%SZ"); }

SigV4Signer::SigV4Signer(SigV4Credentials credentials, SigV4Options options)
    : credentials_(std::move(credentials)), options_(std::move(options)) {}

SigV4Signature SigV4Signer::Sign(const SigV4Request& request, std::chrono::system_clock::time_point now) const {
  const std::string amz_date = AmzDate(now);
  const std::string date_stamp = amz_date.substr(0, 8);

  HeaderList added;
  added.emplace_back("x-amz-date", amz_date);
  if (options_.add_content_sha256_header) added.emplace_back("x-amz-content-sha256", request.payload_sha256_hex);
  if (!credentials_.session_token.empty()) added.emplace_back("x-amz-security-token", credentials_.session_token);

  // Lower-case name -> values in order of appearance; std::map sorts the names.
  std::map<std::string, std::vector<std::string>> headers;
  for (const auto& [name, value] : request.headers) headers[Lowercase(name)].push_back(TrimAll(value));
  for (const auto& [name, value] : added) headers[name] = {value};

  std::string canonical_headers, signed_headers;
  for (const auto& [name, values] : headers) {
    canonical_headers += name;
    canonical_headers += ':';
    for (size_t i = 0; i < values.size(); ++i) {
      if (i > 0) canonical_headers += ',';
      canonical_headers += values[i];
    }
    canonical_headers += '\n';
    if (!signed_headers.empty()) signed_headers += ';';
    signed_headers += name;
  }

  const std::string path = options_.normalize_path ? NormalizePath(request.path) : request.path;
  SigV4Signature sig;
  sig.canonical_request = request.method + "\n" + EncodedPath(path.empty() ? "/" : path) + "\n" +
                          CanonicalQueryString(request.query) + "\n" + canonical_headers + "\n" + signed_headers +
                          "\n" + request.payload_sha256_hex;

  const std::string scope = date_stamp + "/" + options_.region + "/" + options_.service + "/aws4_request";
  sig.string_to_sign = std::string(kAlgorithm) + "\n" + amz_date + "\n" + scope + "\n" +
                       HexEncode(crypto::Sha256(AsBytes(sig.canonical_request)));

  // The derived keys are as sensitive as the secret for their day and region, so each step
  // lands in SecretBytes and the plain vectors are dropped at once.
  const ByteView secret = credentials_.secret_access_key.Reveal(crypto::SecretAccess::Get());
  crypto::SecretBytes k_secret(4 + secret.size());
  {
    auto out = k_secret.MutableReveal(crypto::SecretAccess::Get());
    std::copy_n(reinterpret_cast<const uint8_t*>("AWS4"), 4, out.begin());
    std::copy(secret.begin(), secret.end(), out.begin() + 4);
  }
  auto step = [](const crypto::SecretBytes& key, std::string_view data) {
    return crypto::SecretBytes::FromBytes(crypto::HmacSha256(key.Reveal(crypto::SecretAccess::Get()), AsBytes(data)));
  };
  const crypto::SecretBytes k_date = step(k_secret, date_stamp);
  const crypto::SecretBytes k_region = step(k_date, options_.region);
  const crypto::SecretBytes k_service = step(k_region, options_.service);
  const crypto::SecretBytes k_signing = step(k_service, "aws4_request");
  const std::string signature =
      HexEncode(crypto::HmacSha256(k_signing.Reveal(crypto::SecretAccess::Get()), AsBytes(sig.string_to_sign)));

  sig.authorization = std::string(kAlgorithm) + " Credential=" + credentials_.access_key_id + "/" + scope +
                      ", SignedHeaders=" + signed_headers + ", Signature=" + signature;
  sig.headers_to_add = std::move(added);
  sig.headers_to_add.emplace_back("Authorization", sig.authorization);
  return sig;
}

}  // namespace coffer::store::s3
