// cohort dashboard: the web page of a federation, served on this machine for one admin.
#include "cli/admin_kit.hpp"
#include "cli/commands.hpp"

#include "dashboard/dashboard.hpp"
#include "process/logging.hpp"
#include "process/signals.hpp"

#include <cohort/error.hpp>
#include <spdlog/logger.h>

#include <filesystem>
#include <iostream>
#include <stdexcept>

#include <unistd.h>

namespace cohort::cli {

namespace {

struct DashboardArgs {
  std::string kit;
  std::string listen = "127.0.0.1:8080";
};

int run_dashboard(const DashboardArgs& a, const GlobalOptions& global) {
  config::ListenAddress listen;
  try {
    listen = config::parse_listen_address(a.listen, /*any_port=*/true);
  } catch (const std::invalid_argument& e) {
    throw ConfigError({"--listen"}, e.what());
  }
  const auto kit = load_admin_kit(a.kit);
  process::block_termination_signals();
  auto log = process::make_logger("dashboard", global.log);
  // Downloads go to a folder of this process's own, removed when it stops.
  const auto cache = std::filesystem::temp_directory_path() / ("cohort-dashboard-" + std::to_string(::getpid()));
  dashboard::Dashboard page(listen,
                            std::make_shared<dashboard::AdminSource>(kit.endpoint, kit.identity, cache),
                            log);
  page.start();
  listen.port = page.port();
  std::cout << "cohort dashboard for " << kit.identity.name << " (" << kit.identity.role << ") on http://" << listen.text()
            << "/ (Ctrl-C stops it)" << std::endl;
  process::wait_for_termination_signal();
  page.stop();
  std::filesystem::remove_all(cache);
  return process::kExitOk;
}

}  // namespace

void add_dashboard_command(CLI::App& app, GlobalOptions& global, Command& run) {
  auto* cmd = app.add_subcommand("dashboard",
                                 "Serve the federation's web page on this machine: its jobs, their metrics, each site's, "
                                 "every process's memory and the round timeline, live; abort for a role that may");
  auto a = std::make_shared<DashboardArgs>();
  cmd->add_option("--kit", a->kit, "The admin's startup kit (or $COHORT_ADMIN_KIT): the page acts as this admin");
  cmd->add_option("--listen", a->listen, "HOST:PORT to serve the page on (port 0: any free one)")->capture_default_str();
  cmd->callback([&run, &global, a] { run = [&global, a] { return run_dashboard(*a, global); }; });
}

}  // namespace cohort::cli
