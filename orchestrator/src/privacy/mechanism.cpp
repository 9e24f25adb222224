#include "privacy/mechanism.hpp"

#include <cohort/error.hpp>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/core/Tensor.h>
#include <ATen/ops/empty.h>
#include <ATen/ops/sub.h>

#include <sys/random.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <string>

namespace cohort::privacy {

bool carries_update(const at::Tensor& tensor) { return at::isFloatingType(tensor.scalar_type()); }

namespace {

void check_matching(const Model& result, const Model& reference) {
  if (result.tensors.size() != reference.tensors.size())
    throw ProtocolError("the result has " + std::to_string(result.tensors.size()) + " tensors, the model it started from " +
                             std::to_string(reference.tensors.size()));
}

}  // namespace

/// Σ (r − g)², a chunk of 1 Mi elements at a time through a buffer this thread keeps (a
/// fresh temporary per chunk would be a fresh mapping to fault in, every round). Each
/// chunk's sum is ATen's cascade sum in the tensor's dtype; the chunks add up in double.
double squared_distance(const at::Tensor& r, const at::Tensor& g) {
  constexpr std::int64_t kChunk = 1 << 20;
  thread_local at::Tensor buffer;
  const at::Tensor a = r.reshape({-1}), b = g.reshape({-1});
  if (!buffer.defined() || buffer.scalar_type() != a.scalar_type())
    buffer = at::empty({kChunk}, at::TensorOptions().dtype(a.scalar_type()));
  double squares = 0;
  for (std::int64_t begin = 0; begin < a.numel(); begin += kChunk) {
    const std::int64_t count = std::min(kChunk, a.numel() - begin);
    at::Tensor diff = buffer.narrow(0, 0, count);
    at::sub_out(diff, a.narrow(0, begin, count), b.narrow(0, begin, count));
    squares += diff.mul_(diff).sum().item<double>();
  }
  return squares;
}

double update_norm(const Model& result, const Model& reference) {
  check_matching(result, reference);
  double squares = 0;
  for (std::size_t i = 0; i < result.tensors.size(); ++i) {
    if (carries_update(result.tensors[i].tensor))
      squares += squared_distance(result.tensors[i].tensor, reference.tensors[i].tensor);
  }
  return std::sqrt(squares);
}

double clip_update(Model& result, const Model& reference, double clip) {
  const double norm = update_norm(result, reference);
  const double factor = norm > clip ? clip / norm : 1.0;
  for (std::size_t i = 0; i < result.tensors.size(); ++i) {
    at::Tensor& r = result.tensors[i].tensor;
    const at::Tensor& g = reference.tensors[i].tensor;
    if (!carries_update(r)) {
      r.copy_(g);
    } else if (factor < 1.0) {
      r.sub_(g).mul_(factor).add_(g);  // g + f·(r − g)
    }
  }
  return norm;
}

const Model& ReferenceCopy::copy_of(const Model& received) {
  const bool same = kept_.tensors.size() == received.tensors.size() &&
                    std::equal(kept_.tensors.begin(), kept_.tensors.end(), received.tensors.begin(),
                               [](const NamedTensor& a, const NamedTensor& b) {
                                 return a.name == b.name && a.tensor.sizes() == b.tensor.sizes() &&
                                        a.tensor.scalar_type() == b.tensor.scalar_type();
                               });
  if (!same) {
    kept_ = received.clone();
    return kept_;
  }
  for (std::size_t i = 0; i < kept_.tensors.size(); ++i) kept_.tensors[i].tensor.copy_(received.tensors[i].tensor);
  return kept_;
}

std::uint64_t os_random_seed() {
  std::uint64_t seed = 0;
  auto* bytes = reinterpret_cast<unsigned char*>(&seed);
  std::size_t got = 0;
  while (got < sizeof seed) {
    const ssize_t n = getrandom(bytes + got, sizeof seed - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) throw std::runtime_error(std::string("getrandom failed: ") + std::strerror(errno));
    got += static_cast<std::size_t>(n);
  }
  return seed;
}

GaussianNoise::GaussianNoise(std::optional<std::uint64_t> seed)
    : generator_(at::make_generator<at::CPUGeneratorImpl>(seed ? *seed : os_random_seed())) {}

void GaussianNoise::add(at::Tensor& tensor, double stddev) {
  if (stddev <= 0 || tensor.numel() == 0) return;
  if (!tensor.is_contiguous()) throw std::logic_error("GaussianNoise::add needs a contiguous tensor");
  constexpr std::int64_t kChunk = 1 << 20;
  at::Tensor flat = tensor.view({-1});
  const std::int64_t n = flat.numel();
  for (std::int64_t begin = 0; begin < n; begin += kChunk) {
    const std::int64_t count = std::min(kChunk, n - begin);
    if (!buffer_.defined() || buffer_.scalar_type() != tensor.scalar_type() || buffer_.numel() < count)
      buffer_ = at::empty({std::min(kChunk, n)}, at::TensorOptions().dtype(tensor.scalar_type()));
    at::Tensor noise = buffer_.narrow(0, 0, count);
    noise.normal_(0.0, stddev, generator_);
    flat.narrow(0, begin, count).add_(noise);
  }
}

void GaussianNoise::add(Model& model, double stddev) {
  for (auto& t : model.tensors) {
    if (carries_update(t.tensor)) add(t.tensor, stddev);
  }
}

double GaussianNoise::sample(double stddev) {
  at::Tensor one = at::empty({1}, at::TensorOptions().dtype(at::kDouble));
  one.normal_(0.0, stddev, generator_);
  return one.item<double>();
}

}  // namespace cohort::privacy
