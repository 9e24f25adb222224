#pragma once
/// @file controller.hpp
/// The server side of a workflow: a Controller drives a job through its ControllerContext.
///
/// FedAvg's run() reads like the algorithm:
/// @code
///   for (round ...) {
///     ctx.round_started(r);
///     auto sites = ctx.sample(n);
///     WeightedAverage avg(ctx.global_model(), options);
///     ctx.broadcast(Task{"train", r, ctx.global_model()}, sites, avg, {...});
///     ctx.set_global_model(avg.result());
///     ctx.persist(ctx.global_model(), "global");
///     ctx.round_ended(r);
///   }
/// @endcode

#include <cohort/job.hpp>
#include <cohort/model.hpp>
#include <cohort/stream.hpp>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace spdlog {
class logger;
}

namespace cohort {

/// What a site is asked to do. `model` shares storage with wherever it came from: a
/// broadcast of the global model sends the global model's own bytes, no copy.
/// The task that asks a site for its initial parameters before round 1 (`[model]
/// from_site`): it brings no model, and its result is the initial global model, of
/// whatever tensors the site's model has. An executor that cannot answer it fails it.
inline constexpr const char* kGetParametersTask = "get_parameters";

struct Task {
  /// "train", "validate", kGetParametersTask, or a workflow's own task name.
  std::string name;
  std::int64_t round = 0;
  Model model;
  /// Small named parameters for the executor.
  std::map<std::string, std::string> meta;
};

/// How long to wait for a broadcast, and for how many results.
struct BroadcastOptions {
  /// Results needed before the wait below starts (0: all targets).
  std::size_t min_responses = 0;
  /// Once min_responses results are in, keep gathering this long for the others.
  std::chrono::milliseconds wait_after_min{0};
  /// Give up on outstanding sites after this long (0: wait forever, or until they are lost).
  std::chrono::milliseconds timeout{0};
  /// Give up on a site that has not taken its task (its worker has not started on it)
  /// after this long (0: no limit).
  std::chrono::milliseconds assignment_timeout{0};
};

/// A site that did not deliver a whole result.
struct SiteFailure {
  std::string site;
  std::string reason;
};

/// What came of a broadcast.
struct BroadcastOutcome {
  /// Results that arrived whole and were folded into the reducer.
  std::vector<ResultInfo> received;
  /// Sites that failed: an executor error, a lost connection, an upload cut off, a timeout.
  std::vector<SiteFailure> failed;
};

/// Options for send().
struct SendOptions {
  /// Give up after this long (0: wait until the result arrives or the site is lost).
  std::chrono::milliseconds timeout{0};
  /// Give up when the site has not taken the task after this long (0: no limit).
  std::chrono::milliseconds assignment_timeout{0};
};

/// What came of a send(): the whole result model, or why there is none.
struct SendResult {
  bool ok = false;
  std::string error;
  ResultInfo info;
  Model model;
};

/// A message between sites, or between a site and the server (client-controlled
/// workflows).
struct SiteMessage {
  /// Who sent it: a site, or "server".
  std::string from;
  std::string name;
  std::int64_t round = -1;
  std::map<std::string, std::string> meta;
  Metrics metrics;
  std::optional<std::int64_t> num_steps;
};

/// What a site reported to the server: a message from it (`from` is the site) and the
/// model it sent along (empty when none).
struct SiteReport : SiteMessage {
  Model model;
};

/// The controller's window on the job. Implemented by the server; every call is
/// blocking and made from the job's own thread.
class ControllerContext {
 public:
  virtual ~ControllerContext() = default;

  /// The job being run.
  virtual const JobInfo& job() const = 0;
  /// The job's logger.
  virtual spdlog::logger& log() = 0;

  /// Sites connected and eligible for this job, sorted by name.
  virtual std::vector<std::string> sites() const = 0;
  /// `n` distinct sites chosen at random (all when n >= sites().size(), sorted then).
  virtual std::vector<std::string> sample(std::size_t n) = 0;

  /// The model the job owns.
  virtual const Model& global_model() const = 0;
  /// Replaces the global model; the previous one is released at once.
  virtual void set_global_model(Model model) = 0;

  /// Sends `task` to every target and streams every result into `reducer` as it arrives.
  /// Returns when all targets answered, when options say to stop waiting, or when no
  /// outstanding target is left connected. The reducer is never called after return.
  virtual BroadcastOutcome broadcast(const Task& task, const std::vector<std::string>& targets,
                                     Reducer& reducer, const BroadcastOptions& options = {}) = 0;
  /// Sends `task` to one site and waits for its whole result (Cyclic).
  virtual SendResult send(const Task& task, const std::string& site,
                          const SendOptions& options = {}) = 0;

  /// Client-controlled workflows: sends `task` to `site` without waiting for a result (it
  /// reaches the site's SiteWorkflow as a message from "server").
  virtual void notify(const std::string& site, const Task& task) = 0;
  /// Client-controlled workflows: the next report a site sent, or nothing after `timeout`.
  virtual std::optional<SiteReport> next_report(std::chrono::milliseconds timeout) = 0;

  /// Marks the start of `round`: fires round_started hooks, updates progress.
  virtual void round_started(std::int64_t round) = 0;
  /// Marks the end of `round`: fires round_ended hooks (memory policy runs here).
  virtual void round_ended(std::int64_t round) = 0;

  /// Saves `model` as the job artifact `<tag>.pt` ("global" -> global_model.pt,
  /// "best" -> best_model.pt), atomically, in the background: the round goes on while
  /// the disk writes, and the job ends only once every checkpoint is written. The
  /// model's tensors are shared, not copied: do not modify them in place before the next
  /// broadcast() or send() returns (they wait for pending checkpoints).
  virtual void persist(const Model& model, std::string_view tag) = 0;
  /// Appends one row per (round, site) to metrics.csv. `site` "server" for the global.
  virtual void record_metrics(std::int64_t round, const std::string& site,
                              const Metrics& metrics) = 0;
  /// True once an admin or the server asked the job to stop.
  virtual bool abort_requested() const = 0;
};

/// What a controller carries over a server restart besides the global model: small values
/// (a position, a best metric, a generator's state written as text) and tensors (an
/// optimizer's moments). The tensors are shared, not copied: the server writes them in the
/// background, and they must not change in place before the next broadcast() or send()
/// returns (as for persist()).
struct ControllerState {
  std::map<std::string, std::string> values;
  Model tensors;
};

/// A workflow. run() returns normally when the job is complete; a JobError (or any
/// exception) ends the job as EXECUTION_EXCEPTION with its message.
///
/// Resuming after a server restart: a controller that can returns true from resumable().
/// After each round_ended(round) the server saves save_state() with the global model; when
/// the job resumes, a fresh controller gets restore_state(round, state) before run(),
/// global_model() is the model after that round, and run() goes on with round + 1, so that
/// the job ends as it would have without the restart. A controller that cannot resume
/// (the default) ends ABNORMAL when its server stops, saying so.
class Controller {
 public:
  virtual ~Controller() = default;
  /// Drives the whole job.
  virtual void run(ControllerContext& ctx) = 0;

  /// Whether this controller implements save_state() and restore_state().
  virtual bool resumable() const { return false; }
  /// Whether every training round folds the sites' results through a broadcast into the
  /// SDK's WeightedAverage (FedAvg, FedOpt): the server can then clip and noise them, and a
  /// recipe's `[privacy]` is accepted.
  virtual bool averages_results() const { return false; }
  /// The state after `round` (called on the job's thread, inside round_ended(round)).
  virtual ControllerState save_state(std::int64_t round) const {
    (void)round;
    return {};
  }
  /// Restores what save_state(round) returned; run() then starts after `round`.
  virtual void restore_state(std::int64_t round, const ControllerState& state) {
    (void)round;
    (void)state;
  }
};

}  // namespace cohort
