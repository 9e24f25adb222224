// cohort plugins: what the plugin search path holds.
#include "runtime/commands.hpp"
#include "process/runtime_commands.hpp"

#include "plugin/registry.hpp"

#include <nlohmann/json.hpp>

#include <iomanip>
#include <iostream>

namespace cohort::runtime {

void add_plugins_command(CLI::App& app, GlobalOptions& global, Command& run) {
  auto* cmd = app.add_subcommand("plugins", process::runtime_command_description("plugins"));
  auto paths = std::make_shared<std::vector<std::string>>();
  cmd->add_option("-p,--path", *paths, "Search DIR before the default directories");
  auto format = std::make_shared<std::string>("text");
  cmd->add_option("--format", *format, "text or json")->capture_default_str()->check(CLI::IsMember({"text", "json"}));
  cmd->callback([&run, paths, format] {
    run = [paths, format] {
      std::vector<std::filesystem::path> dirs(paths->begin(), paths->end());
      for (auto& d : plugin::Registry::default_directories()) dirs.push_back(d);
      plugin::Registry registry(dirs);
      auto listings = registry.list();
      if (*format == "json") {
        nlohmann::json plugins = nlohmann::json::array(), problems = nlohmann::json::array(),
                       searched = nlohmann::json::array();
        for (const auto& l : listings) {
          if (!l.plugin) {
            problems.push_back({{"file", l.file.string()}, {"problem", l.problem}});
            continue;
          }
          const auto& d = l.plugin->descriptor();
          plugins.push_back({{"kind", std::string(to_string(d.kind))}, {"name", d.name}, {"version", d.version},
                             {"abi", d.abi_version}, {"file", l.file.string()}});
        }
        for (const auto& d : dirs) searched.push_back(d.string());
        std::cout << nlohmann::json{{"plugins", plugins}, {"problems", problems}, {"searched", searched}}.dump() << "\n";
        return process::kExitOk;
      }
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
