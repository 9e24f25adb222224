// cohort kit start|stop|run: a server or client startup kit's process under its watchdog
// (what the kit's start.sh and stop.sh run).
#include "cli/commands.hpp"

#include "process/child_process.hpp"
#include "process/logging.hpp"
#include "provisioning/kit_runner.hpp"
#include "provisioning/startup_kit.hpp"

#include <iostream>

namespace cohort::cli {

namespace {

struct KitArgs {
  std::string kit;
  const GlobalOptions* global = nullptr;
};

int run(const KitArgs& a) {
  auto log = process::make_logger("watchdog", a.global->log);
  return provisioning::run_kit(a.kit, process::self_executable(), *log);
}

int start(const KitArgs& a) {
  const provisioning::KitFiles files(a.kit);
  const pid_t pid = provisioning::start_kit(files.startup, process::self_executable());
  std::cout << "started " << files.participant().filename().string() << " (watchdog pid " << pid
            << "); log: " << files.log().string() << "\n";
  return process::kExitOk;
}

int stop(const KitArgs& a) {
  const provisioning::KitFiles files(a.kit);
  const bool stopped = provisioning::stop_kit(files.startup);
  std::cout << files.participant().filename().string() << (stopped ? ": stopped" : ": was not running") << "\n";
  return process::kExitOk;
}

}  // namespace

void add_kit_command(CLI::App& app, GlobalOptions& global, Command& run_command) {
  process::CommandGroup<KitArgs> group(
      app, "kit", "Run a server or client startup kit under its watchdog: start, stop, run", run_command,
      [](CLI::App& cmd, KitArgs& a) {
        cmd.add_option("kit", a.kit, "The kit: its startup folder, or the participant folder holding it")->required()->check(process::existing_folder());
      });
  group.args().global = &global;
  group.add("start", "Start the kit's process in the background under its watchdog (log: <participant>/log.txt)",
            &start);
  group.add("stop", "Stop the kit's process and its watchdog (SIGTERM; SIGKILL after 30 s)", &stop);
  group.add("run",
            "Run the kit's process under its watchdog in the foreground (systemd, containers): it is started "
            "again when it dies, at most 5 times in 300 s, not when it exits 0 or is refused its kit or "
            "configuration",
            &run);
}

}  // namespace cohort::cli
