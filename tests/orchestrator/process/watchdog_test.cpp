// The watchdog, watching a shell stand-in that records each start in a file and exits
// with a chosen status.
#include "support/temp_dir.hpp"

#include "process/command_line.hpp"
#include "process/watchdog.hpp"

#include <doctest/doctest.h>

#include <fstream>
#include <thread>

using namespace cohort::process;
using namespace cohort::test;

namespace {

/// Quick restarts, so that a test spends milliseconds on them.
const RestartPolicy kQuick{5, std::chrono::seconds(300), std::chrono::milliseconds(10)};

struct StandIn {
  TempDir dir;
  spdlog::logger log{"watchdog"};  // no sinks: quiet

  /// A watchdog over a process that records its start, then runs `then` (shell).
  Watchdog watch(const std::string& then) {
    const std::string script = "echo started >> '" + starts_file().string() + "'; " + then;
    return Watchdog({"bash", "-c", script}, dir / "output.txt", kQuick, log);
  }
  std::filesystem::path starts_file() const { return dir / "starts.txt"; }
  int starts() const {
    std::ifstream in(starts_file());
    int n = 0;
    for (std::string line; std::getline(in, line);) ++n;
    return n;
  }
};

}  // namespace

TEST_CASE("watchdog: a process that keeps dying is started again 5 times within the window, then given up") {
  StandIn s;
  CHECK(s.watch("exit 1").run() == kExitFailure);
  CHECK(s.starts() == 6);
}

TEST_CASE("watchdog: a process that ends normally, or is refused its configuration or kit, is not started again") {
  for (const int status : {kExitOk, kExitUsage, kExitKit}) {
    CAPTURE(status);
    StandIn s;
    CHECK(s.watch("exit " + std::to_string(status)).run() == status);
    CHECK(s.starts() == 1);
  }
}

TEST_CASE("watchdog: a process killed by a signal is started again") {
  StandIn s;
  // Killed the first time, exits normally the second.
  auto watchdog = s.watch("[ $(wc -l < '" + s.starts_file().string() + "') -ge 2 ] && exit 0; kill -KILL $$");
  CHECK(watchdog.run() == kExitOk);
  CHECK(s.starts() == 2);
}

TEST_CASE("watchdog: stop() ends the running process and the watchdog, without a restart") {
  StandIn s;
  auto watchdog = s.watch("exec sleep 60");
  std::thread stopper([&] {
    while (s.starts() == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    watchdog.stop();
  });
  const auto began = std::chrono::steady_clock::now();
  CHECK(watchdog.run() == kExitOk);
  stopper.join();
  CHECK(std::chrono::steady_clock::now() - began < std::chrono::seconds(30));
  CHECK(s.starts() == 1);
}
