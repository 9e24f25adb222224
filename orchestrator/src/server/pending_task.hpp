#pragma once
// A task sent to one site, waiting for its result.

#include <cohort/stream.hpp>

#include <memory>
#include <optional>
#include <string>

namespace cohort::server {

class PendingTask {
 public:
  virtual ~PendingTask() = default;
  /// The result's header arrived and says ok; returns where its tensors go (null: drop).
  /// When the result carries no model, `has_model` is false and the result is complete.
  virtual std::unique_ptr<ResultSink> on_result(const ResultInfo& info, bool has_model) = 0;
  /// The task failed: an executor error, the site lost, the task not sent.
  virtual void on_failure(const std::string& site, const std::string& reason) = 0;
  /// The task's model is written to the site's connection.
  virtual void on_sent() {}
  /// The site took the task (its worker started on it).
  virtual void on_accepted() {}
  /// The task's model, to send the task again to a site that came back on a new connection
  /// without it; nothing once no one waits for its result.
  virtual std::optional<Model> model_for_resend() { return std::nullopt; }
};

}  // namespace cohort::server
