#include "secagg/site_round.hpp"

#include "secagg/shamir.hpp"

#include <ATen/ops/empty.h>

#include <algorithm>
#include <set>
#include <stdexcept>

namespace cohort::secagg {

namespace {

/// w[e] = q(ratio · (x[e] − g[e])), read in the tensors' own type when it is float.
void quantize_update(const at::Tensor& result, const at::Tensor& reference, double ratio, const Quantizer& q,
                     std::span<std::uint32_t> w) {
  const bool single = result.scalar_type() == at::kFloat && reference.scalar_type() == at::kFloat;
  const at::Tensor x = (single ? result : result.to(at::kDouble)).contiguous();
  const at::Tensor g = (single ? reference : reference.to(at::kDouble)).contiguous();
  auto fill = [&](const auto* xp, const auto* gp) {
    for (std::size_t e = 0; e < w.size(); ++e) w[e] = q.quantize(ratio * (static_cast<double>(xp[e]) - gp[e]));
  };
  if (single) fill(x.data_ptr<float>(), g.data_ptr<float>());
  else fill(x.data_ptr<double>(), g.data_ptr<double>());
}

/// Whether tensor `ti` of `memory` can take upload tensor `u`: its shape and type, and no
/// one but `memory` holds it (the link let go of the last upload).
bool reusable(const Model* memory, std::size_t ti, const UploadTensor& u) {
  if (!memory || ti >= memory->tensors.size()) return false;
  const at::Tensor& t = memory->tensors[ti].tensor;
  return t.scalar_type() == at::kInt && t.sizes().vec() == u.shape && t.is_contiguous() && t.use_count() == 1 &&
         t.storage().use_count() == 1;
}

}  // namespace

SiteRound::SiteRound(RoundContext round, std::string site)
    : round_(std::move(round)), site_(std::move(site)), c_(generate_key_pair()), s_(generate_key_pair()),
      seed_(random_bytes(kKeyBytes)) {}

Model SiteRound::advertise() const {
  Model keys;
  keys.round = round_.round;
  keys.tensors.push_back({"c_pk", byte_tensor(c_.public_key)});
  keys.tensors.push_back({"s_pk", byte_tensor(s_.public_key)});
  return keys;
}

Model SiteRound::share(const Model& group, std::size_t threshold) {
  std::vector<std::string> order;
  group_.clear();
  for (const auto& t : group.tensors) {
    if (auto member = site_after(kSealPublicKey, t.name)) {
      order.push_back(*member);
      group_[*member].first = bytes_of(t.tensor);
    } else if (auto member = site_after(kMaskPublicKey, t.name)) {
      group_[*member].second = bytes_of(t.tensor);
    } else {
      throw std::invalid_argument("the group holds '" + t.name + "', which is no public key");
    }
  }
  if (!group_.count(site_)) throw std::invalid_argument("the group does not hold this site");
  for (const auto& [member, keys] : group_)
    if (keys.first.size() != kKeyBytes || keys.second.size() != kKeyBytes)
      throw std::invalid_argument("site '" + member + "' has no pair of 32-byte public keys in the group");
  if (group_.at(site_).first != c_.public_key || group_.at(site_).second != s_.public_key)
    throw std::invalid_argument("the group's keys of this site are not the ones it advertised");
  const auto b_shares = split(seed_, threshold, order.size());
  const auto s_shares = split(s_.private_key, threshold, order.size());
  Model out;
  out.round = round_.round;
  for (std::size_t i = 0; i < order.size(); ++i) {
    Bytes plain = encode(b_shares[i]);
    const Bytes s = encode(s_shares[i]);
    plain.insert(plain.end(), s.begin(), s.end());
    const Bytes key = share_key(agree(c_.private_key, group_.at(order[i]).first));
    Bytes box = random_bytes(kNonceBytes);
    const Bytes sealed = seal(key, box, share_aad(round_, site_, order[i]), plain);
    box.insert(box.end(), sealed.begin(), sealed.end());
    out.tensors.push_back({std::string(kSealedShare) + order[i], byte_tensor(box)});
  }
  return out;
}

Model SiteRound::mask(const Model& result, const Model& reference, double weight, const std::vector<std::string>& peers,
                      const config::SecureAggregationSettings& settings, const Model* memory) const {
  const Quantizer q{settings.clipping_range, settings.quantization_bits};
  const double ratio = std::clamp(weight / settings.max_weight, 0.0, 1.0);
  std::vector<Bytes> pair_secrets;
  for (const auto& peer : peers) {
    auto it = group_.find(peer);
    if (it == group_.end() || peer == site_) throw std::invalid_argument("peer '" + peer + "' is not in this site's group");
    pair_secrets.push_back(agree(s_.private_key, it->second.second));
  }
  Model upload;
  upload.round = round_.round;
  const auto layout = upload_layout(reference);
  for (std::size_t ti = 0; ti < layout.size(); ++ti) {
    const UploadTensor& u = layout[ti];
    at::Tensor words = reusable(memory, ti, u) ? memory->tensors[ti].tensor : at::empty(u.shape, at::TensorOptions().dtype(at::kInt));
    auto w = words_of(words);
    if (u.model_index < 0) {
      w[0] = q.quantize_weight(ratio);
    } else {
      const auto& mine = result.tensors.at(static_cast<std::size_t>(u.model_index));
      if (mine.name != u.name || mine.tensor.sizes().vec() != u.shape)
        throw std::invalid_argument("the result's tensor '" + mine.name + "' is not the task's '" + u.name + "'");
      const at::Tensor& g = reference.tensors[static_cast<std::size_t>(u.model_index)].tensor;
      quantize_update(mine.tensor, g, ratio, q, w);
    }
    std::vector<MaskTerm> masks{{self_mask_key(seed_, round_, ti), true}};
    for (std::size_t p = 0; p < peers.size(); ++p)
      masks.push_back({pair_mask_key(pair_secrets[p], round_, ti), adds_pair_mask(site_, peers[p])});
    apply_masks(w, masks);
    upload.tensors.push_back({u.name, std::move(words)});
  }
  return upload;
}

SiteRound::Unmasking SiteRound::unmask(const Model& sealed, const std::vector<std::string>& survivors,
                                       const std::vector<std::string>& dropped) {
  if (unmasked_) throw std::invalid_argument("this round's shares were already answered: a second request is refused");
  const std::set<std::string> alive(survivors.begin(), survivors.end());
  for (const auto& d : dropped)
    if (alive.count(d)) throw std::invalid_argument("site '" + d + "' is named both survivor and dropped");
  if (!alive.count(site_)) throw std::invalid_argument("this site is not among the survivors");
  const std::set<std::string> lost(dropped.begin(), dropped.end());
  unmasked_ = true;
  Unmasking out;
  out.shares.round = round_.round;
  for (const auto& t : sealed.tensors) {
    const auto sender = site_after(kSealedShare, t.name);
    if (!sender) continue;
    const std::string& from = *sender;
    const bool survivor = alive.count(from) > 0;
    if (!survivor && !lost.count(from)) continue;  // neither asked for
    auto member = group_.find(from);
    const Bytes box = bytes_of(t.tensor);
    std::optional<Bytes> plain;
    if (member != group_.end() && box.size() > kNonceBytes) {
      const Bytes key = share_key(agree(c_.private_key, member->second.first));
      plain = open(key, std::span(box).first(kNonceBytes), share_aad(round_, from, site_), std::span(box).subspan(kNonceBytes));
    }
    if (!plain || plain->size() != 2 * kShareBytes) {
      out.refused.push_back(from);
      continue;
    }
    // A survivor's self-mask seed, or a dropped site's mask key: never both of one site.
    const auto half = survivor ? std::span(*plain).first(kShareBytes) : std::span(*plain).subspan(kShareBytes);
    out.shares.tensors.push_back({std::string(survivor ? kSeedShare : kMaskKeyShare) + from, byte_tensor(Bytes(half.begin(), half.end()))});
  }
  return out;
}

}  // namespace cohort::secagg
