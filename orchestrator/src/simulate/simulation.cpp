#include "simulate/simulation.hpp"
#include "simulate/worker_plan.hpp"

#include "process/child_process.hpp"
#include "process/role_environment.hpp"
#include "process/runtime_commands.hpp"

#include "config/recipe_file.hpp"
#include "jobs/job_summary.hpp"
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
#include <optional>
#include <sstream>
#include <thread>

#include <unistd.h>

namespace fs = std::filesystem;

namespace cohort::simulate {

namespace {

using Clock = std::chrono::steady_clock;

/// The last `lines` lines of `file`, indented; from its last "error: " line on instead,
/// when it has one (the whole error, however many lines its message takes).
std::string tail(const fs::path& file, std::size_t lines) {
  std::ifstream in(file);
  std::vector<std::string> all;
  std::string line;
  std::optional<std::size_t> error;
  while (std::getline(in, line)) {
    if (line.rfind("error: ", 0) == 0) error = all.size();
    all.push_back(line);
  }
  std::string out;
  std::size_t first = all.size() > lines ? all.size() - lines : 0;
  if (error) first = std::min(first, *error);
  for (std::size_t i = first; i < all.size(); ++i) out += "  | " + all[i] + "\n";
  return out;
}

volatile std::sig_atomic_t interrupted = 0;
void on_interrupt(int) { interrupted = 1; }

/// `cohort recipe probe`'s figures.
struct ProbeResult {
  double peak_rss_mb = 0;
  double children_peak_rss_mb = 0;
  double children_kept_rss_mb = 0;
  double seconds = 0;
};

/// Runs one site's task of the recipe in a process of its own, with a client's memory
/// environment, and reads what it took. Nothing when it failed or was interrupted (its
/// output, in `output`, says why).
std::optional<ProbeResult> probe_site(const fs::path& recipe_file, const config::RecipeFile& recipe,
                                      const SimulationOptions& options, std::int64_t sites,
                                      const std::vector<std::string>& plugin_args, const fs::path& output,
                                      int& status) {
  std::vector<std::string> argv{process::self_executable().string(), "recipe", "probe", recipe_file.string(),
                                "--sites", std::to_string(sites)};
  for (const auto& o : options.overrides) argv.insert(argv.end(), {"--set", o});
  argv.insert(argv.end(), plugin_args.begin(), plugin_args.end());
  fs::remove(output);
  process::ChildProcess probe(argv, process::role_environment(recipe.memory.client_malloc_arena_max,
                                                               recipe.memory.client_malloc_mmap_threshold_kib),
                              output);
  std::optional<int> exited;
  while (!(exited = probe.wait_for(std::chrono::milliseconds(100)))) {
    if (interrupted) {
      probe.signal(SIGKILL);
      status = 1;
      return std::nullopt;
    }
  }
  status = *exited;
  if (status != 0) return std::nullopt;
  ProbeResult r;
  std::ifstream in(output);
  std::string key;
  double value = 0;
  while (in >> key) {
    if (!(in >> value)) break;
    if (key == "peak_rss_mb") r.peak_rss_mb = value;
    else if (key == "children_peak_rss_mb") r.children_peak_rss_mb = value;
    else if (key == "children_kept_rss_mb") r.children_kept_rss_mb = value;
    else if (key == "seconds") r.seconds = value;
  }
  return r;
}

/// "mm:ss" or "h:mm:ss".
std::string clock_text(double seconds) {
  const auto s = static_cast<long long>(seconds + 0.5);
  char text[32];
  if (s >= 3600) std::snprintf(text, sizeof text, "%lld:%02lld:%02lld", s / 3600, s / 60 % 60, s % 60);
  else std::snprintf(text, sizeof text, "%lld:%02lld", s / 60, s % 60);
  return text;
}

}  // namespace

int run_simulation(const SimulationOptions& options, spdlog::logger& log) {
  // With a JSON summary, stdout holds only that: what is said on the way goes to stderr.
  std::ostream& out = options.json_summary ? std::cerr : std::cout;
  // The launcher reads the recipe's sections only; the server process loads its plugins
  // (and fails at once, with the error's position, when one is wrong).
  const fs::path recipe_file = fs::absolute(options.recipe);
  const config::RecipeFile recipe = config::read_recipe_file(recipe_file, options.overrides);
  const auto& sim = recipe.simulation;

  const std::vector<std::string> sites = config::hosted_sites(recipe, options.clients);
  const auto clients = static_cast<std::int64_t>(sites.size());
  const bool insecure = options.insecure.value_or(sim.insecure);
  std::vector<std::string> plugin_args;
  for (const auto& d : options.plugin_dirs) {
    plugin_args.push_back("--plugin-path");
    plugin_args.push_back(fs::absolute(d).string());
  }
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);

  const fs::path workspace = fs::absolute(
      options.workspace.empty() ? fs::path("workspace") / (recipe.job.name + "-" + jobs::timestamp("%Y%m%d-%H%M%S")) : options.workspace);
  std::int64_t workers = options.workers.value_or(sim.workers);
  std::string plan_line;
  if (workers == 0 && clients == 1) {
    workers = 1;
    plan_line = "workers: 1 (one site)";
  } else if (workers == 0) {
    // Measured, not guessed: one site's task in a client process of its own.
    const fs::path probe_output = options.plan_only
                                      ? fs::temp_directory_path() / ("cohort-probe-" + std::to_string(::getpid()) + ".out")
                                      : workspace / "logs" / "probe.out";
    if (!options.plan_only) fs::create_directories(workspace / "logs");
    out << "cohort simulate: probing one site's task to size the client processes...\n" << std::flush;
    int status = 0;
    const auto probe = probe_site(recipe_file, recipe, options, clients, plugin_args, probe_output, status);
    if (!probe) {
      if (!interrupted) std::cerr << "the probe of one site's task failed (status " << status << "):\n" << tail(probe_output, 15);
      if (options.plan_only) fs::remove(probe_output);
      return status == 2 ? 2 : 1;
    }
    if (options.plan_only) fs::remove(probe_output);
    PlanInputs in;
    in.sites = clients;
    in.cores = usable_cores();
    in.site_peak_mb = probe->peak_rss_mb + probe->children_peak_rss_mb;
    in.site_kept_mb = probe->children_kept_rss_mb;
    machine_memory(in.total_mb, in.available_mb);
    in.limit_percent = recipe.memory.warn_percent;
    const WorkerPlan plan = plan_workers(in);
    workers = plan.workers;
    std::ostringstream line;
    line << describe(plan, in) << "; the probe's task took " << std::fixed << std::setprecision(1) << probe->seconds
         << " s";
    plan_line = line.str();
  } else {
    plan_line = "workers: " + std::to_string(std::min(workers, clients)) + " (as set)";
  }
  workers = std::min(workers, clients);
  if (options.plan_only) {
    out << "plan: " << recipe.job.name << " (" << recipe.controller.plugin << " + " << recipe.executor.plugin
              << "), " << clients << " sites, " << recipe.job.num_rounds << " rounds\n  " << plan_line << "\n  sites per process: "
              << clients / workers << (clients % workers ? " to " + std::to_string(clients / workers + 1) : std::string())
              << "\n";
    return 0;
  }
  fs::create_directories(workspace / "logs");
  const std::string job_id = options.job_id.empty() ? jobs::new_job_id() : options.job_id;
  const jobs::JobDirectory job_dir(workspace, job_id);
  const fs::path kits = workspace / "kits";
  if (!insecure) provisioning::provision_local(kits, recipe.job.name, "server", sites);

  out << "cohort simulate: " << recipe.job.name << " (" << recipe.controller.plugin << " + "
            << recipe.executor.plugin << "), " << clients << " sites in " << workers << " client processes, "
            << recipe.job.num_rounds << " rounds, " << (insecure ? "plain TCP" : "mutual TLS") << "\n"
            << "  " << plan_line << "\n"
            << "  workspace " << workspace.string() << "\n  job       " << job_id << "\n" << std::flush;

  const fs::path exe = process::self_executable();
  std::string site_list;
  for (const auto& s : sites) site_list += (site_list.empty() ? "" : ",") + s;
  // The environment of process `process`: its role's, and the wrapper to run its runtime
  // under (heaptrack), "%n" in it naming the process.
  auto environment = [&](const std::string& process, std::map<std::string, std::string> env) {
    std::string wrapper;
    for (std::string arg : options.process_wrapper) {
      if (auto at = arg.find("%n"); at != std::string::npos) arg.replace(at, 2, process);
      wrapper += arg + "\n";
    }
    if (!wrapper.empty()) env[process::kRuntimeWrapperVariable] = wrapper;
    return env;
  };
  auto common = [&](const std::string& process) {
    std::vector<std::string> argv;
    for (const std::string& arg : {exe.string(), std::string("--log-level"), options.log_level,
                                   std::string("--log-file"), (workspace / "logs" / (process + ".log")).string()})
      argv.push_back(arg);
    return argv;
  };
  const fs::path port_file = workspace / "server.port";
  fs::remove(port_file);
  auto server_argv = common("server");
  for (const std::string& a : {std::string("server"), std::string("--workspace"), workspace.string(),
                               std::string("--run-job"), recipe_file.string(), std::string("--job-id"), job_id,
                               std::string("--sites"), site_list, std::string("--port-file"), port_file.string(),
                               std::string("--chunk-kib"), std::to_string(sim.chunk_kib)})
    server_argv.push_back(a);
  for (const auto& o : options.overrides) server_argv.insert(server_argv.end(), {"--set", o});
  if (insecure) server_argv.push_back("--insecure");
  else {
    server_argv.push_back("--identity");
    server_argv.push_back((kits / "server").string());
  }
  server_argv.insert(server_argv.end(), plugin_args.begin(), plugin_args.end());

  const auto started = Clock::now();
  process::ChildProcess server(server_argv, environment("server", process::role_environment(recipe.memory.server_malloc_arena_max, recipe.memory.server_malloc_mmap_threshold_kib)),
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
    client_processes.emplace_back(argv, environment(name, process::role_environment(recipe.memory.client_malloc_arena_max, recipe.memory.client_malloc_mmap_threshold_kib)),
                                  workspace / "logs" / (name + ".out"));
  }

  // Progress, from the server's rounds.csv and metrics.csv: on a terminal one bar with the
  // rate and the time left; otherwise one line per finished round, the global model's
  // accuracy following as soon as the sites have evaluated it.
  const bool terminal = !options.json_summary && ::isatty(STDOUT_FILENO) == 1;
  std::size_t rounds_shown = 0, evaluations_shown = 0;
  std::map<std::int64_t, double> accuracy_after, round_seconds;
  std::optional<int> server_status;
  double last_server_rss = 0;
  auto draw_bar = [&] {
    const std::int64_t done = static_cast<std::int64_t>(round_seconds.size()), total = recipe.job.num_rounds;
    double sum = 0;
    for (const auto& [round, seconds] : round_seconds) sum += seconds;
    const double rate = done ? sum / static_cast<double>(done) : 0;
    constexpr int width = 30;
    const int filled = static_cast<int>(width * done / std::max<std::int64_t>(1, total));
    out << "\r  [" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done << "/" << total
              << " rounds";
    if (done) {
      out << std::fixed << std::setprecision(2) << "  " << rate << " s/round  ETA "
                << clock_text(rate * static_cast<double>(total - done));
      if (!accuracy_after.empty())
        out << "  accuracy " << std::setprecision(4) << accuracy_after.rbegin()->second;
      out << "  server " << std::setprecision(0) << last_server_rss << " MiB";
    }
    out << "\033[K" << std::flush;
  };
  auto show_progress = [&] {
    const auto rounds = jobs::read_rounds(job_dir.rounds_csv());
    for (; rounds_shown < rounds.size(); ++rounds_shown) {
      const auto& r = rounds[rounds_shown];
      round_seconds[r.round] = r.seconds;
      last_server_rss = r.server_rss_before_round_mb;
      if (terminal) continue;
      out << "  round " << std::setw(3) << r.round + 1 << "/" << recipe.job.num_rounds << "  " << std::fixed
                << std::setprecision(2) << std::setw(7) << r.seconds << " s";
      if (r.results) out << "  " << *r.results << " results";
      if (r.failed.value_or(0) > 0) out << ", " << *r.failed << " failed";
      out << "  server rss " << std::setprecision(1) << r.server_rss_before_round_mb << " MiB between rounds, "
                << r.server_round_peak_rss_mb << " at peak\n" << std::flush;
    }
    std::size_t seen = 0;
    for (const auto& m : jobs::read_metrics(job_dir.metrics_csv())) {
      if (m.site != "global" || !m.metrics.count("accuracy")) continue;
      if (++seen <= evaluations_shown) continue;
      accuracy_after[m.round] = m.metrics.at("accuracy");
      evaluations_shown = seen;
      if (terminal) continue;
      out << "           global model after round " << m.round + 1 << ": accuracy " << std::setprecision(4)
                << m.metrics.at("accuracy") << "\n" << std::flush;
    }
    if (terminal) draw_bar();
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
  if (terminal) out << "\n";

  jobs::print_summary(out, job_dir, total_seconds);
  if (options.json_summary) std::cout << jobs::summary_json(job_dir, total_seconds).dump() << "\n";
  const auto ended = job_dir.read_status();
  const bool completed = ended && ended->state == jobs::JobState::completed;
  if (!completed) {
    out << "  server log tail:\n" << tail(workspace / "logs" / "server.log", 10);
  }
  return server_status && *server_status == 0 && completed ? 0 : 1;
}

}  // namespace cohort::simulate
