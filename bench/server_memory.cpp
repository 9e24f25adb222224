// Server memory during a round: peak RSS in the round above the RSS between rounds (the
// global model loaded), as a multiple of the model size, for 1 to 16 clients.
//
// The server measures both itself: rounds.csv has the RSS when the round starts and the
// peak within it (VmHWM reset at round start through /proc/self/clear_refs).
//
// Compute-free sites may answer before the last task is on the wire: the round then
// averages in an accumulator (≤ 1.1 × model). Sites that compute for 1 s a task leave every
// task sent before the first result, and FedAvg averages in the global model's own memory
// (≤ 0.1 × model). FedOpt steps from the previous global, so it keeps one model (≤ 1.1 ×).
#include "suites.hpp"

#include <sstream>


namespace cohort::bench {

namespace {

struct Case {
  std::int64_t clients;
  std::int64_t compute_ms;
  std::string controller;
  double goal;
};

Row measure(const Context& ctx, const Case& c, double model_mb, std::int64_t rounds) {
  const std::string label = std::to_string(c.clients) + " clients" + (c.compute_ms ? ", compute 1 s" : "") +
                            (c.controller == "fedavg" ? "" : ", " + c.controller);
  std::string name = "server-memory-" + std::to_string(c.clients) + (c.compute_ms ? "-compute" : "") + "-" + c.controller;
  const auto job = simulate(ctx, name,
                            synthetic_recipe({.name = "server-memory", .rounds = rounds, .clients = c.clients,
                                              .model_mb = model_mb, .compute_ms = c.compute_ms, .controller = c.controller}));
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
  row.setting = label + ", " + std::to_string(static_cast<int>(model_mb)) + " MB model";
  row.figure = stats(ratios);
  row.unit = "× model above between-rounds RSS";
  std::ostringstream goal;
  goal << "<= " << c.goal;
  row.goal = goal.str();
  row.met = row.figure.max <= c.goal;
  row.note = "peak − between = " + std::to_string(static_cast<int>(stats(above).median)) + " MiB" +
             (c.compute_ms || c.controller != "fedavg" ? "" : "; a tensor is summed in place when its first result chunk comes after the last task is sent");
  return row;
}

}  // namespace

std::vector<Row> server_memory(const Context& ctx) {
  std::vector<Row> rows;
  const double model_mb = ctx.quick ? 20 : 100;
  const std::int64_t rounds = ctx.quick ? 3 : 5;
  std::vector<Case> cases;
  for (std::int64_t clients : ctx.quick ? std::vector<std::int64_t>{1, 2} : std::vector<std::int64_t>{1, 2, 4, 8, 16})
    cases.push_back({clients, 0, "fedavg", 1.1});
  for (std::int64_t clients : ctx.quick ? std::vector<std::int64_t>{2} : std::vector<std::int64_t>{2, 4, 8, 16})
    cases.push_back({clients, 1000, "fedavg", 0.1});
  cases.push_back({4, 1000, "fedopt", 1.1});
  for (const auto& c : cases) rows.push_back(measure(ctx, c, model_mb, rounds));
  return rows;
}

}  // namespace cohort::bench
