// What secure aggregation costs: FedAvg with 10 sites (groups of 5, threshold 3) on a
// 100 MB synthetic model against the same job without it, run alternately in the same
// session: round time (rounds 2..N) and the server's in-round peak above its
// between-rounds RSS, in models. And the mask expansion alone on one core (AES-256-CTR
// keystream added into a 256 MiB vector), against a plain memory pass over the same vector.
#include "suites.hpp"

#include "secagg/crypto.hpp"

#include <chrono>
#include <vector>

namespace cohort::bench {

namespace {

/// GB/s of adding a mask stream into `words`, and of adding a constant (memory's pace).
std::pair<double, double> expansion_speed(std::vector<std::uint32_t>& words) {
  using Clock = std::chrono::steady_clock;
  const double gb = static_cast<double>(words.size() * 4) / 1e9;
  const auto t0 = Clock::now();
  secagg::MaskStream(secagg::random_bytes(32)).add_to(words);
  const auto t1 = Clock::now();
  for (auto& w : words) w += 0x9e3779b9u;
  const auto t2 = Clock::now();
  return {gb / std::chrono::duration<double>(t1 - t0).count(), gb / std::chrono::duration<double>(t2 - t1).count()};
}

}  // namespace

std::vector<Row> secure_aggregation(const Context& ctx) {
  const double model_mb = ctx.quick ? 20 : 100;
  const std::int64_t rounds = ctx.quick ? 3 : 4, repeats = ctx.quick ? 1 : 2, sites = 10;
  const std::string secure = "[secure_aggregation]\nneighbours = 5\nthreshold = 3\nmax_weight = 1\n";
  RoundFigures plain, masked;
  for (std::int64_t i = 0; i < repeats; ++i) {
    const auto n = std::to_string(i);
    const SyntheticJob job{.name = "secagg", .rounds = rounds, .clients = sites, .model_mb = model_mb, .workers = 2};
    plain.add(simulate(ctx, "secagg-off-" + n, synthetic_recipe(job)));
    masked.add(simulate(ctx, "secagg-on-" + n, synthetic_recipe(job) + secure));
  }
  const std::string setting = std::to_string(sites) + " sites (2 client processes), groups of 5, threshold 3, " +
                              std::to_string(static_cast<int>(model_mb)) + " MB model, mutual TLS";
  auto compared = [&](const std::string& what, const std::vector<double>& with, const std::vector<double>& without,
                      const std::string& unit) {
    Row row;
    row.benchmark = "secure-aggregation";
    row.setting = what + ", " + setting;
    row.figure = stats(with);
    row.unit = unit;
    row.baseline = stats(without);
    row.baseline_unit = unit + " without it";
    return row;
  };
  Row time = compared("round time", masked.seconds, plain.seconds, "s per round");
  const double ratio = time.figure.median / time.baseline->median;
  time.goal = "<= 2 × without";
  time.met = ratio <= 2;
  time.note = "ratio " + std::to_string(ratio).substr(0, 5);
  Row memory = compared("server memory in the round", masked.memory_ratio, plain.memory_ratio, "× model above between-rounds RSS");
  memory.goal = "<= 1.1 + O(sites)";
  memory.met = memory.figure.max <= 1.1;

  std::vector<std::uint32_t> words((ctx.quick ? 64u : 256u) << 18, 1);  // 64 or 256 MiB, faulted in
  std::vector<double> mask, pass;
  for (int i = 0; i < 5; ++i) {
    const auto [m, p] = expansion_speed(words);
    mask.push_back(m);
    pass.push_back(p);
  }
  Row expansion;
  expansion.benchmark = "secure-aggregation";
  expansion.setting = "mask expansion on one core (AES-256-CTR keystream added modulo 2^32), " +
                      std::to_string(words.size() * 4 >> 20) + " MiB";
  expansion.figure = stats(mask);
  expansion.unit = "GB/s";
  expansion.baseline = stats(pass);
  expansion.baseline_unit = "GB/s adding a constant (one memory pass)";
  expansion.goal = ">= 1 GB/s";
  expansion.met = expansion.figure.median >= 1;
  return {time, memory, expansion};
}

}  // namespace cohort::bench
