// The few S3 XML replies the blob store reads, parsed by hand: ListObjectsV2 pages, error
// bodies, and the upload id of a new multipart upload. The parser only looks for flat
// <Name>text</Name> elements (S3's replies never nest an element inside one of the same
// name), decodes the five predefined entities and numeric character references, and refuses
// anything else with kDataLoss. Replies are untrusted: every read is bounds-checked, and
// sizes are capped by the caller (S3BlobStore buffers at most 16 MiB of XML).
#ifndef COFFER_STORE_S3_S3_XML_H_
#define COFFER_STORE_S3_S3_XML_H_

#include <string>
#include <string_view>
#include <vector>

#include "coffer/status.h"

namespace coffer::store::s3 {

struct ListPage {
  std::vector<std::string> keys;  // <Contents><Key>, decoded
  bool truncated = false;         // <IsTruncated>true</IsTruncated>
  std::string next_continuation_token;
};

struct S3Error {
  std::string code;     // "NoSuchKey", "SignatureDoesNotMatch", ...; empty if none
  std::string message;  // may be empty (RGW sends <Message></Message>)
};

// The text of every <name>...</name> element, entity-decoded, in document order.
StatusOr<std::vector<std::string>> XmlElementTexts(std::string_view xml, std::string_view name);

StatusOr<ListPage> ParseListObjectsV2(std::string_view xml);
// Never fails: a body that is not an S3 error document gives an empty S3Error. The fields are
// cut to a printable excerpt, since they end up in error messages.
S3Error ParseS3Error(std::string_view xml);
StatusOr<std::string> ParseInitiateMultipartUpload(std::string_view xml);

// Escapes &, <, >, " and ' for element text.
std::string XmlEscape(std::string_view text);

}  // namespace coffer::store::s3

#endif  // COFFER_STORE_S3_S3_XML_H_
