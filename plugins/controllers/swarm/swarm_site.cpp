// A site's part of Swarm: trainer every round, aggregator when chosen.
#include "swarm.hpp"

#include <spdlog/logger.h>

#include <algorithm>
#include <mutex>
#include <set>

namespace cohort::swarm {

namespace {

std::string join(const std::set<std::string>& items) { return join_sites({items.begin(), items.end()}); }

/// The site's timers: a round gathered for too long, or long enough after min_responses.
constexpr const char* kAggregationTimeout = "aggregation_timeout";
constexpr const char* kWaitAfterMin = "wait_after_min";

/// Drops a stream (a late result).
class DropSink final : public ResultSink {
 public:
  void begin_tensor(const TensorInfo&) override {}
  void chunk_received(std::uint64_t, std::span<const std::byte>) override {}
  void commit() override {}
};

/// The round being aggregated. Results fold into `average` from network threads; the
/// `closed` flag, under `mutex`, keeps late folds out once the round is finished.
struct Aggregation {
  std::int64_t round = -1;
  Model global;
  std::unique_ptr<WeightedAverage> average;
  std::set<std::string> expected;
  std::set<std::string> replied;    // whole results
  std::set<std::string> answered;   // whole, cut off or failed
  std::vector<ResultInfo> results;  // the whole results' reports
  bool waiting_after_min = false;
  std::mutex mutex;
  bool closed = false;
};

/// A sink into the round's average that goes quiet once the round is closed.
class RoundSink final : public ResultSink {
 public:
  RoundSink(std::shared_ptr<Aggregation> round, std::unique_ptr<ResultSink> inner)
      : round_(std::move(round)), inner_(std::move(inner)) {}
  void begin_tensor(const TensorInfo& t) override { guarded([&] { inner_->begin_tensor(t); }); }
  void chunk_received(std::uint64_t o, std::span<const std::byte> d) override { guarded([&] { inner_->chunk_received(o, d); }); }
  void end_tensor() override { guarded([&] { inner_->end_tensor(); }); }
  void commit() override { guarded([&] { inner_->commit(); }); }
  void abandon(const std::string& reason) override { guarded([&] { inner_->abandon(reason); }); }

 private:
  template <class F>
  void guarded(F&& f) {
    std::lock_guard lock(round_->mutex);
    if (!round_->closed) f();
  }
  std::shared_ptr<Aggregation> round_;
  std::unique_ptr<ResultSink> inner_;
};

class SwarmSite final : public SiteWorkflow {
 public:
  SwarmSite(SwarmConfig config, JobInfo job) : config_(std::move(config)), job_(std::move(job)) {}

  std::chrono::milliseconds status_interval() const override { return config_.status_report_interval; }

  std::unique_ptr<ResultSink> open_stream(const SiteMessage& m) override {
    if (!is<LearnResult>(m)) return nullptr;
    std::lock_guard lock(state_mutex_);
    if (!aggregation_ || aggregation_->round != m.round || !aggregation_->expected.count(m.from) ||
        aggregation_->answered.count(m.from) || LearnResult::from(m).error)
      return std::make_unique<DropSink>();  // late or unexpected: on_stream_done logs it
    ResultInfo info{m.from, m.round, m.num_steps, m.metrics};
    return std::make_unique<RoundSink>(aggregation_, aggregation_->average->open(info));
  }

  void on_stream_done(const SiteMessage& m, bool complete, SiteWorkflowContext& ctx) override {
    result_arrived(m, complete, ctx);
  }

  void on_message(const SiteMessage& m, Model model, SiteWorkflowContext& ctx) override {
    if (is<AggregateRound>(m)) aggregate(AggregateRound::from(m), std::move(model), ctx);
    else if (is<Learn>(m)) learn(Learn::from(m), std::move(model), ctx);
    else if (is<LearnResult>(m)) {
      // A result without a model (its trainer failed), or one that arrived before this
      // site was ready to stream it: fold it now.
      bool fold = false;
      {
        std::lock_guard lock(state_mutex_);
        fold = !model.tensors.empty() && aggregation_ && aggregation_->round == m.round &&
               aggregation_->expected.count(m.from) && !aggregation_->answered.count(m.from);
      }
      if (fold) {
        auto sink = open_stream(m);
        RoundFeeder feeder(std::move(sink));
        feed(feeder, ResultInfo{m.from, m.round, m.num_steps, m.metrics}, model);
      }
      result_arrived(m, !model.tensors.empty() && !LearnResult::from(m).error, ctx);
    } else if (is<ShareBest>(m)) {
      ctx.report(BestModel{m.round, {{config_.key_metric.name(), config_.key_metric.best().value_or(0)}}}.message(),
                 best_model_);
    } else if (is<EndJob>(m)) {
      std::lock_guard lock(state_mutex_);
      aggregation_.reset();
      best_model_ = Model{};
      ctx.set_status(m.round, "ended");
    } else {
      ctx.log().warn("Swarm: site '{}' got an unknown message '{}' from '{}'", ctx.site(), m.name, m.from);
    }
  }

  void on_job_resumed(SiteWorkflowContext& ctx) override {
    std::shared_ptr<Aggregation> dropped;
    {
      std::lock_guard lock(state_mutex_);
      dropped = std::move(aggregation_);
    }
    if (!dropped) return;
    std::lock_guard lock(dropped->mutex);
    dropped->closed = true;
    ctx.log().info("Swarm: round {} dropped on '{}': the server resumed the job", dropped->round, ctx.site());
  }

  void on_timer(const Timer& timer, SiteWorkflowContext& ctx) override {
    bool finish = false;
    {
      std::lock_guard lock(state_mutex_);
      finish = aggregation_ && aggregation_->round == timer.round;
    }
    if (finish) {
      ctx.log().info("Swarm round {}: {} — aggregating what arrived", timer.round,
                     timer.name == kAggregationTimeout ? "aggregation timeout" : "wait after min_responses over");
      finish_round(ctx);
    }
  }

 private:
  /// Feeds a whole model through a RoundSink (the local path of on_message).
  class RoundFeeder final : public Reducer {
   public:
    explicit RoundFeeder(std::unique_ptr<ResultSink> sink) : sink_(std::move(sink)) {}
    std::unique_ptr<ResultSink> open(const ResultInfo&) override { return std::move(sink_); }

   private:
    std::unique_ptr<ResultSink> sink_;
  };

  void aggregate(const AggregateRound& m, Model global, SiteWorkflowContext& ctx) {
    auto round = std::make_shared<Aggregation>();
    round->round = m.round;
    auto alive = m.alive;
    if (alive.empty()) alive = ctx.sites();
    round->expected = std::set<std::string>(alive.begin(), alive.end());
    round->average = std::make_unique<WeightedAverage>(global, WeightedAverage::Options{});
    round->global = std::move(global);
    {
      std::lock_guard lock(state_mutex_);
      aggregation_ = round;
    }
    ctx.set_status(m.round, "aggregating");
    ctx.report(RoundStarted{m.round, ctx.site()}.message());
    ctx.log().info("Swarm round {}: '{}' aggregates, sending the learn task to {}", m.round, ctx.site(),
                   join(round->expected));
    // The global model's own bytes go to every trainer: no copy is made.
    for (const auto& trainer : round->expected)
      ctx.relay(trainer, Learn{m.round, ctx.site()}.message(), round->global);
    ctx.schedule(config_.aggregation_timeout, Timer{kAggregationTimeout, m.round});
  }

  void learn(const Learn& m, Model received, SiteWorkflowContext& ctx) {
    ctx.set_status(m.round, "training");
    Model candidate = received.clone();  // the executor trains the received tensors in place
    LearnResult reply{m.round, {}, {}, {}};
    Model result;
    try {
      result = ctx.execute(Task{"train", m.round, std::move(received), {}});
      reply.metrics = result.metrics;
      reply.num_steps = result.num_steps;
      if (auto it = result.metrics.find(config_.key_metric.name()); it != result.metrics.end()) {
        if (config_.key_metric.improve(it->second)) best_model_ = std::move(candidate);
      }
    } catch (const std::exception& e) {
      ctx.log().error("Swarm round {}: training failed on '{}': {}", m.round, ctx.site(), e.what());
      reply.error = e.what();
      result = Model{};
    }
    candidate = Model{};
    ctx.relay(m.aggregator, reply.message(), result);
    result = Model{};
    ctx.round_done(m.round, "trainer");
    Metrics status;
    if (auto best = config_.key_metric.best()) status[best_status_metric(config_.key_metric.name())] = *best;
    ctx.set_status(m.round, "trained", status);
  }

  void result_arrived(const SiteMessage& m, bool complete, SiteWorkflowContext& ctx) {
    bool all = false, enough = false;
    {
      std::lock_guard lock(state_mutex_);
      if (!aggregation_ || aggregation_->round != m.round || !aggregation_->expected.count(m.from) ||
          aggregation_->answered.count(m.from)) {
        ctx.log().warn("Swarm: late or unexpected result of round {} from '{}': dropped", m.round, m.from);
        return;
      }
      auto& a = *aggregation_;
      a.answered.insert(m.from);
      if (complete) {
        a.replied.insert(m.from);
        a.results.push_back(ResultInfo{m.from, m.round, m.num_steps, m.metrics});
      } else {
        ctx.log().warn("Swarm round {}: the result of '{}' did not arrive whole ({})", m.round, m.from,
                       LearnResult::from(m).error.value_or("cut off"));
      }
      all = a.answered.size() == a.expected.size();
      const std::size_t needed = config_.min_responses > 0 ? static_cast<std::size_t>(config_.min_responses) : a.expected.size();
      enough = !all && a.replied.size() >= needed && !a.waiting_after_min;
      if (enough) a.waiting_after_min = true;
    }
    if (all) finish_round(ctx);
    else if (enough) {
      if (config_.wait_after_min.count() == 0) finish_round(ctx);
      else ctx.schedule(config_.wait_after_min, Timer{kWaitAfterMin, m.round});
    }
  }

  void finish_round(SiteWorkflowContext& ctx) {
    std::shared_ptr<Aggregation> round;
    {
      std::lock_guard lock(state_mutex_);
      round = std::move(aggregation_);
    }
    if (!round) return;
    {
      std::lock_guard lock(round->mutex);  // waits for a fold in progress; none after this
      round->closed = true;
    }
    const std::int64_t r = round->round;
    if (round->replied.empty()) {
      ctx.report(RoundFailed{r, "no site returned a result"}.message());
      return;
    }
    Model next = round->average->result(round->global);
    next.round = r;
    Metrics metrics{{"responded", static_cast<double>(round->replied.size())}};
    if (auto value = weighted_mean(round->results, config_.key_metric.name())) metrics[config_.key_metric.name()] = *value;
    if (auto loss = weighted_mean(round->results, metric::loss)) metrics[std::string(metric::loss)] = *loss;
    round->global = Model{};
    round->average.reset();
    std::string next_aggregator;
    if (r + 1 < job_.num_rounds) {
      std::vector<std::string> eligible;
      for (const auto& s : round->replied) {
        if (config_.aggregators.empty() || std::count(config_.aggregators.begin(), config_.aggregators.end(), s))
          eligible.push_back(s);
      }
      if (eligible.empty()) eligible.assign(round->replied.begin(), round->replied.end());
      next_aggregator = choose_aggregator(eligible, config_.seed, r + 1);
    }
    // The server keeps the round's model (what a resume starts from; after the last round,
    // the final model) and who goes on.
    ctx.report(RoundDone{r, ctx.site(), {round->replied.begin(), round->replied.end()}, next_aggregator, metrics}.message(),
               next);
    ctx.round_done(r, "aggregator");
    if (!next_aggregator.empty()) {
      ctx.log().info("Swarm round {} done ({} results); round {} goes to '{}'", r, round->replied.size(), r + 1, next_aggregator);
      ctx.relay(next_aggregator, AggregateRound{r + 1, {round->replied.begin(), round->replied.end()}}.message(), next);
    } else {
      ctx.log().info("Swarm round {} done: the last; the server has the final model", r);
    }
  }

  SwarmConfig config_;
  JobInfo job_;
  std::mutex state_mutex_;
  std::shared_ptr<Aggregation> aggregation_;
  /// Best model this site received, by the key metric of its evaluation.
  Model best_model_;
};

}  // namespace

std::unique_ptr<SiteWorkflow> make_site_workflow(SwarmConfig config, const JobInfo& job) {
  return std::make_unique<SwarmSite>(std::move(config), job);
}

}  // namespace cohort::swarm
