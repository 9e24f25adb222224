#include "support/temp_dir.hpp"

#include "server/checkpoint_writer.hpp"

#include <ATen/ops/equal.h>
#include <ATen/ops/full.h>
#include <spdlog/logger.h>

#include <doctest/doctest.h>

#include <sys/stat.h>

using cohort::Model;
using cohort::server::CheckpointWriter;
namespace fs = std::filesystem;

namespace {

Model model(float value) {
  Model m;
  m.tensors.push_back({"w", at::full({1000}, value)});
  m.tensors.push_back({"b", at::full({10}, value)});
  return m;
}

ino_t inode(const fs::path& file) {
  struct stat s {};
  ::stat(file.c_str(), &s);
  return s.st_ino;
}

}  // namespace

TEST_CASE("checkpoint writer: the model saved last, unchanged, under another name is a hard link; a changed one is written") {
  cohort::test::TempDir dir;
  auto log = std::make_shared<spdlog::logger>("test");
  CheckpointWriter writer(log);
  Model global = model(1.0f);
  writer.write(global, dir / "global_model.pt");
  writer.write(global, dir / "best_model.pt");
  writer.flush();
  CHECK(inode(dir / "global_model.pt") == inode(dir / "best_model.pt"));

  // Changed in place, as an optimizer does through .data(): written, not linked.
  global.tensors[0].tensor.data().add_(1.0f);
  writer.write(global, dir / "best_model.pt");
  writer.flush();
  CHECK(inode(dir / "global_model.pt") != inode(dir / "best_model.pt"));
  CHECK(cohort::load_checkpoint(dir / "best_model.pt").tensors[0].tensor[0].item<float>() == 2.0f);
  CHECK(cohort::load_checkpoint(dir / "global_model.pt").tensors[0].tensor[0].item<float>() == 1.0f);

  // The same file again: always written (its model may have changed in place).
  global.tensors[0].tensor.data().add_(1.0f);
  writer.write(global, dir / "global_model.pt");
  writer.flush();
  CHECK(cohort::load_checkpoint(dir / "global_model.pt").tensors[0].tensor[0].item<float>() == 3.0f);
  // The old global's link (best) keeps its own bytes: files are replaced, never rewritten.
  CHECK(cohort::load_checkpoint(dir / "best_model.pt").tensors[0].tensor[0].item<float>() == 2.0f);
}

TEST_CASE("checkpoint writer: many writes end on disk in order, the last model last") {
  cohort::test::TempDir dir;
  {
    CheckpointWriter writer(std::make_shared<spdlog::logger>("test"));
    for (int i = 0; i < 20; ++i) writer.write(model(static_cast<float>(i)), dir / "global_model.pt");
  }  // the destructor flushes
  CHECK(at::equal(cohort::load_checkpoint(dir / "global_model.pt").tensors[1].tensor, model(19.0f).tensors[1].tensor));
  CHECK_FALSE(fs::exists(dir / "global_model.pt.partial"));
}

TEST_CASE("checkpoint writer: a write that fails is reported by flush") {
  cohort::test::TempDir dir;
  CheckpointWriter writer(std::make_shared<spdlog::logger>("test"));
  cohort::test::write_text(dir / "file", "x");
  writer.write(model(1.0f), dir / "file" / "global_model.pt");
  CHECK_THROWS(writer.flush());
  CHECK_NOTHROW(writer.flush());  // reported once
}
