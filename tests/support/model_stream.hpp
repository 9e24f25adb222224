#pragma once
// A model as a transport carries it: the whole byte stream ModelWriter makes of it, and
// its tensors fed into a sink chunk by chunk as a reader would.
#include "net/model_writer.hpp"

#include <cohort/stream.hpp>

#include <algorithm>
#include <optional>
#include <vector>

namespace cohort::test {

inline std::vector<std::byte> written_stream(const Model& model, std::size_t chunk_bytes) {
  std::vector<std::byte> out;
  net::ModelWriter writer(model, chunk_bytes);
  while (auto piece = writer.next()) {
    for (const auto& part : *piece) out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

/// Streams `model` into `sink` in chunks of `chunk` bytes, then commits; stops (without
/// ending the stream) once `stop_after` bytes went in, when given. Returns whether it got
/// to commit.
inline bool stream_into(ResultSink& sink, const Model& model, std::size_t chunk,
                        std::optional<std::size_t> stop_after = {}) {
  std::size_t sent = 0;
  auto stop = [&] { return stop_after && sent >= *stop_after; };
  for (std::size_t i = 0; i < model.tensors.size(); ++i) {
    const auto& t = model.tensors[i].tensor;
    TensorInfo info{model.tensors[i].name, t.scalar_type(), t.sizes().vec(), static_cast<std::uint64_t>(t.nbytes()), i};
    if (stop()) return false;
    sink.begin_tensor(info);
    const auto* bytes = static_cast<const std::byte*>(t.data_ptr());
    for (std::uint64_t offset = 0; offset < info.nbytes; offset += chunk) {
      if (stop()) return false;
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, info.nbytes - offset));
      sink.chunk_received(offset, std::span<const std::byte>(bytes + offset, n));
      sent += n;
    }
    sink.end_tensor();
  }
  sink.commit();
  return true;
}

}  // namespace cohort::test
