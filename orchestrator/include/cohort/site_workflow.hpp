#pragma once
/// @file site_workflow.hpp
/// Client-controlled workflows (Swarm): the rounds are driven by the sites themselves.
/// A SiteWorkflow runs in the client process for each site it hosts; sites talk to each
/// other through the server (relayed as streams, never buffered whole there) and report
/// to the server, which starts the workflow and watches its progress.

#include <cohort/controller.hpp>
#include <cohort/model.hpp>
#include <cohort/stream.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace cohort {

/// A timer a site workflow sets: what it is for, and the round it belongs to.
struct Timer {
  std::string name;
  std::int64_t round = -1;
};

/// What a site workflow can do.
class SiteWorkflowContext {
 public:
  virtual ~SiteWorkflowContext() = default;
  /// This site.
  virtual const std::string& site() const = 0;
  /// The job's sites, in the order that gives each its data partition.
  virtual const std::vector<std::string>& sites() const = 0;
  virtual const JobInfo& job() const = 0;
  virtual spdlog::logger& log() = 0;
  /// Sends `message` (and `model`, streamed from its storage) to site `to` through the
  /// server; `to` may be this site.
  virtual void relay(const std::string& to, const SiteMessage& message, const Model& model = {}) = 0;
  /// Sends `message` (and `model`) to the server.
  virtual void report(const SiteMessage& message, const Model& model = {}) = 0;
  /// Runs this process's executor on `task` for this site, on the calling thread.
  virtual Model execute(Task task) = 0;
  /// Calls SiteWorkflow::on_timer(timer) after `delay` (on the workflow's thread).
  virtual void schedule(std::chrono::milliseconds delay, Timer timer) = 0;
  /// Marks the end of this site's part of `round` in `role` ("trainer", "aggregator"):
  /// fires round_ended for the client (periodic cleanup per memory_gc_rounds).
  virtual void round_done(std::int64_t round, const std::string& role) = 0;
  /// What the status reports to the server say about this site; a change is reported at
  /// once, and again every status_interval().
  virtual void set_status(std::int64_t round, const std::string& state, const Metrics& metrics = {}) = 0;
};

/// One site's part of a client-controlled workflow. Every call but open_stream runs on the
/// client process's worker thread, one at a time, interleaved with the site's tasks.
class SiteWorkflow {
 public:
  virtual ~SiteWorkflow() = default;
  /// The server or another site sent `message` with `model` (possibly empty).
  virtual void on_message(const SiteMessage& message, Model model, SiteWorkflowContext& ctx) = 0;
  /// Called on a network thread when a message with a model starts to arrive: a sink to
  /// stream it into (e.g. an aggregator's reducer), or null to receive it whole in
  /// on_message. Must be thread-safe with the other calls.
  virtual std::unique_ptr<ResultSink> open_stream(const SiteMessage& message) { return nullptr; }
  /// A stream opened by open_stream ended, whole (`complete`) or cut off.
  virtual void on_stream_done(const SiteMessage& message, bool complete, SiteWorkflowContext& ctx) {}
  /// A timer set with schedule() fired.
  virtual void on_timer(const Timer& timer, SiteWorkflowContext& ctx) {}
  /// How often the client process reports this site's status to the server (0: never).
  virtual std::chrono::milliseconds status_interval() const { return std::chrono::milliseconds(0); }
  /// The server restarted and resumed the job from its last completed round: what the site
  /// had under way for a later round is void (results of it are dropped by their epoch);
  /// what it keeps across rounds (a best model) stays. The server's next message restarts
  /// the workflow. Default: nothing.
  virtual void on_job_resumed(SiteWorkflowContext& ctx) { (void)ctx; }
};

}  // namespace cohort
