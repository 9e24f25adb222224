#include "secagg/secure_sum.hpp"

#include "config/text_file.hpp"

#include <cohort/error.hpp>

#include <ATen/ops/zeros.h>

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <functional>
#include <stdexcept>

namespace cohort::secagg {

namespace {

/// sum[i] = op(sum[i], word i of `data`) for `count` words (the bytes need no alignment).
template <class Op>
void fold_words(std::uint32_t* sum, const std::byte* data, std::size_t count, Op op) {
  for (std::size_t i = 0; i < count; ++i) {
    std::uint32_t w;
    std::memcpy(&w, data + 4 * i, 4);
    sum[i] = op(sum[i], w);
  }
}

}  // namespace

/// One site's upload: checked against the layout, folded, journalled; taken out again
/// unless it commits whole.
class UploadSink final : public ResultSink {
 public:
  UploadSink(SecureSum& sum, std::string site) : sum_(sum), site_(std::move(site)), fd_(config::open_unnamed_file(sum.journal_folder_)) {}
  ~UploadSink() override {
    if (!committed_) undo();
    ::close(fd_);
  }

  void begin_tensor(const TensorInfo& info) override {
    if (tensor_ >= sum_.layout_.size()) fail("sent tensor '" + info.name + "' after its upload's last");
    const UploadTensor& expected = sum_.layout_[tensor_];
    if (info.name != expected.name || info.dtype != at::kInt || info.shape != expected.shape)
      fail("sent tensor '" + info.name + "' where the masked upload has int32 '" + expected.name + "' of its shape");
    received_ = 0;
    open_ = true;
  }

  void chunk_received(std::uint64_t offset, std::span<const std::byte> data) override {
    const std::uint64_t nbytes = static_cast<std::uint64_t>(sum_.layout_[tensor_].numel) * 4;
    if (!open_ || offset != received_ || data.size() % 4 != 0 || offset + data.size() > nbytes)
      fail("sent a chunk outside its masked tensor or out of order");
    journal(data);
    auto& slot = *sum_.slots_[tensor_];
    std::lock_guard lock(slot.mutex);
    fold_words(words(slot) + offset / 4, data.data(), data.size() / 4, std::plus<std::uint32_t>());
    received_ += data.size();
  }

  void end_tensor() override {
    if (!open_ || received_ != static_cast<std::uint64_t>(sum_.layout_[tensor_].numel) * 4) fail("ended a masked tensor early");
    open_ = false;
    ++tensor_;
  }

  void commit() override {
    if (tensor_ != sum_.layout_.size()) fail("ended its masked upload after " + std::to_string(tensor_) + " of " +
                                             std::to_string(sum_.layout_.size()) + " tensors");
    committed_ = true;
    std::lock_guard lock(sum_.mutex_);
    sum_.whole_.insert(site_);
  }

  void abandon(const std::string&) override { undo(); }

 private:
  static std::uint32_t* words(SecureSum::Slot& slot) { return static_cast<std::uint32_t*>(slot.sum.data_ptr()); }

  [[noreturn]] void fail(const std::string& what) {
    undo();
    throw ProtocolError("site '" + site_ + "'", what);
  }

  void journal(std::span<const std::byte> data) {
    for (std::size_t done = 0; done < data.size();) {
      const ssize_t n = ::write(fd_, data.data() + done, data.size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) fail(std::string("cannot journal its upload: ") + std::strerror(errno));
      done += static_cast<std::size_t>(n);
    }
    journalled_ += data.size();
  }

  /// Takes the folded bytes out of the sum again, read back from the journal in order.
  void undo() {
    if (undone_ || committed_) return;
    undone_ = true;
    std::vector<std::byte> buffer(1 << 20);
    std::uint64_t position = 0;
    for (std::size_t t = 0; t < sum_.layout_.size() && position < journalled_; ++t) {
      const std::uint64_t nbytes = static_cast<std::uint64_t>(sum_.layout_[t].numel) * 4;
      const std::uint64_t mine = std::min(nbytes, journalled_ - position);
      auto& slot = *sum_.slots_[t];
      for (std::uint64_t done = 0; done < mine;) {
        const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(buffer.size(), mine - done));
        if (::pread(fd_, buffer.data(), n, static_cast<off_t>(position + done)) != static_cast<ssize_t>(n))
          throw std::runtime_error("cannot read back the journal of site '" + site_ + "': the secure sum is lost");
        std::lock_guard lock(slot.mutex);
        fold_words(words(slot) + done / 4, buffer.data(), n / 4, std::minus<std::uint32_t>());
        done += n;
      }
      position += mine;
    }
  }

  SecureSum& sum_;
  std::string site_;
  int fd_;
  std::size_t tensor_ = 0;
  std::uint64_t received_ = 0;
  std::uint64_t journalled_ = 0;
  bool open_ = false;
  bool committed_ = false;
  bool undone_ = false;
};

SecureSum::SecureSum(std::vector<UploadTensor> layout, std::filesystem::path journal_folder)
    : layout_(std::move(layout)), journal_folder_(std::move(journal_folder)) {
  for (const auto& t : layout_) {
    auto slot = std::make_unique<Slot>();
    slot->sum = at::zeros(t.shape, at::TensorOptions().dtype(at::kInt));
    slots_.push_back(std::move(slot));
  }
}

SecureSum::~SecureSum() = default;

void SecureSum::allow(const std::vector<std::string>& sites) {
  std::lock_guard lock(mutex_);
  allowed_.insert(sites.begin(), sites.end());
}

std::unique_ptr<ResultSink> SecureSum::open(const ResultInfo& info) {
  {
    std::lock_guard lock(mutex_);
    if (!allowed_.count(info.site)) throw ProtocolError("site '" + info.site + "'", "sent a masked upload without sharing its secrets this round");
    if (!opened_.insert(info.site).second) throw ProtocolError("site '" + info.site + "'", "sent a second masked upload this round");
  }
  return std::make_unique<UploadSink>(*this, info.site);
}

std::vector<std::string> SecureSum::whole() const {
  std::lock_guard lock(mutex_);
  return {whole_.begin(), whole_.end()};
}

}  // namespace cohort::secagg
