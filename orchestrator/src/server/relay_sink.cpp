#include "server/relay_sink.hpp"

#include "net/codec.hpp"

#include <cstring>

namespace cohort::server {

/// Bytes queued on the target and not yet written; shared with the write callbacks.
struct RelaySink::Flow {
  std::mutex mutex;
  std::size_t in_flight = 0;
  std::size_t window = 0;
  bool paused = false;
  std::shared_ptr<net::Link> source;

  void written(std::size_t bytes) {
    std::shared_ptr<net::Link> resume;
    {
      std::lock_guard lock(mutex);
      in_flight -= bytes;
      if (paused && in_flight < window) {
        paused = false;
        resume = source;
      }
    }
    if (resume) resume->release_hold();
  }
};

RelaySink::RelaySink(std::shared_ptr<net::Link> source, std::shared_ptr<net::Link> target,
                     std::uint64_t stream, std::size_t window)
    : flow_(std::make_shared<Flow>()), target_(std::move(target)), stream_(stream) {
  flow_->source = std::move(source);
  flow_->window = window;
}

RelaySink::~RelaySink() {
  if (!closed_) close_stream(net::encode_frame(net::StreamAbort{"relay dropped"}));
}

void RelaySink::begin_model(std::uint32_t tensors, std::uint64_t total_bytes) {
  target_->send_frame(net::encode_frame(net::ModelBegin{tensors, total_bytes}), stream_, false, false);
}

void RelaySink::begin_tensor(const TensorInfo& info) {
  target_->send_frame(net::encode_frame(info), stream_, false, false);
}

void RelaySink::chunk_received(std::uint64_t, std::span<const std::byte> data) {
  // The bytes sit in the source connection's staging buffer, reused for the next chunk:
  // the frame takes a copy of this one chunk.
  std::vector<std::byte> frame(net::kFrameHeaderBytes + data.size());
  const auto header = net::encode_header(net::FrameType::chunk, static_cast<std::uint32_t>(data.size()));
  std::memcpy(frame.data(), header.data(), header.size());
  std::memcpy(frame.data() + header.size(), data.data(), data.size());
  const std::size_t bytes = frame.size();
  {
    std::lock_guard lock(flow_->mutex);
    flow_->in_flight += bytes;
  }
  target_->send_frame(std::move(frame), stream_, false, false, [flow = flow_, bytes](bool) { flow->written(bytes); });
}

bool RelaySink::hold_after_chunk() {
  std::lock_guard lock(flow_->mutex);
  if (flow_->in_flight < flow_->window) return false;
  flow_->paused = true;
  return true;
}

void RelaySink::close_stream(std::vector<std::byte> frame) {
  closed_ = true;
  target_->send_frame(std::move(frame), stream_, false, true);
  std::shared_ptr<net::Link> resume;
  {
    std::lock_guard lock(flow_->mutex);
    if (flow_->paused) {
      flow_->paused = false;
      resume = flow_->source;
    }
  }
  if (resume) resume->release_hold();
}

void RelaySink::commit() { close_stream(net::encode_frame(net::ModelEnd{})); }

void RelaySink::abandon(const std::string& reason) { close_stream(net::encode_frame(net::StreamAbort{reason})); }

}  // namespace cohort::server
