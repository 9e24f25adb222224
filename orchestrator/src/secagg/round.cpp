#include "secagg/round.hpp"

#include <ATen/ops/empty.h>

#include <algorithm>
#include <memory>
#include <cmath>
#include <cstring>

namespace cohort::secagg {

bool is_stage_task(const std::string& name) { return name == kKeysTask || name == kShareTask || name == kUnmaskTask; }

std::optional<std::string> site_after(std::string_view prefix, const std::string& name) {
  if (!name.starts_with(prefix)) return std::nullopt;
  return name.substr(prefix.size());
}

std::vector<UploadTensor> upload_layout(const Model& reference) {
  std::vector<UploadTensor> layout;
  for (std::size_t i = 0; i < reference.tensors.size(); ++i) {
    const at::Tensor& t = reference.tensors[i].tensor;
    if (!at::isFloatingType(t.scalar_type())) continue;  // counters keep the reference's values
    layout.push_back({reference.tensors[i].name, t.sizes().vec(), t.numel(), static_cast<std::int64_t>(i)});
  }
  layout.push_back({kWeightTensor, {1}, 1, -1});
  return layout;
}

double Quantizer::dequantize_sum(std::uint32_t sum, std::size_t count) const {
  return static_cast<double>(sum) * (2 * range) / levels() - static_cast<double>(count) * range;
}

std::uint32_t Quantizer::quantize_weight(double ratio) const {
  return static_cast<std::uint32_t>(std::clamp(ratio, 0.0, 1.0) * levels() + 0.5);
}

void apply_masks(std::span<std::uint32_t> words, const std::vector<MaskTerm>& terms) {
  std::vector<std::unique_ptr<MaskStream>> streams;
  for (const auto& t : terms) streams.push_back(std::make_unique<MaskStream>(t.key));
  constexpr std::size_t kChunk = 16 * 1024;  // 64 KiB: stays in cache across the streams
  for (std::size_t at = 0; at < words.size(); at += kChunk) {
    const auto chunk = words.subspan(at, std::min(kChunk, words.size() - at));
    for (std::size_t i = 0; i < streams.size(); ++i) {
      if (terms[i].add) streams[i]->add_to(chunk);
      else streams[i]->subtract_from(chunk);
    }
  }
}

namespace {

/// `what` bound to the round and to `rest`: "what|job|epoch|round|rest".
std::string bound_info(const char* what, const RoundContext& round, const std::string& rest) {
  return std::string(what) + "|" + round.job + "|" + std::to_string(round.epoch) + "|" + std::to_string(round.round) +
         "|" + rest;
}

}  // namespace

Bytes self_mask_key(const Bytes& seed, const RoundContext& round, std::size_t tensor) {
  return hkdf(seed, {}, bound_info("cohort secagg self mask", round, std::to_string(tensor)), kKeyBytes);
}

Bytes pair_mask_key(const Bytes& secret, const RoundContext& round, std::size_t tensor) {
  return hkdf(secret, {}, bound_info("cohort secagg pair mask", round, std::to_string(tensor)), kKeyBytes);
}

Bytes share_key(const Bytes& agreed) { return hkdf(agreed, {}, "cohort secagg share key", kKeyBytes); }

std::string share_aad(const RoundContext& round, const std::string& from, const std::string& to) {
  return bound_info("cohort secagg share", round, from + "|" + to);
}

at::Tensor byte_tensor(const Bytes& bytes) {
  at::Tensor t = at::empty({static_cast<std::int64_t>(bytes.size())}, at::TensorOptions().dtype(at::kByte));
  if (!bytes.empty()) std::memcpy(t.data_ptr(), bytes.data(), bytes.size());
  return t;
}

Bytes bytes_of(const at::Tensor& tensor) {
  const at::Tensor t = tensor.contiguous();
  const auto* p = static_cast<const std::uint8_t*>(t.data_ptr());
  return Bytes(p, p + t.nbytes());
}

std::span<std::uint32_t> words_of(at::Tensor& tensor) {
  return {static_cast<std::uint32_t*>(tensor.data_ptr()), static_cast<std::size_t>(tensor.numel())};
}

}  // namespace cohort::secagg
