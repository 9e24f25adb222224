#include "harness.hpp"
#include "suites.hpp"

#include "process/child_process.hpp"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <stdexcept>

namespace fs = std::filesystem;

namespace cohort::bench {

Stats stats(std::vector<double> values) {
  Stats s;
  if (values.empty()) return s;
  std::sort(values.begin(), values.end());
  s.runs = values.size();
  s.min = values.front();
  s.max = values.back();
  const std::size_t n = values.size();
  s.median = n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
  return s;
}

fs::path simulate(const Context& ctx, const std::string& name, const std::string& recipe,
                  const std::map<std::string, std::string>& env) {
  const fs::path dir = ctx.work / name;
  fs::remove_all(dir);
  fs::create_directories(dir);
  {
    std::ofstream out(dir / "recipe.toml");
    out << recipe;
  }
  process::ChildProcess process({ctx.cohort.string(), "simulate", (dir / "recipe.toml").string(), "--workspace",
                                  (dir / "ws").string()},
                                 env, dir / "simulate.out");
  const auto status = process.wait_for(std::chrono::hours(2));
  if (status != 0) {
    std::ifstream in(dir / "simulate.out");
    std::stringstream text;
    text << in.rdbuf();
    throw std::runtime_error("job " + name + " did not complete:\n" + text.str());
  }
  return jobs::JobDirectory::only_job(dir / "ws").root();
}

void RoundFigures::add(const std::filesystem::path& job) {
  for (const auto& r : jobs::read_rounds(jobs::JobDirectory::at(job).rounds_csv())) {
    if (r.round == 0) continue;
    seconds.push_back(r.seconds);
    memory_ratio.push_back((r.server_round_peak_rss_mb - r.server_rss_before_round_mb) / r.model_mb);
  }
}

std::string synthetic_recipe(const SyntheticJob& job) {
  std::ostringstream r;
  r << "[job]\nname = \"" << job.name << "\"\nnum_rounds = " << job.rounds << "\nmin_clients = " << job.clients
    << "\n[controller]\nplugin = \"" << job.controller << "\"\n[controller.args]\nfinal_validation = false\n"
    << "[executor]\nplugin = \"synthetic\"\n[executor.args]\ncompute_ms = " << job.compute_ms
    << "\nlog_scalars = " << job.log_scalars
    << "\n[model]\narch = \"synthetic\"\nsize_mb = " << job.model_mb << "\ntensors = 4\n[memory]\nmonitor_interval_ms = 500\n"
    << job.memory << "\n[simulation]\nclients = " << job.clients << "\nworkers = " << (job.workers ? job.workers : job.clients)
    << "\ninsecure = " << (job.insecure ? "true" : "false")
    << "\nreuse_model_memory = " << (job.reuse_model_memory ? "true" : "false") << "\n";
  return r.str();
}

std::string markdown(const std::vector<Row>& rows) {
  std::ostringstream out;
  auto fmt = [](const Stats& s) {
    // Three significant digits, but whole numbers written out (4096 MiB, not 4.1e+03).
    auto number = [](double v) {
      std::ostringstream o;
      if (std::abs(v) >= 1000) o << std::fixed << std::setprecision(0) << v;
      else o << std::setprecision(3) << v;
      return o.str();
    };
    return number(s.median) + " (" + number(s.min) + " – " + number(s.max) + ", n=" + std::to_string(s.runs) + ")";
  };
  out << "| benchmark | setting | figure: median (min – max) | baseline, same run | goal | met | note |\n"
      << "|---|---|---|---|---|---|---|\n";
  for (const auto& r : rows) {
    out << "| " << r.benchmark << " | " << r.setting << " | " << fmt(r.figure) << " " << r.unit << " | "
        << (r.baseline ? fmt(*r.baseline) + " " + r.baseline_unit : std::string("–")) << " | " << r.goal << " | "
        << (r.goal.empty() ? "" : (r.met ? "yes" : "**no**")) << " | " << r.note << " |\n";
  }
  return out.str();
}


}  // namespace cohort::bench
