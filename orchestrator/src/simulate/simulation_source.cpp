#include "simulate/simulation_source.hpp"

#include "jobs/job_store.hpp"
#include "jobs/tracking.hpp"

namespace cohort::simulate {

using nlohmann::json;

SimulationSource::SimulationSource(std::filesystem::path workspace, std::string job_id, std::string job_name,
                                   std::int64_t num_rounds, std::vector<std::string> sites, std::function<void()> abort)
    : workspace_(std::move(workspace)),
      job_id_(std::move(job_id)),
      job_(workspace_, job_id_),
      job_name_(std::move(job_name)),
      num_rounds_(num_rounds),
      sites_(std::move(sites)),
      abort_(std::move(abort)) {}

void SimulationSource::check(const std::string& job_id) const {
  if (job_id != job_id_) throw dashboard::SourceError(404, "no job '" + job_id + "' in this simulation");
}

jobs::JobState SimulationSource::state() const {
  const auto ended = job_.read_status();
  return ended ? ended->state : jobs::JobState::running;
}

json SimulationSource::overview() {
  const bool running = state() == jobs::JobState::running;
  return json{{"server", "cohort simulate"},
              {"sites", sites_},
              {"running", running ? json::array({job_id_}) : json::array()},
              {"admin", json{{"name", "simulation"}, {"org", ""}, {"role", "project_admin"}}}};
}

json SimulationSource::jobs() {
  jobs::JobRecord record;
  record.id = job_id_;
  record.name = job_name_;
  record.state = state();
  record.submitter = "cohort simulate";
  record.num_rounds = num_rounds_;
  json job = jobs::to_json(record, workspace_);
  job["may_abort"] = record.state == jobs::JobState::running;
  job["may_download"] = true;
  return json::array({std::move(job)});
}

json SimulationSource::tracking(const std::string& job_id, std::uint64_t cursor) {
  check(job_id);
  return jobs::to_json(jobs::read_tracked(job_, cursor, 1u << 20));
}

std::filesystem::path SimulationSource::files(const std::string& job_id, bool) {
  check(job_id);
  return job_.root();
}

void SimulationSource::abort(const std::string& job_id) {
  check(job_id);
  abort_();
}

}  // namespace cohort::simulate
