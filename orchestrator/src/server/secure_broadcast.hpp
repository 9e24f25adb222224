#pragma once
// A training broadcast under secure aggregation (a recipe's `[secure_aggregation]`): the
// four stages of a secure round (secagg/round.hpp), each a broadcast of the job runner,
// around the controller's task. The controller sees one broadcast: its WeightedAverage
// gets the unmasked sum (WeightedAverage::add_reduced), its outcome lists the sites whose
// uploads are in the sum and every site lost on the way. When too few sites are left to
// unmask, the job fails with why (JobError), whatever min_responses says.

#include "config/recipe_file.hpp"
#include "secagg/round.hpp"

#include <cohort/aggregation.hpp>
#include <cohort/controller.hpp>

#include <filesystem>
#include <functional>
#include <optional>

namespace spdlog {
class logger;
}

namespace cohort::server {

/// What one site's task adds to the broadcast's: meta, and its own model (nothing: the
/// task's; an empty model: none at all).
struct SiteTask {
  std::map<std::string, std::string> meta;
  std::optional<Model> model;
};
using PerSite = std::function<SiteTask(const std::string& site)>;

/// Sends `task` (with each site's additions) to `targets`, streams the results into the
/// reducer and waits as the options say: the job runner's broadcast without the training
/// step's bookkeeping.
using Dispatch = std::function<BroadcastOutcome(const Task& task, const std::vector<std::string>& targets,
                                                const PerSite& per_site, Reducer& reducer, const BroadcastOptions& options)>;

struct SecureSetup {
  const config::SecureAggregationSettings& settings;
  secagg::RoundContext round;
  /// Where the masked uploads' journals go (the job's folder).
  std::filesystem::path journal_folder;
  /// The ring's shuffle.
  std::uint64_t seed = 0;
  spdlog::logger& log;
  Dispatch dispatch;
  /// [privacy] central (the average's AveragePrivacy; null without): every result weighs
  /// 1, the noise goes onto the unmasked sum, which is divided by the sites sampled.
  AveragePrivacy* privacy = nullptr;
};

/// Runs the secure round of `task` (a training task) for `targets`; the unmasked sum goes
/// into `average`. Throws JobError when the round cannot make a model.
BroadcastOutcome secure_broadcast(const SecureSetup& setup, const Task& task, const std::vector<std::string>& targets,
                                  WeightedAverage& average, const BroadcastOptions& options);

}  // namespace cohort::server
