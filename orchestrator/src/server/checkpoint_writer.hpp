#pragma once
// Writes a job's checkpoints on a thread of its own, so that a round does not wait for
// the disk (100 MB with fsync is most of a round's overhead on a slow disk). Every file
// keeps save_checkpoint's guarantee: it is replaced atomically, so a crash leaves the old
// checkpoint or the new one.
//
// The job runner flushes before a broadcast or send returns, so a controller may change
// the persisted global in place afterwards (FedOpt's optimizer steps it).
//
// Two rules keep memory where it was: a model that is the one saved last, with the same
// bytes (FedAvg's best model is the previous round's global), becomes a hard link to that
// file, not a second write that would hold it; and at most one save waits behind the one being written (a
// disk slower than the rounds slows the job instead of queueing models).

#include <cohort/model.hpp>

#include <condition_variable>
#include <deque>
#include <exception>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>

namespace spdlog {
class logger;
}

namespace cohort::server {

/// `to` becomes the file `from` is now, atomically: a hard link (no bytes copied), or a
/// copy where the file system has none.
void link_checkpoint(const std::filesystem::path& from, const std::filesystem::path& to);

class CheckpointWriter {
 public:
  explicit CheckpointWriter(std::shared_ptr<spdlog::logger> log);
  /// Flushes (logging a failure), then joins.
  ~CheckpointWriter();
  CheckpointWriter(const CheckpointWriter&) = delete;
  CheckpointWriter& operator=(const CheckpointWriter&) = delete;

  /// Queues `model` (its tensors are shared, not copied: they must not change in place)
  /// to be saved as `file`.
  void write(Model model, std::filesystem::path file);
  /// Queues `step` to run on the writer's thread once everything queued before is on disk
  /// (a job's resume state, which names those files); a throw is a failure like a write's.
  void then(std::function<void()> step);
  /// Queues `to` to become a link to `from` (a file queued or written before).
  void link(std::filesystem::path from, std::filesystem::path to);
  /// `model` is on disk as `file` already (a resumed job's global model, read from there):
  /// the model saved last, for the hard-link rule above.
  void adopt(Model model, std::filesystem::path file);
  /// Waits until every queued checkpoint is on disk; throws the first failure since the
  /// last flush.
  void flush();

 private:
  struct Item {
    std::filesystem::path file;
    Model model;
    /// Set for a link to a file saved before (then `model` is empty).
    std::optional<std::filesystem::path> link_from;
    /// Set for a step to run in order (then nothing is written).
    std::function<void()> step;
  };
  void loop();

  std::shared_ptr<spdlog::logger> log_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Item> queue_;
  /// CRC-32 of a model's bytes; nothing for tensors it cannot read directly.
  static std::optional<std::uint32_t> checksum(const Model& model);

  /// The model saved last, its file, and the CRC-32 of the bytes written, once written
  /// (its tensors are alive anyway: the current global).
  struct Saved {
    std::filesystem::path file;
    Model model;
    std::optional<std::uint32_t> checksum;
  };
  std::optional<Saved> last_saved_;
  bool writing_ = false;
  bool stopping_ = false;
  std::exception_ptr failure_;
  std::thread thread_;
};

}  // namespace cohort::server
