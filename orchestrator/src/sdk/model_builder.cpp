#include "memory/memory.hpp"
#include <cohort/error.hpp>
#include <cohort/stream.hpp>

#include <ATen/ops/empty.h>

#include <cstring>
#include <stdexcept>

namespace cohort {

ModelBuilder::~ModelBuilder() {
  if (!finished_) finish(false, "the model stream was dropped");
}

void ModelBuilder::commit() { finish(true, {}); }

void ModelBuilder::abandon(const std::string& reason) { finish(false, reason); }

void ModelBuilder::finish(bool complete, const std::string& why) {
  if (finished_) return;
  finished_ = true;
  complete_ = complete;
  if (done_) done_(complete, complete ? std::move(model_) : Model{}, why);
}

void ModelBuilder::begin_model(std::uint32_t tensors, std::uint64_t total_bytes) {
  memory::note_model_bytes(total_bytes);
  if (placement_) placed_ = placement_();
  if (placed_) placed_->reserve(tensors, total_bytes);
}

void ModelBuilder::begin_tensor(const TensorInfo& info) {
  at::Tensor t;
  if (placed_) {
    t = placed_->place(info);
  } else {
    t = at::empty(info.shape, at::TensorOptions().dtype(info.dtype));
    memory::prepare_for_filling(t.data_ptr(), t.nbytes());  // before the bytes land
  }
  if (static_cast<std::uint64_t>(t.nbytes()) != info.nbytes) {
    throw ProtocolError("tensor '" + info.name + "' announces " + std::to_string(info.nbytes) +
                             " bytes but its shape and dtype make " + std::to_string(t.nbytes()));
  }
  model_.tensors.push_back({info.name, std::move(t)});
}

std::span<std::byte> ModelBuilder::chunk_destination(std::uint64_t offset, std::size_t len) {
  at::Tensor& t = model_.tensors.back().tensor;
  return {static_cast<std::byte*>(t.data_ptr()) + offset, len};
}

void ModelBuilder::chunk_received(std::uint64_t offset, std::span<const std::byte> data) {
  // Usually the bytes were read straight into the tensor (chunk_destination). A guarded
  // path (a broadcast that may close under it) reads into a staging buffer instead.
  auto* destination = static_cast<std::byte*>(model_.tensors.back().tensor.data_ptr()) + offset;
  if (data.data() != destination) std::memcpy(destination, data.data(), data.size());
}

}  // namespace cohort
