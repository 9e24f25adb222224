// cohort-runtime: the commands of `cohort` that do tensor work (server and client
// processes, plugin listings, recipe checks, memory-info, a job under MPI). `cohort` runs it in its own
// place with the command line it was given.
#include "runtime/commands.hpp"

int main(int argc, char** argv) {
  using namespace cohort::runtime;
  cohort::process::CommandLine command_line;
  command_line.add({add_server_command, add_client_command, add_plugins_command, add_recipe_command,
                    add_memory_info_command, add_mpi_command});
  return command_line.run(argc, argv);
}
