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

TEST_CASE("checkpoint writer: the model saved last, unchanged, under another name is a hard link, a changed one is written") {
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

TEST_CASE("checkpoint writer: a step runs after the writes queued before it, and its failure is the next flush's") {
  cohort::test::TempDir dir;
  auto log = std::make_shared<spdlog::logger>("test");
  CheckpointWriter writer(log);
  bool saw_file = false;
  writer.write(model(3.0f), dir / "global_model.pt");
  writer.then([&] { saw_file = fs::exists(dir / "global_model.pt") && !fs::exists(dir / "global_model.pt.partial"); });
  writer.flush();
  CHECK(saw_file);
  writer.then([] { throw std::runtime_error("disk full"); });
  CHECK_THROWS_WITH(writer.flush(), "disk full");
  writer.flush();  // reported once
}

TEST_CASE("checkpoint writer: link_checkpoint makes a second name for the same file, atomically") {
  cohort::test::TempDir dir;
  cohort::save_checkpoint(model(2.0f), dir / "a.pt");
  cohort::server::link_checkpoint(dir / "a.pt", dir / "state" / "b.pt");
  CHECK(inode(dir / "a.pt") == inode(dir / "state" / "b.pt"));
  CHECK_FALSE(fs::exists(dir / "state" / "b.pt.partial"));
}
