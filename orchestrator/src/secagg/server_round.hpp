#pragma once
// The server's side of one secure round (secagg/round.hpp has the stages): the ring and
// each site's group, the sealed shares it relays, the sum of the masked uploads, and the
// unmasking. No I/O: the job runner sends the tasks and hands it the answers. It never
// holds more than the sum (one model) and O(sites · k) small shares.

#include "config/recipe_file.hpp"
#include "secagg/secure_sum.hpp"

#include <cohort/controller.hpp>

#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

namespace cohort::secagg {

/// The round cannot make a model: too few sites or shares are left (the message says which
/// stage, which sites and the threshold).
class RoundFailure : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ServerRound {
 public:
  /// `reference`: the round's model (its layout and, in reduce(), the values updates are
  /// measured from); `seed`: the ring's shuffle.
  ServerRound(RoundContext round, const config::SecureAggregationSettings& settings, const Model& reference,
              std::filesystem::path journal_folder, std::uint64_t seed);

  /// Stage 1: each site's public keys; a malformed answer is refused (returned, with why).
  /// Builds the ring of the sites that answered and fixes the threshold. Throws
  /// RoundFailure when fewer sites than the threshold answered or the threshold does not
  /// suit the group.
  std::vector<SiteFailure> take_keys(const std::map<std::string, Model>& answers, const std::vector<SiteFailure>& lost);
  /// The sites on the ring, in its order.
  const std::vector<std::string>& ring() const { return ring_; }
  std::size_t group_size() const { return group_size_; }
  std::size_t threshold() const { return threshold_; }
  /// Stage 2's task for `site`: its group's public keys in the group's order.
  Model group_task(const std::string& site) const;

  /// Stage 2: each site's sealed shares, one per member of its group; a malformed answer is
  /// refused. Throws RoundFailure when fewer than the threshold shared.
  std::vector<SiteFailure> take_shares(const std::map<std::string, Model>& answers, const std::vector<SiteFailure>& lost);
  /// The sites that shared, sorted (their uploads are the ones the sum takes).
  const std::vector<std::string>& shared() const { return shared_; }
  /// The members of `site`'s group that shared, but itself: whom its upload masks against.
  std::vector<std::string> peers_of(const std::string& site) const;

  /// Stage 3: the reducer the masked uploads stream into.
  SecureSum& sum() { return sum_; }

  /// Stage 4's task for a survivor: the sealed shares it holds ("share/<from>").
  Model unmask_task(const std::string& site) const;
  /// Stage 4: the shares each holder opened; shares the holder may not hold are ignored.
  void take_unmasking(const std::map<std::string, Model>& answers);
  /// Rebuilds each survivor's seed and each dropped site's mask key and removes their masks
  /// from the sum. Throws RoundFailure, naming the sites, when a secret has fewer shares
  /// than the threshold, or its shares do not rebuild the key the site advertised.
  void unmask(const std::vector<std::string>& survivors, const std::vector<std::string>& lost_in_unmask);

  struct Reduced {
    /// By the round model's tensor index: Σ r_i · update_i + reference_weight · reference, the
    /// weighted sum of the results (undefined for the tensors that are not uploaded).
    std::vector<at::Tensor> sums;
    /// Σ r_i.
    double weight = 0;
    std::size_t results = 0;
  };
  /// After unmask(): the sum dequantized, in the accumulators' own memory where the model's
  /// tensor is float32 (the sum is gone afterwards). The reference counts `reference_weight`
  /// times (nothing: the weights' sum), for an average that divides by that.
  Reduced reduce(const Model& reference, std::optional<double> reference_weight = std::nullopt);

 private:
  std::vector<std::string> group_of(const std::string& site) const;
  /// Whether `member` is in `site`'s group (from their places on the ring, no list made).
  bool in_group(const std::string& site, const std::string& member) const;
  std::string stage_failure(const char* stage, std::size_t left, const std::vector<SiteFailure>& lost) const;

  RoundContext round_;
  config::SecureAggregationSettings settings_;
  SecureSum sum_;
  std::mt19937_64 rng_;
  std::map<std::string, std::pair<Bytes, Bytes>> keys_;  // site -> (c_pk, s_pk)
  std::vector<std::string> ring_;
  std::map<std::string, std::size_t> position_;
  std::size_t group_size_ = 0;
  std::size_t threshold_ = 0;
  std::vector<std::string> shared_;
  /// sealed_[holder][from]: the box `from` sealed for `holder`.
  std::map<std::string, std::map<std::string, Bytes>> sealed_;
  /// Opened shares by the site whose secret they are: b (survivors) and s (dropped).
  std::map<std::string, std::map<std::uint32_t, Bytes>> b_shares_, s_shares_;
  std::vector<std::string> survivors_;
};

}  // namespace cohort::secagg
