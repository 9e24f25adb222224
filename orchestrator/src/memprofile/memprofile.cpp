#include "memprofile/memprofile.hpp"

#include "memprofile/heaptrack_report.hpp"
#include "process/child_process.hpp"
#include "process/launch.hpp"
#include "process/role_environment.hpp"
#include "process/runtime_commands.hpp"
#include "simulate/simulation.hpp"
#include "jobs/csv.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"

#include <cohort/error.hpp>
#include <spdlog/logger.h>

#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <sstream>

namespace fs = std::filesystem;

namespace cohort::memprofile {

namespace {

/// A process's role from its name: the server ("server", or rank 0 under MPI) or a client.
std::string role_of(const std::string& process) {
  return process == "server" || process == "rank-0" ? "server" : "client";
}

std::string setting_name(std::int64_t n) { return n == 0 ? "gc_rounds=0 (disabled)" : "gc_rounds=" + std::to_string(n); }

// ---- one setting ----------------------------------------------------------------

int run_single(const MemprofileOptions& o, std::int64_t n, spdlog::logger& log) {
  const fs::path dir = fs::absolute(o.output);
  fs::create_directories(dir);
  {
    std::ofstream out(dir / "recipe.toml");
    out << experiment_recipe(o, n);
  }
  if (o.allocator == "jemalloc") setenv("COHORT_ENABLE_JEMALLOC_PRELOAD", "true", 1);
  else unsetenv("COHORT_ENABLE_JEMALLOC_PRELOAD");

  const fs::path workspace = dir / "ws";
  fs::remove_all(workspace);
  std::cout << "memprofile: " << setting_name(n) << ", " << o.num_rounds << " rounds, " << o.num_clients
            << " clients, model " << o.model_size_mb << " MB, " << o.allocator
            << (o.heaptrack ? ", under heaptrack" : "") << (o.transport == "mpi" ? ", under mpirun" : "") << "\n";
  int status = 0;
  if (o.transport == "mpi") {
    // Rank 0 the server, ranks 1..clients one client each; heaptrack names each profile
    // after the rank (its environment's), as the job names the ranks' memory files.
    std::vector<std::string> argv{"mpirun", "--oversubscribe", "-n", std::to_string(o.num_clients + 1)};
    if (::geteuid() == 0) argv.push_back("--allow-run-as-root");
    std::map<std::string, std::string> env;
    if (o.heaptrack) {
      fs::create_directories(dir / "heaptrack");
      env[process::kRuntimeWrapperVariable] = "heaptrack\n-o\n" + (dir / "heaptrack" / "rank-%r").string() + "\n";
      argv.insert(argv.end(), {"-x", process::kRuntimeWrapperVariable});
    }
    process::MpiLaunch mpi;
    mpi.recipe = (dir / "recipe.toml").string();
    mpi.workspace = workspace.string();
    for (auto& arg : process::command_line(process::self_executable().string(), {}, mpi)) argv.push_back(std::move(arg));
    status = process::ChildProcess(argv, env, dir / "mpirun.out").wait();
    if (status != 0) std::cerr << "mpirun exited " << status << ": see " << (dir / "mpirun.out").string() << "\n";
  } else {
    simulate::SimulationOptions sim;
    sim.recipe = dir / "recipe.toml";
    sim.workspace = workspace;
    if (o.insecure) sim.insecure = true;
    if (o.heaptrack) sim.process_wrapper = {"heaptrack", "-o", (dir / "heaptrack" / "%n").string()};
    status = simulate::run_simulation(sim, log);
  }
  const fs::path job = jobs::JobDirectory::only_job(workspace).root();

  {
    jobs::CsvWriter result(dir / "result.csv", {"process", "role", "initial_mb", "final_mb", "peak_mb", "increase_mb"});
    for (const auto& f : figures_of(job)) {
      result.append({f.process, f.role, jobs::fixed(f.initial_mb, 2), jobs::fixed(f.final_mb, 2),
                     jobs::fixed(f.peak_mb, 2), jobs::fixed(f.increase_mb(), 2)});
    }
  }
  if (o.heaptrack) {
    jobs::CsvWriter report(dir / "heaptrack.csv", {"process", "peak_heap", "peak_rss", "leaked", "flame_graph", "top_sites"});
    for (const auto& e : fs::directory_iterator(dir / "heaptrack")) {
      if (e.path().extension() != ".zst" && e.path().extension() != ".gz") continue;
      const std::string process = e.path().stem().string();
      auto r = analyse_heaptrack(e.path(), process, dir / "heaptrack");
      std::string sites;
      for (const auto& s : r.top_sites) sites += (sites.empty() ? "" : " | ") + s.bytes + " in " + s.function;
      report.append({process, r.peak_heap, r.peak_rss, r.leaked, fs::relative(r.flame_graph, dir).string(), sites});
      std::cout << "  heaptrack " << process << ": peak heap " << r.peak_heap << ", leaked " << r.leaked
                << ", top site " << (r.top_sites.empty() ? "-" : r.top_sites.front().bytes + " in " + r.top_sites.front().function)
                << "\n    flame graph " << r.flame_graph.string() << "\n";
    }
  }
  return status;
}

// ---- the whole experiment ----------------------------------------------------------

struct Setting {
  std::int64_t n;
  fs::path dir;
  std::vector<ProcessFigures> figures;
};

/// Mean figures of the processes of `role`.
std::optional<ProcessFigures> role_mean(const std::vector<ProcessFigures>& figures, const std::string& role) {
  ProcessFigures mean;
  int count = 0;
  for (const auto& f : figures) {
    if (f.role != role) continue;
    mean.initial_mb += f.initial_mb;
    mean.final_mb += f.final_mb;
    mean.peak_mb += f.peak_mb;
    ++count;
  }
  if (!count) return std::nullopt;
  mean.initial_mb /= count;
  mean.final_mb /= count;
  mean.peak_mb /= count;
  mean.role = role;
  return mean;
}

std::string summary_table(const std::vector<Setting>& settings, const std::string& role) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(1);
  out << "SUMMARY (" << role << (role == "client" ? ", mean over client processes" : "") << ")\n"
      << std::left << std::setw(28) << "Setting" << std::right << std::setw(12) << "Initial MB" << std::setw(11)
      << "Final MB" << std::setw(11) << "Peak MB" << std::setw(11) << "Increase" << "\n"
      << std::string(73, '-') << "\n";
  std::optional<double> disabled;
  for (const auto& s : settings) {
    if (auto m = role_mean(s.figures, role); m && s.n == 0) disabled = m->increase_mb();
  }
  for (const auto& s : settings) {
    auto m = role_mean(s.figures, role);
    if (!m) continue;
    out << std::left << std::setw(28) << setting_name(s.n) << std::right << std::setw(12) << m->initial_mb
        << std::setw(11) << m->final_mb << std::setw(11) << m->peak_mb << std::setw(10) << std::showpos
        << m->increase_mb() << std::noshowpos << "\n";
  }
  out << std::string(73, '-') << "\n";
  for (const auto& s : settings) {
    auto m = role_mean(s.figures, role);
    if (!m || s.n == 0 || !disabled || *disabled <= 0) continue;
    out << setting_name(s.n) << " vs disabled: " << 100.0 * (1.0 - m->increase_mb() / *disabled) << "% reduction\n";
  }
  return out.str();
}

void write_plots(const fs::path& out, const std::vector<Setting>& settings) {
  // Per-series data files for gnuplot, and the long-form CSV users can load themselves.
  fs::create_directories(out / "series");
  jobs::CsvWriter csv(out / "rss.csv", {"setting", "process", "elapsed_s", "rss_mb", "tensor_mb", "round"});
  std::vector<std::pair<std::string, std::string>> server_series, client_series;
  for (const auto& s : settings) {
    const fs::path memory = jobs::JobDirectory::only_job(s.dir / "ws").memory_folder();
    for (const auto& e : fs::directory_iterator(memory)) {
      const std::string process = e.path().stem().string();
      const fs::path series = out / "series" / ("gc" + std::to_string(s.n) + "_" + process + ".dat");
      std::ofstream dat(series);
      for (const auto& row : jobs::read_memory(e.path())) {
        csv.append({std::to_string(s.n), process, jobs::fixed(row.elapsed_s, 3), jobs::fixed(row.rss_mb, 2),
                    row.tensor_mb ? jobs::fixed(*row.tensor_mb, 2) : "", std::to_string(row.round)});
        dat << row.elapsed_s << " " << row.rss_mb << "\n";
      }
      // The server and the first client of each setting.
      const bool server = role_of(process) == "server";
      if (server || process == "client-1" || process == "rank-1")
        (server ? server_series : client_series)
            .emplace_back(series.string(), setting_name(s.n) + (server ? "" : " (" + process + ")"));
    }
  }
  auto plot = [&](std::ostream& gp, const std::string& title, const std::vector<std::pair<std::string, std::string>>& series) {
    gp << "set title '" << title << "'\nset xlabel 'seconds'\nset ylabel 'RSS (MiB)'\nset key left top\nset grid\nplot ";
    for (std::size_t i = 0; i < series.size(); ++i)
      gp << (i ? ", " : "") << "'" << series[i].first << "' using 1:2 with lines lw 2 title '" << series[i].second << "'";
    gp << "\n";
  };
  for (const auto& [terminal, file] : {std::pair<std::string, std::string>{"pngcairo size 1200,800", "rss.png"},
                                       {"svg size 1200,800 dynamic", "rss.svg"}}) {
    std::ofstream gp(out / "plot.gp");
    gp << "set terminal " << terminal << " noenhanced\nset output '" << (out / file).string() << "'\nset multiplot layout 2,1\n";
    plot(gp, "Server RSS over time", server_series);
    plot(gp, "Client RSS over time", client_series);
    gp << "unset multiplot\n";
    gp.close();
    process::run_gnuplot(out / "plot.gp", file);
  }
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_html(const fs::path& out, const MemprofileOptions& o, const std::vector<Setting>& settings,
                const std::string& server_table, const std::string& client_table) {
  std::ofstream html(out / "report.html");
  html << "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>cohort memprofile</title>"
       << "<style>body{font-family:sans-serif;margin:2em;max-width:1250px} pre{background:#f5f5f5;padding:1em}"
       << " td,th{padding:4px 10px;text-align:left}</style></head><body><h1>cohort memprofile</h1><p>FedAvg, "
       << o.num_rounds << " rounds, " << o.num_clients << " clients, synthetic model of " << o.model_size_mb
       << " MB, allocator " << o.allocator << (o.arena_max ? ", MALLOC_ARENA_MAX " + std::to_string(*o.arena_max) : "")
       << ", mmap threshold " << (o.mmap_threshold_kib ? (*o.mmap_threshold_kib ? std::to_string(*o.mmap_threshold_kib) + " KiB" : std::string("glibc's dynamic one")) : std::string("cohort's default (4096 KiB)"))
       << ". Each setting ran in its own process tree. Initial RSS is sampled before the model exists.</p>"
       << "<h2>Summary</h2><pre>" << server_table << "\n" << client_table << "</pre>"
       << "<h2>RSS over time</h2>" << read_text(out / "rss.svg")
       << "<p>Data: <a href=\"rss.csv\">rss.csv</a>, <a href=\"summary.csv\">summary.csv</a>, <a href=\"rss.png\">rss.png</a>."
       << " Each setting's job (logs, memory files, rounds.csv) is under <code>gc&lt;N&gt;/ws/jobs/</code>.</p>";
  if (o.heaptrack) {
    html << "<h2>heaptrack</h2><table><tr><th>setting</th><th>process</th><th>peak heap</th><th>leaked</th>"
         << "<th>top allocation sites at the peak</th><th>flame graph</th></tr>";
    for (const auto& s : settings) {
      for (const auto& row : jobs::CsvTable::read(s.dir / "heaptrack.csv").rows()) {
        const std::string graph = fs::relative(s.dir / row.text("flame_graph"), out).string();
        html << "<tr><td>" << setting_name(s.n) << "</td><td>" << row.text("process") << "</td><td>"
             << row.text("peak_heap") << "</td><td>" << row.text("leaked") << "</td><td><small>"
             << row.text("top_sites") << "</small></td><td><a href=\"" << graph << "\">open</a></td></tr>";
      }
    }
    html << "</table>";
  }
  html << "</body></html>\n";
}

}  // namespace

std::string experiment_recipe(const MemprofileOptions& o, std::int64_t n) {
  std::ostringstream r;
  r << "# cohort memprofile: " << setting_name(n) << "\n"
    << "[job]\nname = \"memprofile-gc" << n << "\"\nnum_rounds = " << o.num_rounds << "\nmin_clients = " << o.num_clients
    << "\n\n[controller]\nplugin = \"fedavg\"\n[controller.args]\nfinal_validation = false\n\n"
    << "[executor]\nplugin = \"synthetic\"\n\n[model]\narch = \"synthetic\"\nsize_mb = " << o.model_size_mb
    << "\ntensors = 4\n\n[memory]\nserver_memory_gc_rounds = " << n << "\nclient_memory_gc_rounds = " << n
    << "\nmonitor_interval_ms = 200\n";
  if (o.arena_max) r << "server_malloc_arena_max = " << *o.arena_max << "\nclient_malloc_arena_max = " << *o.arena_max << "\n";
  if (o.mmap_threshold_kib)
    r << "server_malloc_mmap_threshold_kib = " << *o.mmap_threshold_kib << "\nclient_malloc_mmap_threshold_kib = "
      << *o.mmap_threshold_kib << "\n";
  r << "\n[simulation]\nclients = " << o.num_clients << "\nworkers = " << o.num_clients << "\n";
  return r.str();
}

std::vector<ProcessFigures> figures_of(const fs::path& job) {
  std::vector<ProcessFigures> out;
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(jobs::JobDirectory::at(job).memory_folder()))
    files.push_back(e.path());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    const auto rows = jobs::read_memory(file);
    if (rows.empty()) continue;
    ProcessFigures f;
    f.process = file.stem().string();
    f.role = role_of(f.process);
    f.initial_mb = rows.front().rss_mb;
    f.final_mb = rows.back().rss_mb;
    for (const auto& row : rows) f.peak_mb = std::max(f.peak_mb, row.rss_mb);
    out.push_back(f);
  }
  return out;
}

int run_memprofile(const MemprofileOptions& o, spdlog::logger& log) {
  if (o.allocator != "glibc" && o.allocator != "jemalloc")
    throw ConfigError({"--allocator"}, "expected glibc or jemalloc, got '" + o.allocator + "'");
  if (o.allocator == "jemalloc" && !process::find_jemalloc())
    throw ConfigError({"--allocator"}, "jemalloc: no jemalloc installed (apt-get install libjemalloc2)");
  if (o.transport != "tls" && o.transport != "mpi")
    throw ConfigError({"--transport"}, "expected tls or mpi, got '" + o.transport + "'");
  if (o.single) return run_single(o, *o.single, log);

  const fs::path out = fs::absolute(o.output) / jobs::timestamp("%Y%m%d_%H%M%S");
  fs::create_directories(out);
  std::vector<Setting> settings;
  for (auto n : o.gc_rounds) {
    Setting s{n, out / ("gc" + std::to_string(n)), {}};
    // Each setting in its own process tree: nothing one leaves behind skews the next.
    process::MemprofileLaunch setting = o;
    setting.single = n;
    setting.output = s.dir;
    const auto argv = process::command_line(process::self_executable().string(), {}, setting);
    std::cout << "running " << setting_name(n) << " ..." << std::flush;
    process::ChildProcess child(argv, {}, out / ("gc" + std::to_string(n) + ".out"));
    const int status = child.wait_for(std::chrono::hours(24)).value_or(-1);
    if (status != 0) {
      std::cerr << "\n" << setting_name(n) << " failed (status " << status << "): see " << (out / ("gc" + std::to_string(n) + ".out")).string() << "\n";
      return 1;
    }
    s.figures = figures_of(jobs::JobDirectory::only_job(s.dir / "ws").root());
    std::cout << " done\n";
    settings.push_back(std::move(s));
  }

  {
    jobs::CsvWriter summary(out / "summary.csv",
                            {"setting", "process", "role", "initial_mb", "final_mb", "peak_mb", "increase_mb"});
    for (const auto& s : settings)
      for (const auto& f : s.figures)
        summary.append({std::to_string(s.n), f.process, f.role, jobs::fixed(f.initial_mb, 2), jobs::fixed(f.final_mb, 2),
                        jobs::fixed(f.peak_mb, 2), jobs::fixed(f.increase_mb(), 2)});
  }
  const std::string server_table = summary_table(settings, "server");
  const std::string client_table = summary_table(settings, "client");
  write_plots(out, settings);
  write_html(out, o, settings, server_table, client_table);
  std::cout << "\nFedAvg memory profile" << (o.transport == "mpi" ? " under MPI (rank 0 the server)" : "") << ": "
            << o.num_rounds << " rounds, " << o.num_clients << " clients, model "
            << o.model_size_mb << " MB, allocator " << o.allocator << ", mmap threshold "
            << (o.mmap_threshold_kib ? (*o.mmap_threshold_kib ? std::to_string(*o.mmap_threshold_kib) + " KiB" : std::string("glibc dynamic")) : std::string("4096 KiB (default)"))
            << "\n\n"
            << server_table << "\n" << client_table << "\nresults in " << out.string() << "\n  report.html (open it in a browser), rss.png, rss.csv, summary.csv\n";
  return 0;
}

int compare_memprofiles(const fs::path& a, const fs::path& b, const fs::path& output) {
  struct Figures {
    double initial = 0, final = 0, peak = 0;
  };
  using Key = std::pair<std::string, std::string>;  // setting, process
  auto read = [](const fs::path& folder) {
    const fs::path file = folder / "summary.csv";
    if (!fs::exists(file))
      throw IoError(folder, "is not a memprofile folder (it has no summary.csv)");
    std::map<Key, Figures> out;
    for (const auto& row : jobs::CsvTable::read(file).rows()) {
      out[{row.text("setting"), row.text("process")}] = {row.number("initial_mb").value_or(0),
                                                         row.number("final_mb").value_or(0),
                                                         row.number("peak_mb").value_or(0)};
    }
    return out;
  };
  const auto before = read(a), after = read(b);
  auto change = [](double from, double to) { return from > 0 ? jobs::fixed(100.0 * (to - from) / from, 1) + " %" : std::string("-"); };
  fs::create_directories(output);
  jobs::CsvWriter csv(output / "compare.csv", {"setting", "process", "initial_a_mb", "initial_b_mb", "final_a_mb",
                                               "final_b_mb", "final_change_percent", "peak_a_mb", "peak_b_mb",
                                               "peak_change_percent"});
  std::ostringstream table;
  table << "A: " << a.string() << "\nB: " << b.string() << "\n\n"
        << std::left << std::setw(10) << "setting" << std::setw(10) << "process" << std::right << std::setw(12)
        << "final A" << std::setw(10) << "final B" << std::setw(10) << "change" << std::setw(10) << "peak A"
        << std::setw(10) << "peak B" << std::setw(10) << "change" << "\n";
  std::size_t shared = 0;
  for (const auto& [key, x] : before) {
    auto it = after.find(key);
    if (it == after.end()) continue;
    const auto& y = it->second;
    ++shared;
    csv.append({key.first, key.second, jobs::fixed(x.initial, 2), jobs::fixed(y.initial, 2), jobs::fixed(x.final, 2),
                jobs::fixed(y.final, 2), change(x.final, y.final), jobs::fixed(x.peak, 2), jobs::fixed(y.peak, 2),
                change(x.peak, y.peak)});
    table << std::left << std::setw(10) << ("gc" + key.first) << std::setw(10) << key.second << std::right << std::fixed
          << std::setprecision(1) << std::setw(12) << x.final << std::setw(10) << y.final << std::setw(10)
          << change(x.final, y.final) << std::setw(10) << x.peak << std::setw(10) << y.peak << std::setw(10)
          << change(x.peak, y.peak) << "\n";
  }
  if (shared == 0) throw ConfigError({}, "the two memprofile folders have no setting and process in common");
  std::cout << table.str() << "\n(MiB of RSS; change from A to B)\nwritten to " << (output / "compare.csv").string() << "\n";
  return 0;
}

}  // namespace cohort::memprofile
