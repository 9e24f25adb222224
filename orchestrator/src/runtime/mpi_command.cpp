// cohort mpi: one job under mpirun (or srun). Rank 0 runs the job's server side (its
// controller, hooks, checkpoints and results, as `simulate` leaves them); ranks 1..N-1 host
// its sites, spread over them in contiguous blocks; the bytes go over MPI
// (mpi/mpi_transport.hpp) instead of TCP, and nothing else changes.
#include "runtime/commands.hpp"
#include "runtime/single_job.hpp"
#include "plugin/registry.hpp"
#include "process/launch.hpp"
#include "process/runtime_commands.hpp"

#ifdef COHORT_WITH_MPI
#include "client/client_process.hpp"
#include "config/recipe_file.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_summary.hpp"
#include "mpi/mpi_transport.hpp"
#include "process/logging.hpp"
#include "process/signals.hpp"
#include "server/server.hpp"

#include "memory/memory.hpp"

#include <spdlog/logger.h>

#include <iostream>
#include <mutex>
#endif

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace cohort::runtime {

namespace {

namespace fs = std::filesystem;

using MpiArgs = process::MpiLaunch;

#ifdef COHORT_WITH_MPI

/// The rank of each site: contiguous blocks over ranks 1..ranks-1 (100 sites on 4 client
/// ranks: 25 each), as `simulate` spreads them over its client processes.
std::vector<int> site_ranks(std::size_t sites, int ranks) {
  const std::size_t workers = static_cast<std::size_t>(ranks - 1);
  std::vector<int> rank_of(sites);
  for (std::size_t w = 0; w < workers; ++w) {
    for (std::size_t i = sites * w / workers; i < sites * (w + 1) / workers; ++i) rank_of[i] = static_cast<int>(w) + 1;
  }
  return rank_of;
}

int run_server_rank(mpi::MpiSession& session, mpi::MpiTransport& transport, const SingleJob& job, LoadedJob loaded,
                    const std::vector<std::string>& sites, const std::vector<int>& rank_of, std::size_t chunk_bytes,
                    const std::shared_ptr<spdlog::logger>& log) {
  const std::string name = loaded.recipe.job.name, controller = loaded.recipe.controller.plugin,
                    executor = loaded.recipe.executor.plugin;
  const auto rounds = loaded.recipe.job.num_rounds;
  server::ServerOptions options;
  options.listen = false;
  options.connection.chunk_bytes = chunk_bytes;
  options.reconnect_grace = std::chrono::milliseconds(0);  // a rank's link does not come back
  server::Server server(options, log);
  server.start();
  for (std::size_t i = 0; i < sites.size(); ++i) {
    server.attach(transport.open(rank_of[i], static_cast<int>(i) + 1,
                                 sites[i] + " (rank " + std::to_string(rank_of[i]) + ")"));
  }
  // A site's rank that leaves before the job's end cannot come back: the job ends, saying
  // which and why.
  std::mutex mutex;
  server::JobRunner* running = nullptr;
  transport.on_peer_closed([&](int peer, int channel, const std::string& reason) {
    std::lock_guard lock(mutex);
    if (!running) return;
    const std::string why = sites[static_cast<std::size_t>(channel - 1)] + " on rank " + std::to_string(peer) +
                            " left the job: " + reason;
    log->error("{}", why);
    running->abort(why);
  });
  transport.start();
  std::cout << "cohort mpi: " << name << " (" << controller << " + " << executor << "), " << sites.size()
            << " sites on ranks 1-" << session.size() - 1 << ", " << rounds << " rounds, over " << session.library()
            << "\n  workspace " << job.workspace.string() << "\n  job       " << job.job_id << "\n"
            << std::flush;
  const auto started = std::chrono::steady_clock::now();
  const auto result = run_single_job(server, job, std::move(loaded), log, [&](server::JobRunner* runner) {
    std::lock_guard lock(mutex);
    running = runner;
  });
  server.stop("job " + std::string(jobs::to_string(result.state)), true);
  transport.stop("job ended", std::chrono::seconds(10));
  jobs::print_summary(std::cout, jobs::JobDirectory(job.workspace, job.job_id),
                      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (result.state != jobs::JobState::completed)
    std::cout << "  the job ended " << jobs::to_string(result.state) << ": " << result.message << "\n";
  return result.state == jobs::JobState::completed ? process::kExitOk : process::kExitFailure;
}

int run_site_rank(mpi::MpiSession& session, mpi::MpiTransport& transport, const SingleJob& job,
                  const std::vector<std::string>& sites, const std::vector<int>& rank_of, std::size_t chunk_bytes,
                  const std::shared_ptr<spdlog::logger>& log) {
  client::ClientOptions options;
  options.process_name = job.process_name;
  options.workspace = job.workspace;
  options.plugin_dirs = job.plugin_dirs;
  options.exit_on_final_bye = true;
  options.connection.chunk_bytes = chunk_bytes;
  std::map<std::string, std::shared_ptr<net::Link>> links;
  for (std::size_t i = 0; i < sites.size(); ++i) {
    if (rank_of[i] != session.rank()) continue;
    options.sites.push_back({sites[i], std::nullopt});
    links[sites[i]] = transport.open(0, static_cast<int>(i) + 1, sites[i] + "->rank 0");
  }
  options.open_link = [&links](const std::string& site) { return links.at(site); };
  client::ClientProcess process(options, log);
  process::SignalWatcher signals([&](int signal) {
    log->info("signal {}: stopping", signal);
    process.stop(0);
  });
  transport.start();
  const int status = process.run();
  transport.stop(status == 0 ? "site rank done" : "site rank failed (see its log)", std::chrono::seconds(5));
  return status;
}

int run_mpi(const MpiArgs& a, const GlobalOptions& global) {
  // Before MPI starts its threads, which would otherwise take SIGTERM (mpirun's, when a
  // rank died) and end the process before the job could say why it ended.
  process::block_termination_signals();
  mpi::MpiSession session;
  const int rank = session.rank();
  SingleJob job;
  job.recipe_file = fs::absolute(a.recipe);
  job.overrides = a.overrides;
  job.process_name = "rank-" + std::to_string(rank);
  job.on_signal = "mpirun ended the job: a rank died, or mpirun was stopped";
  job.start_timeout = std::chrono::milliseconds(static_cast<std::int64_t>(a.start_timeout_s * 1000));
  for (const auto& p : a.plugin_paths) job.plugin_dirs.push_back(fs::absolute(p));
  for (const auto& d : plugin::Registry::default_directories()) job.plugin_dirs.push_back(d);

  // Every rank reads the recipe and loads its plugins; rank 0 alone says what is wrong,
  // and every rank exits with the same status.
  std::optional<LoadedJob> loaded;
  std::vector<std::string> sites;
  int status = process::kExitOk;
  try {
    if (session.size() < 2)
      throw process::ExitStatusError(process::kExitUsage, "cohort mpi needs 2 ranks or more (mpirun -n 3 ...): rank 0 runs the server, the "
                                  "others host the sites");
    loaded = load_job(job);
    sites = config::hosted_sites(loaded->recipe);
    if (sites.size() < static_cast<std::size_t>(session.size() - 1))
      throw process::ExitStatusError(process::kExitUsage, job.recipe_file.string() + " has " + std::to_string(sites.size()) + " sites for " +
                                  std::to_string(session.size() - 1) +
                                  " site ranks: start at most " + std::to_string(sites.size() + 1) +
                                  " ranks, or set [simulation] clients");
  } catch (...) {
    status = process::report_current_error(rank == 0);
  }
  if (const int worst = session.max(status); worst != process::kExitOk) {
    if (rank == 0 && status == process::kExitOk)
      std::cerr << "error: another rank could not load " << job.recipe_file.string() << " (its log says why)\n";
    return worst;
  }

  // Rank 0 names the job and its workspace for every rank.
  job.job_id = session.broadcast(a.job_id.empty() ? jobs::new_job_id() : a.job_id);
  job.workspace = session.broadcast(
      fs::absolute(a.workspace.empty()
                       ? fs::path("workspace") / (loaded->recipe.job.name + "-" + jobs::timestamp("%Y%m%d-%H%M%S"))
                       : fs::path(a.workspace))
          .string());
  fs::create_directories(job.workspace / "logs");
  process::LogOptions log_options = global.log;
  if (log_options.file.empty()) log_options.file = job.workspace / "logs" / (job.process_name + ".log");
  auto log = process::make_logger(job.process_name, log_options);
  memory::enable_tensor_accounting();

  const std::size_t chunk_bytes = static_cast<std::size_t>(a.chunk_kib) * 1024;
  mpi::MpiTransport transport(session, mpi::MpiOptions{{}, chunk_bytes}, log);
  const auto rank_of = site_ranks(sites.size(), session.size());
  if (rank == 0) return run_server_rank(session, transport, job, std::move(*loaded), sites, rank_of, chunk_bytes, log);
  return run_site_rank(session, transport, job, sites, rank_of, chunk_bytes, log);
}

#else

int run_mpi(const MpiArgs&, const GlobalOptions&) {
  throw std::runtime_error(
      "this cohort was built without MPI: install Open MPI (libopenmpi-dev; cmake/install-deps.sh does) and "
      "configure again");
}

#endif

}  // namespace

void add_mpi_command(CLI::App& app, GlobalOptions& global, Command& run) {
  auto* cmd = app.add_subcommand("mpi", process::runtime_command_description("mpi"));
  auto a = std::make_shared<MpiArgs>();
  process::add_options(*cmd, *a);
  cmd->callback([&run, &global, a] { run = [&global, a] { return run_mpi(*a, global); }; });
}

}  // namespace cohort::runtime
