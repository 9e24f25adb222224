#include <cohort/model.hpp>

#include "support/temp_dir.hpp"

#include <ATen/ops/allclose.h>
#include <ATen/ops/arange.h>
#include <ATen/ops/equal.h>

#include <doctest/doctest.h>

#include <cstdlib>

TEST_CASE("checkpoint: round trip keeps names, order, dtypes and values") {
  cohort::test::TempDir dir;
  cohort::Model m;
  m.tensors.push_back({"b.weight", at::arange(12, at::kFloat).reshape({3, 4})});
  m.tensors.push_back({"a.count", at::arange(3, at::kLong)});
  cohort::save_checkpoint(m, dir / "model.pt");
  CHECK_FALSE(std::filesystem::exists(dir / "model.pt.partial"));
  auto loaded = cohort::load_checkpoint(dir / "model.pt");
  REQUIRE(loaded.tensors.size() == 2);
  CHECK(loaded.tensors[0].name == "b.weight");
  CHECK(loaded.tensors[1].name == "a.count");
  CHECK(at::equal(loaded.tensors[0].tensor, m.tensors[0].tensor));
  CHECK((loaded.tensors[1].tensor.scalar_type() == at::kLong));
}

TEST_CASE("checkpoint: a non-contiguous tensor is saved by value") {
  cohort::test::TempDir dir;
  cohort::Model m;
  m.tensors.push_back({"t", at::arange(6, at::kFloat).reshape({2, 3}).t()});
  cohort::save_checkpoint(m, dir / "m.pt");
  CHECK(at::equal(cohort::load_checkpoint(dir / "m.pt").tensors[0].tensor, m.tensors[0].tensor));
}

TEST_CASE("checkpoint: overwriting replaces the file whole") {
  cohort::test::TempDir dir;
  cohort::Model m;
  m.tensors.push_back({"t", at::arange(4, at::kFloat)});
  cohort::save_checkpoint(m, dir / "m.pt");
  m.tensors[0].tensor.add_(1);
  cohort::save_checkpoint(m, dir / "m.pt");
  CHECK(cohort::load_checkpoint(dir / "m.pt").tensors[0].tensor[0].item<float>() == 1.0f);
}

TEST_CASE("checkpoint: Python's torch.load reads it as a dict of tensors") {
  cohort::test::TempDir dir;
  cohort::Model m;
  m.tensors.push_back({"fc.weight", at::arange(6, at::kFloat).reshape({2, 3})});
  m.tensors.push_back({"fc.bias", at::arange(2, at::kDouble)});
  cohort::save_checkpoint(m, dir / "m.pt");
  const std::string script =
      "import torch, sys\n"
      "d = torch.load(sys.argv[1])\n"
      "assert isinstance(d, dict), type(d)\n"
      "assert list(d) == ['fc.weight', 'fc.bias'], list(d)\n"
      "assert d['fc.weight'].shape == (2, 3) and d['fc.weight'][1, 2].item() == 5.0\n"
      "assert d['fc.bias'].dtype == torch.float64\n";
  cohort::test::write_text(dir / "check.py", script);
  const std::string command = "/usr/bin/python3 " + (dir / "check.py").string() + " " + (dir / "m.pt").string();
  CHECK(std::system(command.c_str()) == 0);
}

TEST_CASE("checkpoint: a file Python wrote is read back") {
  cohort::test::TempDir dir;
  const std::string command = "/usr/bin/python3 -c \"import torch; torch.save({'w': torch.ones(2, 2), 'n': torch.tensor(3)}, '" +
                              (dir / "py.pt").string() + "')\"";
  REQUIRE(std::system(command.c_str()) == 0);
  auto m = cohort::load_checkpoint(dir / "py.pt");
  REQUIRE(m.tensors.size() == 2);
  CHECK(m.find("w")->sum().item<float>() == 4.0f);
}

TEST_CASE("checkpoint: a state_dict Python saved (an OrderedDict with _metadata) is read, in every dtype") {
  cohort::test::TempDir dir;
  const std::string script =
      "import torch\n"
      "class Net(torch.nn.Module):\n"
      "    def __init__(self):\n"
      "        super().__init__()\n"
      "        self.conv = torch.nn.Conv2d(1, 2, 3)\n"
      "        self.bn = torch.nn.BatchNorm2d(2)\n"
      "        self.register_buffer('mask', torch.tensor([True, False, True]))\n"
      "        self.register_buffer('h', torch.arange(4, dtype=torch.float16))\n"
      "        self.register_buffer('bf', torch.arange(4, dtype=torch.bfloat16))\n"
      "        self.register_buffer('d', torch.arange(3, dtype=torch.float64))\n"
      "        self.register_buffer('i8', torch.arange(3, dtype=torch.int8))\n"
      "net = Net()\n"
      "net.bn.num_batches_tracked += 7\n"
      "view = torch.arange(12.).reshape(3, 4)\n"
      "net.register_buffer('t', view.t())  # not contiguous: saved with its strides\n"
      "torch.save(net.state_dict(), '" + (dir / "sd.pt").string() + "')\n";
  cohort::test::write_text(dir / "save.py", script);
  REQUIRE(std::system(("/usr/bin/python3 " + (dir / "save.py").string()).c_str()) == 0);
  const auto m = cohort::load_checkpoint(dir / "sd.pt");
  std::vector<std::string> names;
  for (const auto& t : m.tensors) names.push_back(t.name);
  CHECK(names == std::vector<std::string>{"mask", "h", "bf", "d", "i8", "t", "conv.weight", "conv.bias", "bn.weight",
                                          "bn.bias", "bn.running_mean", "bn.running_var", "bn.num_batches_tracked"});
  CHECK((m.find("bn.num_batches_tracked")->scalar_type() == at::kLong));
  CHECK(m.find("bn.num_batches_tracked")->item<std::int64_t>() == 7);
  CHECK(m.find("bn.num_batches_tracked")->dim() == 0);
  CHECK((m.find("mask")->scalar_type() == at::kBool));
  CHECK_FALSE(m.find("mask")->select(0, 1).item<bool>());
  CHECK((m.find("h")->scalar_type() == at::kHalf));
  CHECK((m.find("bf")->scalar_type() == at::kBFloat16));
  CHECK((m.find("d")->scalar_type() == at::kDouble));
  CHECK((m.find("i8")->scalar_type() == at::kChar));
  CHECK(m.find("h")->sum().item<float>() == 6.0f);
  CHECK(m.find("bf")->sum().item<float>() == 6.0f);
  // The transposed view comes back with the values it had.
  CHECK((m.find("t")->sizes() == at::IntArrayRef{4, 3}));
  CHECK(m.find("t")->select(0, 1).select(0, 2).item<float>() == 9.0f);
}

TEST_CASE("checkpoint: what is not a dict of tensors is named") {
  cohort::test::TempDir dir;
  const std::string command = "/usr/bin/python3 -c \"import torch; torch.save({'model': {'w': torch.ones(2)}, 'epoch': 3}, '" +
                              (dir / "nested.pt").string() + "')\"";
  REQUIRE(std::system(command.c_str()) == 0);
  CHECK_THROWS_WITH(cohort::load_checkpoint(dir / "nested.pt"),
                    doctest::Contains("its entry 'model' is not a tensor (a dict of name -> tensor is expected)"));
}

TEST_CASE("checkpoint: reading garbage says which file") {
  cohort::test::TempDir dir;
  cohort::test::write_text(dir / "bad.pt", "not a zip");
  CHECK_THROWS_WITH_AS(cohort::load_checkpoint(dir / "bad.pt"),
                       doctest::Contains(((dir / "bad.pt").string() + ": not a checkpoint cohort can read").c_str()),
                       std::runtime_error);
}
