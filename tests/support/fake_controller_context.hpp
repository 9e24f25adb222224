#pragma once
// An in-memory ControllerContext for controller unit tests: sites answer tasks from a
// function the test gives, results are streamed into the controller's reducer as the
// network would, and everything the controller does is recorded. No processes.

#include <cohort/args.hpp>
#include <cohort/controller.hpp>

#include <spdlog/logger.h>

#include <deque>
#include <functional>
#include <random>
#include <string>
#include <tuple>
#include <vector>

namespace cohort::test {

/// A controller's `[controller.args]` from TOML text (the keys of the table).
Args controller_args(const std::string& toml);

/// A model of `tensors` float tensors of `elements` elements, all `value`.
Model filled_model(float value, std::size_t tensors = 2, std::int64_t elements = 4);

class FakeControllerContext final : public ControllerContext {
 public:
  /// What a site does with a task.
  struct Answer {
    bool ok = true;
    std::string error;
    /// The result model (empty: metrics only).
    Model model;
    Metrics metrics;
    std::optional<std::int64_t> num_steps;
  };
  using Behaviour = std::function<Answer(const std::string& site, const Task& task)>;

  FakeControllerContext(JobInfo job, std::vector<std::string> sites, Model initial, Behaviour behaviour);

  // ControllerContext
  const JobInfo& job() const override { return job_; }
  spdlog::logger& log() override { return log_; }
  std::vector<std::string> sites() const override { return sites_; }
  std::vector<std::string> sample(std::size_t n) override;
  const Model& global_model() const override { return global_; }
  void set_global_model(Model model) override { global_ = std::move(model); }
  BroadcastOutcome broadcast(const Task& task, const std::vector<std::string>& targets, Reducer& reducer,
                             const BroadcastOptions& options) override;
  SendResult send(const Task& task, const std::string& site, const SendOptions& options) override;
  void notify(const std::string& site, const Task& task) override { notified.emplace_back(site, task.name, task.round); }
  std::optional<SiteReport> next_report(std::chrono::milliseconds timeout) override;
  void round_started(std::int64_t round) override { rounds_started.push_back(round); }
  void round_ended(std::int64_t round) override { rounds_ended.push_back(round); }
  void persist(const Model& model, std::string_view tag) override;
  void record_metrics(std::int64_t round, const std::string& site, const Metrics& metrics) override {
    metrics_rows.emplace_back(round, site, metrics);
  }
  bool abort_requested() const override { return false; }

  /// Sites connected (what sites() returns).
  std::vector<std::string>& connected() { return sites_; }

  // What the controller did.
  struct Sent {
    std::string task;
    std::int64_t round;
    std::vector<std::string> targets;
  };
  std::vector<Sent> tasks;
  std::vector<std::pair<std::string, Model>> persisted;
  std::vector<std::tuple<std::int64_t, std::string, Metrics>> metrics_rows;
  std::vector<std::int64_t> rounds_started, rounds_ended;
  std::vector<std::tuple<std::string, std::string, std::int64_t>> notified;
  /// Reports the sites "send" (client-controlled workflows), handed out in order.
  std::deque<SiteReport> reports;

  /// The global model values of `tag`'s last persist (first element of each tensor).
  const Model& last_persisted(const std::string& tag) const;

 private:
  JobInfo job_;
  std::vector<std::string> sites_;
  Model global_;
  Behaviour behaviour_;
  spdlog::logger log_{"fake-controller-context"};
  std::mt19937_64 rng_{0};
};

}  // namespace cohort::test
