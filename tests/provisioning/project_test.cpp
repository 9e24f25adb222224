#include "provisioning/project.hpp"

#include <cohort/error.hpp>

#include <doctest/doctest.h>

using cohort::provisioning::parse_project;

namespace {

const std::string kGood =
    "[project]\nname = \"p\"\n[server]\nhost = \"fl.example.org\"\n"
    "[[clients]]\nname = \"site-1\"\norg = \"a\"\n"
    "[[admins]]\nname = \"boss@a\"\norg = \"a\"\nrole = \"project_admin\"\n";

std::string error_of(const std::string& text) {
  try {
    parse_project(text, "project.toml");
  } catch (const cohort::ConfigError& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("project: defaults as NVFlare's and DESIGN.md's") {
  const auto p = parse_project(kGood, "project.toml");
  CHECK(p.name == "p");
  CHECK(p.server.name == "server");
  CHECK(p.server.fl_port == 8002);
  CHECK(p.server.admin_port == 8003);
  CHECK(p.server_malloc_arena_max == 4);
  CHECK(p.client_malloc_arena_max == 2);
  CHECK(p.key_type == cohort::provisioning::KeyType::ec_p256);
  REQUIRE(p.clients.size() == 1);
  CHECK(p.clients[0].accept_job_code);
  REQUIRE(p.admins.size() == 1);
  CHECK(p.admins[0].role == "project_admin");
  CHECK(p.server.listen_host == "0.0.0.0");
  CHECK(p.server.on_server_restart == "resume");
}

TEST_CASE("project: listen_host and on_server_restart are read, a wrong policy named with its place") {
  const std::string server = "[project]\nname = \"p\"\n[server]\nhost = \"fl.example.org\"\n";
  const auto set = parse_project(server + "listen_host = \"10.0.0.5\"\non_server_restart = \"abnormal\"\n", "project.toml");
  CHECK(set.server.listen_host == "10.0.0.5");
  CHECK(set.server.on_server_restart == "abnormal");
  CHECK(error_of(server + "on_server_restart = \"retry\"\n").find("project.toml:5:21: server.on_server_restart") == 0);
  CHECK(error_of(server + "listen_host = \"\"\n").find("project.toml:5:") == 0);
}

TEST_CASE("project: every bad value is named with file:line:col") {
  CHECK(error_of(kGood + "[[admins]]\nname = \"x\"\norg = \"a\"\nrole = \"boss\"\n") ==
        "project.toml:15:8: admins[1].role: 'boss' is not a role: project_admin, org_admin, lead or member");
  CHECK(error_of(kGood + "[[clients]]\nname = \"site-1\"\n").find("project.toml:13:8: clients[1].name: 'site-1' names another participant too") == 0);
  CHECK(error_of("[project]\nname = \"p\"\n[server]\nport = 1\n").find("project.toml:") == 0);
  CHECK(error_of("[project]\nname = \"p\"\n[server]\nhost = \"h\"\nfl_port = 70000\n").find("project.toml:5:11") == 0);
  CHECK(error_of("[project]\nname = \"p/../x\"\n[server]\nhost = \"h\"\n").find("not a valid participant name") != std::string::npos);
  CHECK(error_of("[project]\nname = \"p\"\nkey_type = \"dsa\"\n[server]\nhost = \"h\"\n").find("project.toml:3:12") == 0);
  CHECK(error_of("[project\n").find("TOML syntax error") != std::string::npos);
  CHECK(error_of(kGood + "[memroy]\n").find("did you mean") != std::string::npos);
}

TEST_CASE("project: metrics_address is off unless set, HOST:PORT, never the fl_port or admin_port") {
  const auto off = parse_project(kGood, "project.toml");
  CHECK(off.server_metrics_address.empty());
  CHECK(off.clients[0].metrics_address.empty());
  const std::string head = "[project]\nname = \"p\"\n[server]\nhost = \"h\"\n";
  const auto on = parse_project(head + "metrics_address = \"127.0.0.1:9400\"\n[[clients]]\nname = \"site-1\"\n"
                                       "metrics_address = \"0.0.0.0:9401\"\n",
                                "project.toml");
  CHECK(on.server_metrics_address == "127.0.0.1:9400");
  CHECK(on.clients[0].metrics_address == "0.0.0.0:9401");
  CHECK(error_of(head + "metrics_address = \"127.0.0.1:8002\"\n") ==
        "project.toml:5:19: server.metrics_address: port 8002 is the server's fl_port: metrics need a port of their own");
  CHECK(error_of(head + "metrics_address = \"localhost:9400\"\n").find("project.toml:5:19: server.metrics_address: "
                                                                      "\"localhost:9400\": \"localhost\" is not an IP address") == 0);
  CHECK(error_of(head + "[[clients]]\nname = \"site-1\"\nmetrics_address = \"9400\"\n")
            .find("project.toml:7:19: clients[0].metrics_address: \"9400\" is not HOST:PORT") == 0);
}
