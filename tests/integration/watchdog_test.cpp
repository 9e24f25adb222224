// The kits' watchdog (sub_start.sh), run with a stand-in for the cohort executable
// (COHORT_BIN) that records each start and exits with a chosen status.
#include "support/processes.hpp"
#include "support/temp_dir.hpp"

#include "provisioning/project.hpp"
#include "provisioning/startup_kit.hpp"

#include <doctest/doctest.h>

#include <sys/stat.h>

#include <fstream>
#include <thread>

using namespace cohort::test;
namespace fs = std::filesystem;

namespace {

/// Starts site-1's kit with a stand-in that exits `status`; returns how many times the
/// watchdog started it before it stopped for good.
int starts_until_watchdog_ends(const TempDir& dir, int status) {
  const auto project = cohort::provisioning::parse_project(
      "[project]\nname = \"w\"\n[server]\nhost = \"localhost\"\n[[clients]]\nname = \"site-1\"\n", "project.toml");
  cohort::provisioning::provision(project, dir / "kits", "/nonexistent/cohort");
  const fs::path count = dir / "starts.txt", fake = dir / "fake-cohort";
  write_text(fake, "#!/usr/bin/env bash\necho \"$*\" >> " + count.string() + "\nexit " + std::to_string(status) + "\n");
  ::chmod(fake.c_str(), 0755);
  const fs::path participant = dir / "kits" / "site-1";
  auto started = run({"bash", (participant / "startup" / "start.sh").string()}, dir / "start.out",
                     {{"COHORT_BIN", fake.string()}});
  REQUIRE(started.status == 0);
  // The watchdog writes its pid and removes it when it ends.
  for (int i = 0; i < 300; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    if (fs::exists(count) && !fs::exists(participant / "watchdog.pid")) break;
  }
  CHECK_FALSE(fs::exists(participant / "watchdog.pid"));
  std::ifstream in(count);
  int lines = 0;
  std::string line;
  while (std::getline(in, line)) {
    CHECK(line == "client --kit " + (participant / "startup").string());
    ++lines;
  }
  return lines;
}

}  // namespace

TEST_CASE("watchdog: a process that keeps dying is restarted 5 times within 300 s, then given up") {
  TempDir dir;
  CHECK(starts_until_watchdog_ends(dir, 1) == 6);
}

TEST_CASE("watchdog: a process refused its kit (status 3) or ending normally (0) is not restarted") {
  TempDir refused, normal;
  CHECK(starts_until_watchdog_ends(refused, 3) == 1);
  CHECK(starts_until_watchdog_ends(normal, 0) == 1);
}
