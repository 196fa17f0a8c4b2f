#include "store/s3/s3_xml.h"

#include <cstdint>

namespace coffer::store::s3 {
namespace {

constexpr size_t kMaxElements = 100000;  // a page has at most 1000 keys; anything far above is hostile
constexpr size_t kMaxShownErrorText = 200;

void AppendUtf8(uint32_t cp, std::string& out) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

StatusOr<std::string> DecodeText(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '&') {
      if (text[i] == '<') return DataLossError("S3 reply: unexpected '<' inside element text");
      out += text[i];
      continue;
    }
    const size_t semi = text.find(';', i);
    if (semi == std::string_view::npos || semi - i > 12) return DataLossError("S3 reply: unterminated XML entity");
    const std::string_view entity = text.substr(i + 1, semi - i - 1);
    if (entity == "amp") {
      out += '&';
    } else if (entity == "lt") {
      out += '<';
    } else if (entity == "gt") {
      out += '>';
    } else if (entity == "quot") {
      out += '"';
    } else if (entity == "apos") {
      out += '\'';
    } else if (entity.size() >= 2 && entity[0] == '#') {
      const bool hex = entity[1] == 'x';
      const std::string_view digits = entity.substr(hex ? 2 : 1);
      if (digits.empty() || digits.size() > 6) return DataLossError("S3 reply: bad XML character reference");
      uint32_t cp = 0;
      for (char c : digits) {
        uint32_t d;
        if (c >= '0' && c <= '9') {
          d = static_cast<uint32_t>(c - '0');
        } else if (hex && c >= 'a' && c <= 'f') {
          d = static_cast<uint32_t>(c - 'a' + 10);
        } else if (hex && c >= 'A' && c <= 'F') {
          d = static_cast<uint32_t>(c - 'A' + 10);
        } else {
          return DataLossError("S3 reply: bad XML character reference");
        }
        cp = cp * (hex ? 16 : 10) + d;
      }
      if (cp == 0 || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
        return DataLossError("S3 reply: XML character reference out of range");
      }
      AppendUtf8(cp, out);
    } else {
      return DataLossError("S3 reply: unknown XML entity");
    }
    i = semi;
  }
  return out;
}

std::string Excerpt(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < kMaxShownErrorText; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    out += (c >= 0x20 && c < 0x7f) ? static_cast<char>(c) : '?';
  }
  if (s.size() > kMaxShownErrorText) out += "...";
  return out;
}

}  // namespace

StatusOr<std::vector<std::string>> XmlElementTexts(std::string_view xml, std::string_view name) {
  const std::string open = "<" + std::string(name) + ">";
  const std::string close = "</" + std::string(name) + ">";
  const std::string empty = "<" + std::string(name) + "/>";
  std::vector<std::string> out;
  size_t pos = 0;
  for (;;) {
    const size_t at = xml.find('<', pos);
    if (at == std::string_view::npos) return out;
    const std::string_view rest = xml.substr(at);
    if (rest.starts_with(empty)) {
      out.emplace_back();
      pos = at + empty.size();
    } else if (rest.starts_with(open)) {
      const size_t text_start = at + open.size();
      const size_t end = xml.find(close, text_start);
      if (end == std::string_view::npos) return DataLossError("S3 reply: <" + std::string(name) + "> is not closed");
      COFFER_ASSIGN_OR_RETURN(std::string text, DecodeText(xml.substr(text_start, end - text_start)));
      out.push_back(std::move(text));
      pos = end + close.size();
    } else {
      pos = at + 1;
      continue;
    }
    if (out.size() > kMaxElements) return DataLossError("S3 reply: too many <" + std::string(name) + "> elements");
  }
}

StatusOr<ListPage> ParseListObjectsV2(std::string_view xml) {
  if (xml.find("<ListBucketResult") == std::string_view::npos) {
    return DataLossError("S3 reply is not a ListObjectsV2 result (no <ListBucketResult>)");
  }
  ListPage page;
  COFFER_ASSIGN_OR_RETURN(page.keys, XmlElementTexts(xml, "Key"));
  COFFER_ASSIGN_OR_RETURN(std::vector<std::string> truncated, XmlElementTexts(xml, "IsTruncated"));
  if (truncated.size() > 1) return DataLossError("S3 listing has more than one <IsTruncated>");
  if (!truncated.empty()) {
    if (truncated[0] != "true" && truncated[0] != "false") return DataLossError("S3 listing: bad <IsTruncated>");
    page.truncated = truncated[0] == "true";
  }
  COFFER_ASSIGN_OR_RETURN(std::vector<std::string> tokens, XmlElementTexts(xml, "NextContinuationToken"));
  if (tokens.size() > 1) return DataLossError("S3 listing has more than one <NextContinuationToken>");
  if (!tokens.empty()) page.next_continuation_token = tokens[0];
  return page;
}

S3Error ParseS3Error(std::string_view xml) {
  S3Error error;
  if (xml.find("<Error>") == std::string_view::npos) return error;
  auto code = XmlElementTexts(xml, "Code");
  if (code.ok() && !code->empty()) error.code = Excerpt(code->front());
  auto message = XmlElementTexts(xml, "Message");
  if (message.ok() && !message->empty()) error.message = Excerpt(message->front());
  return error;
}

StatusOr<std::string> ParseInitiateMultipartUpload(std::string_view xml) {
  COFFER_ASSIGN_OR_RETURN(std::vector<std::string> ids, XmlElementTexts(xml, "UploadId"));
  if (ids.size() != 1 || ids[0].empty() || ids[0].size() > 1024) {
    return DataLossError("S3 reply to a multipart upload start carries no usable <UploadId>");
  }
  return ids[0];
}

std::string XmlEscape(std::string_view text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace coffer::store::s3
