// cohort memprofile: RSS under different cleanup settings, measured in real processes.
#include "cli/commands.hpp"

#include "memprofile/memprofile.hpp"

#include <cohort/error.hpp>
#include <sstream>

namespace cohort::cli {

void add_memprofile_command(CLI::App& app, GlobalOptions& global, Command& run) {
  auto* cmd = app.add_subcommand(
      "memprofile", "Compare server and client RSS across cleanup settings (FedAvg, synthetic model)");
  auto o = std::make_shared<memprofile::MemprofileOptions>();
  auto gc = std::make_shared<std::string>("0,5,1");
  cmd->add_option("--gc-rounds", *gc, "Cleanup settings to compare, comma-separated (0 disables)")->capture_default_str();
  process::add_options_of<process::MemprofileLaunch>(*cmd, static_cast<process::MemprofileLaunch&>(*o));
  auto compare = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--compare", *compare, "A B: two memprofile folders side by side, process by process")
      ->expected(2)
      ->check(process::existing_folder());
  cmd->callback([=, &run, &global] {
    run = [=, &global] {
      if (!compare->empty()) return memprofile::compare_memprofiles((*compare)[0], (*compare)[1], o->output);
      memprofile::MemprofileOptions options = *o;
      options.gc_rounds.clear();
      std::stringstream list(*gc);
      std::string item;
      while (std::getline(list, item, ',')) {
        std::size_t used = 0;
        long long n = -1;
        try {
          n = std::stoll(item, &used);
        } catch (...) {
        }
        if (n < 0 || used != item.size())
          throw ConfigError({"--gc-rounds"}, "'" + item + "' is not a non-negative integer");
        options.gc_rounds.push_back(n);
      }
      auto log = process::make_logger("memprofile", global.log);
      return memprofile::run_memprofile(options, *log);
    };
  });
}

}  // namespace cohort::cli
