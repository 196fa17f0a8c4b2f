// Device pairing mailbox: docs/API.md "Device pairing mailbox".
//
// Two opaque, short-lived messages per pairing id, scoped to the account: the new device's
// request and the approving device's response. The pairing secret is exchanged out of band
// (QR code / typed code), so the server relays only ciphertext it cannot read or forge.
#include "server/handlers.h"
#include "server/log.h"
#include "server/validate.h"

namespace coffer::server {
namespace {

constexpr std::string_view kRequestBox = "pairing";
constexpr std::string_view kResponseBox = "pairing_response";

StatusOr<Bytes> GetBoxed(const Services& s, const Call& c, std::string_view box, std::string_view what) {
  const std::string& id = c.path.at("pairing_id");
  auto msg = s.meta.GetMessage(c.account_id(), std::string(box), id, c.now);
  if (!msg.ok() && msg.status().code() == StatusCode::kNotFound) {
    return NotFoundError(std::string(what) + " " + id + " does not exist or has expired (they last " +
                         std::to_string(kPairingTtl / 60) + " minutes)");
  }
  return msg;
}

StatusOr<Response> PutBoxed(const Services& s, const Call& c, std::string_view box, std::string_view what) {
  const std::string& id = c.path.at("pairing_id");
  if (c.request.body.empty()) return InvalidArgumentError(std::string(what) + " body is empty");
  // Expired messages are swept here, where new ones arrive, so the table stays small without
  // a background task.
  Status swept = s.meta.DeleteExpiredMessages(c.now);
  if (!swept.ok()) LogLine("could not delete expired pairing messages: " + swept.ToString());
  Status put = s.meta.PutMessage(c.account_id(), std::string(box), id, c.request.body, c.now + kPairingTtl);
  if (put.code() == StatusCode::kAlreadyExists) {
    return AlreadyExistsError(std::string(what) + " " + id +
                              " already exists; pairing ids are single-use, start a new pairing");
  }
  COFFER_RETURN_IF_ERROR(put);
  return EmptyResponse(201);
}

}  // namespace

StatusOr<Response> HandlePutPairing(const Services& s, const Call& c) {
  return PutBoxed(s, c, kRequestBox, "pairing request");
}

StatusOr<Response> HandleGetPairing(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(Bytes data, GetBoxed(s, c, kRequestBox, "pairing request"));
  return RawResponse(200, std::move(data));
}

StatusOr<Response> HandlePutPairingResponse(const Services& s, const Call& c) {
  // A response only makes sense to a live request; refusing others keeps the mailbox from
  // being used as general storage.
  COFFER_RETURN_IF_ERROR(GetBoxed(s, c, kRequestBox, "pairing request").status());
  return PutBoxed(s, c, kResponseBox, "pairing response");
}

StatusOr<Response> HandleGetPairingResponse(const Services& s, const Call& c) {
  COFFER_ASSIGN_OR_RETURN(Bytes data, GetBoxed(s, c, kResponseBox, "pairing response"));
  return RawResponse(200, std::move(data));
}

}  // namespace coffer::server
