// What a site's logging costs the federation: FedAvg with 100 sites each logging 1000
// scalars a round (ExecutorContext::log_scalar, streamed to the server, written to the
// job's tracking/) against the same job without logging, run alternately in the same
// session. Round time (rounds 2..N) and the server's peak RSS.
#include "suites.hpp"

#include "jobs/tracking.hpp"

#include <stdexcept>

namespace cohort::bench {

namespace {

struct Measured {
  std::vector<double> seconds, peak_rss;
};

void measure(const std::filesystem::path& job, Measured& into) {
  double peak = 0;
  for (const auto& r : jobs::read_rounds(jobs::JobDirectory::at(job).rounds_csv())) {
    if (r.round == 0) continue;
    into.seconds.push_back(r.seconds);
    peak = std::max(peak, r.server_round_peak_rss_mb);
  }
  into.peak_rss.push_back(peak);
}

Row compare(const std::string& what, const Stats& with, const Stats& without, const std::string& unit,
            const std::string& setting) {
  Row row;
  row.benchmark = "tracking";
  row.setting = what + ", " + setting;
  row.figure = with;
  row.unit = unit;
  row.baseline = without;
  row.baseline_unit = unit + " without logging";
  const double ratio = with.median / without.median;
  row.goal = "<= 1.05 × without";
  row.met = ratio <= 1.05;
  row.note = "ratio " + std::to_string(ratio).substr(0, 5);
  return row;
}

}  // namespace

std::vector<Row> tracking(const Context& ctx) {
  const std::int64_t sites = ctx.quick ? 20 : 100, scalars = 1000, rounds = ctx.quick ? 3 : 5;
  const std::int64_t repeats = ctx.quick ? 1 : 3;
  Measured with, without;
  for (std::int64_t i = 0; i < repeats; ++i) {
    const auto n = std::to_string(i);
    SyntheticJob job{.name = "tracking", .rounds = rounds, .clients = sites, .model_mb = 1, .workers = 4,
                     .compute_ms = 100};
    measure(simulate(ctx, "tracking-off-" + n, synthetic_recipe(job)), without);
    job.log_scalars = scalars;
    const auto logged = simulate(ctx, "tracking-on-" + n, synthetic_recipe(job));
    measure(logged, with);
    // Every scalar arrived: the sites' series in metrics.jsonl, beside the round metrics.
    std::size_t count = 0;
    for (const auto& s : jobs::read_tracked(jobs::JobDirectory::at(logged)))
      count += s.tag == "synthetic/scalar" ? 1 : 0;
    if (count != static_cast<std::size_t>(sites * scalars * rounds))
      throw std::runtime_error("tracking bench: " + std::to_string(count) + " scalars arrived of " +
                               std::to_string(sites * scalars * rounds));
  }
  const std::string setting = std::to_string(sites) + " sites (4 client processes), " + std::to_string(scalars) +
                              " scalars per site per round, 1 MB model, sites training 100 ms";
  return {compare("round time", stats(with.seconds), stats(without.seconds), "s per round", setting),
          compare("server peak RSS", stats(with.peak_rss), stats(without.peak_rss), "MiB", setting)};
}

}  // namespace cohort::bench
