// cohort: the command-line front of libcohort.
#include "cli/commands.hpp"
#include "startup_kit.hpp"

#include <cohort/error.hpp>

#include <iostream>

int main(int argc, char** argv) {
  using namespace cohort::cli;
  CLI::App app{"cohort: federated-learning job orchestrator", "cohort"};
  app.set_version_flag("--version", std::string("cohort ") + COHORT_VERSION);
  app.require_subcommand(1);
  app.fallthrough();

  GlobalOptions global;
  app.add_flag("-v,--verbose", global.log.verbose, "Log debug messages");
  app.add_option("--log-level", global.log.level, "Log level: trace, debug, info, warn, error, off")
      ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}));
  app.add_option("--log-file", global.log.file, "Also write this process's log to FILE");

  Command run;
  add_plugins_command(app, global, run);
  add_recipe_command(app, global, run);
  add_simulate_command(app, global, run);
  add_server_command(app, global, run);
  add_client_command(app, global, run);
  add_memprofile_command(app, global, run);
  add_memory_info_command(app, global, run);
  add_provision_command(app, global, run);
  add_job_command(app, global, run);
  add_poc_command(app, global, run);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    return run ? run() : kExitUsage;
  } catch (const cohort::provisioning::KitError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitKit;
  } catch (const cohort::ConfigError& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitUsage;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return kExitFailure;
  }
}
