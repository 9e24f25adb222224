#pragma once
/// @file stream.hpp
/// Models arrive as streams of tensor records, chunk by chunk. A ResultSink takes one
/// such stream; a Reducer hands out a sink per result so that results are folded as
/// they arrive and no one holds N models.

#include <cohort/export.hpp>
#include <cohort/model.hpp>

#include <c10/core/ScalarType.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

namespace cohort {

/// What is known of a result before its tensors arrive.
struct ResultInfo {
  std::string site;
  std::int64_t round = -1;
  /// Training steps the site reports (missing when it reported none).
  std::optional<std::int64_t> num_steps;
  Metrics metrics;
};

/// The record that precedes a tensor's bytes.
struct TensorInfo {
  std::string name;
  c10::ScalarType dtype = c10::ScalarType::Float;
  std::vector<std::int64_t> shape;
  std::uint64_t nbytes = 0;
  /// Position of this tensor in its model.
  std::size_t index = 0;
};

/// Consumes one model stream. The transport calls, in order: begin_tensor, then for each
/// chunk chunk_destination and chunk_received, then end_tensor; after the last tensor
/// commit(). If the stream is cut off, abandon() is called instead of commit(). Any
/// exception thrown rejects the stream (the sender's result counts as failed).
class ResultSink {
 public:
  virtual ~ResultSink() = default;
  /// The stream announces `tensors` tensors of `total_bytes` bytes in all.
  virtual void begin_model(std::uint32_t tensors, std::uint64_t total_bytes) {}
  /// A tensor record begins.
  virtual void begin_tensor(const TensorInfo& info) = 0;
  /// Where the next chunk's bytes ([offset, offset + len) of the current tensor) should be
  /// read to. An empty span means "into a staging buffer of yours": chunk_received gets it.
  virtual std::span<std::byte> chunk_destination(std::uint64_t offset, std::size_t len) {
    return {};
  }
  /// The bytes of [offset, offset + data.size()) of the current tensor are in `data`.
  virtual void chunk_received(std::uint64_t offset, std::span<const std::byte> data) = 0;
  /// The current tensor is complete.
  virtual void end_tensor() {}
  /// Asked after each chunk: true makes the transport stop reading this stream until the
  /// sink's owner releases it (flow control for sinks that pass bytes on).
  virtual bool hold_after_chunk() { return false; }
  /// The whole stream arrived.
  virtual void commit() = 0;
  /// The stream was cut off; `reason` says why. No call follows.
  virtual void abandon(const std::string& reason) {}
};

/// Hands out one sink per result. May be called from several network threads at once.
class Reducer {
 public:
  virtual ~Reducer() = default;
  /// A result's header arrived; returns the sink for its tensors.
  virtual std::unique_ptr<ResultSink> open(const ResultInfo& info) = 0;
};

/// Where a ModelBuilder puts the tensors of an incoming model. The default is fresh CPU
/// tensors; an executor that shares the model with another process places them in memory
/// that process maps (Executor::model_placement), so the bytes land once.
class TensorPlacement {
 public:
  virtual ~TensorPlacement() = default;
  /// The model that follows has `tensors` tensors of `total_bytes` bytes in all (as its
  /// stream announced); called once, before the first place().
  virtual void reserve(std::uint32_t tensors, std::uint64_t total_bytes) {}
  /// A contiguous tensor of `info`'s dtype and shape (`info.nbytes` bytes) that the stream
  /// fills. Throws to refuse the model.
  virtual at::Tensor place(const TensorInfo& info) = 0;
};

/// A sink that builds a whole Model, reading bytes straight into each tensor's storage
/// (or copying them there when the transport staged them elsewhere).
class COHORT_API ModelBuilder final : public ResultSink {
 public:
  /// What a stream came to: `complete` with its model, or not, with `why`.
  using Done = std::function<void(bool complete, Model model, const std::string& why)>;
  /// The placement for this stream, asked when its first bytes arrive (null: fresh tensors).
  using Placement = std::function<std::shared_ptr<TensorPlacement>()>;

  /// Keeps the model for take().
  ModelBuilder() = default;
  /// Hands the model to `done` once the stream is whole; tells `done` why when it is cut
  /// off, or dropped unfinished (the builder destroyed first). Called once. Tensors go
  /// where `placement` says.
  explicit ModelBuilder(Done done, Placement placement = {})
      : done_(std::move(done)), placement_(std::move(placement)) {}
  ~ModelBuilder() override;

  void begin_model(std::uint32_t tensors, std::uint64_t total_bytes) override;
  void begin_tensor(const TensorInfo& info) override;
  std::span<std::byte> chunk_destination(std::uint64_t offset, std::size_t len) override;
  void chunk_received(std::uint64_t offset, std::span<const std::byte> data) override;
  void commit() override;
  void abandon(const std::string& reason) override;
  /// True once the whole stream arrived.
  bool complete() const { return complete_; }
  /// The model built so far (moves it out).
  Model take() { return std::move(model_); }

 private:
  void finish(bool complete, const std::string& why);

  Model model_;
  Done done_;
  Placement placement_;
  std::shared_ptr<TensorPlacement> placed_;
  bool complete_ = false;
  bool finished_ = false;
};

}  // namespace cohort
