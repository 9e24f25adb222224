#include "server/secure_broadcast.hpp"

#include "secagg/server_round.hpp"

#include <cohort/error.hpp>

#include <spdlog/logger.h>

#include <algorithm>
#include <mutex>

namespace cohort::server {

namespace {

using namespace cohort::secagg;

/// Gathers each site's whole answer to a stage.
class Answers final : public Reducer {
 public:
  std::unique_ptr<ResultSink> open(const ResultInfo& info) override {
    return std::make_unique<ModelBuilder>([this, site = info.site](bool complete, Model model, const std::string&) {
      if (!complete) return;
      std::lock_guard lock(mutex_);
      models_[site] = std::move(model);
    });
  }
  /// The answers of the sites the stage received.
  std::map<std::string, Model> of(const BroadcastOutcome& outcome) {
    std::lock_guard lock(mutex_);
    std::map<std::string, Model> out;
    for (const auto& r : outcome.received)
      if (auto it = models_.find(r.site); it != models_.end()) out[r.site] = std::move(it->second);
    return out;
  }

 private:
  std::mutex mutex_;
  std::map<std::string, Model> models_;
};

std::vector<std::string> sites_of(const std::vector<SiteFailure>& failures) {
  std::vector<std::string> out;
  for (const auto& f : failures) out.push_back(f.site);
  return out;
}

void append(std::vector<SiteFailure>& to, const std::vector<SiteFailure>& more, const char* stage) {
  for (const auto& f : more) to.push_back({f.site, std::string("secure aggregation stage '") + stage + "': " + f.reason});
}

}  // namespace

BroadcastOutcome secure_broadcast(const SecureSetup& setup, const Task& task, const std::vector<std::string>& targets,
                                  WeightedAverage& average, const BroadcastOptions& options) {
  const std::int64_t r = task.round;
  ServerRound round(setup.round, setup.settings, task.model, setup.journal_folder, setup.seed);
  const BroadcastOptions stage_options{0, {}, options.timeout, options.assignment_timeout};
  const auto no_model = [](const std::string&) { return SiteTask{{}, Model{}}; };
  std::vector<SiteFailure> failed;
  try {
    Answers keys;
    const auto advertised = setup.dispatch(Task{kKeysTask, r, {}, {}}, targets, no_model, keys, stage_options);
    append(failed, advertised.failed, "keys");
    append(failed, round.take_keys(keys.of(advertised), failed), "keys");

    Answers shares;
    const auto shared = setup.dispatch(Task{kShareTask, r, {}, {{kThresholdMeta, std::to_string(round.threshold())}}},
                                       round.ring(), [&](const std::string& site) { return SiteTask{{}, round.group_task(site)}; },
                                       shares, stage_options);
    append(failed, shared.failed, "share");
    append(failed, round.take_shares(shares.of(shared), failed), "share");
    setup.log.info("round {}: secure aggregation: {} sites shared their secrets, groups of {}, threshold {}", r + 1,
                   round.shared().size(), round.group_size(), round.threshold());

    auto trained = setup.dispatch(task, round.shared(), [&](const std::string& site) {
      const std::string factor = setup.privacy ? kUnweighted : std::to_string(average.weight_of(ResultInfo{site, r, std::nullopt, {}}));
      return SiteTask{{{kPeersMeta, join_sites(round.peers_of(site))}, {kWeightFactorMeta, factor}}, std::nullopt};
    }, round.sum(), options);
    append(failed, trained.failed, "upload");
    const auto survivors = round.sum().whole();
    std::vector<std::string> dropped;
    std::set_difference(round.shared().begin(), round.shared().end(), survivors.begin(), survivors.end(),
                        std::back_inserter(dropped));

    Answers unmasking;
    const auto unmasked = setup.dispatch(
        Task{kUnmaskTask, r, {}, {{kSurvivorsMeta, join_sites(survivors)}, {kDroppedMeta, join_sites(dropped)}}}, survivors,
        [&](const std::string& site) { return SiteTask{{}, round.unmask_task(site)}; }, unmasking, stage_options);
    round.take_unmasking(unmasking.of(unmasked));
    round.unmask(survivors, sites_of(unmasked.failed));
    for (const auto& f : unmasked.failed)
      setup.log.warn("round {}: site '{}' did not answer the unmasking ({}); its upload counts, its shares were not needed", r + 1,
                     f.site, f.reason);
    // With [privacy]: Σ update + m·(reference + noise), divided by m (the sites sampled,
    // whoever dropped), in the accumulator's memory.
    const std::optional<double> sampled = setup.privacy ? std::optional(setup.privacy->denominator()) : std::nullopt;
    auto reduced = round.reduce(task.model, sampled);
    if (setup.privacy)
      for (auto& sum : reduced.sums)
        if (sum.defined()) setup.privacy->fill_noise(sum);
    average.add_reduced(std::move(reduced.sums), sampled.value_or(reduced.weight), reduced.results);
    BroadcastOutcome outcome;
    for (const auto& info : trained.received)
      if (std::binary_search(survivors.begin(), survivors.end(), info.site)) outcome.received.push_back(info);
    outcome.failed = std::move(failed);
    return outcome;
  } catch (const RoundFailure& e) {
    throw JobError(e.what());
  }
}

}  // namespace cohort::server
