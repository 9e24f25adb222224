#pragma once
// The sites of one client process in a job's secure rounds (a recipe's
// `[secure_aggregation]`; secagg/round.hpp has the stages): each site's round of the
// moment, the stage tasks answered here (never by the executor), and the masking of a
// training result before it leaves the site.

#include "config/recipe_file.hpp"
#include "secagg/site_round.hpp"

#include <cohort/controller.hpp>

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace spdlog {
class logger;
}

namespace cohort::client {

class SecureSites {
 public:
  SecureSites(config::SecureAggregationSettings settings, spdlog::logger& log)
      : settings_(std::move(settings)), log_(log) {}

  /// Whether a training task's meta asks this site to mask its result.
  static bool masks(const std::map<std::string, std::string>& meta) { return meta.count(secagg::kPeersMeta) > 0; }

  /// Answers a stage task (keys: a fresh round for the site; share; unmask). Throws
  /// std::invalid_argument for what the round refuses.
  Model answer(const std::string& site, const secagg::RoundContext& round, const Task& task);
  /// The masked upload of a training result: its update over `reference` (the task's
  /// model as it arrived), weighted by its steps times the weight factor in the task's meta.
  Model mask(const std::string& site, const secagg::RoundContext& round, const std::map<std::string, std::string>& meta,
             const Model& result, const Model& reference);

 private:
  secagg::SiteRound& current(const std::string& site, const secagg::RoundContext& round);

  config::SecureAggregationSettings settings_;
  spdlog::logger& log_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<secagg::SiteRound>> rounds_;
  /// The last upload's memory, written again by the next once the link lets go of it (its
  /// pages are not faulted in every round): one model per client process.
  Model kept_upload_;
};

}  // namespace cohort::client
