#pragma once
/// @file executor.hpp
/// The client side of a workflow: an Executor runs tasks for sites.

#include <cohort/controller.hpp>
#include <cohort/metrics.hpp>
#include <cohort/model.hpp>
#include <cohort/stream.hpp>

#include <cstdint>
#include <string>

namespace spdlog {
class logger;
}

namespace cohort {

/// What an executor knows about the site it works for, and the job.
class ExecutorContext {
 public:
  virtual ~ExecutorContext() = default;
  /// The site's name (its certificate's common name).
  virtual const std::string& site() const = 0;
  /// 0-based index of the site among all sites of the job (its data partition).
  virtual std::int64_t site_index() const = 0;
  /// Number of sites the job's data is partitioned across.
  virtual std::int64_t num_sites() const = 0;
  /// The job.
  virtual const JobInfo& job() const = 0;
  /// The site's logger. It outlives the executor, so an executor may keep it beyond a
  /// task (e.g. for output of a process it started).
  virtual spdlog::logger& log() = 0;
  /// True once the task should stop early (job aborted, server gone).
  virtual bool abort_requested() const = 0;
  /// Records `value` of the scalar `tag` at `step` for the site, as it happens: the site
  /// sends it to the server while the task runs (between the chunks of a model it sends),
  /// which writes it to the job's tracking/<site> (TensorBoard's event files) and
  /// tracking/metrics.jsonl. Never blocks: a scalar that does not fit the site's bounded
  /// queue, is not finite or has a tag of more than kMaxScalarTagBytes is dropped, and
  /// the drops are counted and reported to the server.
  virtual void log_scalar(const std::string& tag, double value, std::int64_t step) = 0;
};

/// Runs tasks. One executor serves every site of a client process, one task at a time;
/// it must not keep a site's tensors from one task to the next.
class Executor {
 public:
  virtual ~Executor() = default;
  /// Runs `task` (which it owns: it may drop the received model as soon as it is done
  /// with it) and returns the result: a model (may be empty, e.g. for "validate"),
  /// num_steps and metrics. Throws to report a failed task.
  virtual Model execute(Task task, ExecutorContext& ctx) = 0;
  /// Where the model of the task that `ctx.site()` runs next should land, asked before
  /// its bytes arrive from the network; null (the default): fresh CPU tensors. An
  /// executor that hands models to another process returns memory that process maps.
  virtual std::shared_ptr<TensorPlacement> model_placement(ExecutorContext& ctx) { return nullptr; }
};

}  // namespace cohort
