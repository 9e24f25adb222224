#include <cohort/model.hpp>

#include <c10/util/Exception.h>

namespace cohort {

std::uint64_t Model::byte_size() const {
  std::uint64_t total = 0;
  for (const auto& t : tensors) total += t.tensor.nbytes();
  return total;
}

const at::Tensor* Model::find(std::string_view name) const {
  for (const auto& t : tensors) {
    if (t.name == name) return &t.tensor;
  }
  return nullptr;
}

Model Model::clone() const {
  Model copy;
  copy.round = round;
  copy.num_steps = num_steps;
  copy.metrics = metrics;
  copy.tensors.reserve(tensors.size());
  for (const auto& t : tensors) copy.tensors.push_back({t.name, t.tensor.clone()});
  return copy;
}

std::string error_message(const std::exception& error) {
  if (const auto* torch_error = dynamic_cast<const c10::Error*>(&error)) return torch_error->what_without_backtrace();
  return error.what();
}

}  // namespace cohort
