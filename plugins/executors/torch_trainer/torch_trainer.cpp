// torch-trainer: trains a model-zoo network on the site's Fashion-MNIST partition with SGD.
//
// A "train" task evaluates the received (global) model on the site's share of the test
// set, trains it for `epochs` local epochs, and returns the trained weights with
// num_steps (batches) and metrics: loss (mean training loss), accuracy and test_loss (of
// the received model), examples (training samples). A "validate" task only evaluates.
// The received tensors are trained in place: no copy of the model is made.
#include <cohort/metrics.hpp>
#include <cohort/plugin.hpp>

#include "fashion_mnist.hpp"
#include "model_zoo.hpp"
#include "partition.hpp"

#include <ATen/Parallel.h>
#include <torch/nn/functional/loss.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>
#include <spdlog/logger.h>

#include <ATen/ops/from_blob.h>
#include <ATen/ops/randperm.h>
#include <ATen/ops/tensor.h>

#include <mutex>

namespace {

using cohort::trainer::PartitionMode;

struct TrainerConfig {
  std::int64_t epochs = 1;
  std::int64_t batch_size = 64;
  double lr = 0.01;
  double momentum = 0.9;
  PartitionMode partition = PartitionMode::iid;
  double alpha = 0.5;
  /// Seeds the data partition (with `seed` alone) and the order of training samples (with
  /// the run's seed, `[job] seed`, mixed in).
  std::int64_t seed = 0;
  std::int64_t run_seed = 0;
  std::string data_dir = "/usr/share/datasets/fashion-mnist";
  std::int64_t max_train_samples = 0;
  std::int64_t max_test_samples = 0;
  std::int64_t threads = 1;
};

// The dataset is read once per process and shared by the sites it hosts (55 MB of
// uint8); each task takes its site's rows from it and drops them afterwards.
const cohort::trainer::FashionMnist& dataset(const std::string& dir) {
  static std::mutex mutex;
  static std::map<std::string, std::unique_ptr<cohort::trainer::FashionMnist>> cache;
  std::lock_guard lock(mutex);
  auto& slot = cache[dir];
  if (!slot) slot = std::make_unique<cohort::trainer::FashionMnist>(cohort::trainer::load_fashion_mnist(dir));
  return *slot;
}

at::Tensor normalise(const at::Tensor& images) {
  // Fashion-MNIST's mean and standard deviation of pixel values in [0, 1].
  return images.to(at::kFloat).div_(255.0).sub_(0.2860).div_(0.3530);
}

class TorchTrainer final : public cohort::Executor {
 public:
  TorchTrainer(TrainerConfig config, cohort::models::ModelSpec spec)
      : config_(std::move(config)), spec_(std::move(spec)) {}

  cohort::Model execute(cohort::Task task, cohort::ExecutorContext& ctx) override {
    at::set_num_threads(static_cast<int>(config_.threads));
    const auto& data = dataset(config_.data_dir);
    auto network = cohort::models::make_network(spec_);
    cohort::models::bind(*network, task.model);
    task.model = {};  // the network now holds the received tensors

    cohort::Model result;
    result.round = task.round;
    const auto test = site_rows(data.test, ctx, config_.max_test_samples, 1);
    const auto [test_loss, accuracy] = evaluate(*network, test);
    result.metrics[std::string(cohort::metric::accuracy)] = accuracy;
    result.metrics[std::string(cohort::metric::test_loss)] = test_loss;
    result.metrics[std::string(cohort::metric::test_examples)] = static_cast<double>(test.labels.size(0));
    if (task.name == "validate") return result;

    const auto train = site_rows(data.train, ctx, config_.max_train_samples, 0);
    auto [loss, steps] = train_epochs(*network, train, task.round, ctx);
    result.metrics[std::string(cohort::metric::loss)] = loss;
    result.metrics[std::string(cohort::metric::examples)] = static_cast<double>(train.labels.size(0));
    result.num_steps = steps;
    result.tensors = cohort::models::state_of(*network).tensors;
    for (auto& t : result.tensors) t.tensor = t.tensor.detach();
    ctx.log().info("round {}: trained on {} samples, {} steps, loss {:.4f}, received model accuracy {:.4f}",
                   task.round, train.labels.size(0), steps, loss, accuracy);
    return result;
  }

 private:
  cohort::trainer::Split site_rows(const cohort::trainer::Split& split, cohort::ExecutorContext& ctx,
                                   std::int64_t max_samples, std::uint64_t salt) const {
    const auto* label_data = split.labels.data_ptr<std::int64_t>();
    std::vector<std::int64_t> labels(label_data, label_data + split.labels.size(0));
    auto rows = cohort::trainer::partition(labels, 10, ctx.num_sites(), ctx.site_index(),
                                           salt == 0 ? config_.partition : PartitionMode::iid,
                                           config_.alpha, static_cast<std::uint64_t>(config_.seed) * 2 + salt);
    if (max_samples > 0 && static_cast<std::int64_t>(rows.size()) > max_samples) rows.resize(max_samples);
    at::Tensor index = at::tensor(rows, at::TensorOptions().dtype(at::kLong));
    return {split.images.index_select(0, index), split.labels.index_select(0, index)};
  }

  std::pair<double, double> evaluate(cohort::models::Network& network, const cohort::trainer::Split& test) {
    torch::NoGradGuard no_grad;
    network.module().eval();
    double loss_sum = 0;
    std::int64_t correct = 0;
    const std::int64_t n = test.labels.size(0);
    for (std::int64_t begin = 0; begin < n; begin += 1000) {
      const std::int64_t count = std::min<std::int64_t>(1000, n - begin);
      auto logits = network.forward(normalise(test.images.narrow(0, begin, count)));
      auto labels = test.labels.narrow(0, begin, count);
      loss_sum += torch::nn::functional::cross_entropy(
                      logits, labels, torch::nn::functional::CrossEntropyFuncOptions().reduction(torch::kSum))
                      .item<double>();
      correct += logits.argmax(1).eq(labels).sum().item<std::int64_t>();
    }
    return {n ? loss_sum / n : 0.0, n ? static_cast<double>(correct) / n : 0.0};
  }

  std::pair<double, std::int64_t> train_epochs(cohort::models::Network& network, const cohort::trainer::Split& train,
                                               std::int64_t round, cohort::ExecutorContext& ctx) {
    network.module().train();
    torch::optim::SGD optimizer(network.module().parameters(),
                                torch::optim::SGDOptions(config_.lr).momentum(config_.momentum));
    const std::int64_t n = train.labels.size(0);
    double loss_sum = 0;
    std::int64_t steps = 0;
    at::Generator generator = at::detail::createCPUGenerator(
        static_cast<std::uint64_t>((config_.seed + config_.run_seed * 7919) * 1000003 + round * 131 + ctx.site_index()));
    for (std::int64_t epoch = 0; epoch < config_.epochs && !ctx.abort_requested(); ++epoch) {
      at::Tensor order = at::randperm(n, generator, at::TensorOptions().dtype(at::kLong));
      for (std::int64_t begin = 0; begin < n && !ctx.abort_requested(); begin += config_.batch_size) {
        const std::int64_t count = std::min(config_.batch_size, n - begin);
        at::Tensor batch = order.narrow(0, begin, count);
        auto images = normalise(train.images.index_select(0, batch));
        auto labels = train.labels.index_select(0, batch);
        optimizer.zero_grad();
        auto loss = torch::nn::functional::cross_entropy(network.forward(images), labels);
        loss.backward();
        optimizer.step();
        loss_sum += loss.item<double>();
        ++steps;
      }
    }
    return {steps ? loss_sum / steps : 0.0, steps};
  }

  TrainerConfig config_;
  cohort::models::ModelSpec spec_;
};

std::unique_ptr<cohort::Executor> make(const cohort::PluginConfig& config) {
  const cohort::Args& args = config.args;
  TrainerConfig c;
  c.epochs = args.get<std::int64_t>("epochs", 1, cohort::between(1, 1000));
  c.batch_size = args.get<std::int64_t>("batch_size", 64, cohort::between(1, 65536));
  c.lr = args.get<double>("lr", 0.01, cohort::between(0, 100));
  c.momentum = args.get<double>("momentum", 0.9, cohort::between(0, 1));
  const auto mode = args.get<std::string>("partition", "iid");
  if (mode == "iid") c.partition = PartitionMode::iid;
  else if (mode == "dirichlet") c.partition = PartitionMode::dirichlet;
  else args.fail("partition", "expected \"iid\" or \"dirichlet\", found \"" + mode + "\"");
  c.alpha = args.get<double>("alpha", 0.5, cohort::between(1e-3, 1e6));
  c.seed = args.get<std::int64_t>("seed", 0, cohort::at_least(0));
  c.run_seed = config.job.seed;
  c.data_dir = args.get<std::string>("data_dir", c.data_dir);
  c.max_train_samples = args.get<std::int64_t>("max_train_samples", 0, cohort::at_least(0));
  c.max_test_samples = args.get<std::int64_t>("max_test_samples", 0, cohort::at_least(0));
  c.threads = args.get<std::int64_t>("threads", 1, cohort::between(1, 256));
  args.finish();
  auto spec = cohort::models::parse_spec(config.model);
  if (spec.source != cohort::models::ModelSpec::Source::zoo)
    throw cohort::ConfigError(spec.where, "[model]: torch-trainer trains the model zoo's networks (arch = \"mlp\" | "
                                          "\"cnn\"); train a model of your own with the python executor");
  if (spec.arch == "synthetic")
    config.model.fail("arch", "torch-trainer trains mlp or cnn networks, not the synthetic model");
  return std::make_unique<TorchTrainer>(std::move(c), std::move(spec));
}

}  // namespace

COHORT_PLUGIN(cohort::executor_plugin("torch-trainer", "1.0.0",
                                      "Trains a model-zoo network on Fashion-MNIST with SGD (libtorch)",
                                      &make))
