#pragma once
// Tensor memory shared with a script: a memfd that the client process and the script both
// map. A received model is placed in one (the network writes its bytes there once), the
// script's tensors view it, and its result is written back into it.

#include <cohort/stream.hpp>

#include <ATen/core/Tensor.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace cohort::python {

/// Owns one file descriptor.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(other.release()) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  ~UniqueFd();
  int get() const { return fd_; }
  int release();
  explicit operator bool() const { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

/// Where each tensor starts in a region: aligned for any dtype and for SIMD loads.
inline constexpr std::uint64_t kTensorAlignment = 64;

class SharedRegion : public std::enable_shared_from_this<SharedRegion> {
 public:
  /// A new region of `size` bytes (a memfd named `name`, mapped read-write). Throws
  /// std::system_error.
  static std::shared_ptr<SharedRegion> create(std::uint64_t size, const std::string& name);
  /// The region behind `fd` (one the script made and sent), mapped read-write. Throws
  /// std::system_error.
  static std::shared_ptr<SharedRegion> open(UniqueFd fd);
  SharedRegion(const SharedRegion&) = delete;
  ~SharedRegion();

  int fd() const { return fd_.get(); }
  std::uint64_t size() const { return size_; }
  std::byte* data() const { return data_; }
  /// True when [p, p + n) lies inside the region.
  bool contains(const void* p, std::uint64_t n) const;
  /// The offset of `p` in the region (`p` must lie inside).
  std::uint64_t offset_of(const void* p) const { return static_cast<const std::byte*>(p) - data_; }
  /// A tensor of `dtype` and `shape` over the bytes at `offset`; it keeps the region mapped
  /// while it lives. Throws std::out_of_range when they do not fit.
  at::Tensor view(std::uint64_t offset, c10::ScalarType dtype, const std::vector<std::int64_t>& shape);

 private:
  SharedRegion(UniqueFd fd, std::uint64_t size, std::byte* data) : fd_(std::move(fd)), size_(size), data_(data) {}
  UniqueFd fd_;
  std::uint64_t size_ = 0;
  std::byte* data_ = nullptr;
};

/// Places an incoming model's tensors one after another in a new region, each aligned.
class RegionPlacement final : public TensorPlacement {
 public:
  /// `spare`, a region of an earlier task (model memory reuse), is taken instead of a new
  /// one when it has the size needed and nothing views it any more.
  explicit RegionPlacement(std::string name, std::shared_ptr<SharedRegion> spare = nullptr)
      : name_(std::move(name)), spare_(std::move(spare)) {}
  void reserve(std::uint32_t tensors, std::uint64_t total_bytes) override;
  at::Tensor place(const TensorInfo& info) override;
  /// The region, once reserve() made it.
  std::shared_ptr<SharedRegion> region() const { return region_; }

 private:
  std::string name_;
  std::shared_ptr<SharedRegion> region_;
  std::shared_ptr<SharedRegion> spare_;
  std::uint64_t next_ = 0;
};

/// Bytes a region needs for tensors of `nbytes` each, aligned.
std::uint64_t aligned_size(const std::vector<std::uint64_t>& nbytes);

}  // namespace cohort::python
