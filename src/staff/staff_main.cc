// coffer-staff: the support console (issue 5). See staff/staff_console.h and
// docs/THREAT_MODEL.md "Staff roles" for what each verb can see and do.
//
//   coffer-staff --server URL login            credential from COFFER_STAFF_CREDENTIAL or stdin
//   coffer-staff lookup EMAIL --reason TEXT
//   coffer-staff lock|unlock EMAIL --reason TEXT                     (admin)
//   coffer-staff reset-login EMAIL --reason TEXT
//   coffer-staff metadata|restore-trash EMAIL --reason TEXT --grant CODE
//   coffer-staff logout
// Exit codes as coffer's: 0 ok, 1 failed, 2 usage, 4 not logged in / denied, 5 unreachable.
#include <CLI/CLI.hpp>
#include <cstdlib>
#include <iostream>
#include <nlohmann/json.hpp>

#include "crypto/secret.h"
#include "staff/staff_console.h"

namespace {

using coffer::Status;
using coffer::StatusCode;
using nlohmann::json;

int ExitCodeFor(const Status& st) {
  switch (st.code()) {
    case StatusCode::kOk: return 0;
    case StatusCode::kSecurity:
    case StatusCode::kDataLoss: return 3;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied: return 4;
    case StatusCode::kUnavailable: return 5;
    default: return 1;
  }
}

std::string DefaultHome() {
  if (const char* h = std::getenv("COFFER_STAFF_HOME"); h && *h) return h;
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.coffer-staff";
  return ".coffer-staff";
}

}  // namespace

int main(int argc, char** argv) {
  coffer::crypto::DisableCoreDumps();
  if (!coffer::crypto::Init().ok()) return 1;
  coffer::staff::ConsoleOptions options;
  options.home = DefaultHome();
  if (const char* s = std::getenv("COFFER_SERVER")) options.server = s;
  bool as_json = false;
  CLI::App cli{"coffer-staff: the Coffer support console. Every call is written to the account's access log, "
               "which the owner sees with `coffer audit`."};
  cli.require_subcommand(1);
  cli.add_option("--home", options.home, "console profile directory (env COFFER_STAFF_HOME)");
  cli.add_option("--server", options.server, "server URL (env COFFER_SERVER)");
  cli.add_option("--ca-file", options.ca_file, "extra CA certificate bundle for an https server");
  cli.add_flag("--json", as_json, "machine-readable output: one JSON object on stdout");

  int rc = 0;
  auto finish = [&](const Status& st, const json& result, const std::string& text) {
    if (as_json) {
      json out = result.is_object() ? result : json::object();
      out["ok"] = st.ok();
      if (!st.ok()) out["error"] = {{"code", std::string(coffer::StatusCodeName(st.code()))}, {"message", st.message()}};
      std::cout << out.dump() << std::endl;
    } else if (st.ok()) {
      if (!text.empty()) std::cout << text << std::endl;
    } else {
      std::cerr << "coffer-staff: " << st.message() << std::endl;
    }
    rc = ExitCodeFor(st);
  };

  auto* login = cli.add_subcommand("login", "log in with your staff credential (COFFER_STAFF_CREDENTIAL or stdin)");
  login->callback([&] {
    std::string credential;
    if (const char* c = std::getenv("COFFER_STAFF_CREDENTIAL"); c && *c) {
      credential = c;
    } else {
      std::getline(std::cin, credential);
    }
    coffer::staff::Console console(options);
    auto r = console.Login(credential);
    if (!r.ok()) return finish(r.status(), nullptr, "");
    finish(coffer::OkStatus(), *r,
           "Logged in as " + r->value("name", std::string("?")) + " (" + r->value("role", std::string("?")) + ").");
  });
  auto* logout = cli.add_subcommand("logout", "end the staff session");
  logout->callback([&] {
    coffer::staff::Console console(options);
    finish(console.Logout(), nullptr, "Logged out.");
  });

  std::string email, reason, grant;
  for (const char* verb : {"lookup", "lock", "unlock", "reset-login", "metadata", "restore-trash"}) {
    const std::string name = verb;
    const bool needs_grant = name == "metadata" || name == "restore-trash";
    auto* sub = cli.add_subcommand(name, needs_grant ? name + " of an account (needs the owner's grant code)"
                                                     : name + " an account");
    sub->add_option("email", email, "the account's email")->required();
    sub->add_option("--reason", reason, "why: the ticket number and a few words (logged, shown to the owner)")
        ->required();
    // Not required here: without one the server refuses, and the refusal is logged too.
    sub->add_option("--grant", grant, "the grant code the owner gave you (coffer support grant)");
    sub->callback([&, name] {
      coffer::staff::Console console(options);
      auto r = console.AccountVerb(name, email, reason, grant);
      if (!r.ok()) return finish(r.status(), nullptr, "");
      finish(coffer::OkStatus(), *r, coffer::staff::DescribeReply(name, *r));
    });
  }

  try {
    cli.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = cli.exit(e);
    return code == 0 ? 0 : 2;
  }
  return rc;
}
