// What differential privacy costs a round: a FedAvg job on a 100 MB synthetic model, 2
// clients, with central DP (each site clips its update, the server adds noise to the
// average) against the same job without privacy, run alternately in the same session.
// Round time (rounds 2..N, where every buffer exists) and the server's peak in the round
// above its between-rounds RSS. A third job clips at the server (results wait in files).
#include "suites.hpp"

namespace cohort::bench {

namespace {

struct Measured {
  std::vector<double> seconds, memory_ratio;
};

void measure(const std::filesystem::path& job, Measured& into) {
  for (const auto& r : jobs::read_rounds(jobs::JobDirectory::at(job).rounds_csv())) {
    if (r.round == 0) continue;
    into.seconds.push_back(r.seconds);
    into.memory_ratio.push_back((r.server_round_peak_rss_mb - r.server_rss_before_round_mb) / r.model_mb);
  }
}

}  // namespace

std::vector<Row> privacy(const Context& ctx) {
  const double model_mb = ctx.quick ? 20 : 100;
  const std::int64_t rounds = ctx.quick ? 3 : 6, repeats = ctx.quick ? 1 : 3;
  const std::string central = "[privacy]\nmode = \"central\"\nclipping_norm = 1.0\nnoise_multiplier = 1.0\ntarget_delta = 0.1\n";
  const std::string at_server = "[privacy]\nmode = \"central\"\nclip_at = \"server\"\nclipping_norm = 1.0\n"
                                "noise_multiplier = 1.0\ntarget_delta = 0.1\n";
  Measured plain, clipped_at_sites, clipped_at_server;
  for (std::int64_t i = 0; i < repeats; ++i) {
    const SyntheticJob job{.name = "privacy", .rounds = rounds, .clients = 2, .model_mb = model_mb};
    measure(simulate(ctx, "privacy-off-" + std::to_string(i), synthetic_recipe(job)), plain);
    measure(simulate(ctx, "privacy-central-" + std::to_string(i), synthetic_recipe(job) + central), clipped_at_sites);
    measure(simulate(ctx, "privacy-server-" + std::to_string(i), synthetic_recipe(job) + at_server), clipped_at_server);
  }
  const std::string size = std::to_string(static_cast<int>(model_mb)) + " MB model, 2 clients, mutual TLS";
  std::vector<Row> rows;
  auto time_row = [&](const std::string& how, const Measured& m, double goal) {
    Row row;
    row.benchmark = "privacy";
    row.setting = "round time, " + how + ", " + size;
    row.figure = stats(m.seconds);
    row.unit = "s per round";
    row.baseline = stats(plain.seconds);
    row.baseline_unit = "s per round without privacy";
    const double ratio = row.figure.median / row.baseline->median;
    row.goal = "<= " + std::to_string(goal).substr(0, 4) + " × without";
    row.met = ratio <= goal;
    row.note = "ratio " + std::to_string(ratio).substr(0, 5);
    return row;
  };
  auto memory_row = [&](const std::string& how, const Measured& m, double goal) {
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
  rows.push_back(time_row("central DP clipped at the sites", clipped_at_sites, 1.05));
  rows.push_back(memory_row("central DP clipped at the sites", clipped_at_sites, 1.1));
  rows.push_back(time_row("central DP clipped at the server", clipped_at_server, 1.5));
  rows.push_back(memory_row("central DP clipped at the server", clipped_at_server, 2.1));
  return rows;
}

}  // namespace cohort::bench
