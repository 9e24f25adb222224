// Scale: the largest model that completes 3 FedAvg rounds with 2 clients (server and
// clients on this machine), and the most client connections one server holds.
//
// The sites of the model row compute for 10 s a task, longer than a 5 GiB model takes to
// reach both, so from round 1 on the server sums in the global model's memory (in-place
// aggregation; round 0 sums in an accumulator: its initial model is not on disk).
#include "suites.hpp"

#include <sstream>

namespace cohort::bench {

namespace {

/// The highest peak RSS (MiB) in a process's memory file.
double peak_rss(const std::filesystem::path& csv) {
  double peak = 0;
  for (const auto& r : jobs::read_memory(csv)) peak = std::max(peak, r.peak_rss_mb);
  return peak;
}

std::string mib(double v) { return std::to_string(static_cast<long long>(v)) + " MiB"; }

Row largest_model(const Context& ctx) {
  // The goal first; smaller sizes only if it fails, to say how far short it falls.
  const std::vector<double> sizes = ctx.quick ? std::vector<double>{256} : std::vector<double>{5120, 4096, 2048};
  Row row;
  row.benchmark = "scale";
  row.setting = "largest model completing 3 FedAvg rounds, 2 clients, mutual TLS, all on this machine";
  row.unit = "MiB model";
  row.goal = ">= 5120 MiB";
  std::string failures;
  for (const double size : sizes) {
    const std::string name = "scale-model-" + std::to_string(static_cast<int>(size));
    try {
      const auto job = simulate(ctx, name, synthetic_recipe({.name = name, .rounds = 3, .clients = 2, .model_mb = size,
                                                             .compute_ms = ctx.quick ? 0 : 10000}));
      std::vector<double> seconds;
      for (const auto& r : jobs::read_rounds(jobs::JobDirectory::at(job).rounds_csv())) seconds.push_back(r.seconds);
      row.figure = stats({size});
      row.met = size >= 5120;
      std::ostringstream note;
      note.precision(3);
      note << "peak RSS: server " << mib(peak_rss(jobs::JobDirectory::at(job).memory_csv("server"))) << ", clients "
           << mib(peak_rss(jobs::JobDirectory::at(job).memory_csv("client-1"))) << " and " << mib(peak_rss(jobs::JobDirectory::at(job).memory_csv("client-2")))
           << "; round time median " << stats(seconds).median << " s" << failures;
      row.note = note.str();
      // Checkpoints of this size fill a disk quickly.
      std::filesystem::remove(jobs::JobDirectory::at(job).artifact("global"));
      std::filesystem::remove(jobs::JobDirectory::at(job).artifact("best"));
      return row;
    } catch (const std::exception& e) {
      failures += "; " + std::to_string(static_cast<int>(size)) + " MiB did not complete (see bench-work/" + name + ")";
    }
  }
  row.note = "no size completed" + failures;
  return row;
}

Row most_connections(const Context& ctx) {
  // Each size once, upwards from the goal, while the server holds them all.
  const std::vector<std::pair<std::int64_t, std::int64_t>> ladder =
      ctx.quick ? std::vector<std::pair<std::int64_t, std::int64_t>>{{100, 4}}
                : std::vector<std::pair<std::int64_t, std::int64_t>>{{1000, 10}, {4000, 20}, {10000, 40}};
  Row row;
  row.benchmark = "scale";
  row.setting = "most sites, each its own mutual-TLS connection, one server; 0.1 MB model, 3 rounds";
  row.unit = "sites with a result in every round";
  row.goal = ">= 10000";
  row.figure = stats({0});
  for (const auto& [clients, workers] : ladder) {
    const std::string name = "scale-connections-" + std::to_string(clients);
    std::vector<double> results, seconds;
    try {
      const auto job = simulate(ctx, name, synthetic_recipe({.name = name, .rounds = 3, .clients = clients,
                                                             .model_mb = 0.1, .workers = workers}));
      for (const auto& r : jobs::read_rounds(jobs::JobDirectory::at(job).rounds_csv())) {
        results.push_back(static_cast<double>(r.results.value_or(0)));
        seconds.push_back(r.seconds);
      }
      const double held = stats(results).min;
      if (held < static_cast<double>(clients)) break;
      row.figure = stats({held});
      row.met = held >= 10000;
      std::ostringstream note;
      note.precision(3);
      note << "largest size tried; " << workers << " client processes; round time median " << stats(seconds).median
           << " s; server peak RSS " << mib(peak_rss(jobs::JobDirectory::at(job).memory_csv("server")));
      row.note = note.str();
    } catch (const std::exception&) {
      row.note += "; " + std::to_string(clients) + " sites did not complete (see bench-work/" + name + ")";
      break;
    }
  }
  return row;
}

}  // namespace

std::vector<Row> scale(const Context& ctx) { return {largest_model(ctx), most_connections(ctx)}; }

}  // namespace cohort::bench
