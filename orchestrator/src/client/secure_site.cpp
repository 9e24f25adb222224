#include "client/secure_site.hpp"

#include <cohort/aggregation.hpp>

#include <spdlog/logger.h>

#include <stdexcept>

namespace cohort::client {

using namespace cohort::secagg;

SiteRound& SecureSites::current(const std::string& site, const RoundContext& round) {
  std::lock_guard lock(mutex_);
  auto it = rounds_.find(site);
  if (it == rounds_.end() || it->second->round().round != round.round || it->second->round().epoch != round.epoch ||
      it->second->round().job != round.job)
    throw std::invalid_argument("no secure round " + std::to_string(round.round + 1) + " began at this site (its keys task was not answered here)");
  return *it->second;
}

Model SecureSites::answer(const std::string& site, const RoundContext& round, const Task& task) {
  if (task.name == kKeysTask) {
    // Fresh keys and seed every time: a round redone (after a server restart) never reuses a mask.
    auto fresh = std::make_shared<SiteRound>(round, site);
    Model keys = fresh->advertise();
    std::lock_guard lock(mutex_);
    rounds_[site] = std::move(fresh);
    return keys;
  }
  SiteRound& mine = current(site, round);
  if (task.name == kShareTask) {
    const auto t = task.meta.find(kThresholdMeta);
    if (t == task.meta.end()) throw std::invalid_argument("the share task names no threshold");
    return mine.share(task.model, static_cast<std::size_t>(std::stoul(t->second)));
  }
  if (task.name == kUnmaskTask) {
    auto list = [&](const char* key) { return task.meta.count(key) ? split_sites(task.meta.at(key)) : std::vector<std::string>{}; };
    auto unmasking = mine.unmask(task.model, list(kSurvivorsMeta), list(kDroppedMeta));
    for (const auto& from : unmasking.refused)
      log_.error("site '{}': round {}: the share that site '{}' sealed for it does not open (tampered, or not addressed "
                 "to it): refused", site, round.round + 1, from);
    std::lock_guard lock(mutex_);
    rounds_.erase(site);  // answered once; the round's secrets go with it
    return std::move(unmasking.shares);
  }
  throw std::invalid_argument("'" + task.name + "' is no stage of secure aggregation");
}

Model SecureSites::mask(const std::string& site, const RoundContext& round, const std::map<std::string, std::string>& meta,
                        const Model& result, const Model& reference) {
  SiteRound& mine = current(site, round);
  const auto factor = meta.find(kWeightFactorMeta);
  const bool unweighted = factor != meta.end() && factor->second == kUnweighted;
  const double weight = unweighted ? settings_.max_weight
                                   : WeightedAverage::steps_weight(ResultInfo{site, round.round, result.num_steps, {}}) *
                                         (factor == meta.end() ? 1.0 : std::stod(factor->second));
  if (weight > settings_.max_weight)
    log_.warn("site '{}': round {}: its weight {} is above [secure_aggregation] max_weight {}: it counts as {}", site,
              round.round + 1, weight, settings_.max_weight, settings_.max_weight);
  // One task at a time runs in a client process: the kept memory is this task's.
  Model upload = mine.mask(result, reference, weight, split_sites(meta.at(kPeersMeta)), settings_, &kept_upload_);
  upload.metrics = result.metrics;
  kept_upload_.tensors = upload.tensors;  // the same tensors, not a copy
  return upload;
}

}  // namespace cohort::client
