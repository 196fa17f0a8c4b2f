#include "staff/staff_console.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "client/support.h"

namespace coffer::staff {
namespace {

using nlohmann::json;

std::string FormatTime(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M", std::localtime(&tt));
  return buf;
}

std::string Field(const json& j, const char* name) {
  if (!j.contains(name)) return "?";
  const json& v = j[name];
  if (v.is_string()) return client::PrintableText(v.get<std::string>(), 256);
  return client::PrintableText(v.dump(), 256);
}

}  // namespace

std::string Console::SessionPath() const { return options_.home + "/session.json"; }

StatusOr<Console::Session> Console::LoadSession() const {
  std::ifstream in(SessionPath());
  if (!in) return UnauthenticatedError("not logged in: run `coffer-staff login` first");
  std::stringstream ss;
  ss << in.rdbuf();
  Session s;
  try {
    json j = json::parse(ss.str());
    s.server = j.at("server").get<std::string>();
    s.token = j.at("token").get<std::string>();
  } catch (const std::exception&) {
    return UnauthenticatedError("the saved staff session is damaged; run `coffer-staff login` again");
  }
  if (!options_.server.empty()) s.server = options_.server;
  return s;
}

Status Console::SaveSession(const Session& session) const {
  std::error_code ec;
  std::filesystem::create_directories(options_.home, ec);
  if (ec) return FailedPreconditionError("cannot create " + options_.home + ": " + ec.message());
  ::chmod(options_.home.c_str(), 0700);
  const std::string tmp = SessionPath() + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return FailedPreconditionError("cannot write " + tmp + ": " + std::strerror(errno));
  const std::string text = json{{"server", session.server}, {"token", session.token}}.dump();
  const bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok || std::rename(tmp.c_str(), SessionPath().c_str()) != 0) {
    return FailedPreconditionError("cannot write " + SessionPath());
  }
  return OkStatus();
}

StatusOr<json> Console::Login(const std::string& credential) {
  if (options_.server.empty()) return InvalidArgumentError("no server: pass --server URL or set COFFER_SERVER");
  const json body = {{"credential", credential}};
  COFFER_ASSIGN_OR_RETURN(json reply, client::SupportHttpCall(options_.server, options_.ca_file, "", "POST",
                                                              "/v1/staff/login", &body));
  if (!reply.contains("token") || !reply["token"].is_string()) return DataLossError("malformed staff login reply");
  COFFER_RETURN_IF_ERROR(SaveSession({options_.server, reply["token"].get<std::string>()}));
  reply.erase("token");
  return reply;
}

Status Console::Logout() {
  COFFER_ASSIGN_OR_RETURN(Session s, LoadSession());
  auto r = client::SupportHttpCall(s.server, options_.ca_file, s.token, "POST", "/v1/staff/logout", nullptr);
  std::filesystem::remove(SessionPath());
  if (!r.ok() && r.status().code() != StatusCode::kUnauthenticated) return r.status();
  return OkStatus();
}

StatusOr<json> Console::AccountVerb(const std::string& verb, const std::string& email, const std::string& reason,
                                    const std::string& grant) {
  COFFER_ASSIGN_OR_RETURN(Session s, LoadSession());
  json body = {{"email", email}, {"reason", reason}};
  if (!grant.empty()) body["grant"] = grant;
  return client::SupportHttpCall(s.server, options_.ca_file, s.token, "POST", "/v1/staff/" + verb, &body);
}

std::string DescribeReply(const std::string& verb, const json& r) {
  if (verb == "lookup") {
    return "account " + Field(r, "account_id") + "  " + Field(r, "email") + "\n" +
           "  created        " + (r.contains("created_at") && r["created_at"].is_number() ? FormatTime(r["created_at"].get<int64_t>()) : "?") + "\n" +
           "  storage        " + Field(r, "used_bytes") + " of " + Field(r, "quota_bytes") + " bytes (0 = unlimited)\n" +
           "  devices        " + Field(r, "device_count") + " active\n" +
           "  locked         " + Field(r, "locked") + "\n" +
           "  last activity  " + (r.contains("last_activity") && r["last_activity"].is_number() ? FormatTime(r["last_activity"].get<int64_t>()) : "?");
  }
  if (verb == "lock" || verb == "unlock") return "account " + Field(r, "account_id") + " locked: " + Field(r, "locked");
  if (verb == "reset-login") {
    return "Reset code for account " + Field(r, "account_id") + " (valid until " +
           (r.contains("expires_at") && r["expires_at"].is_number() ? FormatTime(r["expires_at"].get<int64_t>()) : "?") +
           "):\n\n    " + Field(r, "reset_code") +
           "\n\nDeliver it to the owner over a channel you verified (not the ticket's reply address alone). It only "
           "sets a password: their devices still need approval from an enrolled device or the recovery key.";
  }
  if (verb == "restore-trash") {
    return "Restore request recorded in the account's access log (grant " + Field(r, "grant_id") +
           "). The owner's client shows it; the server cannot read or restore the encrypted trash itself.";
  }
  if (verb == "metadata") {
    std::string text = "account " + Field(r, "account_id") + " (grant " + Field(r, "grant_id") + ")\n";
    text += "  chunks: " + Field(r, "chunk_count") + " (" + Field(r, "chunk_bytes") + " bytes)\n";
    if (r.contains("collections") && r["collections"].is_array()) {
      for (const auto& c : r["collections"]) text += "  collection " + Field(c, "collection_id") + ": " + Field(c, "revisions") + " revisions\n";
    }
    if (r.contains("devices") && r["devices"].is_array()) {
      for (const auto& d : r["devices"]) text += "  device " + Field(d, "device_id") + ": " + Field(d, "status") + "\n";
    }
    return text;
  }
  return client::PrintableText(r.dump(), 4096);
}

}  // namespace coffer::staff
