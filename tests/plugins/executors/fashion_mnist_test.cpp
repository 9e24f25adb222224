#include "fashion_mnist.hpp"

#include "support/temp_dir.hpp"

#include <ATen/ops/max.h>

#include <doctest/doctest.h>

TEST_CASE("fashion-mnist: Debian's files are read whole") {
  auto data = cohort::trainer::load_fashion_mnist("/usr/share/datasets/fashion-mnist");
  CHECK((data.train.images.sizes() == at::IntArrayRef({60000, 1, 28, 28})));
  CHECK((data.test.images.sizes() == at::IntArrayRef({10000, 1, 28, 28})));
  CHECK(data.train.labels.max().item<std::int64_t>() == 9);
  CHECK(data.train.images.max().item<std::uint8_t>() == 255);
}

TEST_CASE("fashion-mnist: a missing folder names the file") {
  CHECK_THROWS_WITH(cohort::trainer::load_fashion_mnist("/nonexistent"),
                    "/nonexistent/train-images-idx3-ubyte.gz: cannot open (is dataset-fashion-mnist installed?)");
}

TEST_CASE("fashion-mnist: a file that is not IDX is refused") {
  cohort::test::TempDir dir;
  cohort::test::write_text(dir / "x.gz", "hello world, not idx");
  CHECK_THROWS_WITH(cohort::trainer::read_idx(dir / "x.gz"), doctest::Contains("not an unsigned-byte IDX file"));
}
