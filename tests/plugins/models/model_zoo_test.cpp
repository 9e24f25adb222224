#include "model_zoo.hpp"

#include "config/toml_file.hpp"

#include <ATen/ops/equal.h>
#include <ATen/ops/zeros.h>
#include <torch/nn/module.h>

#include <doctest/doctest.h>

using namespace cohort::models;

namespace {

cohort::Args model_args(const std::string& text) {
  return cohort::config::parse_toml("[model]\n" + text, "m.toml").table("model");
}

}  // namespace

TEST_CASE("model zoo: the MLP and the CNN map a batch of images to 10 logits") {
  for (const char* arch : {"arch = 'mlp'", "arch = 'cnn'"}) {
    auto network = make_network(parse_spec(model_args(arch)));
    auto logits = network->forward(at::zeros({5, 1, 28, 28}));
    CHECK((logits.sizes() == at::IntArrayRef({5, 10})));
  }
}

TEST_CASE("model zoo: initial models are seeded and named like PyTorch's state_dict") {
  auto a = initial_model(parse_spec(model_args("arch = 'cnn'\nseed = 3")));
  auto b = initial_model(parse_spec(model_args("arch = 'cnn'\nseed = 3")));
  auto c = initial_model(parse_spec(model_args("arch = 'cnn'\nseed = 4")));
  REQUIRE(a.tensors.size() == 6);
  CHECK(a.tensors[0].name == "conv1.weight");
  CHECK(a.tensors[5].name == "fc.bias");
  CHECK(at::equal(a.tensors[0].tensor, b.tensors[0].tensor));
  CHECK_FALSE(at::equal(a.tensors[0].tensor, c.tensors[0].tensor));
}

TEST_CASE("model zoo: a synthetic model has the requested size in equal tensors") {
  auto m = initial_model(parse_spec(model_args("arch = 'synthetic'\nsize_mb = 8.0\ntensors = 4\ninit = 2.0")));
  CHECK(m.tensors.size() == 4);
  CHECK(m.byte_size() == 8u * 1024 * 1024);
  CHECK(m.tensors[3].tensor[0].item<float>() == 2.0f);
}

TEST_CASE("model zoo: binding trains the received tensors in place") {
  auto spec = parse_spec(model_args("arch = 'mlp'\nhidden = 8"));
  auto received = initial_model(spec);
  auto network = make_network(spec);
  bind(*network, received);
  CHECK(state_of(*network).tensors[0].tensor.data_ptr() == received.tensors[0].tensor.data_ptr());
}

TEST_CASE("model zoo: a received model that does not fit is refused by name") {
  auto network = make_network(parse_spec(model_args("arch = 'mlp'\nhidden = 8")));
  auto other = initial_model(parse_spec(model_args("arch = 'mlp'\nhidden = 16")));
  CHECK_THROWS_WITH(bind(*network, other), "the received tensor 'fc1.weight' does not fit the network");
  cohort::Model empty;
  CHECK_THROWS_WITH(bind(*network, empty), "the received model has no tensor 'fc1.weight'");
}

TEST_CASE("model zoo: unknown keys and bad sizes in [model] are errors with positions") {
  CHECK_THROWS_WITH(parse_spec(model_args("arch = 'mlp'\nhiden = 3")),
                    "m.toml:3:1: unknown key 'hiden' in [model]; did you mean 'hidden'?");
  CHECK_THROWS_WITH(parse_spec(model_args("arch = 'cnn'\nchannels = [16]")),
                    "m.toml:3:12: model.channels: expected two channel counts, e.g. [16, 32]");
}
