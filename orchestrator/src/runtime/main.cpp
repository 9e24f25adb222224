// cohort-runtime: the commands of `cohort` that do tensor work (server and client
// processes, plugin listings, recipe checks, memory-info). `cohort` runs it in its own
// place with the command line it was given.
#include "runtime/commands.hpp"

int main(int argc, char** argv) {
  using namespace cohort::runtime;
  CLI::App app{"cohort: federated-learning job orchestrator", "cohort"};
  GlobalOptions global;
  cohort::process::add_global_options(app, global);

  Command run;
  add_server_command(app, global, run);
  add_client_command(app, global, run);
  add_plugins_command(app, global, run);
  add_recipe_command(app, global, run);
  add_memory_info_command(app, global, run);
  return cohort::process::run_command_line(app, run, argc, argv);
}
