#include "secagg/server_round.hpp"

#include "secagg/shamir.hpp"

#include <ATen/ops/empty.h>
#include <ATen/ops/from_blob.h>

#include <algorithm>
#include <set>

namespace cohort::secagg {

namespace {

std::optional<Bytes> key_of(const Model& answer, const char* name) {
  const at::Tensor* t = answer.find(name);
  if (!t || t->scalar_type() != at::kByte || t->numel() != static_cast<std::int64_t>(kKeyBytes)) return std::nullopt;
  return bytes_of(*t);
}

std::string names(const std::vector<SiteFailure>& lost) {
  std::string out;
  for (const auto& f : lost) out += (out.empty() ? "" : "; ") + f.site + " (" + f.reason + ")";
  return out.empty() ? "none" : out;
}

}  // namespace

ServerRound::ServerRound(RoundContext round, const config::SecureAggregationSettings& settings, const Model& reference,
                         std::filesystem::path journal_folder, std::uint64_t seed)
    : round_(std::move(round)), settings_(settings), sum_(upload_layout(reference), std::move(journal_folder)), rng_(seed) {}

std::string ServerRound::stage_failure(const char* stage, std::size_t left, const std::vector<SiteFailure>& lost) const {
  return "secure aggregation, round " + std::to_string(round_.round + 1) + ", stage '" + stage + "': " +
         std::to_string(left) + " sites are left and the threshold is " + std::to_string(threshold_) +
         ", so no model can be made; sites lost: " + names(lost);
}

std::vector<SiteFailure> ServerRound::take_keys(const std::map<std::string, Model>& answers,
                                                const std::vector<SiteFailure>& lost) {
  std::vector<SiteFailure> refused;
  for (const auto& [site, answer] : answers) {
    auto c = key_of(answer, "c_pk");
    auto s = key_of(answer, "s_pk");
    if (!c || !s) {
      refused.push_back({site, "its keys are not two 32-byte public keys"});
      continue;
    }
    keys_[site] = {std::move(*c), std::move(*s)};
    ring_.push_back(site);
  }
  std::shuffle(ring_.begin(), ring_.end(), rng_);
  for (std::size_t i = 0; i < ring_.size(); ++i) position_[ring_[i]] = i;
  const std::size_t n = ring_.size();
  const auto k = static_cast<std::size_t>(settings_.neighbours);
  group_size_ = k == 0 || k >= n ? n : k;
  threshold_ = settings_.threshold_for(group_size_);
  auto all_lost = lost;
  all_lost.insert(all_lost.end(), refused.begin(), refused.end());
  if (n < std::max<std::size_t>(threshold_, 3)) throw RoundFailure(stage_failure("keys", n, all_lost));
  if (auto why = config::SecureAggregationSettings::threshold_refusal(threshold_, group_size_))
    throw RoundFailure("secure aggregation, round " + std::to_string(round_.round + 1) + ": " + *why);
  if (n > settings_.most_sites())
    throw RoundFailure("secure aggregation, round " + std::to_string(round_.round + 1) + ": " + std::to_string(n) +
                       " sites do not fit a sum modulo 2^32 at " + std::to_string(settings_.quantization_bits) + " bits");
  return refused;
}

std::vector<std::string> ServerRound::group_of(const std::string& site) const {
  const std::size_t n = ring_.size();
  const std::size_t p = position_.at(site);
  const std::size_t h = (group_size_ - 1) / 2;
  std::vector<std::string> group;
  if (group_size_ == n) return ring_;
  for (std::size_t i = 0; i < group_size_; ++i) group.push_back(ring_[(p + n - h + i) % n]);
  return group;
}

bool ServerRound::in_group(const std::string& site, const std::string& member) const {
  const auto a = position_.find(site), b = position_.find(member);
  if (a == position_.end() || b == position_.end()) return false;
  if (group_size_ == ring_.size()) return true;
  const std::size_t n = ring_.size(), d = (a->second + n - b->second) % n;
  return std::min(d, n - d) <= (group_size_ - 1) / 2;  // the distance round the ring
}

Model ServerRound::group_task(const std::string& site) const {
  Model task;
  task.round = round_.round;
  for (const auto& member : group_of(site)) {
    task.tensors.push_back({std::string(kSealPublicKey) + member, byte_tensor(keys_.at(member).first)});
    task.tensors.push_back({std::string(kMaskPublicKey) + member, byte_tensor(keys_.at(member).second)});
  }
  return task;
}

std::vector<SiteFailure> ServerRound::take_shares(const std::map<std::string, Model>& answers,
                                                  const std::vector<SiteFailure>& lost) {
  std::vector<SiteFailure> refused;
  for (const auto& [site, answer] : answers) {
    if (!position_.count(site)) continue;
    std::map<std::string, Bytes> boxes;
    for (const auto& t : answer.tensors) {
      const auto holder = site_after(kSealedShare, t.name);
      if (holder && t.tensor.scalar_type() == at::kByte && t.tensor.numel() == static_cast<std::int64_t>(kSealedShareBytes) &&
          in_group(site, *holder))
        boxes[*holder] = bytes_of(t.tensor);
    }
    if (boxes.size() != group_size_ || answer.tensors.size() != group_size_) {
      refused.push_back({site, "its shares are not one sealed share for each of the " + std::to_string(group_size_) +
                                   " sites of its group"});
      continue;
    }
    for (auto& [holder, box] : boxes) sealed_[holder][site] = std::move(box);
    shared_.push_back(site);
  }
  std::sort(shared_.begin(), shared_.end());
  sum_.allow(shared_);
  auto all_lost = lost;
  all_lost.insert(all_lost.end(), refused.begin(), refused.end());
  if (shared_.size() < threshold_) throw RoundFailure(stage_failure("share", shared_.size(), all_lost));
  return refused;
}

std::vector<std::string> ServerRound::peers_of(const std::string& site) const {
  std::vector<std::string> peers;
  for (const auto& member : group_of(site))
    if (member != site && std::binary_search(shared_.begin(), shared_.end(), member)) peers.push_back(member);
  return peers;
}

Model ServerRound::unmask_task(const std::string& site) const {
  Model task;
  task.round = round_.round;
  auto it = sealed_.find(site);
  if (it == sealed_.end()) return task;
  for (const auto& [from, box] : it->second)
    if (std::binary_search(shared_.begin(), shared_.end(), from)) task.tensors.push_back({std::string(kSealedShare) + from, byte_tensor(box)});
  return task;
}

void ServerRound::take_unmasking(const std::map<std::string, Model>& answers) {
  for (const auto& [holder, answer] : answers) {
    for (const auto& t : answer.tensors) {
      const auto seed_of = site_after(kSeedShare, t.name);
      const auto mask_key_of = site_after(kMaskKeyShare, t.name);
      const bool b = seed_of.has_value();
      if (!b && !mask_key_of) continue;
      const std::string& site = b ? *seed_of : *mask_key_of;
      if (!position_.count(site) || t.tensor.scalar_type() != at::kByte) continue;
      if (!in_group(site, holder)) continue;  // not a holder of its shares
      try {
        const Bytes bytes = bytes_of(t.tensor);
        const Share share = decode(bytes);
        (b ? b_shares_ : s_shares_)[site][share.x] = bytes;
      } catch (const std::invalid_argument&) {
        continue;
      }
    }
  }
}

void ServerRound::unmask(const std::vector<std::string>& survivors, const std::vector<std::string>& lost_in_unmask) {
  survivors_ = survivors;
  std::vector<std::string> dropped;
  std::set_difference(shared_.begin(), shared_.end(), survivors.begin(), survivors.end(), std::back_inserter(dropped));
  std::string short_of;
  auto rebuild = [&](std::map<std::string, std::map<std::uint32_t, Bytes>>& shares, const std::string& site,
                     const char* what) -> std::optional<Bytes> {
    std::vector<Share> held;
    for (const auto& [x, bytes] : shares[site]) held.push_back(decode(bytes));
    if (held.size() < threshold_) {
      short_of += (short_of.empty() ? "" : "; ") + std::string("site '") + site + "''s " + what + " has " +
                  std::to_string(held.size()) + " shares";
      return std::nullopt;
    }
    return combine(held, threshold_, kKeyBytes);
  };
  std::map<std::string, Bytes> seeds, mask_keys;
  for (const auto& site : survivors)
    if (auto b = rebuild(b_shares_, site, "self-mask seed")) seeds[site] = *b;
  for (const auto& site : dropped)
    if (auto s = rebuild(s_shares_, site, "mask key")) mask_keys[site] = *s;
  if (!short_of.empty())
    throw RoundFailure("secure aggregation, round " + std::to_string(round_.round + 1) + ", stage 'unmask': " + short_of +
                       ", and the threshold is " + std::to_string(threshold_) + ", so no model can be made; sites lost in this stage: " +
                       (lost_in_unmask.empty() ? std::string("none") : join_sites(lost_in_unmask)) +
                       "; dropped before: " + (dropped.empty() ? std::string("none") : join_sites(dropped)));
  // A dropped site's pairwise secrets with each survivor of its group.
  struct Pair {
    Bytes secret;
    bool survivor_added;
  };
  std::vector<Pair> pairs;
  for (const auto& [site, key] : mask_keys) {
    if (key_pair_of(key).public_key != keys_.at(site).second)
      throw RoundFailure("secure aggregation, round " + std::to_string(round_.round + 1) + ", stage 'unmask': the shares of site '" +
                         site + "''s mask key do not rebuild the key it advertised");
    for (const auto& member : group_of(site))
      if (member != site && std::binary_search(survivors.begin(), survivors.end(), member))
        pairs.push_back({agree(key, keys_.at(member).second), adds_pair_mask(member, site)});
  }
  for (std::size_t ti = 0; ti < sum_.layout().size(); ++ti) {
    std::vector<MaskTerm> masks;
    for (const auto& [site, seed] : seeds) masks.push_back({self_mask_key(seed, round_, ti), false});
    for (const auto& pair : pairs) masks.push_back({pair_mask_key(pair.secret, round_, ti), !pair.survivor_added});
    apply_masks(words_of(sum_.words(ti)), masks);
  }
}

ServerRound::Reduced ServerRound::reduce(const Model& reference, std::optional<double> reference_weight) {
  const Quantizer q{settings_.clipping_range, settings_.quantization_bits};
  const std::size_t n = survivors_.size();
  const auto& layout = sum_.layout();
  Reduced out;
  out.results = n;
  out.weight = q.dequantize_weight(words_of(sum_.words(layout.size() - 1))[0]);
  out.sums.resize(reference.tensors.size());
  const double times = reference_weight.value_or(out.weight);
  for (std::size_t ti = 0; ti + 1 < layout.size(); ++ti) {
    const auto index = static_cast<std::size_t>(layout[ti].model_index);
    const at::Tensor& g = reference.tensors.at(index).tensor;
    at::Tensor words = std::move(sum_.words(ti));
    const auto* s = static_cast<const std::uint32_t*>(words.data_ptr());
    auto fill = [&](auto* out_values, const auto* gp) {
      for (std::int64_t e = 0; e < words.numel(); ++e)
        out_values[e] = static_cast<std::remove_pointer_t<decltype(out_values)>>(q.dequantize_sum(s[e], n) + times * gp[e]);
    };
    if (g.scalar_type() == at::kFloat) {
      // In place: each word is read before its float is written over it.
      const at::Tensor gc = g.contiguous();
      fill(static_cast<float*>(words.data_ptr()), gc.data_ptr<float>());
      void* data = words.data_ptr();
      out.sums[index] = at::from_blob(data, layout[ti].shape, [keep = words](void*) mutable { keep.reset(); },
                                      at::TensorOptions().dtype(at::kFloat));
    } else {
      at::Tensor sum = at::empty(layout[ti].shape, at::TensorOptions().dtype(at::kDouble));
      const at::Tensor gd = g.to(at::kDouble).contiguous();
      fill(sum.data_ptr<double>(), gd.data_ptr<double>());
      out.sums[index] = sum.to(g.scalar_type());
    }
  }
  return out;
}

}  // namespace cohort::secagg
