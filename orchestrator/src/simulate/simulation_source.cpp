#include "simulate/simulation_source.hpp"

#include "jobs/job_files.hpp"
#include "jobs/tracking.hpp"

namespace cohort::simulate {

using nlohmann::json;

SimulationSource::SimulationSource(jobs::JobDirectory job, std::string job_name, std::int64_t num_rounds,
                                   std::vector<std::string> sites, std::function<void()> abort)
    : job_(std::move(job)),
      job_id_(job_.root().filename().string()),
      job_name_(std::move(job_name)),
      num_rounds_(num_rounds),
      sites_(std::move(sites)),
      abort_(std::move(abort)) {}

void SimulationSource::check(const std::string& job_id) const {
  if (job_id != job_id_) throw dashboard::SourceError(404, "no job '" + job_id + "' in this simulation");
}

std::string SimulationSource::status() const {
  const auto ended = job_.read_status();
  return ended ? std::string(jobs::to_string(ended->state)) : std::string(jobs::to_string(jobs::JobState::running));
}

json SimulationSource::overview() {
  const bool running = status() == jobs::to_string(jobs::JobState::running);
  return json{{"server", "cohort simulate"},
              {"sites", sites_},
              {"running", running ? json::array({job_id_}) : json::array()},
              {"admin", json{{"name", "simulation"}, {"org", ""}, {"role", "project_admin"}}}};
}

json SimulationSource::jobs() {
  const std::string state = status();
  const auto rounds = jobs::read_rounds(job_.rounds_csv());
  return json::array({json{{"id", job_id_},
                           {"name", job_name_},
                           {"status", state},
                           {"submitter", "cohort simulate"},
                           {"submitted_at", 0},
                           {"num_rounds", num_rounds_},
                           {"rounds_completed", rounds.size()},
                           {"may_abort", state == jobs::to_string(jobs::JobState::running)},
                           {"may_download", true}}});
}

json SimulationSource::tracking(const std::string& job_id, std::uint64_t cursor) {
  check(job_id);
  const auto part = jobs::read_tracked(job_, cursor, 1u << 20);
  json scalars = json::array();
  for (const auto& s : part.scalars) scalars.push_back(jobs::to_json(s));
  return json{{"scalars", std::move(scalars)}, {"cursor", part.cursor}};
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
