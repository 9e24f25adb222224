// Round overhead: a round's wall time minus the slowest client's compute, against the time
// the round's bytes (the model to every client and back) need at the raw TCP throughput
// measured in the same run (a hot buffer each end; the note adds the same into fresh
// memory, which is where a received model lands, and, for TLS rows, at the speed of
// OpenSSL alone on a socket pair).
#include "suites.hpp"

#include "provisioning/local_project.hpp"

#include <map>
#include <sstream>

namespace cohort::bench {

namespace {

/// Seconds each round took minus its slowest client task (metrics.csv `seconds`, which a
/// client measures around its executor). Round 0 is left out (first touch of every buffer).
std::vector<double> overheads(const std::filesystem::path& job) {
  std::map<std::int64_t, double> slowest;
  const auto dir = jobs::JobDirectory::at(job);
  for (const auto& m : jobs::read_metrics(dir.metrics_csv())) {
    if (m.site == "global" || !m.metrics.count("seconds")) continue;
    auto& s = slowest[m.round];
    s = std::max(s, m.metrics.at("seconds"));
  }
  std::vector<double> out;
  for (const auto& r : jobs::read_rounds(dir.rounds_csv())) {
    if (r.round == 0) continue;
    out.push_back(r.seconds - slowest[r.round]);
  }
  return out;
}

}  // namespace

std::vector<Row> round_overhead(const Context& ctx) {
  const double model_mb = ctx.quick ? 20 : 100;
  const std::int64_t rounds = ctx.quick ? 3 : 5, compute_ms = 1000;
  const auto kits = ctx.work / "round-overhead-kits";
  std::filesystem::remove_all(kits);
  provisioning::provision_local(kits, "bench", "server", {"site-1"});
  std::vector<double> raw, raw_fresh, raw_tls;
  for (int i = 0; i < 3; ++i) {
    raw.push_back(raw_tcp_throughput(256u << 20, RawMemory::hot));
    raw_fresh.push_back(raw_tcp_throughput(256u << 20, RawMemory::fresh));
    raw_tls.push_back(raw_tls_throughput(256u << 20, kits));
  }
  const Stats baseline = stats(raw);
  const double fresh = stats(raw_fresh).median, sealed = stats(raw_tls).median;
  std::vector<Row> rows;
  for (const bool reuse : {false, true}) {
  for (const bool insecure : {false, true}) {
    for (const std::int64_t clients : ctx.quick ? std::vector<std::int64_t>{2} : std::vector<std::int64_t>{2, 4, 8}) {
      const std::string name = "round-overhead-" + std::to_string(clients) + (insecure ? "-plain" : "-tls") + (reuse ? "-reuse" : "");
      const auto job = simulate(ctx, name,
                                synthetic_recipe({.name = name, .rounds = rounds, .clients = clients, .model_mb = model_mb,
                                                  .insecure = insecure, .compute_ms = compute_ms, .reuse_model_memory = reuse}));
      const double bytes = 2.0 * static_cast<double>(clients) * model_mb * 1024 * 1024;
      const double wire_seconds = bytes / (baseline.median * 1e9);
      const Stats overhead = stats(overheads(job));
      Row row;
      row.benchmark = "round overhead";
      row.setting = std::to_string(clients) + " clients, " + std::to_string(static_cast<int>(model_mb)) + " MB model, " +
                    (insecure ? "plain TCP" : "mutual TLS") + (reuse ? ", reuse_model_memory" : "");
      row.figure = overhead;
      row.unit = "s per round beyond the slowest client's compute";
      row.baseline = baseline;
      row.baseline_unit = "GB/s raw TCP socket pair";
      const double ratio = overhead.median / wire_seconds;
      row.goal = "<= 1.5 × wire time";
      row.met = ratio <= 1.5;
      std::ostringstream note;
      note.precision(3);
      note << "the round's " << bytes / 1e9 << " GB at raw speed: " << wire_seconds << " s; ratio " << ratio
           << "; raw TCP into fresh memory " << fresh << " GB/s: " << bytes / (fresh * 1e9) << " s, ratio "
           << overhead.median / (bytes / (fresh * 1e9));
      if (!insecure)
        note << "; raw TLS pair (OpenSSL alone) " << sealed << " GB/s: " << bytes / (sealed * 1e9) << " s, ratio "
             << overhead.median / (bytes / (sealed * 1e9));
      row.note = note.str();
      rows.push_back(row);
    }
  }
  }
  return rows;
}

}  // namespace cohort::bench
