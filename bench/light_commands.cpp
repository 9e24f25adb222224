// Light commands: `cohort` runs the commands that do no tensor work itself, and links no
// libtorch, so they start and exit in milliseconds and a few MiB. The baseline, measured
// in the same run, is a command of the runtime (which loads libtorch's 285 libraries).
#include "suites.hpp"

#include "process/child_process.hpp"

#include <chrono>
#include <optional>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>


namespace cohort::bench {

namespace {

struct Measured {
  double ms = 0;
  double peak_mib = 0;
};

/// The process's own high-water RSS (VmHWM); 0 once it is gone, and while it is still the
/// copy of this process that fork made (before its exec).
double hwm_mib(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("Name:", 0) == 0 && line.find("cohort_bench") != std::string::npos) return 0;
    if (line.rfind("VmHWM:", 0) == 0) return std::stod(line.substr(6)) / 1024.0;
  }
  return 0;
}

/// Runs `argv` to its end (output discarded): wall time, and peak RSS of that process
/// alone. Short commands run under GNU time, which reports the command's own high-water
/// RSS (a process forked from this large one and exec'd would count our image at exec);
/// for a launcher, whose children are not counted, VmHWM is read from /proc while it runs.
Measured run(std::vector<std::string> argv, bool has_children, const std::filesystem::path& scratch) {
  const auto report = scratch / "time.out";
  if (!has_children) argv.insert(argv.begin(), {"/usr/bin/time", "-f", "%M", "-o", report.string()});
  const auto start = std::chrono::steady_clock::now();
  process::ChildProcess child(argv, {}, scratch / "output.txt");
  Measured m;
  std::optional<int> status;
  if (has_children) {
    while (!(status = child.poll())) {
      m.peak_mib = std::max(m.peak_mib, hwm_mib(child.pid()));
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  } else {
    status = child.wait();
    std::ifstream in(report);
    double kib = 0;
    in >> kib;
    m.peak_mib = kib / 1024.0;
  }
  m.ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  if (*status != 0) throw std::runtime_error("failed (status " + std::to_string(*status) + "): " + argv.front());
  return m;
}

}  // namespace

std::vector<Row> light_commands(const Context& ctx) {
  const int n = ctx.quick ? 3 : 10;
  const std::string cohort = ctx.cohort.string();
  const auto dir = ctx.work / "light-commands";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  {
    std::ofstream project(dir / "project.toml");
    project << "[project]\nname = \"light\"\n[server]\nhost = \"localhost\"\n[[clients]]\nname = \"site-1\"\norg = \"a\"\n"
               "[[clients]]\nname = \"site-2\"\norg = \"b\"\n[[admins]]\nname = \"admin@a\"\norg = \"a\"\nrole = \"project_admin\"\n";
  }
  auto measure = [&](const std::vector<std::string>& args, bool children = false) {
    std::vector<double> ms, mib;
    for (int i = 0; i < n; ++i) {
      std::vector<std::string> argv{cohort};
      argv.insert(argv.end(), args.begin(), args.end());
      const auto m = run(argv, children, dir);
      ms.push_back(m.ms);
      mib.push_back(m.peak_mib);
    }
    return std::pair{stats(ms), stats(mib)};
  };
  // Baseline: a runtime command (libtorch loaded), measured the same way.
  const auto [base_ms, base_mib] = measure({"plugins"});

  std::vector<Row> rows;
  const std::vector<std::pair<std::string, std::vector<std::string>>> commands{
      {"cohort --version", {"--version"}},
      {"cohort --help", {"--help"}},
      {"cohort job --help", {"job", "--help"}},
      {"cohort provision (3 participants and an admin)",
       {"provision", (dir / "project.toml").string(), "-o", (dir / "kits").string()}},
      {"cohort poc prepare -n 2", {"poc", "prepare", "-n", "2", "--force", "--workspace", (dir / "poc").string()}},
  };
  for (const auto& [setting, args] : commands) {
    const auto [ms, mib] = measure(args);
    Row row;
    row.benchmark = "light commands";
    row.setting = setting;
    row.figure = ms;
    row.unit = "ms from start to exit";
    row.baseline = base_ms;
    row.baseline_unit = "ms for `cohort plugins` (the runtime, libtorch loaded)";
    row.goal = "< 50 ms and < 30 MiB";
    row.met = ms.median < 50 && mib.median < 30;
    std::ostringstream note;
    note.precision(3);
    note << "peak RSS " << mib.median << " MiB (runtime: " << base_mib.median << " MiB)";
    row.note = note.str();
    rows.push_back(row);
  }

  // The launcher of a simulation, on its own (its server and clients load libtorch).
  std::vector<double> launcher_mib;
  for (int i = 0; i < (ctx.quick ? 1 : 3); ++i) {
    std::ofstream(dir / "recipe.toml") << synthetic_recipe({.name = "light", .rounds = 1, .clients = 2, .model_mb = 1});
    const auto m =
        run({cohort, "simulate", (dir / "recipe.toml").string(), "--workspace", (dir / "ws").string()}, true, dir);
    launcher_mib.push_back(m.peak_mib);
  }
  Row row;
  row.benchmark = "light commands";
  row.setting = "the `cohort simulate` launcher (1 round, 2 clients; its own process only)";
  row.figure = stats(launcher_mib);
  row.unit = "MiB peak RSS";
  row.baseline = base_mib;
  row.baseline_unit = "MiB for `cohort plugins` (the runtime, libtorch loaded)";
  row.goal = "< 30 MiB";
  row.met = row.figure.median < 30;
  rows.push_back(row);
  return rows;
}

}  // namespace cohort::bench
