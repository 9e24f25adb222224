#pragma once
// The sending half of a model stream without any I/O: MODEL_BEGIN, then per tensor a
// TENSOR record and CHUNK frames whose payload is a span of the tensor's own storage (no
// serialization buffer), then MODEL_END. The transport writes each piece as it comes.

#include "net/codec.hpp"

#include <cohort/model.hpp>

#include <array>
#include <optional>
#include <span>
#include <vector>

namespace cohort::net {

class ModelWriter {
 public:
  /// One write: a frame header or a whole small frame, then (for a CHUNK) tensor bytes.
  using Piece = std::array<std::span<const std::byte>, 2>;

  /// Streams `model` in chunks of at most `chunk_bytes` (rounded down to whole elements).
  /// Non-contiguous tensors are made contiguous first; the others are read in place.
  ModelWriter(const Model& model, std::size_t chunk_bytes);

  /// The next piece to write, valid until the following call; nothing once MODEL_END was
  /// given.
  std::optional<Piece> next();
  /// Tensor bytes handed out so far.
  std::uint64_t model_bytes() const { return model_bytes_; }

 private:
  const Model& model_;
  std::size_t chunk_bytes_;
  /// -1: MODEL_BEGIN next; tensors.size(): MODEL_END next; beyond: done.
  std::ptrdiff_t tensor_ = -1;
  bool record_sent_ = false;
  at::Tensor current_;
  std::uint64_t offset_ = 0;
  std::uint64_t model_bytes_ = 0;
  std::vector<std::byte> frame_;
  std::array<std::byte, kFrameHeaderBytes> chunk_header_{};
};

}  // namespace cohort::net
