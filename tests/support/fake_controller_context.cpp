#include "support/fake_controller_context.hpp"

#include "config/toml_file.hpp"

#include <cohort/aggregation.hpp>

#include <ATen/ops/full.h>

#include <algorithm>
#include <stdexcept>
#include <thread>

namespace cohort::test {

Args controller_args(const std::string& toml) {
  return config::parse_toml("[controller.args]\n" + toml, "recipe.toml").table("controller").table("args");
}

Model filled_model(float value, std::size_t tensors, std::int64_t elements) {
  Model m;
  for (std::size_t i = 0; i < tensors; ++i) m.tensors.push_back({"t" + std::to_string(i), at::full({elements}, value)});
  return m;
}

FakeControllerContext::FakeControllerContext(JobInfo job, std::vector<std::string> sites, Model initial,
                                             Behaviour behaviour)
    : job_(std::move(job)), sites_(std::move(sites)), global_(std::move(initial)), behaviour_(std::move(behaviour)) {
  std::sort(sites_.begin(), sites_.end());
}

std::vector<std::string> FakeControllerContext::sample(std::size_t n) {
  auto available = sites_;
  if (n >= available.size()) return available;
  std::shuffle(available.begin(), available.end(), rng_);
  available.resize(n);
  std::sort(available.begin(), available.end());
  return available;
}

BroadcastOutcome FakeControllerContext::broadcast(const Task& task, const std::vector<std::string>& targets,
                                                  Reducer& reducer, const BroadcastOptions&) {
  tasks.push_back({task.name, task.round, targets});
  BroadcastOutcome outcome;
  for (const auto& site : targets) {
    Answer answer = behaviour_(site, task);
    if (!answer.ok) {
      outcome.failed.push_back({site, answer.error});
      continue;
    }
    ResultInfo info{site, task.round, answer.num_steps, answer.metrics};
    feed(reducer, info, answer.model, 64);  // streamed in small chunks, as from the wire
    outcome.received.push_back(info);
  }
  return outcome;
}

SendResult FakeControllerContext::send(const Task& task, const std::string& site, const SendOptions&) {
  tasks.push_back({task.name, task.round, {site}});
  Answer answer = behaviour_(site, task);
  SendResult result;
  result.ok = answer.ok;
  result.error = answer.error;
  if (answer.ok) {
    result.info = ResultInfo{site, task.round, answer.num_steps, answer.metrics};
    result.model = std::move(answer.model);
    result.model.round = task.round;
    result.model.num_steps = answer.num_steps;
    result.model.metrics = answer.metrics;
  }
  return result;
}

std::optional<SiteReport> FakeControllerContext::next_report(std::chrono::milliseconds timeout) {
  if (reports.empty()) {
    std::this_thread::sleep_for(std::min(timeout, std::chrono::milliseconds(10)));
    return std::nullopt;
  }
  SiteReport r = std::move(reports.front());
  reports.pop_front();
  return r;
}

void FakeControllerContext::persist(const Model& model, std::string_view tag) {
  persisted.emplace_back(std::string(tag), model.clone());
}

const Model& FakeControllerContext::last_persisted(const std::string& tag) const {
  for (auto it = persisted.rbegin(); it != persisted.rend(); ++it) {
    if (it->first == tag) return it->second;
  }
  throw std::runtime_error("nothing persisted as '" + tag + "'");
}

}  // namespace cohort::test
