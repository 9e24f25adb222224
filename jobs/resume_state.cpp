#include "jobs/resume_state.hpp"

#include "config/text_file.hpp"

#include <cohort/error.hpp>
#include <nlohmann/json.hpp>

#include <stdexcept>

namespace fs = std::filesystem;

namespace cohort::jobs {

namespace {

fs::path record_file(const JobDirectory& job) { return state_folder(job) / "job_state.json"; }

}  // namespace

fs::path state_folder(const JobDirectory& job) { return job.root() / "state"; }

fs::path state_global_model(const JobDirectory& job, std::int64_t round) {
  return state_folder(job) / ("global-" + std::to_string(round) + ".pt");
}

fs::path state_controller_tensors(const JobDirectory& job, std::int64_t round) {
  return state_folder(job) / ("controller-" + std::to_string(round) + ".pt");
}

void write_resume_state(const JobDirectory& job, const ResumeState& s) {
  const nlohmann::json record{{"version", ResumeState::kVersion},
                              {"round", s.round},
                              {"epoch", s.epoch},
                              {"global_model", s.global_model},
                              {"controller_tensors", s.controller_tensors},
                              {"controller", s.controller},
                              {"runner", s.runner},
                              {"participants", s.participants},
                              {"file_sizes", s.file_sizes}};
  config::write_text_file(record_file(job), record.dump(2) + "\n");
  // The record names this round's files: the others go.
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(state_folder(job), ec)) {
    const auto name = entry.path().filename().string();
    if (entry.path().extension() == ".pt" && name != s.global_model && name != s.controller_tensors)
      fs::remove(entry.path(), ec);
  }
}

std::optional<ResumeState> read_resume_state(const JobDirectory& job) {
  const auto file = record_file(job);
  if (!fs::exists(file)) return std::nullopt;
  ResumeState s;
  try {
    const auto record = nlohmann::json::parse(config::read_text_file(file));
    const int version = record.at("version").get<int>();
    if (version != ResumeState::kVersion)
      throw std::runtime_error("version " + std::to_string(version) + ", this cohort reads version " +
                               std::to_string(ResumeState::kVersion));
    s.round = record.at("round").get<std::int64_t>();
    s.epoch = record.at("epoch").get<std::int64_t>();
    s.global_model = record.at("global_model").get<std::string>();
    s.controller_tensors = record.at("controller_tensors").get<std::string>();
    s.controller = record.at("controller").get<std::map<std::string, std::string>>();
    s.runner = record.at("runner").get<std::map<std::string, std::string>>();
    s.participants = record.at("participants").get<std::vector<std::string>>();
    s.file_sizes = record.at("file_sizes").get<std::map<std::string, std::uintmax_t>>();
  } catch (const std::exception& e) {
    throw IoError(file, std::string("not a job state cohort can resume from: ") + e.what());
  }
  for (const auto& name : {s.global_model, s.controller_tensors}) {
    if (!name.empty() && !fs::exists(state_folder(job) / name))
      throw IoError(file, "names " + name + ", which is missing from " +
                               state_folder(job).string());
  }
  return s;
}

void remove_resume_state(const JobDirectory& job) {
  std::error_code ec;
  fs::remove_all(state_folder(job), ec);
}

}  // namespace cohort::jobs
