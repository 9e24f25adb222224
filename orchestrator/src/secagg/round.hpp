#pragma once
// What both sides of a secure round agree on without talking: the names of its stages and
// of what they carry, the upload's layout (the floating tensors of the round's model, in
// order, then one word for the weight), the quantization, and how each mask's key is
// derived (HKDF of a shared secret or a seed, bound to the job, epoch, round and tensor).
//
// A round, in the order the server's job runner drives it (README, "Secure aggregation"):
//  1. keys:   each site makes fresh X25519 key pairs (c: for sealing shares, s: for
//             masks) and a self-mask seed b, and answers its public keys;
//  2. share:  the server puts the sites that answered on a shuffled ring and sends each its
//             group (itself and (k − 1) / 2 sites on each side) with their public keys; the
//             site Shamir-shares b and s's private key t-of-k and seals each holder's
//             shares with ChaCha20-Poly1305 under HKDF(X25519(c, holder's c));
//  3. train:  the task tells each site which of its group shared (its peers); the site's
//             upload is its weighted update, clipped, quantized, plus PRG(b) and ± PRG of
//             each peer's pairwise secret, modulo 2^32, streamed into the server's sum;
//  4. unmask: the server names the survivors (whole uploads) and the dropped (shared, no
//             whole upload) and relays each holder the sealed shares it holds; a holder
//             opens them and answers b's shares of survivors and s's of the dropped. The
//             server rebuilds those secrets and removes their masks from the sum.

#include <cohort/model.hpp>

#include "secagg/crypto.hpp"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cohort::secagg {

/// Stage task names (the client process answers them itself, not the executor).
inline constexpr const char* kKeysTask = "cohort.secagg.keys";
inline constexpr const char* kShareTask = "cohort.secagg.share";
inline constexpr const char* kUnmaskTask = "cohort.secagg.unmask";
/// True for a stage task's name.
bool is_stage_task(const std::string& name);

/// Task meta: the share stage's threshold; the training task's peers (the sites of the
/// group that shared, comma-separated) and the factor of the site's weight; the unmask
/// stage's survivors and dropped sites.
inline constexpr const char* kThresholdMeta = "cohort.secagg.threshold";
inline constexpr const char* kPeersMeta = "cohort.secagg.peers";
inline constexpr const char* kWeightFactorMeta = "cohort.secagg.weight_factor";
inline constexpr const char* kSurvivorsMeta = "cohort.secagg.survivors";
inline constexpr const char* kDroppedMeta = "cohort.secagg.dropped";

/// Names of what the stages carry, each followed by a site's name: its public keys (the
/// share task's group), a share it sealed for a holder ("share/<holder>" from the site,
/// "share/<sender>" to the holder), a survivor's self-mask seed share and a dropped site's
/// mask key share (the unmask answer).
inline constexpr std::string_view kSealPublicKey = "c_pk/";
inline constexpr std::string_view kMaskPublicKey = "s_pk/";
inline constexpr std::string_view kSealedShare = "share/";
inline constexpr std::string_view kSeedShare = "b/";
inline constexpr std::string_view kMaskKeyShare = "s/";
/// The site named after `prefix` in `name`, or nothing when `name` does not start with it.
std::optional<std::string> site_after(std::string_view prefix, const std::string& name);

/// The bytes of one Shamir share of a 32-byte secret, and of a sealed pair of them (a
/// seed's share and a mask key's share) with its nonce and tag.
inline constexpr std::size_t kShareBytes = 4 + 8 * 5;
inline constexpr std::size_t kSealedShareBytes = kNonceBytes + 2 * kShareBytes + kTagBytes;

/// The weight factor that makes every result weigh 1 (the weight max_weight).
inline constexpr const char* kUnweighted = "unweighted";

/// The upload's last tensor: the site's quantized weight.
inline constexpr const char* kWeightTensor = "cohort.secagg.weight";

/// Whose round: both sides derive every key from these.
struct RoundContext {
  std::string job;
  std::int64_t epoch = 0;
  std::int64_t round = 0;
};

/// One tensor of an upload.
struct UploadTensor {
  std::string name;
  std::vector<std::int64_t> shape;
  std::int64_t numel = 0;
  /// Position in the round's model (-1: the weight word).
  std::int64_t model_index = -1;
};

/// The floating tensors of `reference`, in order, and the weight word last. Masked
/// uploads carry them as int32 tensors of the same shapes (the bits of uint32 words).
std::vector<UploadTensor> upload_layout(const Model& reference);

/// Clipping to [−range, range] and rounding to one of 2^bits levels.
struct Quantizer {
  double range = 8.0;
  std::int64_t bits = 22;
  double levels() const { return static_cast<double>((std::uint64_t{1} << bits) - 1); }
  /// Inline: it runs once an element of every upload.
  std::uint32_t quantize(double value) const {
    // A NaN carries nothing; ±inf clip. The value is then in [0, levels]: round half up.
    const double clipped = value != value ? 0.0 : value < -range ? -range : value > range ? range : value;
    // Through int32 (levels < 2^31): the conversion the vector units have.
    return static_cast<std::uint32_t>(static_cast<std::int32_t>((clipped + range) * (levels() / (2 * range)) + 0.5));
  }
  /// The sum of `count` quantized values back to the sum of the values.
  double dequantize_sum(std::uint32_t sum, std::size_t count) const;
  /// The weight in [0, 1] as a word, and a sum of such words back.
  std::uint32_t quantize_weight(double ratio) const;
  double dequantize_weight(std::uint32_t sum) const { return static_cast<double>(sum) / levels(); }
};

/// The key of a self mask (seed b) or of a pairwise mask (the X25519 secret of a pair) for
/// upload tensor `tensor` of the round.
Bytes self_mask_key(const Bytes& seed, const RoundContext& round, std::size_t tensor);
Bytes pair_mask_key(const Bytes& secret, const RoundContext& round, std::size_t tensor);
/// One mask on a tensor: its key, and whether it is added (or subtracted).
struct MaskTerm {
  Bytes key;
  bool add = true;
};
/// Applies every term's mask stream to `words`, a cache-sized chunk at a time (each word
/// is read from memory once, however many masks there are).
void apply_masks(std::span<std::uint32_t> words, const std::vector<MaskTerm>& terms);

/// Whether `site` adds (true) or subtracts the mask it shares with `peer`.
inline bool adds_pair_mask(const std::string& site, const std::string& peer) { return site < peer; }

/// The key that seals `from`'s shares for `to`, and the data the seal binds.
Bytes share_key(const Bytes& agreed);
std::string share_aad(const RoundContext& round, const std::string& from, const std::string& to);

/// Bytes as a 1-D uint8 tensor and back.
at::Tensor byte_tensor(const Bytes& bytes);
Bytes bytes_of(const at::Tensor& tensor);
/// The words of an int32 tensor (contiguous) as uint32.
std::span<std::uint32_t> words_of(at::Tensor& tensor);

}  // namespace cohort::secagg
