// Server memory during a round: peak RSS in the round above the RSS between rounds (the
// global model loaded), as a multiple of the model size, for 1 to 16 clients.
//
// The server measures both itself: rounds.csv has the RSS when the round starts and the
// peak within it (VmHWM reset at round start through /proc/self/clear_refs).
#include "suites.hpp"

namespace cohort::bench {

std::vector<Row> server_memory(const Context& ctx) {
  std::vector<Row> rows;
  const double model_mb = ctx.quick ? 20 : 100;
  const std::int64_t rounds = ctx.quick ? 3 : 5;
  std::optional<double> one_client;
  for (std::int64_t clients : ctx.quick ? std::vector<std::int64_t>{1, 2} : std::vector<std::int64_t>{1, 2, 4, 8, 16}) {
    const auto job = simulate(ctx, "server-memory-" + std::to_string(clients),
                              synthetic_recipe({.name = "server-memory", .rounds = rounds, .clients = clients, .model_mb = model_mb}));
    std::vector<double> ratios, above;
    // Round 0 is left out: it is also when every lazily allocated buffer first appears.
    for (const auto& r : jobs::read_rounds(jobs::JobDirectory::at(job).rounds_csv())) {
      if (r.round == 0) continue;
      const double before = r.server_rss_before_round_mb, peak = r.server_round_peak_rss_mb, model = r.model_mb;
      ratios.push_back((peak - before) / model);
      above.push_back(peak - before);
    }
    Row row;
    row.benchmark = "server memory";
    row.setting = std::to_string(clients) + " clients, " + std::to_string(static_cast<int>(model_mb)) + " MB model";
    row.figure = stats(ratios);
    row.unit = "× model above between-rounds RSS";
    row.goal = "<= 1.1";
    row.met = row.figure.max <= 1.1;
    const Stats mb = stats(above);
    const double bound = 1.1 * model_mb + 64;
    row.note = "peak − between = " + std::to_string(static_cast<int>(mb.median)) + " MiB (bound 1.1 × model + 64 MiB = " +
               std::to_string(static_cast<int>(bound)) + " MiB: " + (mb.max <= bound ? "within" : "exceeded") + ")";
    if (clients == 1) one_client = row.figure.median;
    else if (clients == 8 && one_client) {
      const double diff = 100.0 * (row.figure.median - *one_client) / *one_client;
      row.note += "; vs 1 client: " + std::to_string(diff).substr(0, 5) + "% (goal within 2%)";
    }
    rows.push_back(row);
  }
  return rows;
}

}  // namespace cohort::bench
