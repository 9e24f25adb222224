// The MPI transport: one model rank 0 -> rank 1 and back next to raw MPI_Send / MPI_Recv
// loops over the same memory in the same run (cohort_mpi_transfer under mpirun -n 2), back
// to back and each after 3 s idle, with what each transfer cost rank 1 (page faults,
// system CPU time); and rank 0's peak RSS in a round above its between-rounds level for 2,
// 4 and 8 site ranks with a 100 MB model (`mpirun -n N+1 cohort mpi`), as the server
// memory suite measures it over TLS.
#include "suites.hpp"

#include "config/text_file.hpp"
#include "memory/memory.hpp"
#include "process/child_process.hpp"

#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

namespace cohort::bench {

namespace {

namespace fs = std::filesystem;

const std::vector<std::string> kMpirun{"mpirun", "--allow-run-as-root", "--oversubscribe"};

/// What one kind of transfer cost rank 1 in each repetition ("profile" lines).
struct TransferCost {
  std::vector<double> faults, system_seconds;
};

/// One run of cohort_mpi_transfer and its row.
Row mpi_transfer_row(const Context& ctx, const fs::path& out, std::size_t bytes, int runs, int pause, bool reuse) {
  auto argv = kMpirun;
  if (reuse) argv.insert(argv.end(), {"-x", std::string(memory::kReuseModelMemoryVariable) + "=true"});
  for (const std::string& a : {std::string("-n"), std::string("2"), (ctx.cohort.parent_path() / "cohort_mpi_transfer").string(),
                               std::to_string(bytes), std::to_string(runs), std::to_string(pause)})
    argv.push_back(a);
  if (process::run_to_end(argv, out) != 0) throw std::runtime_error("cohort_mpi_transfer failed:\n" + config::read_text_file(out));
  std::vector<double> cohort, raw_model, raw_hot;
  std::map<std::string, TransferCost> costs;
  std::istringstream lines(config::read_text_file(out));
  for (std::string line; std::getline(lines, line);) {
    std::istringstream words(line);
    std::string tag, label, kind;  // label: a word naming the number after it
    int repetition = 0, rank = 0;
    double a = 0, b = 0, c = 0;
    if (!(words >> tag)) continue;
    if (tag == "cohort" && words >> a >> label >> b >> label >> c) {
      cohort.push_back(a);
      raw_model.push_back(b);
      raw_hot.push_back(c);
    } else if (tag == "profile" && words >> repetition >> label >> rank >> kind >> label >> a >> label >> b && rank == 1) {
      costs[kind].faults.push_back(a);
      costs[kind].system_seconds.push_back(b);
    }
  }
  if (cohort.empty()) throw std::runtime_error("cohort_mpi_transfer printed no figures:\n" + config::read_text_file(out));
  const Stats figure = stats(cohort), hot = stats(raw_hot);
  Row row;
  row.benchmark = "mpi";
  row.setting = std::string(ctx.quick ? "64 MiB" : "1 GiB") + " model rank 0 → rank 1 and back, cohort's MPI transport, " +
                (pause ? "each transfer after " + std::to_string(pause) + " s idle" : std::string("back to back")) +
                (reuse ? ", reuse_model_memory" : "");
  row.figure = figure;
  row.unit = "GB/s";
  row.baseline = stats(raw_model);
  row.baseline_unit = "GB/s raw MPI_Send/MPI_Recv loop, 1 MiB messages, the same memory (the model's bytes out, fresh memory in, sent back from there), the same pauses";
  const double ratio = row.figure.median / row.baseline->median, slowest = figure.min / row.baseline->median;
  row.goal = ">= 0.8 × raw, slowest >= 0.5 ×";
  row.met = ratio >= 0.8 && slowest >= 0.5;
  std::ostringstream note;
  note.precision(3);
  note << "ratio " << ratio << ", slowest " << slowest << " (repetitions in order:";
  for (double c : cohort) note << " " << c;
  note << " GB/s); raw from a hot 1 MiB buffer: " << hot.median << " GB/s; rank 1 a repetition (median), page faults and system CPU s:";
  for (const auto& [kind, cost] : costs) {
    note << " " << kind << " " << std::llround(stats(cost.faults).median) << ", " << stats(cost.system_seconds).median << " s";
    if (kind == "cohort-transport") note << " (first " << cost.system_seconds.front() << " s)";
    note << ";";
  }
  row.note = note.str();
  return row;
}

}  // namespace

std::vector<Row> mpi(const Context& ctx) {
  std::vector<Row> rows;
  const fs::path dir = ctx.work / "mpi";
  fs::remove_all(dir);
  fs::create_directories(dir);

  // Transfer, with received models in fresh memory (the default) and in the memory the
  // last one left (reuse_model_memory); transfers back to back (memory freed a moment ago
  // is at hand) and each after a pause in which this machine's balloon may hand freed
  // memory back to the host (as between rounds that train for seconds).
  const std::size_t bytes = ctx.quick ? (64u << 20) : (1ull << 30);
  const int runs = ctx.quick ? 2 : 5;
  for (const int pause : {0, 3}) {
    for (const bool reuse : {false, true}) {
      const std::string name = std::string(pause ? "transfer-paused" : "transfer") + (reuse ? "-reuse" : "");
      rows.push_back(mpi_transfer_row(ctx, dir / (name + ".out"), bytes, runs, pause, reuse));
    }
  }

  // Rank 0's memory in a round.
  const double model_mb = ctx.quick ? 20 : 100;
  const std::int64_t rounds = ctx.quick ? 3 : 4;
  for (std::int64_t sites : ctx.quick ? std::vector<std::int64_t>{2} : std::vector<std::int64_t>{2, 4, 8}) {
    const fs::path run = dir / ("memory-" + std::to_string(sites));
    fs::create_directories(run);
    {
      std::ofstream out(run / "recipe.toml");
      out << synthetic_recipe({.name = "mpi-memory", .rounds = rounds, .clients = sites, .model_mb = model_mb});
    }
    auto job_argv = kMpirun;
    for (const std::string& a : {std::string("-n"), std::to_string(sites + 1), ctx.cohort.string(), std::string("mpi"),
                                 (run / "recipe.toml").string(), std::string("--workspace"), (run / "ws").string()})
      job_argv.push_back(a);
    if (process::run_to_end(job_argv, run / "mpi.out") != 0)
      throw std::runtime_error("cohort mpi with " + std::to_string(sites) + " site ranks failed:\n" + config::read_text_file(run / "mpi.out"));
    std::vector<double> ratios, above;
    for (const auto& r : jobs::read_rounds(jobs::JobDirectory::only_job(run / "ws").rounds_csv())) {
      if (r.round == 0) continue;  // when every lazily allocated buffer first appears
      ratios.push_back((r.server_round_peak_rss_mb - r.server_rss_before_round_mb) / r.model_mb);
      above.push_back(r.server_round_peak_rss_mb - r.server_rss_before_round_mb);
    }
    Row row;
    row.benchmark = "mpi";
    row.setting = "rank 0 in a round, " + std::to_string(sites) + " site ranks, " +
                  std::to_string(static_cast<int>(model_mb)) + " MB model";
    row.figure = stats(ratios);
    row.unit = "× model above between-rounds RSS";
    row.goal = "<= 1.1";
    row.met = row.figure.max <= 1.1;
    row.note = "peak − between = " + std::to_string(static_cast<int>(stats(above).median)) + " MiB";
    rows.push_back(row);
  }
  return rows;
}

}  // namespace cohort::bench
