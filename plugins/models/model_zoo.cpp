#include "model_zoo.hpp"

#include <cohort/error.hpp>
#include <torch/nn/module.h>
#include <torch/nn/modules/container/sequential.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/pooling.h>
#include <torch/nn/functional/activation.h>
#include <torch/nn/functional/pooling.h>
#include <torch/utils.h>

#include <ATen/ops/full.h>

#include <cmath>
#include <stdexcept>

namespace cohort::models {

ModelSpec parse_spec(const Args& model, std::int64_t run_seed) {
  ModelSpec spec;
  spec.where = model.where();
  std::vector<std::string> given;
  for (const char* key : {"arch", "initial", "python", "from_site"})
    if (model.has(key)) given.push_back(key);
  if (given.size() > 1)
    model.fail(given[1], "give one of arch, initial, python or from_site; [model] has " + given[0] + " and " + given[1]);
  if (model.has("initial")) {
    spec.source = ModelSpec::Source::file;
    spec.file = model.file("initial");
  } else if (model.has("python")) {
    spec.source = ModelSpec::Source::python;
    const std::string named = model.required<std::string>("python");
    const auto colon = named.rfind(':');
    if (colon == std::string::npos || colon == 0 || colon + 1 == named.size())
      model.fail("python", "expected \"FILE.py:CLASS\" (the module file and the class in it), found \"" + named + "\"");
    spec.file = model.file("python", std::string_view(named).substr(0, colon), Args::with_its_folder);
    spec.python_class = named.substr(colon + 1);
    spec.python_kwargs = model.json_table("kwargs");
    spec.interpreter = model.get<std::string>("interpreter", spec.interpreter);
  } else if (model.has("from_site")) {
    if (!model.required<bool>("from_site"))
      model.fail("from_site", "false says nothing: leave it out, or give arch, initial or python");
    spec.source = ModelSpec::Source::site;
  }
  if (spec.source != ModelSpec::Source::zoo) {
    model.finish();
    return spec;
  }
  spec.arch = model.get<std::string>("arch", "mlp");
  spec.seed = model.get<std::int64_t>("seed", 0) + run_seed * 1000003;
  if (spec.arch == "mlp") {
    spec.hidden = model.get<std::int64_t>("hidden", 256, between(1, 1 << 16));
  } else if (spec.arch == "cnn") {
    spec.channels = model.get<std::vector<std::int64_t>>("channels", {16, 32}, between(1, 1024));
    if (spec.channels.size() != 2) model.fail("channels", "expected two channel counts, e.g. [16, 32]");
  } else if (spec.arch == "synthetic") {
    spec.size_mb = model.get<double>("size_mb", 1.0, between(1e-6, 1 << 20));
    spec.tensors = model.get<std::int64_t>("tensors", 4, between(1, 1 << 20));
    spec.init = model.get<double>("init", 0.0);
  } else {
    model.fail("arch", "unknown architecture '" + spec.arch + "': expected mlp, cnn or synthetic");
  }
  model.finish();
  return spec;
}

namespace {

class Mlp final : public Network {
 public:
  explicit Mlp(std::int64_t hidden) {
    fc1_ = module_.register_module("fc1", torch::nn::Linear(28 * 28, hidden));
    fc2_ = module_.register_module("fc2", torch::nn::Linear(hidden, 10));
  }
  at::Tensor forward(const at::Tensor& images) override {
    auto x = images.reshape({images.size(0), 28 * 28});
    return fc2_->forward(torch::nn::functional::relu(fc1_->forward(x)));
  }
  torch::nn::Module& module() override { return module_; }

 private:
  torch::nn::Module module_;
  torch::nn::Linear fc1_{nullptr}, fc2_{nullptr};
};

class Cnn final : public Network {
 public:
  Cnn(std::int64_t c1, std::int64_t c2) {
    conv1_ = module_.register_module("conv1", torch::nn::Conv2d(torch::nn::Conv2dOptions(1, c1, 5).padding(2)));
    conv2_ = module_.register_module("conv2", torch::nn::Conv2d(torch::nn::Conv2dOptions(c1, c2, 5).padding(2)));
    fc_ = module_.register_module("fc", torch::nn::Linear(c2 * 7 * 7, 10));
  }
  at::Tensor forward(const at::Tensor& images) override {
    namespace F = torch::nn::functional;
    auto x = F::max_pool2d(F::relu(conv1_->forward(images)), F::MaxPool2dFuncOptions(2));
    x = F::max_pool2d(F::relu(conv2_->forward(x)), F::MaxPool2dFuncOptions(2));
    return fc_->forward(x.flatten(1));
  }
  torch::nn::Module& module() override { return module_; }

 private:
  torch::nn::Module module_;
  torch::nn::Conv2d conv1_{nullptr}, conv2_{nullptr};
  torch::nn::Linear fc_{nullptr};
};

}  // namespace

std::unique_ptr<Network> make_network(const ModelSpec& spec) {
  if (spec.source != ModelSpec::Source::zoo)
    throw std::invalid_argument("[model] names no zoo architecture: there is no network to build");
  torch::manual_seed(static_cast<std::uint64_t>(spec.seed));
  if (spec.arch == "mlp") return std::make_unique<Mlp>(spec.hidden);
  if (spec.arch == "cnn") return std::make_unique<Cnn>(spec.channels[0], spec.channels[1]);
  throw std::invalid_argument("architecture '" + spec.arch + "' is not a trainable network");
}

Model initial_model(const ModelSpec& spec) {
  if (spec.source != ModelSpec::Source::zoo)
    throw std::logic_error("models::initial_model: [model] names no zoo architecture");
  if (spec.arch != "synthetic") {
    auto network = make_network(spec);
    Model model = state_of(*network);
    // Detach from autograd: the global model is data, not a leaf of a graph.
    for (auto& t : model.tensors) t.tensor = t.tensor.detach();
    return model;
  }
  Model model;
  const std::int64_t total_bytes = static_cast<std::int64_t>(std::llround(spec.size_mb * 1024 * 1024));
  const std::int64_t elements = std::max<std::int64_t>(1, total_bytes / 4 / spec.tensors);
  for (std::int64_t i = 0; i < spec.tensors; ++i) {
    model.tensors.push_back({"layer" + std::to_string(i) + ".weight",
                             at::full({elements}, spec.init, at::TensorOptions().dtype(at::kFloat))});
  }
  return model;
}

void bind(Network& network, const Model& model) {
  torch::NoGradGuard no_grad;
  auto assign = [&](const std::string& name, at::Tensor& slot) {
    const at::Tensor* incoming = model.find(name);
    if (!incoming) throw ProtocolError("the received model has no tensor '" + name + "'");
    if (incoming->sizes() != slot.sizes() || incoming->scalar_type() != slot.scalar_type())
      throw ProtocolError("the received tensor '" + name + "' does not fit the network");
    slot.set_data(*incoming);
  };
  for (auto& p : network.module().named_parameters()) assign(p.key(), p.value());
  for (auto& b : network.module().named_buffers()) assign(b.key(), b.value());
}

Model state_of(Network& network) {
  Model model;
  for (const auto& p : network.module().named_parameters()) model.tensors.push_back({p.key(), p.value()});
  for (const auto& b : network.module().named_buffers()) model.tensors.push_back({b.key(), b.value()});
  return model;
}

}  // namespace cohort::models
