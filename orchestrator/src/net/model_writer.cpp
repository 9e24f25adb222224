#include "net/model_writer.hpp"

#include <algorithm>

namespace cohort::net {

ModelWriter::ModelWriter(const Model& model, std::size_t chunk_bytes) : model_(model), chunk_bytes_(chunk_bytes) {}

std::optional<ModelWriter::Piece> ModelWriter::next() {
  const auto count = static_cast<std::ptrdiff_t>(model_.tensors.size());
  if (tensor_ < 0) {
    frame_ = encode_frame(ModelBegin{static_cast<std::uint32_t>(count), model_.byte_size()});
    tensor_ = 0;
    return Piece{frame_, {}};
  }
  while (tensor_ < count) {
    if (!record_sent_) {
      const auto& named = model_.tensors[static_cast<std::size_t>(tensor_)];
      current_ = named.tensor.is_contiguous() ? named.tensor : named.tensor.contiguous();
      offset_ = 0;
      record_sent_ = true;
      frame_ = encode_frame(TensorInfo{named.name, current_.scalar_type(), current_.sizes().vec(),
                                       static_cast<std::uint64_t>(current_.nbytes()), 0});
      return Piece{frame_, {}};
    }
    const auto nbytes = static_cast<std::uint64_t>(current_.nbytes());
    if (offset_ < nbytes) {
      const std::size_t element = current_.element_size();
      const std::size_t chunk = std::max(element, chunk_bytes_ / element * element);
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, nbytes - offset_));
      const auto* data = static_cast<const std::byte*>(current_.data_ptr()) + offset_;
      chunk_header_ = encode_header(FrameType::chunk, static_cast<std::uint32_t>(n));
      offset_ += n;
      model_bytes_ += n;
      return Piece{chunk_header_, std::span<const std::byte>(data, n)};
    }
    current_ = at::Tensor();
    record_sent_ = false;
    ++tensor_;
  }
  if (tensor_ == count) {
    frame_ = encode_frame(ModelEnd{});
    ++tensor_;
    return Piece{frame_, {}};
  }
  return std::nullopt;
}

}  // namespace cohort::net
