#pragma once
// FedOpt's server optimizer: treats (global − average) as the gradient of the global
// parameters and takes one optimizer step per round (Reddi et al., "Adaptive Federated
// Optimization"). SGD (with momentum), Adam and Adagrad are libtorch's; Yogi is not in
// libtorch and is written here. Buffers (BatchNorm statistics, counters, any non-float
// tensor) are not parameters: they take the average as it is.

#include <cohort/args.hpp>
#include <cohort/controller.hpp>
#include <cohort/model.hpp>

#include <memory>
#include <optional>
#include <regex>
#include <string>
#include <vector>

namespace torch::optim {
class Optimizer;
}

namespace cohort::fedopt {

enum class OptimizerKind { sgd, adam, adagrad, yogi };
enum class SchedulerKind { none, step, cosine };

struct OptimizerConfig {
  OptimizerKind kind = OptimizerKind::sgd;
  double lr = 1.0;
  double momentum = 0.6;     ///< SGD
  double beta1 = 0.9;        ///< Adam, Yogi
  double beta2 = 0.99;       ///< Adam, Yogi
  double eps = 1e-3;         ///< Adam, Adagrad, Yogi (the paper's tau)
  double initial_accumulator = 0;  ///< Adagrad's sum and Yogi's v start here
  double weight_decay = 0;
  SchedulerKind scheduler = SchedulerKind::none;
  std::int64_t step_size = 1;  ///< step: every step_size rounds ...
  double gamma = 0.1;          ///< ... multiply the learning rate by gamma
  std::int64_t t_max = 0;      ///< cosine: period in rounds (0: the job's num_rounds)
  double eta_min = 0;          ///< cosine: the lowest learning rate
  /// Names (regexes) of tensors that are buffers, not parameters.
  std::vector<std::string> buffers{".*running_mean", ".*running_var", ".*num_batches_tracked"};
};

/// Reads the optimizer's keys of `[controller.args]` (no finish()).
OptimizerConfig parse_optimizer(const Args& args, std::int64_t num_rounds);

/// The learning rate of round `round` under the scheduler.
double learning_rate(const OptimizerConfig& config, std::int64_t round);

class ServerOptimizer {
 public:
  explicit ServerOptimizer(OptimizerConfig config);
  ~ServerOptimizer();

  /// One server step: updates `global` in place from `average` (whose storage is reused
  /// for the gradient) and returns it. The same global tensors must come back each round
  /// (they are the optimizer's parameters; its state is keyed on them).
  Model step(Model global, Model average, std::int64_t round);

  /// Adds the optimizer's state (moments, step counts; nothing before its first step) to
  /// `state`, its tensors shared.
  void save_state(ControllerState& state) const;
  /// Takes the state save_state() wrote; the next step() starts from it.
  void restore_state(const ControllerState& state);

 private:
  /// Puts the restored state into the optimizer made for `params_` (first step after a resume).
  void apply_restored();

  bool is_buffer(const NamedTensor& t) const;
  void yogi_step(const std::vector<at::Tensor>& params, double lr);

  OptimizerConfig config_;
  std::vector<std::regex> buffers_;
  std::unique_ptr<torch::optim::Optimizer> optimizer_;
  std::vector<at::Tensor> params_;
  std::vector<at::Tensor> yogi_m_, yogi_v_;
  std::optional<ControllerState> restored_;
};

}  // namespace cohort::fedopt
