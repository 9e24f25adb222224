// cohort plugins: what the plugin search path holds.
#include "runtime/commands.hpp"
#include "process/runtime_commands.hpp"

#include "plugin/registry.hpp"

#include <iomanip>
#include <iostream>

namespace cohort::runtime {

void add_plugins_command(CLI::App& app, GlobalOptions& global, Command& run) {
  auto* cmd = app.add_subcommand("plugins", process::runtime_command_description("plugins"));
  auto paths = std::make_shared<std::vector<std::string>>();
  cmd->add_option("-p,--path", *paths, "Search DIR before the default directories");
  cmd->callback([&run, paths] {
    run = [paths] {
      std::vector<std::filesystem::path> dirs(paths->begin(), paths->end());
      for (auto& d : plugin::Registry::default_directories()) dirs.push_back(d);
      plugin::Registry registry(dirs);
      auto listings = registry.list();
      std::cout << std::left << std::setw(12) << "KIND" << std::setw(18) << "NAME" << std::setw(10)
                << "VERSION" << std::setw(5) << "ABI" << "FILE\n";
      int problems = 0;
      for (const auto& l : listings) {
        if (!l.plugin) {
          ++problems;
          continue;
        }
        const auto& d = l.plugin->descriptor();
        std::cout << std::setw(12) << to_string(d.kind) << std::setw(18) << d.name << std::setw(10)
                  << d.version << std::setw(5) << d.abi_version << l.file.string() << "\n";
      }
      if (problems) {
        std::cout << "\nnot loadable:\n";
        for (const auto& l : listings) {
          if (!l.plugin) std::cout << "  " << l.file.string() << ": " << l.problem << "\n";
        }
      }
      std::cout << "\nsearched:";
      for (const auto& d : dirs) std::cout << " " << d.string();
      std::cout << "\n";
      return process::kExitOk;
    };
  });
}

}  // namespace cohort::runtime
