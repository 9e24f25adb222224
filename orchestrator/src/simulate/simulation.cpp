#include "simulate/simulation.hpp"
#include "simulate/simulation_source.hpp"
#include "simulate/worker_plan.hpp"

#include "process/child_process.hpp"
#include "process/launch.hpp"
#include "process/role_environment.hpp"
#include "process/runtime_commands.hpp"

#include "config/recipe_file.hpp"
#include "jobs/job_summary.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "jobs/round_timeline.hpp"
#include "provisioning/local_project.hpp"

#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <csignal>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <set>
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
std::optional<ProbeResult> probe_site(const fs::path& recipe_file, const std::map<std::string, std::string>& environment,
                                      const SimulationOptions& options, std::int64_t sites,
                                      const std::vector<std::string>& plugin_paths, const fs::path& output,
                                      int& status) {
  process::RecipeProbeLaunch launch;
  launch.recipe = {recipe_file.string(), plugin_paths, options.overrides};
  launch.sites = sites;
  fs::remove(output);
  process::ChildProcess probe(process::command_line(process::self_executable().string(), {}, launch),
                              environment,
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

/// What every step of one simulation reads: the options, the recipe, its sites, where
/// things go. The launcher reads the recipe's sections only; the server process loads its
/// plugins (and fails at once, with the error's position, when one is wrong).
struct Simulation {
  explicit Simulation(const SimulationOptions& o)
      : options(o),
        out(o.json_summary ? std::cerr : std::cout),  // with a JSON summary, stdout holds only that
        recipe_file(fs::absolute(o.recipe)),
        recipe(config::read_recipe_file(recipe_file, o.overrides)),
        sites(config::hosted_sites(recipe, o.clients)),
        insecure(o.insecure.value_or(recipe.simulation.insecure)),
        workspace(fs::absolute(o.workspace.empty() ? fs::path("workspace") / (recipe.job.name + "-" +
                                                                              jobs::timestamp("%Y%m%d-%H%M%S"))
                                                   : o.workspace)) {
    for (const auto& d : o.plugin_dirs) plugin_paths.push_back(fs::absolute(d).string());
  }

  std::int64_t clients() const { return static_cast<std::int64_t>(sites.size()); }
  fs::path log(const std::string& file) const { return workspace / "logs" / file; }
  /// The memory environment of a server and of a client process (the recipe's [memory]).
  std::map<std::string, std::string> server_environment() const {
    return process::role_environment(recipe.memory.server_malloc_arena_max, recipe.memory.server_malloc_mmap_threshold_kib,
                                     recipe.simulation.reuse_model_memory);
  }
  std::map<std::string, std::string> client_environment() const {
    return process::role_environment(recipe.memory.client_malloc_arena_max, recipe.memory.client_malloc_mmap_threshold_kib,
                                     recipe.simulation.reuse_model_memory);
  }

  const SimulationOptions& options;
  std::ostream& out;
  const fs::path recipe_file;
  const config::RecipeFile recipe;
  const std::vector<std::string> sites;
  const bool insecure;
  const fs::path workspace;
  std::vector<std::string> plugin_paths;
};

/// How many client processes, and the line that says why.
struct WorkerChoice {
  std::int64_t workers = 0;
  std::string line;
};

/// As set, one for one site, or sized by a probe of one site's task (measured, not
/// guessed). Nothing when the probe failed; `status` is then the exit status.
std::optional<WorkerChoice> choose_workers(const Simulation& s, int& status) {
  const std::int64_t set = s.options.workers.value_or(s.recipe.simulation.workers);
  if (set != 0) return WorkerChoice{std::min(set, s.clients()), "workers: " + std::to_string(std::min(set, s.clients())) + " (as set)"};
  if (s.clients() == 1) return WorkerChoice{1, "workers: 1 (one site)"};
  const fs::path probe_output = s.options.plan_only
                                    ? fs::temp_directory_path() / ("cohort-probe-" + std::to_string(::getpid()) + ".out")
                                    : s.log("probe.out");
  if (!s.options.plan_only) fs::create_directories(s.workspace / "logs");
  s.out << "cohort simulate: probing one site's task to size the client processes...\n" << std::flush;
  const auto probe = probe_site(s.recipe_file, s.client_environment(), s.options, s.clients(), s.plugin_paths, probe_output, status);
  if (!probe && !interrupted) std::cerr << "the probe of one site's task failed (status " << status << "):\n" << tail(probe_output, 15);
  if (s.options.plan_only) fs::remove(probe_output);
  if (!probe) {
    status = status == 2 ? 2 : 1;
    return std::nullopt;
  }
  PlanInputs in;
  in.sites = s.clients();
  in.cores = usable_cores();
  in.site_peak_mb = probe->peak_rss_mb + probe->children_peak_rss_mb;
  in.site_kept_mb = probe->children_kept_rss_mb;
  machine_memory(in.total_mb, in.available_mb);
  in.limit_percent = s.recipe.memory.warn_percent;
  const WorkerPlan plan = plan_workers(in);
  std::ostringstream line;
  line << describe(plan, in) << "; the probe's task took " << std::fixed << std::setprecision(1) << probe->seconds << " s";
  return WorkerChoice{std::min(plan.workers, s.clients()), line.str()};
}

void print_plan(const Simulation& s, const WorkerChoice& w) {
  const std::int64_t per = s.clients() / w.workers;
  s.out << "plan: " << s.recipe.job.name << " (" << s.recipe.controller.plugin << " + " << s.recipe.executor.plugin << "), "
        << s.clients() << " sites, " << s.recipe.job.num_rounds << " rounds\n  " << w.line << "\n  sites per process: " << per
        << (s.clients() % w.workers ? " to " + std::to_string(per + 1) : std::string()) << "\n";
}

/// The workspace's logs folder and the project's kits (with TLS); says what will run.
void set_up(const Simulation& s, const WorkerChoice& w, const std::string& job_id) {
  fs::create_directories(s.workspace / "logs");
  if (!s.insecure) provisioning::provision_local(s.workspace / "kits", s.recipe.job.name, "server", s.sites);
  s.out << "cohort simulate: " << s.recipe.job.name << " (" << s.recipe.controller.plugin << " + " << s.recipe.executor.plugin
        << "), " << s.clients() << " sites in " << w.workers << " client processes, " << s.recipe.job.num_rounds << " rounds, "
        << (s.insecure ? "plain TCP" : "mutual TLS") << "\n  " << w.line << "\n  workspace " << s.workspace.string()
        << "\n  job       " << job_id << "\n" << std::flush;
  if (auto warning = config::privacy_warning(s.recipe.privacy, s.recipe.job.min_clients)) s.out << "  " << *warning << "\n";
}

/// Starts process `name` of the simulation from its launch description: its log in the
/// workspace, its role's memory environment `env`, under the wrapper (heaptrack) when one is
/// set, "%n" in it naming the process.
template <class Launch>
process::ChildProcess start(const Simulation& s, const std::string& name, Launch launch,
                            std::map<std::string, std::string> env) {
  launch.process.process_name = name;
  launch.process.workspace = s.workspace.string();
  launch.process.insecure = s.insecure;
  launch.process.plugin_paths = s.plugin_paths;
  launch.process.chunk_kib = s.recipe.simulation.chunk_kib;
  process::LogOptions log;
  log.level = s.options.log_level;
  log.file = s.log(name + ".log");
  std::string wrapper;
  for (std::string arg : s.options.process_wrapper) {
    if (auto at = arg.find("%n"); at != std::string::npos) arg.replace(at, 2, name);
    wrapper += arg + "\n";
  }
  if (!wrapper.empty()) env[process::kRuntimeWrapperVariable] = wrapper;
  return process::ChildProcess(process::command_line(process::self_executable().string(), log, launch), env,
                               s.log(name + ".out"));
}

/// The server of the job, which runs it and exits.
process::ChildProcess start_server(const Simulation& s, const std::string& job_id, const fs::path& port_file) {
  process::ServerLaunch server;
  server.run_job = s.recipe_file.string();
  server.job_id = job_id;
  server.overrides = s.options.overrides;
  for (const auto& site : s.sites) server.sites += (server.sites.empty() ? "" : ",") + site;
  server.port_file = port_file.string();
  if (!s.insecure) server.identity = (s.workspace / "kits" / "server").string();
  return start(s, "server", server, s.server_environment());
}

/// The port the server writes once it listens; nothing when it exited first (`status`: 2
/// for a wrong recipe, which the server's output locates) or the simulation was interrupted.
std::optional<std::string> wait_until_listening(const Simulation& s, process::ChildProcess& server, const fs::path& port_file,
                                                int& status) {
  for (std::string port;; std::this_thread::sleep_for(std::chrono::milliseconds(50))) {
    if (auto exited = server.poll()) {
      std::cerr << "the server exited (status " << *exited << ") before listening:\n" << tail(s.log("server.out"), 15);
      status = *exited == 2 ? 2 : 1;
      return std::nullopt;
    }
    if (interrupted) return std::nullopt;
    std::ifstream in(port_file);
    if (std::getline(in, port) && !port.empty()) return port;
  }
}

/// `workers` client processes hosting contiguous blocks of the sites (100 sites in 4
/// workers is 25 each), which exit when the server says goodbye.
std::vector<process::ChildProcess> start_clients(const Simulation& s, std::int64_t workers, const std::string& port) {
  std::vector<process::ChildProcess> clients;
  for (std::int64_t w = 0; w < workers; ++w) {
    process::ClientLaunch client;
    client.server = "127.0.0.1:" + port;
    client.exit_on_bye = true;
    for (std::int64_t i = s.clients() * w / workers; i < s.clients() * (w + 1) / workers; ++i) {
      if (s.insecure) client.sites.push_back(s.sites[i]);
      else client.identities.push_back((s.workspace / "kits" / s.sites[i]).string());
    }
    clients.push_back(start(s, "client-" + std::to_string(w + 1), client, s.client_environment()));
  }
  return clients;
}

/// Progress, from the server's rounds.csv and metrics.csv: on a terminal one bar with the
/// rate and the time left; otherwise one line per finished round, the global model's
/// accuracy following as soon as the sites have evaluated it.
class Progress {
 public:
  Progress(const Simulation& s, const jobs::JobDirectory& job)
      : s_(s), job_(job), terminal_(!s.options.json_summary && ::isatty(STDOUT_FILENO) == 1) {}

  void show() {
    show_rounds();
    show_accuracy();
    if (terminal_) draw_bar();
  }

  /// Ends the bar's line.
  void finish() {
    if (terminal_) s_.out << "\n";
  }

 private:
  void show_rounds() {
    const auto rounds = jobs::read_rounds(job_.rounds_csv());
    for (; rounds_shown_ < rounds.size(); ++rounds_shown_) {
      const auto& r = rounds[rounds_shown_];
      round_seconds_[r.round] = r.seconds;
      last_server_rss_ = r.server_rss_before_round_mb;
      if (terminal_) continue;
      s_.out << "  round " << std::setw(3) << r.round + 1 << "/" << s_.recipe.job.num_rounds << "  " << std::fixed
             << std::setprecision(2) << std::setw(7) << r.seconds << " s";
      if (r.results) s_.out << "  " << *r.results << " results";
      if (r.failed.value_or(0) > 0) s_.out << ", " << *r.failed << " failed";
      s_.out << "  server rss " << std::setprecision(1) << r.server_rss_before_round_mb << " MiB between rounds, "
             << r.server_round_peak_rss_mb << " at peak";
      if (r.epsilon) s_.out << "  ε " << std::setprecision(3) << *r.epsilon;
      s_.out << "\n" << std::flush;
    }
  }

  void show_accuracy() {
    std::size_t seen = 0;
    for (const auto& m : jobs::read_metrics(job_.metrics_csv())) {
      if (m.site != "global" || !m.metrics.count("accuracy")) continue;
      if (++seen <= evaluations_shown_) continue;
      accuracy_after_[m.round] = m.metrics.at("accuracy");
      evaluations_shown_ = seen;
      if (terminal_) continue;
      s_.out << "           global model after round " << m.round + 1 << ": accuracy " << std::setprecision(4)
             << m.metrics.at("accuracy") << "\n" << std::flush;
    }
  }

  void draw_bar() {
    const auto done = static_cast<std::int64_t>(round_seconds_.size()), total = s_.recipe.job.num_rounds;
    double sum = 0;
    for (const auto& [round, seconds] : round_seconds_) sum += seconds;
    const double rate = done ? sum / static_cast<double>(done) : 0;
    constexpr int width = 30;
    const int filled = static_cast<int>(width * done / std::max<std::int64_t>(1, total));
    s_.out << "\r  [" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done << "/" << total
           << " rounds";
    if (done) {
      s_.out << std::fixed << std::setprecision(2) << "  " << rate << " s/round  ETA "
             << clock_text(rate * static_cast<double>(total - done));
      if (!accuracy_after_.empty()) s_.out << "  accuracy " << std::setprecision(4) << accuracy_after_.rbegin()->second;
      s_.out << "  server " << std::setprecision(0) << last_server_rss_ << " MiB";
    }
    s_.out << "\033[K" << std::flush;
  }

  const Simulation& s_;
  const jobs::JobDirectory& job_;
  const bool terminal_;
  std::size_t rounds_shown_ = 0, evaluations_shown_ = 0;
  std::map<std::int64_t, double> accuracy_after_, round_seconds_;
  double last_server_rss_ = 0;
};

/// Shows progress until the server has exited (or, interrupted, stopped it); says once of
/// each client process that died (the server's error policy decides what that means for
/// the job). The server's exit status; nothing when it would not stop.
std::optional<int> watch(process::ChildProcess& server, std::vector<process::ChildProcess>& clients, Progress& progress) {
  std::set<pid_t> reported;
  while (true) {
    const auto status = server.wait_for(std::chrono::milliseconds(250));
    progress.show();
    if (status) return status;
    if (interrupted) {
      std::cerr << "interrupted: stopping the server and the clients\n";
      server.signal(SIGTERM);
      return server.wait_for(std::chrono::seconds(10));
    }
    for (auto& c : clients) {
      if (auto exited = c.poll(); exited && *exited != 0 && reported.insert(c.pid()).second)
        std::cerr << "  a client process exited with status " << *exited << "\n";
    }
  }
}

/// Gives the client processes 10 s to see the server's goodbye, then stops them.
void stop(std::vector<process::ChildProcess>& clients) {
  for (auto& c : clients) {
    if (!c.wait_for(std::chrono::seconds(10))) c.signal(SIGTERM);
    if (!c.wait_for(std::chrono::seconds(5))) c.signal(SIGKILL);
  }
}

/// The dashboard's page for the simulation's job on `listen`, serving now; its abort stops
/// the simulation as Ctrl-C does.
std::unique_ptr<dashboard::Dashboard> serve_dashboard(const Simulation& s, const std::string& job_id,
                                                      const std::string& listen) {
  auto address = config::parse_listen_address(listen, /*any_port=*/true);
  auto log = std::make_shared<spdlog::logger>("dashboard", std::make_shared<spdlog::sinks::stderr_sink_mt>());
  log->set_level(spdlog::level::warn);
  auto source = std::make_shared<SimulationSource>(s.workspace, job_id, s.recipe.job.name, s.recipe.job.num_rounds,
                                                   s.sites, [] { interrupted = 1; });
  auto page = std::make_unique<dashboard::Dashboard>(address, std::move(source), std::move(log));
  page->start();
  address.port = page->port();
  s.out << "  dashboard http://" << address.text() << "/ (while the job runs)\n" << std::flush;
  return page;
}

/// The summary (and its JSON); 0 when the job completed and the server exited cleanly.
int report(const Simulation& s, const jobs::JobDirectory& job, double seconds, std::optional<int> server_status) {
  jobs::print_summary(s.out, job, seconds);
  if (s.options.json_summary) std::cout << jobs::summary_json(job, seconds).dump() << "\n";
  const auto ended = job.read_status();
  const bool completed = ended && ended->state == jobs::JobState::completed;
  if (!completed) s.out << "  server log tail:\n" << tail(s.log("server.log"), 10);
  return server_status == 0 && completed ? 0 : 1;
}

}  // namespace

int run_simulation(const SimulationOptions& options, spdlog::logger&) {
  const Simulation s(options);
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  int status = 0;
  const auto workers = choose_workers(s, status);
  if (!workers) return status;
  if (options.plan_only) {
    print_plan(s, *workers);
    return 0;
  }
  const std::string job_id = options.job_id.empty() ? jobs::new_job_id() : options.job_id;
  const jobs::JobDirectory job(s.workspace, job_id);
  set_up(s, *workers, job_id);

  const auto started = Clock::now();
  const fs::path port_file = s.workspace / "server.port";
  fs::remove(port_file);
  auto server = start_server(s, job_id, port_file);
  const auto port = wait_until_listening(s, server, port_file, status);
  if (!port) return interrupted ? 1 : status;
  auto clients = start_clients(s, workers->workers, *port);
  const auto page = options.dashboard ? serve_dashboard(s, job_id, *options.dashboard) : nullptr;
  Progress progress(s, job);
  const auto server_status = watch(server, clients, progress);
  stop(clients);
  progress.finish();
  return report(s, job, std::chrono::duration<double>(Clock::now() - started).count(), server_status);
}

}  // namespace cohort::simulate
