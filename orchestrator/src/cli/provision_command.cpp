// cohort provision: a project file becomes signed startup kits.
#include "cli/commands.hpp"

#include "provisioning/project.hpp"
#include "process/child_process.hpp"
#include "provisioning/startup_kit.hpp"

#include <iostream>

namespace cohort::cli {

namespace {

struct ProvisionArgs {
  std::string project;
  std::string out = "provisioned";
};

int run_provision(const ProvisionArgs& a) {
  const auto project = provisioning::read_project(a.project);
  const auto report = provisioning::provision(project, a.out, process::self_executable());
  std::cout << "project '" << project.name << "': kits in " << std::filesystem::absolute(a.out).string() << "\n";
  for (const auto& name : report.issued) std::cout << "  " << name << ": new key and certificate\n";
  for (const auto& name : report.kept) std::cout << "  " << name << ": key and certificate kept, kit refreshed\n";
  std::cout << "the root CA's key is in " << (std::filesystem::path(a.out) / "ca").string()
            << ": keep it there, out of every kit\n";
  return process::kExitOk;
}

}  // namespace

void add_provision_command(CLI::App& app, GlobalOptions&, Command& run) {
  auto* cmd = app.add_subcommand("provision", "Write signed startup kits for a project's participants");
  auto a = std::make_shared<ProvisionArgs>();
  cmd->add_option("project", a->project, "The project file (project.toml)")->required()->check(process::existing_file());
  cmd->add_option("-o,--output", a->out, "Folder for the kits (re-provisioning keeps existing keys)")->capture_default_str();
  cmd->callback([&run, a] { run = [a] { return run_provision(*a); }; });
}

}  // namespace cohort::cli
