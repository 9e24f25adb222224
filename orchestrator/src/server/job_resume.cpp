#include "server/job_resume.hpp"

#include "memory/memory.hpp"
#include "server/round_recorder.hpp"

#include <spdlog/logger.h>

#include <chrono>
#include <filesystem>

namespace cohort::server::resume {

namespace fs = std::filesystem;

std::optional<jobs::ResumeState> read(const jobs::JobDirectory& directory) {
  auto state = jobs::read_resume_state(directory);
  for (const auto& file : RoundRecorder::files(directory)) {
    if (!fs::exists(file)) continue;
    if (!state) {
      fs::remove(file);  // rows of a round 0 that did not end
      continue;
    }
    const auto it = state->file_sizes.find(file.filename().string());
    if (it != state->file_sizes.end() && fs::file_size(file) > it->second) fs::resize_file(file, it->second);
  }
  return state;
}

void restore(const jobs::JobDirectory& directory, const jobs::ResumeState& state, Model& global, Controller& controller,
             CheckpointWriter& checkpoints) {
  const auto folder = jobs::state_folder(directory);
  if (state.round >= 0) {
    global = load_checkpoint(folder / state.global_model);
    global.round = state.round;
    // As after the round itself: a best model equal to it becomes a link to that file, not
    // a write that a controller stepping the global in place (FedOpt) could race.
    checkpoints.adopt(global, folder / state.global_model);
  }
  ControllerState saved{state.controller, {}};
  if (!state.controller_tensors.empty()) saved.tensors = load_checkpoint(folder / state.controller_tensors);
  controller.restore_state(state.round, saved);
}

void save(const jobs::JobDirectory& directory, CheckpointWriter& checkpoints, Snapshot snapshot,
          std::shared_ptr<spdlog::logger> log) {
  jobs::ResumeState state;
  state.round = snapshot.round;
  state.epoch = snapshot.epoch;
  if (state.round >= 0) state.global_model = jobs::state_global_model(directory, state.round).filename().string();
  state.controller = std::move(snapshot.controller.values);
  if (!snapshot.controller.tensors.tensors.empty())
    state.controller_tensors = jobs::state_controller_tensors(directory, state.round).filename().string();
  state.runner = std::move(snapshot.runner);
  state.participants = std::move(snapshot.participants);
  for (const auto& file : RoundRecorder::files(directory)) {
    std::error_code ec;
    const auto size = fs::file_size(file, ec);
    state.file_sizes[file.filename().string()] = ec ? 0 : size;
  }
  checkpoints.then([directory, state = std::move(state), tensors = std::move(snapshot.controller.tensors),
                    log = std::move(log)] {
    const auto start = std::chrono::steady_clock::now();
    const auto folder = jobs::state_folder(directory);
    fs::create_directories(folder);  // also for a record without files
    if (!state.global_model.empty()) link_checkpoint(directory.artifact("global"), folder / state.global_model);
    if (!state.controller_tensors.empty()) save_checkpoint(tensors, folder / state.controller_tensors);
    jobs::write_resume_state(directory, state);
    log->debug("resume state after round {} written in {:.1f} ms ({:.1f} MiB of controller tensors)", state.round + 1,
               std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count(),
               memory::mib(tensors.byte_size()));
  });
}

}  // namespace cohort::server::resume
