// Drift: RSS growth per round between round 10 and the last round, server and clients,
// under cohort's defaults and with its memory measures off.
#include "suites.hpp"

namespace cohort::bench {

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
      const auto rss = by_round(jobs::JobDirectory::at(job).memory_csv(process), &jobs::MemoryRow::rss_mb);
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
