// cohort: the command line. Light commands run here without libtorch; the ones that do
// tensor work are handed to the runtime executable.
#include "cli/commands.hpp"

int main(int argc, char** argv) {
  using namespace cohort::cli;
  if (auto status = hand_off_to_runtime(argc, argv)) return *status;
  cohort::process::CommandLine command_line;
  command_line.app().set_version_flag("--version", std::string("cohort ") + COHORT_VERSION);
  add_runtime_commands(command_line.app());
  command_line.add({add_simulate_command, add_compare_command, add_memprofile_command, add_provision_command, add_job_command, add_poc_command,
                    add_kit_command, add_dashboard_command});
  return command_line.run(argc, argv);
}
