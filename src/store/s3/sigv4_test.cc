// SigV4Signer against the published AWS Signature Version 4 test suite
// (tests/testdata/aws-sigv4, Apache-2.0, see its README.md for the source and the fixed
// signing parameters). Every one of the 34 cases runs and checks the canonical request, the
// string to sign and the Authorization header byte for byte. None is skipped:
//   - normalize-path/*: signed with normalize_path on (generic services normalise; S3 does not,
//     which the S3-specific tests below pin separately).
//   - get-vanilla-with-session-token: the token comes from the credentials, as a signed header.
//   - post-sts-token/post-sts-header-before: the token header is in the .req and signed as is;
//     post-sts-header-after: the token is added after signing, so it is not signed.
// The suite's cases carry no x-amz-content-sha256 header, so add_content_sha256_header is off
// for them; the S3 cases at the end check it.
#include "store/s3/sigv4.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "crypto/hash.h"

namespace coffer::store::s3 {
namespace {

namespace fs = std::filesystem;

const std::string kSuiteDir = std::string(COFFER_SOURCE_DIR) + "/tests/testdata/aws-sigv4";
constexpr char kAccessKey[] = "AKIDEXAMPLE";
constexpr char kSecretKey[] = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
constexpr char kSessionToken[] = "6e86291e8372ff2a2260956d9b8aae1d763fbf315fa00fa31553b73ebf194267";
// 2015-08-30T12:36:00Z
const auto kSuiteTime = std::chrono::system_clock::time_point(std::chrono::seconds(1440938160));

std::string ReadFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// "%E1%88%B4" -> the three bytes; anything else unchanged.
std::string PercentDecode(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size()) {
      out += static_cast<char>(std::stoi(std::string(s.substr(i + 1, 2)), nullptr, 16));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

struct ParsedRequest {
  SigV4Request request;
  std::string amz_date;
};

// Parses a .req file: request line, "Name:value" headers (a line starting with white space
// continues the previous value), a blank line, the body.
ParsedRequest ParseReq(const std::string& text) {
  ParsedRequest parsed;
  std::string_view rest = text;
  auto next_line = [&]() -> std::optional<std::string_view> {
    if (rest.empty()) return std::nullopt;
    size_t nl = rest.find('\n');
    std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    return line;
  };
  std::string_view request_line = *next_line();
  const size_t first_space = request_line.find(' ');
  const size_t last_space = request_line.rfind(' ');
  parsed.request.method = std::string(request_line.substr(0, first_space));
  std::string_view target = request_line.substr(first_space + 1, last_space - first_space - 1);
  std::string_view query;
  if (size_t q = target.find('?'); q != std::string_view::npos) {
    query = target.substr(q + 1);
    target = target.substr(0, q);
  }
  parsed.request.path = PercentDecode(target);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    size_t eq = pair.find('=');
    parsed.request.query.emplace_back(PercentDecode(pair.substr(0, eq)),
                                      eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1)));
  }
  HeaderList headers;
  bool saw_blank = false;
  while (auto line = next_line()) {
    if (line->empty()) {
      saw_blank = true;
      break;
    }
    if ((line->front() == ' ' || line->front() == '\t') && !headers.empty()) {
      headers.back().second += "\n" + std::string(*line);
      continue;
    }
    size_t colon = line->find(':');
    headers.emplace_back(std::string(line->substr(0, colon)), std::string(line->substr(colon + 1)));
  }
  const std::string body = saw_blank ? std::string(rest) : "";
  for (auto& [name, value] : headers) {
    std::string lower = name;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    if (lower == "x-amz-date") {
      parsed.amz_date = value;  // the signer adds it itself from the time
    } else {
      parsed.request.headers.emplace_back(name, value);
    }
  }
  parsed.request.payload_sha256_hex = HexEncode(crypto::Sha256(AsBytes(body)));
  return parsed;
}

// Every case folder (one level of nesting for the sub-suites), relative to kSuiteDir.
std::vector<std::string> SuiteCases() {
  std::vector<std::string> cases;
  if (!fs::is_directory(kSuiteDir)) return cases;
  for (const auto& entry : fs::recursive_directory_iterator(kSuiteDir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".req") {
      cases.push_back(fs::relative(entry.path().parent_path(), kSuiteDir).string());
    }
  }
  std::sort(cases.begin(), cases.end());
  return cases;
}

TEST(SigV4SuiteTest, AllThirtyFourCasesArePresent) {
  // Guards against a suite that silently runs nothing (a missing or half-copied folder).
  EXPECT_EQ(SuiteCases().size(), 34u) << "in " << kSuiteDir;
}

class SigV4SuiteCaseTest : public ::testing::TestWithParam<std::string> {};

TEST_P(SigV4SuiteCaseTest, CanonicalRequestStringToSignAndAuthorizationMatch) {
  const std::string& name = GetParam();
  const fs::path base = fs::path(kSuiteDir) / name / fs::path(name).filename();
  ParsedRequest parsed = ParseReq(ReadFile(base.string() + ".req"));
  ASSERT_EQ(parsed.amz_date, "20150830T123600Z") << "every case is signed at the suite's fixed time";
  ASSERT_EQ(AmzDate(kSuiteTime), parsed.amz_date);

  SigV4Credentials credentials{kAccessKey, crypto::SecretBytes::FromBytes(AsBytes(kSecretKey)), ""};
  if (name == "get-vanilla-with-session-token") credentials.session_token = kSessionToken;
  SigV4Options options;
  options.region = "us-east-1";
  options.service = "service";
  options.normalize_path = name.starts_with("normalize-path/");
  options.add_content_sha256_header = false;
  const SigV4Signer signer(std::move(credentials), options);
  const SigV4Signature sig = signer.Sign(parsed.request, kSuiteTime);

  EXPECT_EQ(sig.canonical_request, ReadFile(base.string() + ".creq"));
  EXPECT_EQ(sig.string_to_sign, ReadFile(base.string() + ".sts"));
  EXPECT_EQ(sig.authorization, ReadFile(base.string() + ".authz"));
  ASSERT_FALSE(sig.headers_to_add.empty());
  EXPECT_EQ(sig.headers_to_add.back(), (std::pair<std::string, std::string>("Authorization", sig.authorization)));
}

std::string CaseTestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string out;
  for (char c : info.param) out += std::isalnum(static_cast<unsigned char>(c)) ? c : '_';
  return out;
}

INSTANTIATE_TEST_SUITE_P(AwsSuite, SigV4SuiteCaseTest, ::testing::ValuesIn(SuiteCases()), CaseTestName);

// ---- S3 specifics ---------------------------------------------------------------------------

SigV4Signer S3Signer() {
  return SigV4Signer({kAccessKey, crypto::SecretBytes::FromBytes(AsBytes(kSecretKey)), ""},
                     SigV4Options{.region = "us-east-1"});
}

TEST(SigV4S3Test, SignsContentSha256AndKeepsPathsUnnormalized) {
  SigV4Request request{.method = "GET",
                       .path = "/bucket/a//b/./c",
                       .query = {{"list-type", "2"}, {"continuation-token", "a+b/c="}},
                       .headers = {{"Host", "127.0.0.1:7480"}},
                       .payload_sha256_hex = "UNSIGNED-PAYLOAD"};
  const SigV4Signature sig = S3Signer().Sign(request, kSuiteTime);
  EXPECT_EQ(sig.canonical_request,
            "GET\n/bucket/a//b/./c\ncontinuation-token=a%2Bb%2Fc%3D&list-type=2\n"
            "host:127.0.0.1:7480\nx-amz-content-sha256:UNSIGNED-PAYLOAD\nx-amz-date:20150830T123600Z\n\n"
            "host;x-amz-content-sha256;x-amz-date\nUNSIGNED-PAYLOAD");
  EXPECT_NE(sig.authorization.find("/20150830/us-east-1/s3/aws4_request, "), std::string::npos);
  EXPECT_NE(sig.authorization.find("SignedHeaders=host;x-amz-content-sha256;x-amz-date,"), std::string::npos);
  ASSERT_EQ(sig.headers_to_add.size(), 3u);
  EXPECT_EQ(sig.headers_to_add[0].first, "x-amz-date");
  EXPECT_EQ(sig.headers_to_add[1], (std::pair<std::string, std::string>("x-amz-content-sha256", "UNSIGNED-PAYLOAD")));
}

// The example from the Amazon S3 API reference ("Signature Calculations for the Authorization
// Header: Transferring Payload in a Single Chunk", GET Object with a Range header).
TEST(SigV4S3Test, MatchesTheS3DocumentationGetObjectExample) {
  SigV4Signer signer({"AKIAIOSFODNN7EXAMPLE",
                      crypto::SecretBytes::FromBytes(AsBytes("wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")), ""},
                     SigV4Options{.region = "us-east-1"});
  SigV4Request request{.method = "GET",
                       .path = "/test.txt",
                       .query = {},
                       .headers = {{"Host", "examplebucket.s3.amazonaws.com"}, {"Range", "bytes=0-9"}},
                       .payload_sha256_hex = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"};
  // 2013-05-24T00:00:00Z
  const auto when = std::chrono::system_clock::time_point(std::chrono::seconds(1369353600));
  const SigV4Signature sig = signer.Sign(request, when);
  EXPECT_EQ(sig.authorization,
            "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
            "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
            "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
}

TEST(SigV4S3Test, UriEncodeEncodesEverythingOutsideTheUnreservedSet) {
  EXPECT_EQ(UriEncode("aZ09-._~", false), "aZ09-._~");
  EXPECT_EQ(UriEncode("a/b c+d", false), "a%2Fb%20c%2Bd");
  EXPECT_EQ(UriEncode("a/b c+d", true), "a/b%20c%2Bd");
  EXPECT_EQ(UriEncode("\xff\x00", false).size(), 3u);  // stops at the NUL of the literal
  EXPECT_EQ(UriEncode(std::string("\xff\x00", 2), false), "%FF%00");
}

TEST(SigV4S3Test, DifferentSecretsGiveDifferentSignatures) {
  SigV4Request request{.method = "GET", .path = "/", .query = {}, .headers = {{"Host", "h"}},
                       .payload_sha256_hex = "UNSIGNED-PAYLOAD"};
  SigV4Signer other({kAccessKey, crypto::SecretBytes::FromBytes(AsBytes("another-secret")), ""},
                    SigV4Options{.region = "us-east-1"});
  EXPECT_NE(S3Signer().Sign(request, kSuiteTime).authorization, other.Sign(request, kSuiteTime).authorization);
  // The secret never appears in what the signer returns.
  const SigV4Signature sig = S3Signer().Sign(request, kSuiteTime);
  EXPECT_EQ(sig.authorization.find(kSecretKey), std::string::npos);
  EXPECT_EQ(sig.canonical_request.find(kSecretKey), std::string::npos);
}

}  // namespace
}  // namespace coffer::store::s3
