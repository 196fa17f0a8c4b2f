// The S3 reply parser (src/store/s3/s3_xml.h) on arbitrary bytes: what an untrusted or broken
// S3 endpoint (Amazon, RGW, MinIO, or whoever answers at that address) may send back.
//
// Input: byte 0 selects the parser (mod 4), the rest is the reply body:
//   0 ParseListObjectsV2   1 ParseS3Error   2 ParseInitiateMultipartUpload
//   3 XmlElementTexts: the next byte is the length of an element name, then the name, then XML
// Must never crash. A finding (abort) is also: a refusal that is not kDataLoss; a listing key,
// continuation token or upload id that does not survive XmlEscape + parse unchanged (the
// entity decoder and the escaper disagree); an S3Error field that is not a short printable
// excerpt (it goes into error messages and logs); an upload id that is empty or above 1 KiB.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_common.h"
#include "store/s3/s3_xml.h"

using namespace coffer;
using namespace coffer::store::s3;
using coffer::fuzz::Finding;

namespace {

void ExpectDataLoss(const Status& status, const char* what) {
  if (status.code() != StatusCode::kDataLoss) Finding(what, "refused with a code other than kDataLoss: " + status.ToString());
}

// `text`, escaped and wrapped in <name>, must parse back to exactly {text}.
void ExpectEscapeRoundTrip(const std::string& text, std::string_view name) {
  const std::string xml = "<" + std::string(name) + ">" + XmlEscape(text) + "</" + std::string(name) + ">";
  auto back = XmlElementTexts(xml, name);
  if (!back.ok() || back->size() != 1 || back->front() != text)
    Finding("XmlEscape + XmlElementTexts is not the identity for an accepted", std::string(name));
}

void ExpectExcerpt(const std::string& field, const char* what) {
  if (field.size() > 203) Finding(what, "is longer than the 200-character excerpt");
  for (char c : field) {
    const auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f) Finding(what, "carries a non-printable byte into error messages");
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t which = data[0] % 4;
  std::string_view xml(reinterpret_cast<const char*>(data + 1), size - 1);
  switch (which) {
    case 0: {
      auto page = ParseListObjectsV2(xml);
      if (!page.ok()) {
        ExpectDataLoss(page.status(), "ParseListObjectsV2");
        break;
      }
      for (const std::string& key : page->keys) ExpectEscapeRoundTrip(key, "Key");
      ExpectEscapeRoundTrip(page->next_continuation_token, "NextContinuationToken");
      break;
    }
    case 1: {
      const S3Error error = ParseS3Error(xml);
      ExpectExcerpt(error.code, "S3Error.code");
      ExpectExcerpt(error.message, "S3Error.message");
      break;
    }
    case 2: {
      auto id = ParseInitiateMultipartUpload(xml);
      if (!id.ok()) {
        ExpectDataLoss(id.status(), "ParseInitiateMultipartUpload");
        break;
      }
      if (id->empty() || id->size() > 1024) Finding("ParseInitiateMultipartUpload accepted an unusable upload id");
      ExpectEscapeRoundTrip(*id, "UploadId");
      break;
    }
    default: {
      if (xml.empty()) break;
      const size_t name_len = std::min<size_t>(static_cast<uint8_t>(xml[0]), xml.size() - 1);
      const std::string_view name = xml.substr(1, name_len);
      xml.remove_prefix(1 + name_len);
      auto texts = XmlElementTexts(xml, name);
      if (!texts.ok()) {
        ExpectDataLoss(texts.status(), "XmlElementTexts");
        break;
      }
      if (texts->size() > 100001) Finding("XmlElementTexts returned more elements than its cap");
      break;
    }
  }
  return 0;
}
