#pragma once
// Fashion-MNIST from Debian's dataset-fashion-mnist package: gzip-compressed IDX files.

#include <ATen/core/Tensor.h>

#include <filesystem>
#include <string>

namespace cohort::trainer {

/// One split: images [N, 1, 28, 28] uint8 and labels [N] int64.
struct Split {
  at::Tensor images;
  at::Tensor labels;
};

struct FashionMnist {
  Split train;
  Split test;
};

/// Reads `<dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz`. Throws
/// std::runtime_error naming the file and what is wrong with it.
FashionMnist load_fashion_mnist(const std::filesystem::path& dir);

/// Reads one IDX file (gzip or plain): its dimensions and uint8 payload as a tensor.
at::Tensor read_idx(const std::filesystem::path& file);

}  // namespace cohort::trainer
