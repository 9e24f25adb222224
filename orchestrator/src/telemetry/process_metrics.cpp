#include "telemetry/process_metrics.hpp"

#include <prometheus/text_serializer.h>

#include <algorithm>

namespace cohort::telemetry {

namespace {

// Round durations from a tenth of a second to an hour.
const prometheus::Histogram::BucketBoundaries kRoundBuckets{0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800, 3600};

/// Adds to `counter` what `total` grew by since `seen`.
void advance(prometheus::Counter& counter, std::uint64_t total, std::uint64_t& seen) {
  if (total > seen) counter.Increment(static_cast<double>(total - seen));
  seen = std::max(seen, total);
}

/// Sets the gauges of `family` for `values` (by label `label`), and removes those of others.
void set_gauges(prometheus::Family<prometheus::Gauge>& family, const std::string& label,
                const std::map<std::string, double>& values, std::map<std::string, prometheus::Gauge*>& known) {
  for (auto it = known.begin(); it != known.end();) {
    if (values.count(it->first)) {
      ++it;
      continue;
    }
    family.Remove(it->second);
    it = known.erase(it);
  }
  for (const auto& [name, value] : values) {
    auto& gauge = known[name];
    if (!gauge) gauge = &family.Add({{label, name}});
    gauge->Set(value);
  }
}

}  // namespace

ProcessMetrics::ProcessMetrics()
    : registry_(std::make_shared<prometheus::Registry>()),
      rounds_(prometheus::BuildCounter()
                  .Name("cohort_rounds_completed_total")
                  .Help("Rounds a job has completed in this server process")
                  .Register(*registry_)),
      round_seconds_(prometheus::BuildHistogram()
                         .Name("cohort_round_duration_seconds")
                         .Help("How long a job's rounds took")
                         .Register(*registry_)),
      tasks_failed_(prometheus::BuildCounter()
                        .Name("cohort_tasks_failed_total")
                        .Help("Tasks of a job that failed or went unanswered")
                        .Register(*registry_)),
      bytes_sent_(prometheus::BuildCounter()
                      .Name("cohort_bytes_sent_total")
                      .Help("Bytes this process wrote to its peers (sites or server)")
                      .Register(*registry_)),
      bytes_received_(prometheus::BuildCounter()
                          .Name("cohort_bytes_received_total")
                          .Help("Bytes this process read from its peers (sites or server)")
                          .Register(*registry_)),
      resident_(prometheus::BuildGauge()
                    .Name("cohort_resident_memory_bytes")
                    .Help("Resident memory of this process and of the processes it started")
                    .Register(*registry_)),
      sites_connected_(prometheus::BuildGauge()
                           .Name("cohort_sites_connected")
                           .Help("Sites connected now")
                           .Register(*registry_)),
      site_connected_(prometheus::BuildGauge()
                          .Name("cohort_site_connected")
                          .Help("1 for each site connected now")
                          .Register(*registry_)),
      jobs_(prometheus::BuildGauge().Name("cohort_jobs").Help("Jobs in each state").Register(*registry_)) {
  bytes_sent_.Add({});
  bytes_received_.Add({});
  sites_connected_.Add({});
}

void ProcessMetrics::round_completed(const std::string& job, double seconds, std::size_t failed) {
  std::lock_guard lock(mutex_);
  rounds_.Add({{"job_id", job}}).Increment();
  round_seconds_.Add({{"job_id", job}}, kRoundBuckets).Observe(seconds);
  tasks_failed_.Add({{"job_id", job}}).Increment(static_cast<double>(failed));
}

void ProcessMetrics::job_ended(const std::string& job) {
  std::lock_guard lock(mutex_);
  const prometheus::Labels labels{{"job_id", job}};
  if (rounds_.Has(labels)) rounds_.Remove(&rounds_.Add(labels));
  if (round_seconds_.Has(labels)) round_seconds_.Remove(&round_seconds_.Add(labels, kRoundBuckets));
  if (tasks_failed_.Has(labels)) tasks_failed_.Remove(&tasks_failed_.Add(labels));
}

std::string ProcessMetrics::scrape(const Snapshot& snapshot) {
  std::lock_guard lock(mutex_);
  advance(bytes_sent_.Add({}), snapshot.bytes_sent, sent_seen_);
  advance(bytes_received_.Add({}), snapshot.bytes_received, received_seen_);
  sites_connected_.Add({}).Set(static_cast<double>(snapshot.sites_connected.size()));
  std::map<std::string, double> values;
  for (const auto& [process, bytes] : snapshot.resident_bytes) values[process] = static_cast<double>(bytes);
  set_gauges(resident_, "process", values, resident_known_);
  values.clear();
  for (const auto& site : snapshot.sites_connected) values[site] = 1;
  set_gauges(site_connected_, "site", values, sites_known_);
  values.clear();
  for (const auto& [state, count] : snapshot.jobs_by_state) values[state] = static_cast<double>(count);
  set_gauges(jobs_, "state", values, jobs_known_);
  return prometheus::TextSerializer().Serialize(registry_->Collect());
}

MetricsEndpoint::MetricsEndpoint(ListenAddress address, std::shared_ptr<ProcessMetrics> metrics,
                                 std::function<Snapshot()> snapshot, std::function<bool()> ready,
                                 std::shared_ptr<spdlog::logger> log)
    : http_(std::move(address),
            [metrics, snapshot, ready](const HttpRequest& request) {
              const bool known = request.path == "/metrics" || request.path == "/healthz" || request.path == "/readyz";
              if (!known) return text_response(404, "not found: " + request.path + "\n");
              if (request.method != "GET") return text_response(405, "method not allowed: only GET and HEAD\n");
              if (request.path == "/healthz") return text_response(200, "ok\n");
              if (request.path == "/readyz") return ready() ? text_response(200, "ready\n") : text_response(503, "not ready\n");
              return HttpResponse{200, "text/plain; version=0.0.4; charset=utf-8", metrics->scrape(snapshot())};
            },
            std::move(log)) {}

}  // namespace cohort::telemetry
