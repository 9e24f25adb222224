#include "server_optimizer.hpp"

#include <cohort/error.hpp>
#include <torch/optim/adagrad.h>
#include <torch/optim/adam.h>
#include <torch/optim/sgd.h>
#include <torch/utils.h>

#include <ATen/ops/full_like.h>
#include <ATen/ops/zeros_like.h>

#include <cmath>
#include <sstream>
#include <stdexcept>

namespace cohort::fedopt {

OptimizerConfig parse_optimizer(const Args& args, std::int64_t num_rounds) {
  OptimizerConfig c;
  const auto kind = args.get<std::string>("optimizer", "sgd");
  if (kind == "sgd") c.kind = OptimizerKind::sgd;
  else if (kind == "adam") c.kind = OptimizerKind::adam;
  else if (kind == "adagrad") c.kind = OptimizerKind::adagrad;
  else if (kind == "yogi") c.kind = OptimizerKind::yogi;
  else args.fail("optimizer", "expected \"sgd\", \"adam\", \"adagrad\" or \"yogi\", found \"" + kind + "\"");
  const bool sgd = c.kind == OptimizerKind::sgd;
  c.lr = args.get<double>("lr", sgd ? 1.0 : 0.01, between(0, 1e6));
  if (sgd) c.momentum = args.get<double>("momentum", 0.6, between(0, 1));
  if (c.kind == OptimizerKind::adam || c.kind == OptimizerKind::yogi) {
    c.beta1 = args.get<double>("beta1", 0.9, between(0, 1));
    c.beta2 = args.get<double>("beta2", 0.99, between(0, 1));
  }
  if (!sgd) c.eps = args.get<double>("eps", 1e-3, between(0, 1));
  if (c.kind == OptimizerKind::adagrad || c.kind == OptimizerKind::yogi)
    c.initial_accumulator = args.get<double>("initial_accumulator", c.kind == OptimizerKind::yogi ? 1e-6 : 0.0, at_least(0));
  c.weight_decay = args.get<double>("weight_decay", 0.0, at_least(0));
  const auto scheduler = args.get<std::string>("scheduler", "none");
  if (scheduler == "none") c.scheduler = SchedulerKind::none;
  else if (scheduler == "step") c.scheduler = SchedulerKind::step;
  else if (scheduler == "cosine") c.scheduler = SchedulerKind::cosine;
  else args.fail("scheduler", "expected \"none\", \"step\" or \"cosine\", found \"" + scheduler + "\"");
  if (c.scheduler == SchedulerKind::step) {
    c.step_size = args.get<std::int64_t>("step_size", 1, at_least(1));
    c.gamma = args.get<double>("gamma", 0.1, between(0, 1e6));
  }
  if (c.scheduler == SchedulerKind::cosine) {
    c.t_max = args.get<std::int64_t>("t_max", num_rounds, at_least(1));
    c.eta_min = args.get<double>("eta_min", 0.0, at_least(0));
  }
  c.buffers = args.get<std::vector<std::string>>("buffers", c.buffers);
  for (const auto& pattern : c.buffers) {
    try {
      std::regex check(pattern);
    } catch (const std::regex_error& e) {
      args.fail("buffers", "'" + pattern + "' is not a valid regular expression: " + e.what());
    }
  }
  return c;
}

double learning_rate(const OptimizerConfig& c, std::int64_t round) {
  switch (c.scheduler) {
    case SchedulerKind::none: return c.lr;
    case SchedulerKind::step: return c.lr * std::pow(c.gamma, static_cast<double>(round / c.step_size));
    case SchedulerKind::cosine:
      return c.eta_min + (c.lr - c.eta_min) * (1 + std::cos(M_PI * static_cast<double>(round) / c.t_max)) / 2;
  }
  return c.lr;
}

ServerOptimizer::ServerOptimizer(OptimizerConfig config) : config_(std::move(config)) {
  for (const auto& pattern : config_.buffers) buffers_.emplace_back(pattern);
}

ServerOptimizer::~ServerOptimizer() = default;

bool ServerOptimizer::is_buffer(const NamedTensor& t) const {
  if (!at::isFloatingType(t.tensor.scalar_type())) return true;
  for (const auto& r : buffers_) {
    if (std::regex_match(t.name, r)) return true;
  }
  return false;
}

void ServerOptimizer::yogi_step(const std::vector<at::Tensor>& params, double lr) {
  if (yogi_m_.empty()) {
    for (const auto& p : params) {
      yogi_m_.push_back(at::zeros_like(p));
      yogi_v_.push_back(at::full_like(p, config_.initial_accumulator));
    }
  }
  const double b1 = config_.beta1, b2 = config_.beta2;
  for (std::size_t i = 0; i < params.size(); ++i) {
    at::Tensor p = params[i];
    at::Tensor g = p.grad();
    if (config_.weight_decay != 0) g = g.add(p, config_.weight_decay);
    // m = b1 m + (1 - b1) g;  v = v - (1 - b2) g^2 sign(v - g^2);  p -= lr m / (sqrt(v) + eps)
    yogi_m_[i].mul_(b1).add_(g, 1 - b1);
    at::Tensor g2 = g * g;
    yogi_v_[i].sub_((yogi_v_[i] - g2).sign_().mul_(g2), 1 - b2);
    p.sub_(yogi_m_[i] / (yogi_v_[i].sqrt() + config_.eps), lr);
  }
}

Model ServerOptimizer::step(Model global, Model average, std::int64_t round) {
  torch::NoGradGuard no_grad;
  const double lr = learning_rate(config_, round);
  const bool plain = config_.kind == OptimizerKind::sgd && lr == 1.0 && config_.momentum == 0 &&
                     config_.weight_decay == 0;
  if (plain) {
    // p − 1·(p − avg) is avg, but not bit for bit in floating point: say it exactly.
    return average;
  }
  std::vector<at::Tensor> params;
  for (std::size_t i = 0; i < global.tensors.size(); ++i) {
    auto& g = global.tensors[i];
    auto& a = average.tensors.at(i);
    if (a.name != g.name) throw std::logic_error("average and global model disagree on tensor " + std::to_string(i));
    if (is_buffer(g)) {
      g.tensor = a.tensor;  // averaged, not stepped
      continue;
    }
    if (a.tensor.is_same(g.tensor)) {
      // Nobody delivered this tensor (or it is excluded): the average is the global model's
      // own tensor. No gradient, and no writing into it.
      g.tensor.mutable_grad() = at::zeros_like(g.tensor);
    } else {
      // The gradient, in the average's own storage: avg ← global − avg.
      a.tensor.neg_().add_(g.tensor);
      g.tensor.mutable_grad() = a.tensor;
    }
    params.push_back(g.tensor);
  }
  average = Model{};
  if (params_.empty()) {
    params_ = params;
    switch (config_.kind) {
      case OptimizerKind::sgd:
        optimizer_ = std::make_unique<torch::optim::SGD>(
            params_, torch::optim::SGDOptions(lr).momentum(config_.momentum).weight_decay(config_.weight_decay));
        break;
      case OptimizerKind::adam:
        optimizer_ = std::make_unique<torch::optim::Adam>(
            params_, torch::optim::AdamOptions(lr)
                         .betas(std::make_tuple(config_.beta1, config_.beta2))
                         .eps(config_.eps)
                         .weight_decay(config_.weight_decay));
        break;
      case OptimizerKind::adagrad:
        optimizer_ = std::make_unique<torch::optim::Adagrad>(
            params_, torch::optim::AdagradOptions(lr)
                         .eps(config_.eps)
                         .initial_accumulator_value(config_.initial_accumulator)
                         .weight_decay(config_.weight_decay));
        break;
      case OptimizerKind::yogi: break;
    }
  } else if (params.size() != params_.size() ||
             !std::equal(params.begin(), params.end(), params_.begin(),
                         [](const at::Tensor& a, const at::Tensor& b) { return a.is_same(b); })) {
    throw std::logic_error("the server optimizer's parameters changed identity between rounds");
  }
  if (restored_) apply_restored();
  if (config_.kind == OptimizerKind::yogi) {
    yogi_step(params_, lr);
  } else {
    for (auto& group : optimizer_->param_groups()) group.options().set_lr(lr);
    optimizer_->step();
  }
  for (auto& p : params_) p.mutable_grad() = at::Tensor();
  return global;
}

namespace {

/// The key libtorch's optimizers file a parameter's state under.
std::string state_key(const at::Tensor& param) {
  std::ostringstream key;
  key << param.unsafeGetTensorImpl();
  return key.str();
}

std::string tensor_name(const char* what, std::size_t i) { return std::string(what) + "." + std::to_string(i); }

}  // namespace

void ServerOptimizer::save_state(ControllerState& state) const {
  auto put = [&](const char* what, std::size_t i, const at::Tensor& t) {
    if (t.defined()) state.tensors.tensors.push_back({tensor_name(what, i), t});
  };
  state.values["optimizer.params"] = std::to_string(params_.size());
  for (std::size_t i = 0; i < yogi_m_.size(); ++i) {
    put("yogi.m", i, yogi_m_[i]);
    put("yogi.v", i, yogi_v_[i]);
  }
  if (!optimizer_) return;
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto it = optimizer_->state().find(state_key(params_[i]));
    if (it == optimizer_->state().end()) {
      if (optimizer_->state().empty()) return;  // an optimizer without state (SGD without momentum)
      throw std::logic_error("the server optimizer keeps no state for parameter " + std::to_string(i));
    }
    if (const auto* adam = dynamic_cast<const torch::optim::AdamParamState*>(it->second.get())) {
      put("adam.exp_avg", i, adam->exp_avg());
      put("adam.exp_avg_sq", i, adam->exp_avg_sq());
      put("adam.max_exp_avg_sq", i, adam->max_exp_avg_sq());
      state.values[tensor_name("adam.step", i)] = std::to_string(adam->step());
    } else if (const auto* sgd = dynamic_cast<const torch::optim::SGDParamState*>(it->second.get())) {
      put("sgd.momentum_buffer", i, sgd->momentum_buffer());
    } else if (const auto* adagrad = dynamic_cast<const torch::optim::AdagradParamState*>(it->second.get())) {
      put("adagrad.sum", i, adagrad->sum());
      state.values[tensor_name("adagrad.step", i)] = std::to_string(adagrad->step());
    }
  }
}

void ServerOptimizer::restore_state(const ControllerState& state) {
  if (state.values.count("optimizer.params") && state.values.at("optimizer.params") != "0") restored_ = state;
}

void ServerOptimizer::apply_restored() {
  const ControllerState state = std::move(*restored_);
  restored_.reset();
  if (std::stoul(state.values.at("optimizer.params")) != params_.size())
    throw JobError("the saved server optimizer has " + state.values.at("optimizer.params") +
                             " parameters, the model " + std::to_string(params_.size()));
  auto find = [&](const char* what, std::size_t i) {
    for (const auto& t : state.tensors.tensors)
      if (t.name == tensor_name(what, i)) return t.tensor;
    return at::Tensor();
  };
  auto step_of = [&](const char* what, std::size_t i) -> std::int64_t {
    auto it = state.values.find(tensor_name(what, i));
    return it == state.values.end() ? 0 : std::stoll(it->second);
  };
  for (std::size_t i = 0; i < params_.size(); ++i) {
    const auto key = state_key(params_[i]);
    switch (config_.kind) {
      case OptimizerKind::yogi:
        if (find("yogi.m", i).defined()) {
          yogi_m_.resize(params_.size());
          yogi_v_.resize(params_.size());
          yogi_m_[i] = find("yogi.m", i);
          yogi_v_[i] = find("yogi.v", i);
        }
        break;
      case OptimizerKind::adam: {
        if (!find("adam.exp_avg", i).defined()) break;
        auto s = std::make_unique<torch::optim::AdamParamState>();
        s->step(step_of("adam.step", i));
        s->exp_avg(find("adam.exp_avg", i));
        s->exp_avg_sq(find("adam.exp_avg_sq", i));
        if (auto max = find("adam.max_exp_avg_sq", i); max.defined()) s->max_exp_avg_sq(max);
        optimizer_->state()[key] = std::move(s);
        break;
      }
      case OptimizerKind::sgd: {
        if (!find("sgd.momentum_buffer", i).defined()) break;
        auto s = std::make_unique<torch::optim::SGDParamState>();
        s->momentum_buffer(find("sgd.momentum_buffer", i));
        optimizer_->state()[key] = std::move(s);
        break;
      }
      case OptimizerKind::adagrad: {
        if (!find("adagrad.sum", i).defined()) break;
        auto s = std::make_unique<torch::optim::AdagradParamState>();
        s->sum(find("adagrad.sum", i));
        s->step(step_of("adagrad.step", i));
        optimizer_->state()[key] = std::move(s);
        break;
      }
    }
  }
}

}  // namespace cohort::fedopt
