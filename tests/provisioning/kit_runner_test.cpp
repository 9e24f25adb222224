// Running a kit under its watchdog, with a stand-in for the cohort executable that
// records its command line and exits 1.
#include "support/temp_dir.hpp"

#include "process/command_line.hpp"
#include "provisioning/kit_runner.hpp"
#include "provisioning/project.hpp"
#include "provisioning/startup_kit.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>

using namespace cohort::provisioning;
using namespace cohort::test;
namespace fs = std::filesystem;

namespace {

struct Kits {
  TempDir dir;
  spdlog::logger log{"watchdog"};  // no sinks: quiet
  fs::path fake = dir / "fake-cohort";
  fs::path calls = dir / "calls.txt";

  Kits() {
    const auto project = parse_project(
        "[project]\nname = \"w\"\n[server]\nhost = \"localhost\"\n[[clients]]\nname = \"site-1\"\n"
        "[[admins]]\nname = \"boss@a\"\norg = \"a\"\nrole = \"project_admin\"\n",
        "project.toml");
    provision(project, dir / "kits", "/nonexistent/cohort");
    write_text(fake, "#!/usr/bin/env bash\necho \"$*\" >> '" + calls.string() + "'\nexit 1\n");
    ::chmod(fake.c_str(), 0755);
  }
  int run(const std::string& participant) {
    return run_kit(dir / "kits" / participant, fake, log,
                   cohort::process::RestartPolicy{5, std::chrono::seconds(300), std::chrono::milliseconds(10)});
  }
};

}  // namespace

TEST_CASE("kit runner: runs `cohort <role> --kit <startup>` under the watchdog, then removes its pid files") {
  Kits kits;
  CHECK(kits.run("site-1") == cohort::process::kExitFailure);
  const KitFiles files(kits.dir / "kits" / "site-1");
  CHECK(files.startup == fs::absolute(kits.dir / "kits" / "site-1" / "startup"));
  std::ifstream in(kits.calls);
  int starts = 0;
  for (std::string line; std::getline(in, line); ++starts) CHECK(line == "client --kit " + files.startup.string());
  CHECK(starts == 6);
  CHECK_FALSE(fs::exists(files.watchdog_pid()));
  CHECK_FALSE(fs::exists(files.process_pid()));
  CHECK_FALSE(running_watchdog(files.startup));
}

TEST_CASE("kit runner: an edited kit or an admin kit starts nothing") {
  Kits kits;
  std::ofstream(kits.dir / "kits" / "site-1" / "startup" / "start.sh", std::ios::app) << "echo extra\n";
  CHECK_THROWS_WITH_AS(kits.run("site-1"), doctest::Contains("start.sh was modified after provisioning"), KitError);
  CHECK_THROWS_WITH_AS(kits.run("boss@a"), doctest::Contains("only server and client kits run a process"),
                       cohort::ConfigError);
  CHECK_FALSE(fs::exists(kits.calls));
  CHECK_FALSE(stop_kit(kits.dir / "kits" / "site-1"));
}
