#include "compare/compare.hpp"

#include "config/recipe_file.hpp"
#include "jobs/csv.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "process/child_process.hpp"
#include "process/launch.hpp"

#include <cohort/error.hpp>
#include <spdlog/logger.h>

#include <algorithm>
#include <cmath>
#include <csignal>
#include <ctime>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <map>
#include <optional>
#include <sstream>
#include <thread>

#include <signal.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace cohort::compare {

namespace {

using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t interrupted = 0;
void on_interrupt(int) { interrupted = 1; }

/// `name` as a folder name and a gnuplot title: letters, digits, '.', '-', '_' and '='.
std::string plain(const std::string& name) {
  std::string out;
  for (const char c : name) out += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_' || c == '=' ? c : '_';
  return out;
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The plugin folders the methods are checked and run with, absolute.
std::vector<std::string> plugin_paths(const CompareOptions& o) {
  std::vector<std::string> out;
  for (const auto& d : o.plugin_dirs) out.push_back(fs::absolute(d).string());
  return out;
}

/// What compare needs of a method's recipe before it runs.
struct Checked {
  std::int64_t num_rounds = 0;
  std::int64_t seed = 0;
};

/// The method's recipe with its overrides, checked by `cohort recipe check` (its plugins
/// parse their args): nothing when it is wrong, the error printed.
std::optional<Checked> check_method(const Method& m, const CompareOptions& o, const fs::path& scratch) {
  const auto recipe = config::read_recipe_file(m.recipe, m.overrides);  // ConfigError: exit 2 with its place
  process::RecipeCheckLaunch check;
  check.recipe = {m.recipe.string(), plugin_paths(o), m.overrides};
  fs::remove(scratch);
  if (process::run_to_end(process::command_line(process::self_executable().string(), {}, check), scratch) != 0) {
    std::string text = read_text(scratch);
    const auto at = text.find("error: ");
    std::cerr << "method '" << m.name << "': " << (at == std::string::npos ? text : text.substr(at + 7));
    return std::nullopt;
  }
  return Checked{recipe.job.num_rounds, recipe.job.seed};
}

/// Waits for the run's process tree: the `cohort simulate` (a session of its own, so its
/// group holds the tree), then whatever of the group outlived it. Returns the simulate's
/// exit status and says when something had to be killed.
int wait_for_tree(process::ChildProcess& child, const std::function<void()>& progress, spdlog::logger& log) {
  const pid_t group = child.pid();
  std::optional<int> status;
  bool asked_to_stop = false;
  auto stop_asked = Clock::now();
  while (!(status = child.wait_for(std::chrono::milliseconds(500)))) {
    progress();
    if (interrupted && !asked_to_stop) {
      // simulate stops its server and clients on SIGINT and writes its summary.
      child.signal(SIGINT);
      asked_to_stop = true;
      stop_asked = Clock::now();
    }
    if (asked_to_stop && Clock::now() - stop_asked > std::chrono::seconds(30)) {
      log.warn("the run did not stop within 30 s of being interrupted: killing its processes");
      ::kill(-group, SIGKILL);
    }
  }
  // Nothing of the run may outlive it (reparented processes are reaped by init at once).
  for (int i = 0; i < 40 && ::kill(-group, 0) == 0; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  if (::kill(-group, 0) == 0) {
    log.warn("processes of the run outlived it: killed");
    std::cerr << "  processes of this run outlived it: killed\n";
    ::kill(-group, SIGKILL);
  }
  return *status;
}

void write_csv(const fs::path& file, const std::vector<std::string>& columns,
               const std::vector<std::vector<std::string>>& rows) {
  const fs::path partial = file.string() + ".partial";
  fs::remove(partial);
  {
    jobs::CsvWriter csv(partial, columns);
    for (const auto& r : rows) csv.append(r);
  }
  fs::rename(partial, file);
}

std::string cell(const std::optional<double>& v, int decimals) { return v ? jobs::fixed(*v, decimals) : ""; }

struct MethodSummary {
  std::string name;
  std::size_t runs = 0, completed = 0, reached = 0;
  Spread final_value, best_value, rounds_to_target, wall_s, server_peak, client_peak, server_drift, client_drift, epsilon;
};

std::vector<MethodSummary> summarize(const CompareOptions& o, const std::vector<RunFigures>& runs) {
  std::vector<MethodSummary> out;
  for (const auto& m : o.methods) {
    MethodSummary s;
    s.name = m.name;
    std::vector<std::optional<double>> final_v, best_v, to_target, wall, sp, cp, sd, cd, eps;
    for (const auto& r : runs) {
      if (r.method != m.name) continue;
      ++s.runs;
      if (r.status != "COMPLETED") continue;
      ++s.completed;
      final_v.push_back(r.final_value);
      best_v.push_back(r.best_value);
      if (r.rounds_to_target) {
        ++s.reached;
        to_target.push_back(static_cast<double>(*r.rounds_to_target));
      }
      wall.push_back(r.wall_s);
      sp.push_back(r.server_peak_mb);
      cp.push_back(r.client_peak_mb);
      sd.push_back(r.server_drift_mb);
      cd.push_back(r.client_drift_mb);
      eps.push_back(r.epsilon);
    }
    s.final_value = spread(final_v);
    s.best_value = spread(best_v);
    s.rounds_to_target = spread(to_target);
    s.wall_s = spread(wall);
    s.server_peak = spread(sp);
    s.client_peak = spread(cp);
    s.server_drift = spread(sd);
    s.client_drift = spread(cd);
    s.epsilon = spread(eps);
    out.push_back(s);
  }
  return out;
}

/// Columns padded to their widest cell, counted in characters (UTF-8 "±" is one).
std::string aligned(const std::vector<std::vector<std::string>>& rows) {
  auto width = [](const std::string& s) {
    std::size_t n = 0;
    for (const unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  std::vector<std::size_t> widths;
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size(); ++i) {
      if (widths.size() <= i) widths.push_back(0);
      widths[i] = std::max(widths[i], width(r[i]));
    }
  std::string out;
  for (const auto& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i)
      out += r[i] + (i + 1 < r.size() ? std::string(widths[i] - width(r[i]) + 3, ' ') : "");
    out += "\n";
  }
  return out;
}

bool any_privacy(const std::vector<MethodSummary>& summary) {
  return std::any_of(summary.begin(), summary.end(), [](const MethodSummary& s) { return s.epsilon.n > 0; });
}

std::string table_text(const CompareOptions& o, const std::vector<MethodSummary>& summary) {
  const std::string& metric = o.goal.name;
  const bool privacy = any_privacy(summary);
  std::vector<std::vector<std::string>> rows;
  rows.push_back({"method", "runs", "final " + metric, "best " + metric});
  if (privacy) rows.back().push_back("ε spent");
  if (o.goal.target) rows.back().push_back("rounds to " + jobs::fixed(*o.goal.target, 2));
  rows.back().insert(rows.back().end(), {"wall s", "peak RSS server / client (MiB)", "drift server / client (MiB/round)"});
  for (const auto& s : summary) {
    rows.push_back({s.name, std::to_string(s.completed) + "/" + std::to_string(s.runs), describe(s.final_value, 4),
                    describe(s.best_value, 4)});
    if (privacy) rows.back().push_back(s.epsilon.n && std::isinf(s.epsilon.mean) ? "∞ (no noise)" : describe(s.epsilon, 3));
    if (o.goal.target)
      rows.back().push_back(describe(s.rounds_to_target, 1) + " (" + std::to_string(s.reached) + " reached)");
    rows.back().insert(rows.back().end(),
                       {describe(s.wall_s, 1), describe(s.server_peak, 0) + " / " + describe(s.client_peak, 0),
                        describe(s.server_drift, 3) + " / " + describe(s.client_drift, 3)});
  }
  return aligned(rows);
}

void draw(const fs::path& out, const std::string& script_text, const std::string& file) {
  std::ofstream gp(out / "plot.gp");
  gp << script_text;
  gp.close();
  process::run_gnuplot(out / "plot.gp", file);
}

/// accuracy.png (the metric per round, mean over repeats, per method) and rss.png (server
/// and largest client RSS over time, first repeat of each method).
void write_plots(const fs::path& out, const CompareOptions& o, const std::vector<RunFigures>& runs,
                 const std::map<std::string, fs::path>& first_job) {
  fs::create_directories(out / "series");
  std::string metric_plot, server_plot, client_plot;
  for (const auto& m : o.methods) {
    std::map<std::size_t, std::vector<std::optional<double>>> by_round;
    for (const auto& r : runs)
      if (r.method == m.name)
        for (std::size_t i = 0; i < r.per_round.size(); ++i) by_round[i].push_back(r.per_round[i]);
    const fs::path series = out / "series" / (plain(m.name) + "-" + plain(o.goal.name) + ".dat");
    {
      std::ofstream dat(series);
      for (const auto& [round, values] : by_round)
        if (auto s = spread(values); s.n) dat << round + 1 << " " << s.mean << " " << s.std << "\n";
    }
    if (!by_round.empty())
      metric_plot += std::string(metric_plot.empty() ? "" : ", ") + "'" + series.string() +
                     "' using 1:2 with lines lw 2 title '" + plain(m.name) + "'";
    auto it = first_job.find(m.name);
    if (it == first_job.end()) continue;
    const auto memory = jobs::JobDirectory::at(it->second).memory_folder();
    std::error_code ec;
    if (!fs::is_directory(memory, ec)) continue;
    for (const auto& e : fs::directory_iterator(memory)) {
      const std::string process = e.path().stem().string();
      if (process != "server" && process != "client-1") continue;
      const fs::path rss = out / "series" / (plain(m.name) + "-" + process + "-rss.dat");
      std::ofstream dat(rss);
      for (const auto& row : jobs::read_memory(e.path())) dat << row.elapsed_s << " " << row.rss_mb + row.children_rss_mb << "\n";
      std::string& into = process == "server" ? server_plot : client_plot;
      into += std::string(into.empty() ? "" : ", ") + "'" + rss.string() + "' using 1:2 with lines lw 2 title '" +
              plain(m.name) + "'";
    }
  }
  if (!metric_plot.empty()) {
    std::ostringstream gp;
    gp << "set terminal pngcairo size 1200,700 noenhanced\nset output '" << (out / "accuracy.png").string()
       << "'\nset title 'Global " << plain(o.goal.name) << " per round (mean over repeats)'\nset xlabel 'round'\n"
       << "set ylabel '" << plain(o.goal.name) << "'\nset key " << (o.goal.maximize ? "right bottom" : "right top")
       << "\nset grid\nplot " << metric_plot << "\n";
    draw(out, gp.str(), "accuracy.png");
  }
  if (!server_plot.empty()) {
    std::ostringstream gp;
    gp << "set terminal pngcairo size 1200,800 noenhanced\nset output '" << (out / "rss.png").string()
       << "'\nset multiplot layout 2,1\nset xlabel 'seconds'\nset ylabel 'RSS (MiB)'\nset key left top\nset grid\n"
       << "set title 'Server RSS over time (first repeat)'\nplot " << server_plot << "\n";
    if (!client_plot.empty()) gp << "set title 'client-1 RSS over time, its children included (first repeat)'\nplot " << client_plot << "\n";
    gp << "unset multiplot\n";
    draw(out, gp.str(), "rss.png");
  }
}

/// A method's name as a gnuplot string (inside single quotes).
std::string gnuplot_text(const std::string& name) {
  std::string out;
  for (const char c : name) out += c == '\'' ? std::string("''") : std::string(1, c);
  return out;
}

/// privacy.png: each method's final metric against the ε it spent (log scale); a method
/// without a finite ε (no [privacy], or no noise: ε = ∞) is a dashed line to compare with.
void write_privacy_plot(const fs::path& out, const CompareOptions& o, const std::vector<MethodSummary>& summary) {
  const fs::path series = out / "series" / "privacy.dat";
  std::string references;
  std::size_t points = 0;
  {
    std::ofstream dat(series);
    for (const auto& s : summary) {
      if (!s.final_value.n) continue;
      if (!s.epsilon.n || std::isinf(s.epsilon.mean)) {
        references += ", " + std::to_string(s.final_value.mean) + " with lines dt 2 lw 2 title '" +
                      gnuplot_text(s.name) + (s.epsilon.n ? " (ε = ∞)" : "") + "'";
        continue;
      }
      dat << s.epsilon.mean << " " << s.final_value.mean << " " << s.final_value.std << " \"" << s.name << "\"\n";
      ++points;
    }
  }
  if (points == 0) return;  // nothing with a finite ε yet
  std::ostringstream gp;
  gp << "set terminal pngcairo size 1000,650 noenhanced\nset output '" << (out / "privacy.png").string()
     << "'\nset title 'Final " << plain(o.goal.name) << " against the privacy spent (mean over repeats)'\n"
     << "set xlabel 'ε (log scale)'\nset logscale x\nset ylabel 'final " << plain(o.goal.name)
     << "'\nset grid\nset key right bottom\nset offsets graph 0.15, graph 0.15, graph 0.1, graph 0.1\n"
     << "plot '" << series.string() << "' using 1:2:3 with yerrorbars pt 7 ps 1.5 notitle, '' using 1:2:4 with labels "
     << "offset 0,1.2 notitle" << references << "\n";
  draw(out, gp.str(), "privacy.png");
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (const char c : s) {
    if (c == '<') out += "&lt;";
    else if (c == '>') out += "&gt;";
    else if (c == '&') out += "&amp;";
    else out += c;
  }
  return out;
}

void write_html(const fs::path& out, const CompareOptions& o, const std::string& table, bool finished) {
  std::ofstream html(out / "report.html");
  html << "<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>cohort compare</title>"
       << "<style>body{font-family:sans-serif;margin:2em;max-width:1250px} pre{background:#f5f5f5;padding:1em}"
       << " img{max-width:100%}</style></head><body><h1>cohort compare</h1><p>" << o.methods.size() << " methods, "
       << o.repeats << " repeats each (seeds: the recipe's <code>[job] seed</code> + repeat), one run after another, "
       << "each in its own process tree." << (finished ? "" : " <b>Interrupted: the runs that finished.</b>")
       << "</p><ul>";
  for (const auto& m : o.methods) {
    html << "<li><b>" << html_escape(m.name) << "</b>: " << html_escape(m.recipe.string());
    for (const auto& s : m.overrides) html << " <code>--set " << html_escape(s) << "</code>";
    html << "</li>";
  }
  html << "</ul><pre>" << html_escape(table) << "</pre>"
       << "<p>Data: <a href=\"compare.csv\">compare.csv</a> (a row per run), <a href=\"summary.csv\">summary.csv</a>; "
       << "each run's job folder is under <code>runs/</code>.</p>";
  if (fs::exists(out / "accuracy.png")) html << "<h2>Global " << html_escape(o.goal.name) << "</h2><img src=\"accuracy.png\">";
  if (fs::exists(out / "privacy.png")) html << "<h2>Privacy</h2><img src=\"privacy.png\">";
  if (fs::exists(out / "rss.png")) html << "<h2>Memory</h2><img src=\"rss.png\">";
  html << "</body></html>\n";
}

/// Everything in `out`, from the runs so far; returns the table.
std::string write_outputs(const fs::path& out, const CompareOptions& o, const std::vector<RunFigures>& runs,
                          const std::map<std::string, fs::path>& first_job, bool finished) {
  const std::string& metric = o.goal.name;
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : runs) {
    rows.push_back({r.method, std::to_string(r.repeat + 1), std::to_string(r.seed), r.status, std::to_string(r.rounds),
                    cell(r.final_value, 4), cell(r.best_value, 4),
                    r.rounds_to_target ? std::to_string(*r.rounds_to_target) : "", jobs::fixed(r.wall_s, 1),
                    jobs::fixed(r.server_peak_mb, 1), jobs::fixed(r.client_peak_mb, 1), jobs::fixed(r.server_drift_mb, 3),
                    jobs::fixed(r.client_drift_mb, 3), cell(r.epsilon, 4)});
  }
  write_csv(out / "compare.csv",
            {"method", "repeat", "seed", "status", "rounds", "final_" + metric, "best_" + metric, "rounds_to_target",
             "wall_s", "server_peak_rss_mb", "client_peak_rss_mb", "server_drift_mb_per_round",
             "client_drift_mb_per_round", "epsilon"},
            rows);
  const auto summary = summarize(o, runs);
  rows.clear();
  auto mean = [](const Spread& s, int d) { return s.n ? jobs::fixed(s.mean, d) : ""; };
  auto sd = [](const Spread& s, int d) { return s.n ? jobs::fixed(s.std, d) : ""; };
  for (const auto& s : summary) {
    rows.push_back({s.name, std::to_string(s.runs), std::to_string(s.completed), mean(s.final_value, 4),
                    sd(s.final_value, 4), mean(s.best_value, 4), sd(s.best_value, 4), mean(s.rounds_to_target, 1),
                    std::to_string(s.reached), mean(s.wall_s, 1), sd(s.wall_s, 1), mean(s.server_peak, 1),
                    mean(s.client_peak, 1), mean(s.server_drift, 3), mean(s.client_drift, 3), mean(s.epsilon, 4)});
  }
  write_csv(out / "summary.csv",
            {"method", "runs", "completed", "final_" + metric + "_mean", "final_" + metric + "_std",
             "best_" + metric + "_mean", "best_" + metric + "_std", "rounds_to_target_mean", "reached_target",
             "wall_s_mean", "wall_s_std", "server_peak_rss_mb_mean", "client_peak_rss_mb_mean",
             "server_drift_mb_per_round_mean", "client_drift_mb_per_round_mean", "epsilon_mean"},
            rows);
  const std::string table = table_text(o, summary);
  write_plots(out, o, runs, first_job);
  if (any_privacy(summary)) write_privacy_plot(out, o, summary);
  write_html(out, o, table, finished);
  return table;
}

}  // namespace

std::string default_name(const fs::path& recipe, const config::Overrides& overrides) {
  std::string name = recipe.stem().string();
  for (const auto& o : overrides) {
    const auto equals = o.find('=');
    if (equals == std::string::npos) continue;
    std::string key = o.substr(0, equals);
    if (const auto dot = key.rfind('.'); dot != std::string::npos) key = key.substr(dot + 1);
    name += "," + key + "=" + o.substr(equals + 1);
  }
  return name;
}

/// Every method checked before anything runs (or any folder is made): a typo fails in
/// seconds, not after hours. Nothing when one is wrong (its error printed).
std::optional<std::map<std::string, Checked>> check_methods(const CompareOptions& o) {
  std::map<std::string, Checked> checked;
  const fs::path scratch = fs::temp_directory_path() / ("cohort-compare-check-" + std::to_string(::getpid()) + ".out");
  for (const auto& m : o.methods) {
    std::optional<Checked> c;
    try {
      c = check_method(m, o, scratch);
    } catch (...) {
      fs::remove(scratch);
      throw;
    }
    fs::remove(scratch);
    if (!c) return std::nullopt;
    checked[m.name] = *c;
  }
  return checked;
}

/// What one run of a method left: its figures, and its job's folder when that could be read.
struct MethodRun {
  RunFigures figures;
  std::optional<fs::path> job;
};

/// One run of method `m`: `cohort simulate` in a session of its own, in `dir`.
/// On a terminal, the line labelled `label` shows the rounds done.
MethodRun run_method(const CompareOptions& o, const Method& m, const Checked& c, std::int64_t seed, const fs::path& dir,
                     const std::string& label, spdlog::logger& log) {
  const bool terminal = ::isatty(STDOUT_FILENO) == 1;
  process::SimulateLaunch simulate;
  simulate.recipe = m.recipe.string();
  simulate.workspace = dir.string();
  simulate.overrides = m.overrides;
  simulate.overrides.push_back("job.seed=" + std::to_string(seed));
  simulate.workers = o.workers;
  simulate.plugin_paths = plugin_paths(o);
  const auto argv = process::command_line(process::self_executable().string(), {}, simulate);
  std::cout << "  " << label << (terminal ? "" : ": running\n") << std::flush;
  const auto run_started = Clock::now();
  process::ChildProcess child(argv, {}, dir / "simulate.out", process::ChildProcess::Session::own);
  auto progress = [&] {
    if (!terminal) return;
    std::size_t rounds = 0;
    try {
      rounds = jobs::read_rounds(jobs::JobDirectory::only_job(dir).rounds_csv()).size();
    } catch (const std::exception&) {
    }
    const double seconds = std::chrono::duration<double>(Clock::now() - run_started).count();
    std::cout << "\r  " << label << ": round " << rounds << "/" << c.num_rounds << ", " << std::fixed
              << std::setprecision(0) << seconds << " s\033[K" << std::flush;
  };
  const int status = wait_for_tree(child, progress, log);
  MethodRun run;
  RunFigures& f = run.figures;
  try {
    const auto job = jobs::JobDirectory::only_job(dir).root();
    f = read_run(job, o.goal);
    run.job = job;
  } catch (const std::exception& e) {
    f.status = "FAILED";
  }
  if (interrupted && f.status != "COMPLETED") f.status = "INTERRUPTED";
  if (f.status.empty()) f.status = status == 0 ? "COMPLETED" : "FAILED";
  f.method = m.name;
  f.seed = seed;
  f.wall_s = std::chrono::duration<double>(Clock::now() - run_started).count();
  std::cout << (terminal ? "\r  " + label + ": " : "  " + label + ": ") << f.status << " in " << std::fixed
            << std::setprecision(1) << f.wall_s << " s";
  if (f.final_value) std::cout << ", final " << o.goal.name << " " << std::setprecision(4) << *f.final_value;
  if (f.status != "COMPLETED") std::cout << " (see " << (dir / "simulate.out").string() << ")";
  std::cout << (terminal ? "\033[K\n" : "\n") << std::flush;
  return run;
}

int run_compare(const CompareOptions& options, spdlog::logger& log) {
  if (options.methods.empty()) throw ConfigError({}, "compare needs at least one recipe");
  CompareOptions o = options;
  for (auto& m : o.methods) m.recipe = fs::absolute(m.recipe);
  std::map<std::string, int> seen;
  for (const auto& m : o.methods)
    if (++seen[m.name] > 1) throw ConfigError({"--name"}, "two methods are named '" + m.name + "': give --name after each");
  const auto checked = check_methods(o);
  if (!checked) return 2;
  const fs::path out = fs::absolute(o.output) / jobs::timestamp("%Y%m%d_%H%M%S");
  fs::create_directories(out);

  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  std::cout << "cohort compare: " << o.methods.size() << " methods x " << o.repeats << " repeats, one run at a time\n"
            << "  results in " << out.string() << "\n" << std::flush;
  const auto started = Clock::now();
  std::vector<RunFigures> runs;
  std::map<std::string, fs::path> first_job;
  const std::size_t total = o.methods.size() * static_cast<std::size_t>(o.repeats);
  for (std::int64_t repeat = 0; repeat < o.repeats && !interrupted; ++repeat) {
    for (const auto& m : o.methods) {
      if (interrupted) break;
      const auto& c = checked->at(m.name);
      const std::int64_t seed = c.seed + repeat;
      const fs::path dir = out / "runs" / plain(m.name) / ("repeat-" + std::to_string(repeat + 1));
      fs::create_directories(dir);
      const std::string label = "[" + std::to_string(runs.size() + 1) + "/" + std::to_string(total) + "] " + m.name +
                                ", repeat " + std::to_string(repeat + 1) + " (seed " + std::to_string(seed) + ")";
      MethodRun run = run_method(o, m, c, seed, dir, label, log);
      run.figures.repeat = repeat;
      if (run.job && !first_job.count(m.name)) first_job[m.name] = *run.job;
      runs.push_back(run.figures);
      write_outputs(out, o, runs, first_job, false);
    }
  }
  const bool finished = !interrupted;
  const std::string table = write_outputs(out, o, runs, first_job, finished);
  std::cout << "\n" << (finished ? "" : "interrupted: the runs that finished\n") << table << "\ntotal "
            << std::fixed << std::setprecision(1) << std::chrono::duration<double>(Clock::now() - started).count()
            << " s; results in " << out.string() << "\n  report.html (open it in a browser), accuracy.png, rss.png, "
            << "compare.csv (a row per run), summary.csv\n";
  if (!finished) return 130;
  return std::all_of(runs.begin(), runs.end(), [](const RunFigures& f) { return f.status == "COMPLETED"; }) ? 0 : 1;
}

}  // namespace cohort::compare
