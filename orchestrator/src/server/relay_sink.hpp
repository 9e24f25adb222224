#pragma once
// Passes a relayed model stream from one site's connection to another's as it arrives,
// frame by frame: the server never holds the model. When the target falls behind by
// `window` bytes, the source is paused (its socket fills, TCP slows the sender) until the
// target catches up.

#include "net/link.hpp"

#include <cohort/stream.hpp>

#include <memory>
#include <mutex>

namespace cohort::server {

class RelaySink final : public ResultSink {
 public:
  RelaySink(std::shared_ptr<net::Link> source, std::shared_ptr<net::Link> target, std::uint64_t stream,
            std::size_t window);
  ~RelaySink() override;

  void begin_model(std::uint32_t tensors, std::uint64_t total_bytes) override;
  void begin_tensor(const TensorInfo& info) override;
  void chunk_received(std::uint64_t offset, std::span<const std::byte> data) override;
  bool hold_after_chunk() override;
  void commit() override;
  void abandon(const std::string& reason) override;

  struct Flow;

 private:
  void close_stream(std::vector<std::byte> frame);

  std::shared_ptr<Flow> flow_;
  std::shared_ptr<net::Link> target_;
  std::uint64_t stream_;
  bool closed_ = false;
};

}  // namespace cohort::server
