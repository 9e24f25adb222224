#include "server/resumable_result.hpp"

namespace cohort::server {

/// One stream of the result. Every call takes the result's lock and does nothing once
/// another stream was attached or the inner sink is done.
class ResumableResult::Stream final : public ResultSink {
 public:
  Stream(std::shared_ptr<ResumableResult> owner, std::uint64_t generation, std::function<bool()> link_closed,
         std::function<void()> ended)
      : owner_(std::move(owner)), generation_(generation), link_closed_(std::move(link_closed)), ended_(std::move(ended)) {}

  void begin_model(std::uint32_t tensors, std::uint64_t total_bytes) override {
    std::lock_guard lock(owner_->mutex_);
    if (!active() || owner_->began_model_) return;
    owner_->began_model_ = true;
    owner_->inner_->begin_model(tensors, total_bytes);
  }

  void begin_tensor(const TensorInfo& info) override {
    std::lock_guard lock(owner_->mutex_);
    const std::size_t index = tensors_seen_++;
    skip_tensor_ = false;
    skip_until_ = 0;
    if (!active()) return;
    if (index < owner_->tensors_done_) {
      skip_tensor_ = true;  // the inner sink has all of it
    } else if (index == owner_->tensors_done_ && owner_->in_tensor_) {
      skip_until_ = owner_->bytes_in_tensor_;  // begun before the cut: go on where it stopped
    } else {
      owner_->inner_->begin_tensor(info);
      owner_->in_tensor_ = true;
      owner_->bytes_in_tensor_ = 0;
    }
  }

  std::span<std::byte> chunk_destination(std::uint64_t offset, std::size_t len) override {
    std::lock_guard lock(owner_->mutex_);
    if (!active() || skip_tensor_ || offset < skip_until_) return {};  // staged, then skipped (in part)
    return owner_->inner_->chunk_destination(offset, len);
  }

  void chunk_received(std::uint64_t offset, std::span<const std::byte> data) override {
    std::lock_guard lock(owner_->mutex_);
    if (!active() || skip_tensor_) return;
    const std::uint64_t end = offset + data.size();
    if (end <= skip_until_) return;
    if (offset < skip_until_) {
      data = data.subspan(static_cast<std::size_t>(skip_until_ - offset));
      offset = skip_until_;
    }
    owner_->inner_->chunk_received(offset, data);
    owner_->bytes_in_tensor_ = end;
  }

  void end_tensor() override {
    std::lock_guard lock(owner_->mutex_);
    if (!active() || skip_tensor_) return;
    owner_->inner_->end_tensor();
    ++owner_->tensors_done_;
    owner_->in_tensor_ = false;
    owner_->bytes_in_tensor_ = 0;
  }

  bool hold_after_chunk() override {
    std::lock_guard lock(owner_->mutex_);
    return active() && owner_->inner_->hold_after_chunk();
  }

  void commit() override {
    std::unique_ptr<ResultSink> inner;
    {
      std::lock_guard lock(owner_->mutex_);
      if (!active()) return;
      inner = std::move(owner_->inner_);
    }
    inner->commit();
    if (ended_) ended_();
  }

  void abandon(const std::string& reason) override {
    std::unique_ptr<ResultSink> inner;
    {
      std::lock_guard lock(owner_->mutex_);
      if (!active()) return;
      if (link_closed_ && link_closed_()) {
        owner_->cut_ = true;  // kept for the site's resend
        return;
      }
      inner = std::move(owner_->inner_);
    }
    inner->abandon(reason);
    if (ended_) ended_();
  }

 private:
  bool active() const { return owner_->inner_ && owner_->generation_ == generation_; }

  std::shared_ptr<ResumableResult> owner_;
  std::uint64_t generation_;
  std::function<bool()> link_closed_;
  std::function<void()> ended_;
  /// This stream's position: tensors begun, and what of the current one to skip.
  std::size_t tensors_seen_ = 0;
  bool skip_tensor_ = false;
  std::uint64_t skip_until_ = 0;
};

ResumableResult::ResumableResult(std::unique_ptr<ResultSink> inner) : inner_(std::move(inner)) {}

std::unique_ptr<ResultSink> ResumableResult::attach(std::function<bool()> link_closed, std::function<void()> ended) {
  std::lock_guard lock(mutex_);
  cut_ = false;
  return std::make_unique<Stream>(shared_from_this(), ++generation_, std::move(link_closed), std::move(ended));
}

bool ResumableResult::is_cut() const {
  std::lock_guard lock(mutex_);
  return cut_ && inner_;
}

bool ResumableResult::finished() const {
  std::lock_guard lock(mutex_);
  return !inner_;
}

void ResumableResult::abandon(const std::string& reason) {
  std::unique_ptr<ResultSink> inner;
  {
    std::lock_guard lock(mutex_);
    ++generation_;
    inner = std::move(inner_);
  }
  if (inner) inner->abandon(reason);
}

std::size_t ResumableResult::tensors_done() const {
  std::lock_guard lock(mutex_);
  return tensors_done_;
}

std::uint64_t ResumableResult::bytes_in_tensor() const {
  std::lock_guard lock(mutex_);
  return bytes_in_tensor_;
}

}  // namespace cohort::server
