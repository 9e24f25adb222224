// What differential privacy costs a round: a FedAvg job on a 100 MB synthetic model, 2
// clients, with central DP (each site clips its update, the server adds noise to the
// average) against the same job without privacy, run alternately in the same session.
// Round time (rounds 2..N, where every buffer exists) and the server's peak in the round
// above its between-rounds RSS. A third job clips at the server (results wait in files).
#include "suites.hpp"

namespace cohort::bench {

std::vector<Row> privacy(const Context& ctx) {
  const double model_mb = ctx.quick ? 20 : 100;
  const std::int64_t rounds = ctx.quick ? 3 : 5, repeats = ctx.quick ? 1 : 3;
  const std::string central = "[privacy]\nmode = \"central\"\nclipping_norm = 1.0\nnoise_multiplier = 1.0\ntarget_delta = 0.1\n";
  const std::string at_server = "[privacy]\nmode = \"central\"\nclip_at = \"server\"\nclipping_norm = 1.0\n"
                                "noise_multiplier = 1.0\ntarget_delta = 0.1\n";
  // Rounds that only move the model (the worst case: nothing to hide the work in), and
  // rounds whose sites train for 1 s.
  RoundFigures plain, at_sites, at_the_server, plain_training, at_sites_training;
  for (std::int64_t i = 0; i < repeats; ++i) {
    const auto n = std::to_string(i);
    const SyntheticJob job{.name = "privacy", .rounds = rounds, .clients = 2, .model_mb = model_mb};
    const SyntheticJob training{.name = "privacy", .rounds = rounds, .clients = 2, .model_mb = model_mb, .compute_ms = 1000};
    plain.add(simulate(ctx, "privacy-off-" + n, synthetic_recipe(job)));
    at_sites.add(simulate(ctx, "privacy-central-" + n, synthetic_recipe(job) + central));
    at_the_server.add(simulate(ctx, "privacy-server-" + n, synthetic_recipe(job) + at_server));
    plain_training.add(simulate(ctx, "privacy-off-training-" + n, synthetic_recipe(training)));
    at_sites_training.add(simulate(ctx, "privacy-central-training-" + n, synthetic_recipe(training) + central));
  }
  const std::string size = std::to_string(static_cast<int>(model_mb)) + " MB model, 2 clients, mutual TLS";
  auto time_row = [&](const std::string& how, const RoundFigures& m, const RoundFigures& base, double goal) {
    Row row;
    row.benchmark = "privacy";
    row.setting = "round time, " + how + ", " + size;
    row.figure = stats(m.seconds);
    row.unit = "s per round";
    row.baseline = stats(base.seconds);
    row.baseline_unit = "s per round without privacy";
    const double ratio = row.figure.median / row.baseline->median;
    row.goal = "<= " + std::to_string(goal).substr(0, 4) + " × without";
    row.met = ratio <= goal;
    row.note = "ratio " + std::to_string(ratio).substr(0, 5) + "; " +
               std::to_string(static_cast<int>(1000 * (row.figure.median - row.baseline->median))) + " ms more a round";
    return row;
  };
  auto memory_row = [&](const std::string& how, const RoundFigures& m, double goal) {
    Row row;
    row.benchmark = "privacy";
    row.setting = "server memory in the round, " + how + ", " + size;
    row.figure = stats(m.memory_ratio);
    row.unit = "× model above between-rounds RSS";
    row.baseline = stats(plain.memory_ratio);
    row.baseline_unit = "× model without privacy";
    row.goal = "<= " + std::to_string(goal).substr(0, 3);
    row.met = row.figure.max <= goal;
    return row;
  };
  return {time_row("central DP clipped at the sites, sites training 1 s", at_sites_training, plain_training, 1.05),
          time_row("central DP clipped at the sites, no training", at_sites, plain, 1.05),
          memory_row("central DP clipped at the sites", at_sites, 1.1),
          time_row("central DP clipped at the server, no training", at_the_server, plain, 1.5),
          memory_row("central DP clipped at the server", at_the_server, 2.1)};
}

}  // namespace cohort::bench
