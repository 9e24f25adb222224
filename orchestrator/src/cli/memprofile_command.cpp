// cohort memprofile: RSS under different cleanup settings, measured in real processes.
#include "cli/commands.hpp"

#include "memprofile/memprofile.hpp"

#include <sstream>

namespace cohort::cli {

void add_memprofile_command(CLI::App& app, GlobalOptions& global, Command& run) {
  auto* cmd = app.add_subcommand(
      "memprofile", "Compare server and client RSS across cleanup settings (FedAvg, synthetic model)");
  auto o = std::make_shared<memprofile::MemprofileOptions>();
  auto gc = std::make_shared<std::string>("0,5,1");
  auto single = std::make_shared<std::int64_t>(-1);
  auto arena = std::make_shared<std::int64_t>(0);
  cmd->add_option("--gc-rounds", *gc, "Cleanup settings to compare, comma-separated (0 disables)")->capture_default_str();
  cmd->add_option("--num-rounds", o->num_rounds, "FL rounds per setting")->capture_default_str()->check(process::at_least(1));
  cmd->add_option("--num-clients", o->num_clients, "Clients (one process each)")->capture_default_str()->check(process::at_least(1));
  cmd->add_option("--model-size", o->model_size_mb, "Model size in MB")->capture_default_str()->check(process::positive_number());
  auto* single_opt = cmd->add_option("--single", *single, "Run only gc_rounds=N in this process tree")->check(process::at_least(0));
  cmd->add_option("--allocator", o->allocator, "glibc or jemalloc (preloaded)")->capture_default_str()
      ->check(CLI::IsMember({"glibc", "jemalloc"}));
  auto* arena_opt = cmd->add_option("--arena-max", *arena, "MALLOC_ARENA_MAX for every process")->check(process::at_least(1));
  auto mmap = std::make_shared<std::int64_t>(0);
  auto* mmap_opt = cmd->add_option("--mmap-threshold", *mmap,
                                   "MALLOC_MMAP_THRESHOLD_ in KiB for every process (0: glibc's dynamic threshold)")
                       ->check(process::between(0, 32 * 1024));
  cmd->add_flag("--heaptrack", o->heaptrack, "Run server and clients under heaptrack: peak heap, leaks, flame graphs");
  cmd->add_flag("--insecure", o->insecure, "Plain TCP instead of mutual TLS");
  cmd->add_option("--transport", o->transport,
                  "tls: cohort simulate's processes; mpi: under mpirun, rank 0 the server, a client per other rank")
      ->capture_default_str()
      ->check(CLI::IsMember({"tls", "mpi"}));
  cmd->add_option("-n", o->num_clients, "Same as --num-clients (with --transport mpi: mpirun -n N+1)")
      ->check(process::at_least(1));
  auto compare = std::make_shared<std::vector<std::string>>();
  cmd->add_option("--compare", *compare, "A B: two memprofile folders side by side, process by process")
      ->expected(2)
      ->check(process::existing_folder());
  cmd->add_option("--output", o->output, "Folder for the timestamped results")->capture_default_str();
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
          throw std::invalid_argument("--gc-rounds: '" + item + "' is not a non-negative integer");
        options.gc_rounds.push_back(n);
      }
      if (single_opt->count()) options.single = *single;
      if (arena_opt->count()) options.arena_max = *arena;
      if (mmap_opt->count()) options.mmap_threshold_kib = *mmap;
      auto log = process::make_logger("memprofile", global.log);
      return memprofile::run_memprofile(options, *log);
    };
  });
}

}  // namespace cohort::cli
