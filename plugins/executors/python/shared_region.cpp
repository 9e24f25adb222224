#include "shared_region.hpp"

#include <ATen/ops/from_blob.h>

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <system_error>

namespace cohort::python {

namespace {

std::uint64_t align_up(std::uint64_t n) { return (n + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment; }

[[noreturn]] void fail(const std::string& what) { throw std::system_error(errno, std::generic_category(), what); }

std::byte* map(int fd, std::uint64_t size) {
  if (size == 0) return nullptr;
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) fail("cannot map " + std::to_string(size) + " bytes of shared memory");
  return static_cast<std::byte*>(p);
}

}  // namespace

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = other.release();
  }
  return *this;
}

UniqueFd::~UniqueFd() {
  if (fd_ >= 0) ::close(fd_);
}

int UniqueFd::release() {
  const int fd = fd_;
  fd_ = -1;
  return fd;
}

std::shared_ptr<SharedRegion> SharedRegion::create(std::uint64_t size, const std::string& name) {
  UniqueFd fd(::memfd_create(name.c_str(), MFD_CLOEXEC));
  if (!fd) fail("cannot create shared memory '" + name + "'");
  if (::ftruncate(fd.get(), static_cast<off_t>(size)) != 0) {
    fail("cannot size shared memory '" + name + "' to " + std::to_string(size) + " bytes");
  }
  std::byte* data = map(fd.get(), size);
  return std::shared_ptr<SharedRegion>(new SharedRegion(std::move(fd), size, data));
}

std::shared_ptr<SharedRegion> SharedRegion::open(UniqueFd fd) {
  struct stat info {};
  if (::fstat(fd.get(), &info) != 0) fail("cannot read the size of a shared-memory region");
  const auto size = static_cast<std::uint64_t>(info.st_size);
  std::byte* data = size ? map(fd.get(), size) : nullptr;
  return std::shared_ptr<SharedRegion>(new SharedRegion(std::move(fd), size, data));
}

SharedRegion::~SharedRegion() {
  if (data_) ::munmap(data_, size_);
}

bool SharedRegion::contains(const void* p, std::uint64_t n) const {
  const auto* b = static_cast<const std::byte*>(p);
  return b >= data_ && n <= size_ && static_cast<std::uint64_t>(b - data_) <= size_ - n;
}

at::Tensor SharedRegion::view(std::uint64_t offset, c10::ScalarType dtype, const std::vector<std::int64_t>& shape) {
  std::uint64_t count = 1;
  for (auto d : shape) {
    if (d < 0) throw std::out_of_range("a negative dimension");
    count *= static_cast<std::uint64_t>(d);
  }
  const std::uint64_t nbytes = count * c10::elementSize(dtype);
  if (offset > size_ || nbytes > size_ - offset) {
    throw std::out_of_range("bytes [" + std::to_string(offset) + ", " + std::to_string(offset + nbytes) +
                            ") are outside the region of " + std::to_string(size_) + " bytes");
  }
  auto keep = shared_from_this();
  return at::from_blob(data_ + offset, shape, [keep](void*) {}, at::TensorOptions().dtype(dtype));
}

void RegionPlacement::reserve(std::uint32_t tensors, std::uint64_t total_bytes) {
  const std::uint64_t size = total_bytes + std::uint64_t{tensors} * kTensorAlignment;
  if (spare_ && spare_->size() == size && spare_.use_count() == 1) region_ = std::move(spare_);
  else region_ = SharedRegion::create(size, name_);
  spare_.reset();
  next_ = 0;
}

at::Tensor RegionPlacement::place(const TensorInfo& info) {
  if (!region_) throw std::logic_error("RegionPlacement::place before reserve");
  at::Tensor t = region_->view(next_, info.dtype, info.shape);
  next_ = align_up(next_ + info.nbytes);
  return t;
}

std::uint64_t aligned_size(const std::vector<std::uint64_t>& nbytes) {
  std::uint64_t total = 0;
  for (auto n : nbytes) total = align_up(total + n);
  return total;
}

}  // namespace cohort::python
