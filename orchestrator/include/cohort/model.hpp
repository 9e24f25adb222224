#pragma once
/// @file model.hpp
/// A model: an ordered list of named tensors plus what a round says about it.

#include <cohort/export.hpp>
#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace cohort {

/// Named numbers a site or the server reports (loss, accuracy, ...).
using Metrics = std::map<std::string, double>;

/// One named tensor of a model.
struct NamedTensor {
  std::string name;
  at::Tensor tensor;
};

/// An ordered list of named tensors plus metadata. Copying a Model shares tensor storage
/// (at::Tensor is reference counted); use clone() for a deep copy.
struct COHORT_API Model {
  std::vector<NamedTensor> tensors;
  /// The round this model belongs to (-1: none yet).
  std::int64_t round = -1;
  /// Training steps behind this model, as a site reports it; the default FedAvg weight.
  std::optional<std::int64_t> num_steps;
  /// What the producer measured.
  Metrics metrics;

  /// Bytes of tensor data (not counting metadata).
  std::uint64_t byte_size() const;
  /// The tensor named `name`, or nullptr.
  const at::Tensor* find(std::string_view name) const;
  /// A deep copy: new storage for every tensor.
  Model clone() const;
};

/// Writes `model`'s tensors as a `torch.save`-compatible file (a dict name -> tensor that
/// Python's `torch.load` reads). Tensor bytes are streamed from their storage to the file;
/// the file appears atomically (written beside, flushed, then renamed), so a crash leaves
/// either the old file or the new one, never half of one.
COHORT_API void save_checkpoint(const Model& model, const std::filesystem::path& file);

/// Reads a checkpoint written by save_checkpoint() or by Python's
/// `torch.save({name: tensor, ...})`. Throws std::runtime_error naming the file.
COHORT_API Model load_checkpoint(const std::filesystem::path& file);

/// What `error` says, without the C++ backtrace libtorch appends to its own (c10::Error):
/// the message to put in a task's failure or a log line.
COHORT_API std::string error_message(const std::exception& error);

}  // namespace cohort
