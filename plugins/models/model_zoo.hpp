#pragma once
/// @file model_zoo.hpp
/// The model zoo, shared by the server (initial global model) and the trainers: the
/// recipe's `[model]` table names an architecture and its sizes.
///
///   [model]
///   arch = "mlp"        # mlp | cnn | synthetic
///   seed = 0            # initial weights
///   hidden = 256        # mlp
///   channels = [16, 32] # cnn
///   size_mb = 100.0     # synthetic: total bytes of float32 tensors
///   tensors = 4         # synthetic: how many equal tensors
///   init = 0.0          # synthetic: initial value of every element

#include <cohort/args.hpp>
#include <cohort/model.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace cohort::models {

/// A parsed `[model]` table.
struct ModelSpec {
  std::string arch = "mlp";
  /// Seeds the initial weights: `[model] seed`, and the run's seed (`[job] seed`) mixed in.
  std::int64_t seed = 0;
  std::int64_t hidden = 256;
  std::vector<std::int64_t> channels{16, 32};
  double size_mb = 1.0;
  std::int64_t tensors = 4;
  double init = 0.0;
};

/// Parses `[model]` (and finishes it: unknown keys are errors); `run_seed` is the job's.
ModelSpec parse_spec(const Args& model, std::int64_t run_seed = 0);

/// A network the trainer can run: logits for a batch of [N, 1, 28, 28] images.
class Network {
 public:
  virtual ~Network() = default;
  /// Forward pass.
  virtual at::Tensor forward(const at::Tensor& images) = 0;
  /// The torch module (parameters, train/eval mode).
  virtual torch::nn::Module& module() = 0;
};

/// Builds a trainable network (mlp or cnn) with the spec's seeded initial weights.
std::unique_ptr<Network> make_network(const ModelSpec& spec);

/// The initial global model for `spec`: a network's state (parameters and buffers, named
/// as PyTorch's state_dict names them), or the synthetic tensors.
Model initial_model(const ModelSpec& spec);

/// Points the network's parameters and buffers at `model`'s tensors (no copy): training
/// then updates the received tensors in place. Throws naming a missing or mismatched tensor.
void bind(Network& network, const Model& model);

/// The network's state as a Model, sharing storage with the network.
Model state_of(Network& network);

}  // namespace cohort::models
