#pragma once
/// @file model_zoo.hpp
/// The model zoo, shared by the server (initial global model) and the trainers, and the
/// one reader of a recipe's `[model]` table: where the initial global model comes from.
/// Exactly one of:
///
///   [model]
///   arch = "mlp"        # the zoo (the default): mlp | cnn | synthetic
///   seed = 0            # initial weights
///   hidden = 256        # mlp
///   channels = [16, 32] # cnn
///   size_mb = 100.0     # synthetic: total bytes of float32 tensors
///   tensors = 4         # synthetic: how many equal tensors
///   init = 0.0          # synthetic: initial value of every element
///
///   initial = "init.pt"            # a file of tensors: torch.save(model.state_dict(), ...)
///
///   python = "model.py:Network"    # the user's class: instantiated once, its state_dict()
///   kwargs = { hidden = 64 }       # its constructor's keyword arguments
///   interpreter = "/usr/bin/python3"
///
///   from_site = true               # one site supplies it before round 1 (Flower's default)
///
/// The files named travel with the job (relative to the recipe).

#include <cohort/args.hpp>
#include <cohort/model.hpp>

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}

namespace cohort::models {

/// A parsed `[model]` table.
struct ModelSpec {
  /// Where the initial global model comes from.
  enum class Source { zoo, file, python, site };
  Source source = Source::zoo;
  /// file: the tensor file; python: the module that defines the class.
  std::filesystem::path file;
  /// python: the class, its keyword arguments (a JSON object) and the interpreter.
  std::string python_class;
  std::string python_kwargs = "{}";
  std::string interpreter = "/usr/bin/python3";
  /// Where `[model]` is, for errors about what it names.
  SourceLocation where;

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

/// Builds a trainable network (mlp or cnn) with the spec's seeded initial weights. Throws
/// when the spec names no zoo architecture.
std::unique_ptr<Network> make_network(const ModelSpec& spec);

/// The zoo's initial global model for `spec`: a network's state (parameters and buffers,
/// named as PyTorch's state_dict names them), or the synthetic tensors. (A model of another
/// source is the server's to make: runtime/initial_model.hpp.)
Model initial_model(const ModelSpec& spec);

/// Points the network's parameters and buffers at `model`'s tensors (no copy): training
/// then updates the received tensors in place. Throws naming a missing or mismatched tensor.
void bind(Network& network, const Model& model);

/// The network's state as a Model, sharing storage with the network.
Model state_of(Network& network);

}  // namespace cohort::models
