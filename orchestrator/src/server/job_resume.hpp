#pragma once
// Resuming a job after a server restart, the server's side: reading the job's resume state
// back (jobs/resume_state.hpp owns the file) and cutting its results files to the sizes it
// names, restoring the global model and the controller from it, and saving it after each
// round behind the round's checkpoints.

#include "jobs/job_directory.hpp"
#include "jobs/resume_state.hpp"
#include "server/checkpoint_writer.hpp"

#include <cohort/controller.hpp>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace cohort::server::resume {

/// The state saved after the job's last completed round. The results files
/// (RoundRecorder::files) are cut back to the sizes it names, or removed when there is none
/// (a round 0 that did not end): call before they open.
std::optional<jobs::ResumeState> read(const jobs::JobDirectory& directory);

/// Restores the global model (which `checkpoints` adopts as its file, as after the round
/// itself) and the controller from `state`.
void restore(const jobs::JobDirectory& directory, const jobs::ResumeState& state, Model& global, Controller& controller,
             CheckpointWriter& checkpoints);

/// What is saved after a round (-1: before the first, for the job's sites).
struct Snapshot {
  std::int64_t round = -1;
  std::int64_t epoch = 0;
  ControllerState controller;
  /// The runner's own values (its site sampler, the privacy account).
  std::map<std::string, std::string> runner;
  std::vector<std::string> participants;
};

/// Queues the state behind the round's checkpoints (written once the files it names are):
/// the global model of the round as a link to global_model.pt, the controller's tensors,
/// then the record.
void save(const jobs::JobDirectory& directory, CheckpointWriter& checkpoints, Snapshot snapshot,
          std::shared_ptr<spdlog::logger> log);

}  // namespace cohort::server::resume
