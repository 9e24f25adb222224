// cohort: the command line. Light commands run here without libtorch; the ones that do
// tensor work are handed to the runtime executable.
#include "cli/commands.hpp"

int main(int argc, char** argv) {
  using namespace cohort::cli;
  if (auto status = hand_off_to_runtime(argc, argv)) return *status;
  CLI::App app{"cohort: federated-learning job orchestrator", "cohort"};
  app.set_version_flag("--version", std::string("cohort ") + COHORT_VERSION);
  GlobalOptions global;
  cohort::process::add_global_options(app, global);

  Command run;
  add_runtime_commands(app);
  add_simulate_command(app, global, run);
  add_memprofile_command(app, global, run);
  add_provision_command(app, global, run);
  add_job_command(app, global, run);
  add_poc_command(app, global, run);
  return cohort::process::run_command_line(app, run, argc, argv);
}
