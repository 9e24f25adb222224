#include "simulate/simulation.hpp"

#include "process/child_process.hpp"
#include "process/role_environment.hpp"

#include "config/recipe_file.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "jobs/round_timeline.hpp"
#include "provisioning/local_project.hpp"

#include <spdlog/logger.h>

#include <csignal>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace cohort::simulate {

namespace {

using Clock = std::chrono::steady_clock;

std::string timestamp() {
  std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y%m%d-%H%M%S", std::localtime(&now));
  return text;
}

std::string tail(const fs::path& file, std::size_t lines) {
  std::ifstream in(file);
  std::vector<std::string> all;
  std::string line;
  while (std::getline(in, line)) all.push_back(line);
  std::string out;
  for (std::size_t i = all.size() > lines ? all.size() - lines : 0; i < all.size(); ++i) out += "  | " + all[i] + "\n";
  return out;
}

volatile std::sig_atomic_t interrupted = 0;
void on_interrupt(int) { interrupted = 1; }

}  // namespace

int run_simulation(const SimulationOptions& options, spdlog::logger& log) {
  // The launcher reads the recipe's sections only; the server process loads its plugins
  // (and fails at once, with the error's position, when one is wrong).
  const fs::path recipe_file = fs::absolute(options.recipe);
  const config::RecipeFile recipe = config::read_recipe_file(recipe_file);
  const auto& sim = recipe.simulation;

  std::int64_t clients = options.clients.value_or(sim.clients);
  if (clients == 0) clients = recipe.job.sites.empty() ? recipe.job.min_clients : static_cast<std::int64_t>(recipe.job.sites.size());
  std::vector<std::string> sites = recipe.job.sites;
  if (sites.empty()) {
    for (std::int64_t i = 1; i <= clients; ++i) sites.push_back("site-" + std::to_string(i));
  } else if (static_cast<std::int64_t>(sites.size()) != clients) {
    throw std::invalid_argument("--clients " + std::to_string(clients) + " does not match the " +
                                std::to_string(sites.size()) + " sites the recipe names");
  }
  if (clients < recipe.job.min_clients) {
    throw std::invalid_argument(std::to_string(clients) + " clients are fewer than the recipe's min_clients (" +
                                std::to_string(recipe.job.min_clients) + ")");
  }
  std::int64_t workers = options.workers.value_or(sim.workers);
  if (workers == 0) workers = std::min<std::int64_t>(clients, 2);
  workers = std::min(workers, clients);
  const bool insecure = options.insecure.value_or(sim.insecure);

  const fs::path workspace = fs::absolute(
      options.workspace.empty() ? fs::path("workspace") / (recipe.job.name + "-" + timestamp()) : options.workspace);
  fs::create_directories(workspace / "logs");
  const std::string job_id = options.job_id.empty() ? jobs::new_job_id() : options.job_id;
  const jobs::JobDirectory job_dir(workspace, job_id);
  const fs::path kits = workspace / "kits";
  if (!insecure) provisioning::provision_local(kits, recipe.job.name, "server", sites);

  std::cout << "cohort simulate: " << recipe.job.name << " (" << recipe.controller.plugin << " + "
            << recipe.executor.plugin << "), " << clients << " sites in " << workers << " client processes, "
            << recipe.job.num_rounds << " rounds, " << (insecure ? "plain TCP" : "mutual TLS") << "\n"
            << "  workspace " << workspace.string() << "\n  job       " << job_id << "\n" << std::flush;

  const fs::path exe = process::self_executable();
  std::string site_list;
  for (const auto& s : sites) site_list += (site_list.empty() ? "" : ",") + s;
  auto common = [&](const std::string& process) {
    std::vector<std::string> argv;
    for (std::string arg : options.process_wrapper) {
      if (auto at = arg.find("%n"); at != std::string::npos) arg.replace(at, 2, process);
      argv.push_back(arg);
    }
    for (const std::string& arg : {exe.string(), std::string("--log-level"), options.log_level,
                                   std::string("--log-file"), (workspace / "logs" / (process + ".log")).string()})
      argv.push_back(arg);
    return argv;
  };
  std::vector<std::string> plugin_args;
  for (const auto& d : options.plugin_dirs) {
    plugin_args.push_back("--plugin-path");
    plugin_args.push_back(fs::absolute(d).string());
  }

  const fs::path port_file = workspace / "server.port";
  fs::remove(port_file);
  auto server_argv = common("server");
  for (const std::string& a : {std::string("server"), std::string("--workspace"), workspace.string(),
                               std::string("--run-job"), recipe_file.string(), std::string("--job-id"), job_id,
                               std::string("--sites"), site_list, std::string("--port-file"), port_file.string(),
                               std::string("--chunk-kib"), std::to_string(sim.chunk_kib)})
    server_argv.push_back(a);
  if (insecure) server_argv.push_back("--insecure");
  else {
    server_argv.push_back("--identity");
    server_argv.push_back((kits / "server").string());
  }
  server_argv.insert(server_argv.end(), plugin_args.begin(), plugin_args.end());

  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  const auto started = Clock::now();
  process::ChildProcess server(server_argv, process::role_environment(recipe.memory.server_malloc_arena_max, recipe.memory.server_malloc_mmap_threshold_kib),
                      workspace / "logs" / "server.out");

  // The server writes its port once it listens.
  std::string port;
  while (port.empty()) {
    if (auto status = server.poll()) {
      std::cerr << "the server exited (status " << *status << ") before listening:\n"
                << tail(workspace / "logs" / "server.out", 15);
      return *status == 2 ? 2 : 1;  // 2: the recipe is wrong (the server says where)
    }
    if (interrupted) return 1;
    std::ifstream in(port_file);
    std::getline(in, port);
    if (port.empty()) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }

  std::vector<process::ChildProcess> client_processes;
  for (std::int64_t w = 0; w < workers; ++w) {
    const std::string name = "client-" + std::to_string(w + 1);
    auto argv = common(name);
    for (const std::string& a : {std::string("client"), std::string("--server"), "127.0.0.1:" + port,
                                 std::string("--workspace"), workspace.string(), std::string("--process-name"), name,
                                 std::string("--exit-on-bye"), std::string("--chunk-kib"), std::to_string(sim.chunk_kib)})
      argv.push_back(a);
    if (insecure) argv.push_back("--insecure");
    // Contiguous blocks of sites per process: 100 sites in 4 workers is 25 each.
    const std::int64_t begin = clients * w / workers, end = clients * (w + 1) / workers;
    for (std::int64_t i = begin; i < end; ++i) {
      if (insecure) {
        argv.push_back("--site");
        argv.push_back(sites[i]);
      } else {
        argv.push_back("--identity");
        argv.push_back((kits / sites[i]).string());
      }
    }
    argv.insert(argv.end(), plugin_args.begin(), plugin_args.end());
    client_processes.emplace_back(argv, process::role_environment(recipe.memory.client_malloc_arena_max, recipe.memory.client_malloc_mmap_threshold_kib),
                                  workspace / "logs" / (name + ".out"));
  }

  // Progress: one line per finished round, from the server's rounds.csv; the global
  // model's accuracy follows as soon as the sites have evaluated it.
  std::size_t rounds_shown = 0, evaluations_shown = 0;
  std::map<std::int64_t, double> accuracy_after, round_seconds;
  std::optional<int> server_status;
  auto show_progress = [&] {
    const auto rounds = jobs::read_rounds(job_dir.rounds_csv());
    for (; rounds_shown < rounds.size(); ++rounds_shown) {
      const auto& r = rounds[rounds_shown];
      round_seconds[r.round] = r.seconds;
      std::cout << "  round " << std::setw(3) << r.round + 1 << "/" << recipe.job.num_rounds << "  " << std::fixed
                << std::setprecision(2) << std::setw(7) << r.seconds << " s";
      if (r.results) std::cout << "  " << *r.results << " results";
      if (r.failed.value_or(0) > 0) std::cout << ", " << *r.failed << " failed";
      std::cout << "  server rss " << std::setprecision(1) << r.server_rss_before_round_mb << " MiB between rounds, "
                << r.server_round_peak_rss_mb << " at peak\n" << std::flush;
    }
    std::size_t seen = 0;
    for (const auto& m : jobs::read_metrics(job_dir.metrics_csv())) {
      if (m.site != "global" || !m.metrics.count("accuracy")) continue;
      if (++seen <= evaluations_shown) continue;
      accuracy_after[m.round] = m.metrics.at("accuracy");
      std::cout << "           global model after round " << m.round + 1 << ": accuracy " << std::setprecision(4)
                << m.metrics.at("accuracy") << "\n" << std::flush;
      evaluations_shown = seen;
    }
  };
  while (!server_status) {
    server_status = server.wait_for(std::chrono::milliseconds(250));
    show_progress();
    if (interrupted) {
      std::cerr << "interrupted: stopping the server and the clients\n";
      server.signal(SIGTERM);
      server_status = server.wait_for(std::chrono::seconds(10));
      break;
    }
    for (auto& c : client_processes) {
      if (auto status = c.poll(); status && *status != 0) {
        // A client died: the server's error policy decides what that means for the job.
        static std::map<pid_t, bool> reported;
        if (!reported[c.pid()]) {
          reported[c.pid()] = true;
          std::cerr << "  a client process exited with status " << *status << "\n";
        }
      }
    }
  }
  for (auto& c : client_processes) {
    if (!c.wait_for(std::chrono::seconds(10))) c.signal(SIGTERM);
    if (!c.wait_for(std::chrono::seconds(5))) c.signal(SIGKILL);
  }
  const double total_seconds = std::chrono::duration<double>(Clock::now() - started).count();

  const auto ended = job_dir.read_status();
  const std::string status = ended ? std::string(jobs::to_string(ended->state)) : "UNKNOWN";
  std::cout << "\nsummary: job " << status << " in " << std::fixed << std::setprecision(1) << total_seconds << " s\n";
  if (!round_seconds.empty()) {
    std::cout << "  round   seconds   accuracy (global model after the round)\n";
    for (const auto& [round, seconds] : round_seconds) {
      std::cout << "  " << std::setw(5) << round + 1 << "  " << std::setw(8) << std::setprecision(2) << seconds << "   ";
      if (auto it = accuracy_after.find(round); it != accuracy_after.end()) std::cout << std::setprecision(4) << it->second;
      else std::cout << "-";
      std::cout << "\n";
    }
  }
  // Where a typical round's time went: the median round's parts, from timeline.csv.
  if (auto parts = jobs::round_parts(jobs::read_timeline(job_dir.timeline_csv())); !parts.empty()) {
    std::vector<jobs::RoundParts> rounds;
    for (const auto& [round, p] : parts) rounds.push_back(p);
    std::sort(rounds.begin(), rounds.end(), [](const auto& a, const auto& b) { return a.seconds < b.seconds; });
    const auto& median = rounds[rounds.size() / 2];
    std::cout << "  median round (" << median.round + 1 << " of " << rounds.size() << "): " << jobs::describe(median)
              << "\n";
  }
  std::cout << "  peak RSS per process:\n";
  std::error_code ec;
  if (fs::is_directory(job_dir.memory_folder(), ec)) {
    std::vector<fs::path> files;
    for (const auto& e : fs::directory_iterator(job_dir.memory_folder())) files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) {
      double peak = 0;
      for (const auto& row : jobs::read_memory(f)) peak = std::max(peak, row.peak_rss_mb);
      std::cout << "    " << std::left << std::setw(12) << f.stem().string() << std::right << std::setw(9)
                << std::setprecision(1) << peak << " MiB\n";
    }
  }
  std::cout << "  results in " << job_dir.root().string() << "\n";
  const bool completed = ended && ended->state == jobs::JobState::completed;
  if (!completed) {
    std::cout << "  server log tail:\n" << tail(workspace / "logs" / "server.log", 10);
  }
  return server_status && *server_status == 0 && completed ? 0 : 1;
}

}  // namespace cohort::simulate
