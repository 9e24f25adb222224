#pragma once
// A job's differential privacy on the server, from its recipe's `[privacy]`: the noise
// and clipping of each training average (central mode) or the settings each site applies
// to its own update (local mode), the account of ε after every round, the budget, and the
// state that goes into the job's resume record. The job runner calls it around every
// broadcast whose reducer is the SDK's WeightedAverage (one step of the mechanism) and at
// the end of every round.

#include "config/recipe_file.hpp"
#include "privacy/accountant.hpp"
#include "privacy/private_average.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace spdlog {
class logger;
}

namespace cohort::privacy {

/// Task meta keys a site reads (the client's result path): the norm to clip its update to,
/// and, in local mode, the standard deviation of the noise it adds.
inline constexpr const char* kClipMeta = "cohort.privacy.clip";
inline constexpr const char* kNoiseMeta = "cohort.privacy.noise_stddev";
inline constexpr const char* kSeedMeta = "cohort.privacy.seed";

/// On a site: clips `result`'s update against `reference` (the model the task brought)
/// and, in local mode, adds its noise, as the task's meta says; false when the meta asks
/// for nothing. `site_index` makes a fixed test seed differ between sites.
bool apply_site_privacy(Model& result, const Model& reference, const std::map<std::string, std::string>& meta,
                        std::int64_t site_index);

/// True when a task's meta asks its site to clip (the site then keeps the received model).
bool site_privacy_asked(const std::map<std::string, std::string>& meta);

class JobPrivacy {
 public:
  /// `sites`: the job's sites (q's denominator); throws std::invalid_argument when δ is
  /// not below 1 / sites.
  JobPrivacy(const config::PrivacySettings& settings, std::size_t sites, std::int64_t rounds,
             std::filesystem::path spill_folder, spdlog::logger& log);

  /// Why a step with `sampled` sites may not be taken (the budget), or nothing.
  std::optional<std::string> refuses(std::size_t sampled) const;
  /// What the round's WeightedAverage gets (central mode; null in local mode).
  std::shared_ptr<PrivateAverage> begin_average(const Model& global, std::size_t sampled, std::int64_t round);
  /// What the round's tasks carry for the sites (clipping norm, local noise).
  std::map<std::string, std::string> task_meta(std::int64_t round) const;
  /// The step was taken with `sampled`; `average` is what begin_average gave (or null).
  void end_average(std::int64_t round, const std::vector<std::string>& sampled, const PrivateAverage* average);

  /// Steps taken since the last call (the runner checks that a round took one).
  std::int64_t take_round_steps();
  /// ε spent so far at target_delta (0 before the first step; infinite without noise).
  double epsilon() const;
  /// Why the job should stop after this round (its next round would pass target_epsilon).
  std::optional<std::string> budget_reached_after(std::int64_t round) const;
  /// The clipping norm the next round uses (adaptive clipping moves it).
  double clipping_norm() const { return clip_; }
  /// A line for the job's log: mode, z, C, δ.
  std::string describe() const;

  /// The account, z, the clipping norm and the sites' participation, for the resume
  /// record; restore() reads it back bit for bit.
  std::string save() const;
  void restore(const std::string& text);

 private:
  double noise_multiplier(std::size_t sampled);
  double q(std::size_t sampled) const;
  /// Local mode: the steps of the site that took part most (whose account is the job's).
  std::int64_t most_steps_of_a_site() const;
  /// σ_b, the noise on adaptive clipping's count, for `sampled` sites.
  double count_stddev(double sampled) const;
  /// ε after one more step of (q, z) (local mode: of the busiest site, q = 1).
  double epsilon_after_one_more(double q, double z) const;

  config::PrivacySettings settings_;
  std::size_t sites_;
  std::int64_t rounds_;
  std::filesystem::path spill_folder_;
  spdlog::logger& log_;
  std::optional<double> z_;
  double clip_;
  RdpAccountant account_;
  /// Local mode: how many steps each site took part in (its own account).
  std::map<std::string, std::int64_t> participation_;
  double last_q_ = 0;
  std::int64_t round_steps_ = 0;
};

}  // namespace cohort::privacy
