#pragma once
// What a job needs to go on after a server restart, written after each completed round
// in the job's state/ folder:
//   state/job_state.json         this record (versioned), replaced atomically, last
//   state/global-<round>.pt      the global model after that round (a hard link to the
//                                global_model.pt of that round: no second copy)
//   state/controller-<round>.pt  the controller's tensors (FedOpt's moments), when it has some
// The record names the files it goes with and is written only once they are on disk, so a
// server killed at any point (in a checkpoint's write included) leaves a record whose
// files are whole. The files of older rounds are removed after the record moves on.

#include "jobs/job_directory.hpp"

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace cohort::jobs {

struct ResumeState {
  /// The format's version; a record of another version is refused, naming both.
  static constexpr int kVersion = 1;
  /// The last completed round; -1 before the first (the record then keeps the job's sites,
  /// and the initial model is the seed's again).
  std::int64_t round = -1;
  /// The job epoch that wrote it (0 for the first run, one more for each resume).
  std::int64_t epoch = 0;
  /// The files in state/ that go with it ("" before the first round).
  std::string global_model;
  std::string controller_tensors;  ///< "" when the controller keeps no tensors
  /// The controller's own values (its order, position, best metric, generator state).
  std::map<std::string, std::string> controller;
  /// The job runner's own values (its generator of site samples).
  std::map<std::string, std::string> runner;
  /// The job's sites.
  std::vector<std::string> participants;
  /// Bytes of each results file (metrics.csv, rounds.csv, timeline.csv) when the round
  /// ended: a resumed job cuts them back to these, so the rows of the interrupted round
  /// are written once, by its replay.
  std::map<std::string, std::uintmax_t> file_sizes;
};

/// state/ of a job, and the files of a round in it.
std::filesystem::path state_folder(const JobDirectory& job);
std::filesystem::path state_global_model(const JobDirectory& job, std::int64_t round);
std::filesystem::path state_controller_tensors(const JobDirectory& job, std::int64_t round);

/// Writes the record atomically, then removes the files of earlier rounds.
void write_resume_state(const JobDirectory& job, const ResumeState& state);
/// The record, or nothing when the job has none (no round completed). Throws
/// std::runtime_error naming the file when it is malformed, of another version, or names
/// a file that is missing.
std::optional<ResumeState> read_resume_state(const JobDirectory& job);
/// Removes state/ (a job that ended has nothing to resume).
void remove_resume_state(const JobDirectory& job);

}  // namespace cohort::jobs
