#pragma once
// The Prometheus metrics a cohort process exposes (prometheus-cpp's registry and text
// format), and the HTTP endpoint that serves them with the health probes:
//
//   /metrics   cohort_rounds_completed_total{job_id}, cohort_round_duration_seconds{job_id}
//              (histogram), cohort_tasks_failed_total{job_id}, cohort_bytes_sent_total,
//              cohort_bytes_received_total, cohort_resident_memory_bytes{process},
//              cohort_sites_connected, cohort_site_connected{site}, cohort_jobs{state}
//   /healthz   200 while the process runs
//   /readyz    200 once it accepts sites (server) or is connected (client), else 503
//
// Labels stay few: a job's series leave when the job ends (so at most the jobs running at
// once), sites are the project's, states the job store's. Nothing secret is in them.

#include "telemetry/http_server.hpp"

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace cohort::telemetry {

/// What a scrape reads at that moment (the endpoint's owner fills it).
struct Snapshot {
  /// Resident memory of this process, and of the processes it started (by name).
  std::map<std::string, std::uint64_t> resident_bytes;
  std::uint64_t bytes_sent = 0;
  std::uint64_t bytes_received = 0;
  /// The sites connected now (server: its sites; client: the sites it hosts).
  std::vector<std::string> sites_connected;
  /// Jobs by state (server), each state's count.
  std::map<std::string, std::size_t> jobs_by_state;
};

class ProcessMetrics {
 public:
  ProcessMetrics();

  /// A job completed a round in `seconds`, with `failed` tasks failed in it.
  void round_completed(const std::string& job, double seconds, std::size_t failed);
  /// A job ended: its series leave.
  void job_ended(const std::string& job);

  /// The text format of every metric, `snapshot` read into the gauges first.
  std::string scrape(const Snapshot& snapshot);

 private:
  std::mutex mutex_;
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& rounds_;
  prometheus::Family<prometheus::Histogram>& round_seconds_;
  prometheus::Family<prometheus::Counter>& tasks_failed_;
  prometheus::Family<prometheus::Counter>& bytes_sent_;
  prometheus::Family<prometheus::Counter>& bytes_received_;
  prometheus::Family<prometheus::Gauge>& resident_;
  prometheus::Family<prometheus::Gauge>& sites_connected_;
  prometheus::Family<prometheus::Gauge>& site_connected_;
  prometheus::Family<prometheus::Gauge>& jobs_;
  /// The gauges of each label value set at the last scrape.
  std::map<std::string, prometheus::Gauge*> resident_known_, sites_known_, jobs_known_;
  std::uint64_t sent_seen_ = 0;
  std::uint64_t received_seen_ = 0;
};

/// The /metrics, /healthz and /readyz endpoint of a process on `address`: `snapshot` is
/// read at each scrape, `ready` at each /readyz.
class MetricsEndpoint {
 public:
  MetricsEndpoint(ListenAddress address, std::shared_ptr<ProcessMetrics> metrics, std::function<Snapshot()> snapshot,
                  std::function<bool()> ready, std::shared_ptr<spdlog::logger> log);
  void start() { http_.start(); }
  void stop() { http_.stop(); }
  std::uint16_t port() const { return http_.port(); }

 private:
  HttpServer http_;
};

}  // namespace cohort::telemetry
