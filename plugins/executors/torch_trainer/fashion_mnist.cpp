#include "fashion_mnist.hpp"

#include <cohort/error.hpp>
#include <ATen/ops/empty.h>

#include <zlib.h>

#include <array>
#include <memory>
#include <stdexcept>
#include <vector>

namespace cohort::trainer {

at::Tensor read_idx(const std::filesystem::path& file) {
  std::unique_ptr<gzFile_s, int (*)(gzFile)> in(gzopen(file.c_str(), "rb"), &gzclose);
  if (!in) throw IoError(file, "cannot open (is dataset-fashion-mnist installed?)");
  auto fail = [&](const std::string& what) { throw IoError(file, what); };
  auto read_u32 = [&]() {
    std::array<unsigned char, 4> b{};
    if (gzread(in.get(), b.data(), 4) != 4) fail("truncated header");
    return (std::uint32_t(b[0]) << 24) | (std::uint32_t(b[1]) << 16) | (std::uint32_t(b[2]) << 8) | b[3];
  };
  const std::uint32_t magic = read_u32();
  if ((magic >> 8) != 0x08) fail("not an unsigned-byte IDX file");
  const std::uint32_t dims = magic & 0xff;
  if (dims == 0 || dims > 4) fail("unexpected number of dimensions");
  std::vector<std::int64_t> shape;
  std::int64_t total = 1;
  for (std::uint32_t i = 0; i < dims; ++i) {
    shape.push_back(read_u32());
    total *= shape.back();
  }
  at::Tensor data = at::empty(shape, at::TensorOptions().dtype(at::kByte));
  auto* p = static_cast<unsigned char*>(data.data_ptr());
  std::int64_t done = 0;
  while (done < total) {
    const int n = gzread(in.get(), p + done, static_cast<unsigned>(std::min<std::int64_t>(total - done, 1 << 30)));
    if (n <= 0) fail("truncated payload");
    done += n;
  }
  return data;
}

FashionMnist load_fashion_mnist(const std::filesystem::path& dir) {
  auto split = [&](const std::string& prefix) {
    Split s;
    at::Tensor images = read_idx(dir / (prefix + "-images-idx3-ubyte.gz"));
    at::Tensor labels = read_idx(dir / (prefix + "-labels-idx1-ubyte.gz"));
    if (images.dim() != 3 || images.size(1) != 28 || images.size(2) != 28 || labels.dim() != 1 ||
        labels.size(0) != images.size(0))
      throw IoError(dir, "the Fashion-MNIST " + prefix + " files in it have unexpected shapes");
    s.images = images.unsqueeze(1);
    s.labels = labels.to(at::kLong);
    return s;
  };
  return FashionMnist{split("train"), split("t10k")};
}

}  // namespace cohort::trainer
