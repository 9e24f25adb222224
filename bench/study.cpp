// Study: the shipped comparison (recipes/studies/fashion_mnist_noniid: FedAvg, FedAdam and
// FedYogi on 100 Dirichlet(0.3) sites, 10 a round, 100 rounds) through `cohort compare`
// with workers = auto: the total time, the parallelism chosen, each method's final
// accuracy, and the RSS drift per round of server and clients over rounds 10–100.
#include "suites.hpp"

#include "jobs/csv.hpp"
#include "process/child_process.hpp"

#include <fstream>
#include <sstream>

namespace cohort::bench {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::string text_of(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

/// The "workers: ..." line `cohort simulate` printed for a run.
std::string workers_line(const fs::path& simulate_out) {
  const std::string text = text_of(simulate_out);
  const auto at = text.find("workers: ");
  return at == std::string::npos ? "?" : text.substr(at, text.find('\n', at) - at);
}

}  // namespace

std::vector<Row> study(const Context& ctx) {
  const fs::path recipes = fs::path(COHORT_BENCH_SOURCE).parent_path() / "recipes/studies/fashion_mnist_noniid";
  const std::vector<std::string> methods{"fedavg", "fedadam", "fedyogi"};
  const std::int64_t rounds = ctx.quick ? 15 : 100;
  const fs::path out = ctx.work / "study";
  fs::remove_all(out);
  fs::create_directories(out);
  std::vector<std::string> argv{ctx.cohort.string(), "compare", "--set", "job.num_rounds=" + std::to_string(rounds)};
  for (const auto& m : methods) argv.push_back((recipes / (m + ".toml")).string());
  argv.insert(argv.end(), {"--output", (out / "compare").string()});
  const auto started = Clock::now();
  process::ChildProcess compare(argv, {}, out / "compare.out");
  const auto status = compare.wait_for(std::chrono::hours(3));
  const double seconds = std::chrono::duration<double>(Clock::now() - started).count();
  if (status != 0) throw std::runtime_error("the study did not complete, see " + (out / "compare.out").string());
  fs::path folder;
  for (const auto& e : fs::directory_iterator(out / "compare")) folder = e.path();
  const bool leftovers = text_of(out / "compare.out").find("outlived") != std::string::npos;

  std::vector<Row> rows;
  std::string parallelism;
  for (const auto& run : jobs::CsvTable::read(folder / "compare.csv").rows()) {
    const std::string method = run.text("method");
    const std::string workers = workers_line(folder / "runs" / method / "repeat-1" / "simulate.out");
    if (parallelism.empty()) parallelism = workers;
    Row accuracy;
    accuracy.benchmark = "study";
    accuracy.setting = method + ": final global accuracy, 100 Dirichlet(0.3) sites, 10 a round, " +
                       std::to_string(rounds) + " rounds";
    accuracy.figure = stats({run.number("final_accuracy").value_or(0)});
    accuracy.unit = "accuracy (all test samples, after the last round)";
    std::ostringstream note;
    note.precision(4);
    note << "best " << run.number("best_accuracy").value_or(0) << "; " << run.text("wall_s") << " s; peak RSS server "
         << run.text("server_peak_rss_mb") << " MiB, largest client process " << run.text("client_peak_rss_mb")
         << " MiB; " << workers;
    accuracy.note = note.str();
    rows.push_back(accuracy);
    for (const std::string role : {"server", "client"}) {
      Row drift;
      drift.benchmark = "study";
      drift.setting = method + ": " + role + " RSS drift, rounds 10–" + std::to_string(rounds) +
                      (role == "client" ? " (the steepest client process)" : "");
      const double per_round = run.number(role + "_drift_mb_per_round").value_or(0);
      drift.figure = stats({per_round});
      drift.unit = "MiB/round (least-squares slope of the RSS at each round's end)";
      drift.goal = "< 1";
      drift.met = per_round < 1.0;
      rows.push_back(drift);
    }
  }
  Row total;
  total.benchmark = "study";
  total.setting = "3 methods x " + std::to_string(rounds) + " rounds x 100 sites, one `cohort compare`, workers = auto";
  total.figure = stats({seconds});
  total.unit = "s in all";
  total.goal = "completes";
  total.met = true;
  total.note = parallelism + (leftovers ? "; PROCESSES OF A RUN OUTLIVED IT (killed by compare)"
                                        : "; no process of a run was alive when the next started");
  rows.push_back(total);
  return rows;
}

}  // namespace cohort::bench
