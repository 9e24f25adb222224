#include "server/round_recorder.hpp"

#include "memory/memory.hpp"
#include "net/traffic.hpp"

#include <cohort/metrics.hpp>

#include <spdlog/logger.h>

namespace cohort::server {

using memory::mib;

RoundRecorder::RoundRecorder(const jobs::JobDirectory& directory, std::unique_ptr<hooks::MemoryMonitor> monitor,
                             std::shared_ptr<spdlog::logger> log, std::int64_t num_rounds)
    : log_(std::move(log)),
      num_rounds_(num_rounds),
      monitor_(std::move(monitor)),
      metrics_(directory.metrics_csv()),
      rounds_(directory.rounds_csv()),
      timeline_writer_(directory.timeline_csv()),
      tracking_(directory) {}

RoundRecorder::~RoundRecorder() = default;

std::vector<std::filesystem::path> RoundRecorder::files(const jobs::JobDirectory& directory) {
  return {directory.metrics_csv(), directory.rounds_csv(), directory.timeline_csv(), directory.metrics_jsonl()};
}

void RoundRecorder::round_started(std::int64_t round) {
  round_ = round;
  round_start_ = Clock::now();
  {
    std::lock_guard lock(timeline_mutex_);
    timeline_start_ = round_start_;
  }
  broadcasts_in_round_ = 0;
  // Between rounds: the global model is loaded, nothing else of the round yet.
  rss_before_round_ = memory::process_memory().rss_bytes;
  bytes_at_round_start_ = {net::bytes_sent(), net::bytes_received()};
  memory::reset_peak_rss();
  received_ = failed_ = 0;
  if (monitor_) monitor_->set_round(round);
}

void RoundRecorder::mark(std::int64_t round, std::int64_t broadcast, const std::string& task, const std::string& site,
                         const char* event) {
  const auto now = Clock::now();
  std::lock_guard lock(timeline_mutex_);
  timeline_.push_back({round, broadcast, task, site, event, std::chrono::duration<double>(now - timeline_start_).count()});
}

void RoundRecorder::forget_timeline() {
  {
    std::lock_guard lock(timeline_mutex_);
    timeline_.clear();
  }
  broadcasts_in_round_ = 0;
}

void RoundRecorder::count(std::size_t received, std::size_t failed) {
  received_ += received;
  failed_ += failed;
}

jobs::RoundRow RoundRecorder::round_ended(std::int64_t round, std::uint64_t model_bytes, std::optional<double> epsilon) {
  const double seconds = std::chrono::duration<double>(Clock::now() - round_start_).count();
  std::vector<jobs::TimelineRow> timeline;
  {
    std::lock_guard lock(timeline_mutex_);
    timeline.swap(timeline_);
  }
  timeline.push_back({round, -1, "", "server", "round_ended", seconds});
  for (const auto& row : timeline) timeline_writer_.append(row);
  const auto mem = memory::process_memory();
  const auto alloc = memory::allocator_stats();
  const auto tensors = memory::tensor_bytes();
  jobs::RoundRow row;
  row.round = round;
  row.seconds = seconds;
  if (counts_results_) {
    row.results = static_cast<std::int64_t>(received_);
    row.failed = static_cast<std::int64_t>(failed_);
  }
  row.server_rss_mb = mib(mem.rss_bytes);
  row.server_round_peak_rss_mb = mib(mem.peak_rss_bytes);
  row.server_alloc_free_mb = mib(alloc.free_bytes);
  row.server_rss_before_round_mb = mib(rss_before_round_);
  if (tensors) row.server_tensor_mb = mib(*tensors);
  row.model_mb = mib(model_bytes);
  row.epsilon = epsilon;
  rounds_.append(row);
  const auto parts = jobs::round_parts(timeline);
  track(row, parts);
  if (auto it = parts.find(round); it != parts.end())
    log_->info("round {}/{}: {}", round + 1, num_rounds_, jobs::describe(it->second));
  log_->info("round {}/{} done in {:.2f} s: {} results, {} failed; server rss {:.1f} MiB (before the round {:.1f}, "
             "peak in the round {:.1f}), tensors {} MiB, allocator free {:.1f} MiB",
             round + 1, num_rounds_, seconds, received_, failed_, mib(mem.rss_bytes), mib(rss_before_round_),
             mib(mem.peak_rss_bytes), tensors ? fmt::format("{:.1f}", mib(*tensors)) : std::string("n/a"),
             mib(alloc.free_bytes));
  return row;
}

void RoundRecorder::track_safely(const std::function<void()>& write) {
  try {
    write();
  } catch (const std::exception& e) {
    const auto failures = ++tracking_failures_;
    if (failures == 1 || failures % 1000 == 0)
      log_->warn("tracking/ not written ({} time{} in this job): {}", failures, failures == 1 ? "" : "s", e.what());
  }
}

void RoundRecorder::track(const jobs::RoundRow& row, const std::map<std::int64_t, jobs::RoundParts>& parts) {
  auto add = [&](const char* tag, double value) {
    track_safely([&] { tracking_.add("server", tag, value, row.round); });
  };
  add("round/seconds", row.seconds);
  if (auto it = parts.find(row.round); it != parts.end()) {
    add("round/send_seconds", it->second.send);
    add("round/sites_seconds", it->second.sites);
    add("round/receive_seconds", it->second.receive);
    add("round/server_seconds", it->second.server);
  }
  if (row.results) add("round/results", static_cast<double>(*row.results));
  if (row.failed) add("round/failed", static_cast<double>(*row.failed));
  add("memory/server_rss_mb", row.server_rss_mb);
  add("memory/server_rss_before_round_mb", row.server_rss_before_round_mb);
  add("memory/server_round_peak_rss_mb", row.server_round_peak_rss_mb);
  add("memory/server_alloc_free_mb", row.server_alloc_free_mb);
  if (row.server_tensor_mb) add("memory/server_tensor_mb", *row.server_tensor_mb);
  add("model/mb", row.model_mb);
  if (row.epsilon) add("privacy/epsilon", *row.epsilon);
  // What the server's links moved in the round (every job's, when several run at once).
  add("network/sent_mb", mib(net::bytes_sent() - bytes_at_round_start_.first));
  add("network/received_mb", mib(net::bytes_received() - bytes_at_round_start_.second));
}

void RoundRecorder::close() {
  monitor_.reset();
  if (tracking_.dropped() > 0)
    log_->warn("tracking: {} metric values that were not finite (NaN or infinite) were left out of tracking/",
               tracking_.dropped());
}

void RoundRecorder::set_rounds_completed(std::int64_t rounds) {
  if (monitor_) monitor_->set_round(rounds);
}

void RoundRecorder::record_metrics(std::int64_t round, const std::string& site,
                                   const std::map<std::string, double>& metrics) {
  metrics_.append(jobs::MetricsRow{round, site, metrics});
  // Under round/: a site's own scalars (log_scalar) may use the same names at steps of their own.
  track_safely([&] {
    for (const auto& [name, value] : metrics) tracking_.add(site, "round/" + name, value, round);
  });
}

void RoundRecorder::record_site_scalars(const std::string& site, std::vector<jobs::TrackedScalar> scalars,
                                        std::uint64_t dropped) {
  std::uint64_t before = 0;
  {
    std::lock_guard lock(dropped_mutex_);
    auto& known = site_dropped_[site];
    before = known;
    known = std::max(known, dropped);
  }
  if (dropped > before) {
    log_->warn("site '{}' dropped {} scalars it logged ({} in this job): its queue was full, or a value was not finite "
               "or a tag longer than {} bytes",
               site, dropped - before, dropped, kMaxScalarTagBytes);
    scalars.push_back({site, "scalars/dropped", round_.load(), static_cast<double>(dropped), 0});
  }
  for (auto& scalar : scalars) scalar.source = site;
  track_safely([&] { tracking_.add_all(scalars); });
}

}  // namespace cohort::server
