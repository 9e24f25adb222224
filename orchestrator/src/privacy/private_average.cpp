#include "privacy/private_average.hpp"

#include "config/text_file.hpp"

#include <cohort/error.hpp>
#include <ATen/core/Tensor.h>
#include <ATen/ops/from_blob.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace cohort::privacy {

namespace {

void write_all(int fd, const std::byte* data, std::size_t size, std::uint64_t at) {
  while (size > 0) {
    const ssize_t n = ::pwrite(fd, data, size, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(std::string("cannot keep a result for clipping: ") + std::strerror(errno));
    data += n, size -= static_cast<std::size_t>(n), at += static_cast<std::uint64_t>(n);
  }
}

void read_all(int fd, std::byte* data, std::size_t size, std::uint64_t at) {
  while (size > 0) {
    const ssize_t n = ::pread(fd, data, size, static_cast<off_t>(at));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw std::runtime_error(std::string("cannot read back a result kept for clipping: ") + std::strerror(errno));
    data += n, size -= static_cast<std::size_t>(n), at += static_cast<std::uint64_t>(n);
  }
}

at::Tensor flat_bytes(std::span<const std::byte> bytes, c10::ScalarType dtype, std::int64_t element_size) {
  return at::from_blob(const_cast<std::byte*>(bytes.data()), {static_cast<std::int64_t>(bytes.size()) / element_size},
                       at::TensorOptions().dtype(dtype));
}

}  // namespace

/// Keeps one result in a file while summing its update's squares, then folds it, clipped.
class ClippingSink final : public ResultSink {
 public:
  ClippingSink(PrivateAverage& owner, std::unique_ptr<ResultSink> fold)
      : owner_(owner), fold_(std::move(fold)), fd_(config::open_unnamed_file(owner.options_.spill_folder)) {}
  ~ClippingSink() override { ::close(fd_); }

  void begin_model(std::uint32_t tensors, std::uint64_t total_bytes) override {
    tensors_announced_ = tensors;
    bytes_announced_ = total_bytes;
  }

  void begin_tensor(const TensorInfo& info) override {
    const at::Tensor* reference = owner_.options_.reference.find(info.name);
    if (!reference) throw ProtocolError("sent tensor '" + info.name + "', which the model does not have");
    if (reference->scalar_type() != info.dtype || reference->sizes().vec() != info.shape)
      throw ProtocolError("sent tensor '" + info.name + "' with another dtype or shape than the global model's");
    tensors_.push_back({info, file_size_, reference->contiguous()});
  }

  void chunk_received(std::uint64_t offset, std::span<const std::byte> data) override {
    Kept& t = tensors_.back();
    const auto element = static_cast<std::int64_t>(t.reference.element_size());
    if (offset != t.received || offset + data.size() > t.info.nbytes || data.size() % element != 0)
      throw ProtocolError("sent a chunk outside tensor '" + t.info.name + "' or out of order");
    write_all(fd_, data.data(), data.size(), file_size_);
    file_size_ += data.size();
    t.received += data.size();
    if (carries_update(t.reference)) {
      const at::Tensor g = t.reference.view({-1}).narrow(0, static_cast<std::int64_t>(offset) / element,
                                                         static_cast<std::int64_t>(data.size()) / element);
      squares_ += squared_distance(flat_bytes(data, t.info.dtype, element), g);
    }
  }

  void end_tensor() override {
    const Kept& t = tensors_.back();
    if (t.received != t.info.nbytes) throw ProtocolError("ended tensor '" + t.info.name + "' early");
  }

  void commit() override {
    const double clip = *owner_.options_.clip;
    const double norm = std::sqrt(squares_);
    const double factor = norm > clip ? clip / norm : 1.0;
    if (tensors_announced_) fold_->begin_model(tensors_announced_, bytes_announced_);
    std::vector<std::byte> buffer;
    for (const Kept& t : tensors_) {
      fold_->begin_tensor(t.info);
      const auto element = static_cast<std::int64_t>(t.reference.element_size());
      const std::uint64_t chunk = std::max<std::uint64_t>(element, (1u << 20) / element * element);
      buffer.resize(static_cast<std::size_t>(std::min<std::uint64_t>(chunk, t.info.nbytes)));
      for (std::uint64_t offset = 0; offset < t.info.nbytes; offset += chunk) {
        const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, t.info.nbytes - offset));
        const std::span<std::byte> part(buffer.data(), n);
        read_all(fd_, part.data(), n, t.file_offset + offset);
        const at::Tensor g = t.reference.view({-1}).narrow(0, static_cast<std::int64_t>(offset) / element,
                                                           static_cast<std::int64_t>(n) / element);
        at::Tensor x = flat_bytes(part, t.info.dtype, element);
        if (!carries_update(t.reference)) x.copy_(g);
        else if (factor < 1.0) x.sub_(g).mul_(factor).add_(g);  // g + f·(x − g)
        fold_->chunk_received(offset, part);
      }
      fold_->end_tensor();
    }
    fold_->commit();
    ++owner_.whole_;
    if (norm <= clip) ++owner_.at_or_below_;
  }

  void abandon(const std::string& reason) override { fold_->abandon(reason); }

 private:
  struct Kept {
    TensorInfo info;
    std::uint64_t file_offset = 0;
    at::Tensor reference;
    std::uint64_t received = 0;
  };

  PrivateAverage& owner_;
  std::unique_ptr<ResultSink> fold_;
  int fd_;
  std::vector<Kept> tensors_;
  std::uint64_t file_size_ = 0;
  double squares_ = 0;
  std::uint32_t tensors_announced_ = 0;
  std::uint64_t bytes_announced_ = 0;
};

PrivateAverage::PrivateAverage(Options options) : options_(std::move(options)), noise_(options_.seed) {}

std::unique_ptr<ResultSink> PrivateAverage::wrap(const ResultInfo&, std::unique_ptr<ResultSink> fold) {
  if (!options_.clip) return fold;
  return std::make_unique<ClippingSink>(*this, std::move(fold));
}

void PrivateAverage::fill_noise(at::Tensor& sum) { noise_.add(sum, options_.noise_stddev * denominator()); }

}  // namespace cohort::privacy
