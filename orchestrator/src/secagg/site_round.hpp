#pragma once
// A site's side of one secure round (secagg/round.hpp has the stages): its keys and seed,
// made fresh for the round and never reused, the group the server sent, and the answers
// of each stage. No I/O: the client process hands it what the tasks bring.

#include "config/recipe_file.hpp"
#include "secagg/round.hpp"

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cohort::secagg {

class SiteRound {
 public:
  /// Fresh key pairs and self-mask seed for `site` in `round`.
  SiteRound(RoundContext round, std::string site);

  const RoundContext& round() const { return round_; }
  /// Stage 1: the public keys ("c_pk", "s_pk", 32 bytes each).
  Model advertise() const;
  /// Stage 2: `group` ("c_pk/<site>" and "s_pk/<site>" of each member, this site among
  /// them, in the group's order); the shares of b and of s's private key, t-of-k, each
  /// holder's sealed for it ("share/<holder>": nonce and sealed bytes). Throws
  /// std::invalid_argument for a group that does not hold this site or a bad key.
  Model share(const Model& group, std::size_t threshold);
  /// Stage 3: the masked upload of `result`'s update over `reference` (the model the task
  /// brought), scaled by min(weight / max_weight, 1), masked against `peers` (group members
  /// that shared). Int32 tensors of upload_layout(reference), written into `memory`'s
  /// tensors where their shapes match and nothing else holds them (the last upload, kept).
  Model mask(const Model& result, const Model& reference, double weight, const std::vector<std::string>& peers,
             const config::SecureAggregationSettings& settings, const Model* memory = nullptr) const;

  struct Unmasking {
    /// "b/<site>" for each survivor, "s/<site>" for each dropped site, whose shares this
    /// site holds.
    Model shares;
    /// Senders whose sealed shares did not open (tampered, or not for this site).
    std::vector<std::string> refused;
  };
  /// Stage 4: `sealed` ("share/<from>", as relayed) opened; answered once a round. Throws
  /// std::invalid_argument when asked twice, when a site is both survivor and dropped, or
  /// when this site is not among the survivors.
  Unmasking unmask(const Model& sealed, const std::vector<std::string>& survivors, const std::vector<std::string>& dropped);

 private:
  RoundContext round_;
  std::string site_;
  KeyPair c_;
  KeyPair s_;
  Bytes seed_;
  /// The group's public keys (c, s), this site's included.
  std::map<std::string, std::pair<Bytes, Bytes>> group_;
  bool unmasked_ = false;
};

}  // namespace cohort::secagg
