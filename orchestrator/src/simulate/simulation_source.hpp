#pragma once
// What `cohort simulate --dashboard` shows: its one job, read from the job's folder (its
// status, rounds.csv, tracking/metrics.jsonl); abort stops the simulation as Ctrl-C does.

#include "dashboard/dashboard.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_state.hpp"

#include <functional>
#include <string>
#include <vector>

namespace cohort::simulate {

class SimulationSource final : public dashboard::JobSource {
 public:
  /// Job `job_id` of the simulation's `workspace`.
  SimulationSource(std::filesystem::path workspace, std::string job_id, std::string job_name, std::int64_t num_rounds,
                   std::vector<std::string> sites, std::function<void()> abort);
  nlohmann::json overview() override;
  nlohmann::json jobs() override;
  nlohmann::json tracking(const std::string& job_id, std::uint64_t cursor) override;
  void abort(const std::string& job_id) override;
  /// The job's folder itself.
  std::filesystem::path files(const std::string& job_id, bool refresh) override;

 private:
  /// Throws SourceError 404 unless `job_id` is the simulation's job.
  void check(const std::string& job_id) const;
  /// The job's state: running until its status file says how it ended.
  jobs::JobState state() const;

  std::filesystem::path workspace_;
  std::string job_id_;
  jobs::JobDirectory job_;
  std::string job_name_;
  std::int64_t num_rounds_;
  std::vector<std::string> sites_;
  std::function<void()> abort_;
};

}  // namespace cohort::simulate
