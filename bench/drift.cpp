// Drift: RSS growth per round between round 10 and the last round, server and clients,
// under cohort's defaults and with its memory measures off.
#include "suites.hpp"

#include <map>

namespace cohort::bench {

namespace {

/// RSS (MiB) of a process at the end of each round, from its memory file (the last sample
/// labelled with that round).
std::map<std::int64_t, double> rss_by_round(const std::filesystem::path& csv) {
  std::map<std::int64_t, double> out;
  for (const auto& r : jobs::read_memory(csv)) out[r.round] = r.rss_mb;
  return out;
}

/// Least-squares slope of RSS over the rounds in [from, to]: one sample per round is noisy.
double slope(const std::map<std::int64_t, double>& rss, std::int64_t from, std::int64_t to) {
  double n = 0, sx = 0, sy = 0, sxx = 0, sxy = 0;
  for (const auto& [round, mb] : rss) {
    if (round < from || round > to) continue;
    n += 1;
    sx += round;
    sy += mb;
    sxx += double(round) * round;
    sxy += round * mb;
  }
  const double d = n * sxx - sx * sx;
  return n > 1 && d != 0 ? (n * sxy - sx * sy) / d : 0;
}

}  // namespace

std::vector<Row> drift(const Context& ctx) {
  std::vector<Row> rows;
  const std::int64_t rounds = ctx.quick ? 15 : 100;
  const double model_mb = ctx.quick ? 10 : 50;
  struct Config {
    std::string name, memory, goal;
  };
  const std::vector<Config> configs{
      {"defaults (FedAvg: no periodic cleanup; 4 MiB mmap threshold)", "", "< 1"},
      {"memory measures off (glibc's dynamic mmap threshold, no cleanup)",
       "server_malloc_mmap_threshold_kib = 0\nclient_malloc_mmap_threshold_kib = 0\n", ""},
      {"NVFlare's remedy (glibc's dynamic threshold, cleanup every round)",
       "server_malloc_mmap_threshold_kib = 0\nclient_malloc_mmap_threshold_kib = 0\nserver_memory_gc_rounds = 1\n"
       "client_memory_gc_rounds = 1\n",
       ""}};
  int index = 0;
  for (const auto& c : configs) {
    const auto job = simulate(ctx, "drift-" + std::to_string(index++),
                              synthetic_recipe({.name = "drift", .rounds = rounds, .clients = 2, .model_mb = model_mb, .memory = c.memory}));
    // From round 10 (whose end is labelled 10) to the end of the last round.
    const std::int64_t last = rounds;
    for (const std::string process : {"server", "client-1", "client-2"}) {
      const auto rss = rss_by_round(jobs::JobDirectory::at(job).memory_csv(process));
      const double per_round = slope(rss, 10, last);
      Row row;
      row.benchmark = "drift";
      row.setting = process + ", " + c.name + ", " + std::to_string(static_cast<int>(model_mb)) + " MB model, rounds 10–" +
                    std::to_string(last);
      row.figure = stats({per_round});
      row.unit = "MiB/round (least-squares slope of the RSS at each round's end)";
      row.goal = c.goal;
      row.met = c.goal.empty() || per_round < 1.0;
      auto at = [&](std::int64_t r) { auto it = rss.find(r); return it == rss.end() ? 0.0 : it->second; };
      row.note = "RSS " + std::to_string(static_cast<int>(at(1))) + " MiB after round 1, " +
                 std::to_string(static_cast<int>(at(10))) + " after round 10, " +
                 std::to_string(static_cast<int>(at(last))) + " at the end";
      rows.push_back(row);
    }
  }
  return rows;
}

}  // namespace cohort::bench
