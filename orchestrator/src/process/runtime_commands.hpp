#pragma once
// The commands of `cohort` that the runtime executable runs (they load libtorch), and
// where that executable is. Both executables list them from here.

#include <filesystem>
#include <string_view>

namespace cohort::process {

struct RuntimeCommand {
  const char* name;
  const char* description;
};

inline constexpr RuntimeCommand kRuntimeCommands[] = {
    {"server", "Run a server process"},
    {"client", "Run a client process hosting one or more sites"},
    {"plugins", "List the plugins found in the plugin search path"},
    {"recipe", "Work with recipes"},
    {"memory-info", "Memory figures of this machine, or the latest of a job's processes"},
    {"mpi", "Run a job under mpirun: rank 0 the server, the other ranks its sites"},
};

/// The description of runtime command `name` ("" when it is none).
constexpr const char* runtime_command_description(std::string_view name) {
  for (const auto& c : kRuntimeCommands) {
    if (name == c.name) return c.description;
  }
  return "";
}

/// Where the runtime executable is, relative to the `cohort` executable (the build tree
/// mirrors the install tree).
inline constexpr const char* kRuntimeRelativePath = "../libexec/cohort/cohort-runtime";

/// When set, `cohort` runs the runtime under this command (a profiler: heaptrack -o FILE):
/// its arguments one per line, "%r" in them replaced by the MPI rank (under mpirun or
/// srun). `simulate` and `memprofile` set it for the processes they profile.
inline constexpr const char* kRuntimeWrapperVariable = "COHORT_RUNTIME_WRAPPER";

/// The runtime executable beside the running `cohort`.
std::filesystem::path runtime_executable();

}  // namespace cohort::process
