#include "privacy/job_privacy.hpp"

#include <cohort/error.hpp>
#include <spdlog/logger.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <stdexcept>

namespace cohort::privacy {

namespace {

using Mode = config::PrivacySettings::Mode;

double from_hex(const std::string& text) { return read_exact(text, "the privacy number"); }

/// A seed of its own for each round and purpose, from the recipe's fixed seed.
std::uint64_t derive_seed(std::int64_t seed, std::int64_t round, std::uint64_t purpose) {
  std::uint64_t x = static_cast<std::uint64_t>(seed) * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(round) * 0xBF58476D1CE4E5B9ULL + purpose;
  x ^= x >> 31;
  x *= 0x94D049BB133111EBULL;
  return x ^ (x >> 29);
}

}  // namespace

bool site_privacy_asked(const std::map<std::string, std::string>& meta) { return meta.count(kClipMeta) > 0; }

bool apply_site_privacy(Model& result, const Model& reference, const std::map<std::string, std::string>& meta,
                        std::int64_t site_index) {
  const auto clip = meta.find(kClipMeta);
  if (clip == meta.end() || result.tensors.empty()) return false;
  clip_update(result, reference, from_hex(clip->second));
  if (const auto noise = meta.find(kNoiseMeta); noise != meta.end()) {
    std::optional<std::uint64_t> seed;
    if (const auto s = meta.find(kSeedMeta); s != meta.end())
      seed = derive_seed(static_cast<std::int64_t>(std::stoull(s->second)), site_index, 4);
    GaussianNoise(seed).add(result, from_hex(noise->second));
  }
  return true;
}

JobPrivacy::JobPrivacy(const config::PrivacySettings& settings, std::size_t sites, std::int64_t rounds,
                       std::filesystem::path spill_folder, spdlog::logger& log)
    : settings_(settings), sites_(std::max<std::size_t>(sites, 1)), rounds_(rounds),
      spill_folder_(std::move(spill_folder)), log_(log), z_(settings.noise_multiplier), clip_(settings.clipping_norm) {
  if (settings_.target_delta >= 1.0 / static_cast<double>(sites_)) {
    char text[200];
    std::snprintf(text, sizeof text,
                  "[privacy] target_delta = %g is not below 1 / sites = %g: a δ that large allows one site's "
                  "data to leak outright",
                  settings_.target_delta, 1.0 / static_cast<double>(sites_));
    throw ConfigError({}, text);
  }
  if (settings_.seed) log_.warn("privacy: the noise comes from the fixed seed {} (for tests only: not private)", *settings_.seed);
}

double JobPrivacy::q(std::size_t sampled) const {
  if (settings_.mode == Mode::local) return 1.0;  // the server sees who took part: no amplification
  return std::min(1.0, static_cast<double>(sampled) / static_cast<double>(sites_));
}

double JobPrivacy::noise_multiplier(std::size_t sampled) {
  if (!z_) {
    z_ = solve_noise_multiplier(*settings_.target_epsilon, settings_.target_delta, q(sampled), rounds_);
    log_.info("privacy: noise multiplier z = {:.4f}, solved for ε = {} at δ = {} over {} rounds of q = {:.4g}", *z_,
              *settings_.target_epsilon, settings_.target_delta, rounds_, q(sampled));
  }
  return *z_;
}

std::int64_t JobPrivacy::most_steps_of_a_site() const {
  std::int64_t most = 0;
  for (const auto& [site, n] : participation_) most = std::max(most, n);
  return most;
}

double JobPrivacy::count_stddev(double sampled) const { return settings_.clipped_count_stddev.value_or(sampled / 20); }

double JobPrivacy::epsilon_after_one_more(double q, double z) const {
  return settings_.mode == Mode::local ? RdpAccountant().after(1.0, z, most_steps_of_a_site() + 1).epsilon(settings_.target_delta)
                                       : account_.after(q, z).epsilon(settings_.target_delta);
}

std::optional<std::string> JobPrivacy::refuses(std::size_t sampled) const {
  if (!settings_.target_epsilon) return std::nullopt;
  const double z =
      z_ ? *z_ : solve_noise_multiplier(*settings_.target_epsilon, settings_.target_delta, q(sampled), rounds_);
  const double next = epsilon_after_one_more(q(sampled), z);
  if (next <= *settings_.target_epsilon) return std::nullopt;
  char text[200];
  std::snprintf(text, sizeof text, "privacy budget reached: ε = %.6g, and one more step would make it %.6g (target_epsilon %g)",
                epsilon(), next, *settings_.target_epsilon);
  return std::string(text);
}

std::shared_ptr<PrivateAverage> JobPrivacy::begin_average(const Model& global, std::size_t sampled, std::int64_t round) {
  const double z = noise_multiplier(sampled);
  if (settings_.mode == Mode::local) return nullptr;
  const double m = static_cast<double>(sampled);
  double z_model = z;
  if (settings_.adaptive && z > 0) {
    // The count of updates at or below C is released too; its noise takes part of the budget.
    const double sigma_b = count_stddev(m);
    if (2 * sigma_b <= z)
      throw JobError("[privacy] adaptive clipping: the count's noise σ_b = " + std::to_string(sigma_b) +
                               " must be above z / 2 = " + std::to_string(z / 2) +
                               " (z_eff = (z⁻² − (2σ_b)⁻²)^-½); raise clipped_count_stddev or sample more sites");
    z_model = 1 / std::sqrt(1 / (z * z) - 1 / (4 * sigma_b * sigma_b));
  }
  PrivateAverage::Options options;
  options.reference = global;
  options.sampled = sampled;
  options.noise_stddev = z_model * clip_ / m;
  if (settings_.clip_at == config::PrivacySettings::ClipAt::server) options.clip = clip_;
  options.spill_folder = spill_folder_;
  if (settings_.seed) options.seed = derive_seed(*settings_.seed, round, 1);
  if (static_cast<std::int64_t>(sampled) < config::kFewSitesForCentralNoise && round_steps_ == 0 && account_.empty()) {
    std::int64_t elements = 0;
    for (const auto& t : global.tensors) elements += t.tensor.numel();
    log_.warn("privacy: central noise with {} sites a round: each element of the average gets noise of standard deviation "
              "z·C/m = {:.3g}, {:.3g} in norm over the model's {} elements, while the average update's norm is at most C = {}; "
              "at this size the noise drowns the update (central DP is meant for hundreds of sites a round)",
              sampled, options.noise_stddev, options.noise_stddev * std::sqrt(static_cast<double>(elements)), elements, clip_);
  }
  return std::make_shared<PrivateAverage>(std::move(options));
}

std::map<std::string, std::string> JobPrivacy::task_meta(std::int64_t round) const {
  std::map<std::string, std::string> meta;
  const bool site_clips = settings_.mode == Mode::local || settings_.clip_at == config::PrivacySettings::ClipAt::site;
  if (site_clips) meta[kClipMeta] = exact_text(clip_);
  if (settings_.mode == Mode::local) meta[kNoiseMeta] = exact_text(*z_ * clip_);
  if (settings_.seed) meta[kSeedMeta] = std::to_string(derive_seed(*settings_.seed, round, 2));
  return meta;
}

void JobPrivacy::end_average(std::int64_t round, const std::vector<std::string>& sampled, const PrivateAverage* average) {
  ++round_steps_;
  const double z = *z_;
  if (settings_.mode == Mode::local) {
    for (const auto& site : sampled) ++participation_[site];
    return;
  }
  last_q_ = q(sampled.size());
  account_.add(last_q_, z);
  if (settings_.adaptive && average) {
    const double m = static_cast<double>(sampled.size());
    const double sigma_b = count_stddev(m);
    GaussianNoise noise(settings_.seed ? std::optional<std::uint64_t>(derive_seed(*settings_.seed, round, 3))
                                       : std::nullopt);
    const double count = static_cast<double>(average->at_or_below_norm()) + (z > 0 ? noise.sample(sigma_b) : 0.0);
    const double fraction = count / m;
    const double before = clip_;
    clip_ *= std::exp(-settings_.clip_learning_rate * (fraction - settings_.target_quantile));
    log_.info("privacy: {} of {} updates at or below C = {:.4g} (noised fraction {:.3f}, target {}); C is now {:.4g}",
              average->at_or_below_norm(), sampled.size(), before, fraction, settings_.target_quantile, clip_);
  }
}

std::int64_t JobPrivacy::take_round_steps() { return std::exchange(round_steps_, 0); }

double JobPrivacy::epsilon() const {
  if (settings_.mode != Mode::local) return account_.epsilon(settings_.target_delta);
  const std::int64_t most = most_steps_of_a_site();
  return most == 0 ? 0.0 : RdpAccountant().after(1.0, *z_, most).epsilon(settings_.target_delta);
}

std::optional<std::string> JobPrivacy::budget_reached_after(std::int64_t round) const {
  if (!settings_.target_epsilon || !z_) return std::nullopt;
  const double next = epsilon_after_one_more(last_q_, *z_);
  if (next <= *settings_.target_epsilon) return std::nullopt;
  char text[240];
  std::snprintf(text, sizeof text,
                "privacy budget reached after round %lld: ε = %.6g at δ = %g (round %lld would make it %.6g, past "
                "target_epsilon = %g)",
                static_cast<long long>(round + 1), epsilon(), settings_.target_delta, static_cast<long long>(round + 2), next,
                *settings_.target_epsilon);
  return std::string(text);
}

std::string JobPrivacy::describe() const {
  std::ostringstream out;
  const bool local = settings_.mode == Mode::local;
  out << "privacy: " << (local ? "local" : "central") << " DP, updates clipped "
      << (local || settings_.clip_at == config::PrivacySettings::ClipAt::site ? "at the sites" : "at the server") << " to "
      << (settings_.adaptive ? "an adaptive norm from C = " : "C = ") << settings_.clipping_norm << ", noise multiplier z = "
      << (z_ ? std::to_string(*z_) : std::string("auto")) << ", ε reported at δ = " << settings_.target_delta;
  if (settings_.target_epsilon) out << ", budget ε ≤ " << *settings_.target_epsilon;
  return out.str();
}

std::string JobPrivacy::save() const {
  std::ostringstream out;
  out << "z " << (z_ ? exact_text(*z_) : "none") << "\nclip " << exact_text(clip_) << "\nlast_q " << exact_text(last_q_) << "\nrdp "
      << account_.save() << "\n";
  for (const auto& [site, n] : participation_) out << "site " << n << " " << site << "\n";
  return out.str();
}

void JobPrivacy::restore(const std::string& text) {
  std::istringstream in(text);
  std::string line;
  participation_.clear();
  while (std::getline(in, line)) {
    const auto space = line.find(' ');
    const std::string key = line.substr(0, space), value = space == std::string::npos ? "" : line.substr(space + 1);
    if (key == "z") z_ = value == "none" ? std::nullopt : std::optional<double>(from_hex(value));
    else if (key == "clip") clip_ = from_hex(value);
    else if (key == "last_q") last_q_ = from_hex(value);
    else if (key == "rdp") account_ = RdpAccountant::restore(value);
    else if (key == "site") {
      const auto gap = value.find(' ');
      if (gap == std::string::npos) throw std::invalid_argument("the privacy state's line '" + line + "' is malformed");
      participation_[value.substr(gap + 1)] = std::stoll(value.substr(0, gap));
    } else if (!key.empty()) {
      throw std::invalid_argument("the privacy state has an unknown line '" + line + "'");
    }
  }
}

}  // namespace cohort::privacy
