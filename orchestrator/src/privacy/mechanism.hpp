#pragma once
// The arithmetic of differentially private updates, on tensors: an update is a result
// minus the model it started from, over the floating tensors of the model together (its
// integer tensors, counters such as BatchNorm's, take the reference's values and carry
// nothing of a site's data); clipping scales it to an L2 norm of at most C; the noise is
// Gaussian, from a generator seeded by the operating system's cryptographic source.

#include <cohort/model.hpp>

#include <ATen/core/Generator.h>

#include <cstdint>
#include <optional>

namespace cohort::privacy {

/// True for the tensors an update consists of (floating point).
bool carries_update(const at::Tensor& tensor);

/// Σ (r − g)², accumulated in double, of two tensors of one shape.
double squared_distance(const at::Tensor& r, const at::Tensor& g);

/// ‖result − reference‖₂ over the floating tensors together (matched by position).
double update_norm(const Model& result, const Model& reference);

/// Makes `result` reference + min(1, clip / norm) · (result − reference), in place, with
/// integer tensors set to the reference's; returns the norm before clipping. An update of
/// norm 0 stays as it is.
double clip_update(Model& result, const Model& reference, double clip);

/// A copy of the model a task brought, for measuring the update against once the executor
/// is done (it may train that model in place). The copy's memory is kept for the next task
/// of the same shapes, so its pages are faulted in once, not every round: one model of
/// memory per client process while site-side privacy is on.
class ReferenceCopy {
 public:
  /// `received`, copied (into the kept tensors where names, shapes and dtypes match).
  const Model& copy_of(const Model& received);

 private:
  Model kept_;
};

/// 64 bits from the operating system's cryptographic source (getrandom).
std::uint64_t os_random_seed();

/// Gaussian noise N(0, σ²), added in place. Seeded by os_random_seed(), or by `seed` where
/// a test asks for a fixed one.
class GaussianNoise {
 public:
  explicit GaussianNoise(std::optional<std::uint64_t> seed = {});
  /// Adds independent N(0, stddev²) to every element of `tensor` (floating, contiguous),
  /// through a reused buffer of at most 1 Mi elements.
  void add(at::Tensor& tensor, double stddev);
  /// Adds noise to every tensor of `model` that carries_update().
  void add(Model& model, double stddev);
  /// One draw of N(0, stddev²).
  double sample(double stddev);

 private:
  at::Generator generator_;
  at::Tensor buffer_;
};

}  // namespace cohort::privacy
