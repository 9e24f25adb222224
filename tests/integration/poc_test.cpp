// `cohort poc`: prepare, start, a job through the admin kit's admin.sh, stop, clean.
#include "support/processes.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <thread>

using namespace cohort::test;
namespace fs = std::filesystem;

TEST_CASE("poc: prepare, start, run a job as the POC admin, stop, clean") {
  TempDir dir;
  const std::string ws = (dir / "poc").string();
  auto step = [&](const std::vector<std::string>& args, const std::string& name) {
    auto result = run(cohort_command(args), dir / (name + ".out"));
    INFO(name << ": " << result.output);
    REQUIRE(result.status == 0);
    return result;
  };
  step({"poc", "prepare", "-n", "2", "--workspace", ws}, "prepare");
  for (const char* p : {"server", "site-1", "site-2", "admin@poc.local"})
    CHECK(fs::exists(fs::path(ws) / p / "startup" / "signature.txt"));
  // Preparing over an existing POC needs --force.
  CHECK(run(cohort_command({"poc", "prepare", "--workspace", ws}), dir / "again.out").status != 0);

  struct Stop {
    std::string ws;
    TempDir& dir;
    ~Stop() { run(cohort_command({"poc", "stop", "--workspace", ws}), dir / "stop-guard.out"); }
  } guard{ws, dir};
  step({"poc", "start", "--workspace", ws}, "start");

  write_text(dir / "job.toml",
             "[job]\nname = \"poc\"\nnum_rounds = 2\nmin_clients = 2\n[controller]\nplugin = \"fedavg\"\n"
             "[executor]\nplugin = \"synthetic\"\n[model]\narch = \"synthetic\"\nsize_mb = 1\n");
  const std::string admin = (fs::path(ws) / "admin@poc.local" / "startup" / "admin.sh").string();
  Finished submitted;
  for (int i = 0; i < 100; ++i) {  // until the server listens
    submitted = run({"bash", admin, "submit", (dir / "job.toml").string()}, dir / ("submit-" + std::to_string(i) + ".out"));
    if (submitted.status == 0) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  REQUIRE(submitted.status == 0);
  std::string id = submitted.output.substr(0, submitted.output.find('\n'));
  auto waited = run({"bash", admin, "wait", id, "--timeout", "120"}, dir / "wait.out");
  INFO(waited.output);
  CHECK(waited.status == 0);

  step({"poc", "stop", "--workspace", ws}, "stop");
  CHECK_FALSE(fs::exists(fs::path(ws) / "server" / "watchdog.pid"));
  step({"poc", "clean", "--workspace", ws}, "clean");
  CHECK_FALSE(fs::exists(ws));
}
