#pragma once
// The server's job records in SQLite (<workspace>/jobs.db): who submitted what, and where
// each job is in its life. Artifacts stay in JobDirectory folders.
//
// States (job_state.hpp): SUBMITTED -> DISPATCHED -> RUNNING (-> RESUMED after a server
// restart) -> one of the finished states COMPLETED, ABORTED, EXECUTION_EXCEPTION,
// ABNORMAL, CAN_NOT_SCHEDULE. Every change is a
// committed transaction, so a server killed at any point restarts with every record.

#include "jobs/job_state.hpp"

#include <nlohmann/json_fwd.hpp>

#include <cstdint>
#include <filesystem>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct sqlite3;

namespace cohort::jobs {

struct JobRecord {
  std::string id;
  std::string name;
  JobState state = JobState::submitted;
  /// The admin who submitted it: name, organisation, role.
  std::string submitter;
  std::string submitter_org;
  std::string submitter_role;
  /// Seconds since the epoch; 0 when not yet.
  std::int64_t submitted_at = 0;
  std::int64_t started_at = 0;
  std::int64_t ended_at = 0;
  /// Why it ended the way it did (an error, "aborted by ...").
  std::string message;
  /// Rounds finished, as last reported.
  std::int64_t rounds_completed = 0;
  std::int64_t num_rounds = 0;
  /// Times the job was resumed after a server restart.
  std::int64_t resumes = 0;
  /// The last error the job met, even one it survived (a server restart); "" when none.
  std::string last_error;
};

class JobStore {
 public:
  /// Opens (creating) the database. Throws with SQLite's message and the file.
  explicit JobStore(const std::filesystem::path& file);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  void add(const JobRecord& record);
  std::optional<JobRecord> get(const std::string& id) const;
  /// Every job, oldest submission first.
  std::vector<JobRecord> list() const;
  /// Jobs in `state`, oldest submission first.
  std::vector<JobRecord> in_state(JobState state) const;

  /// Sets the state (and the start or end time that goes with it) and the message; a
  /// failed state's message becomes the last error too.
  void set_state(const std::string& id, JobState state, const std::string& message = "");
  void set_progress(const std::string& id, std::int64_t rounds_completed);
  /// Jobs that were DISPATCHED, RUNNING or RESUMED: after a restart, those the server was
  /// running when it stopped.
  std::vector<JobRecord> interrupted() const;
  /// A job interrupted by `why` runs again: RESUMED, one more resume, `why` its last error.
  void mark_resumed(const std::string& id, const std::string& why);

 private:
  void exec(const std::string& sql) const;
  std::vector<JobRecord> query(const std::string& where, const std::vector<std::string>& args) const;

  std::filesystem::path file_;
  sqlite3* db_ = nullptr;
  mutable std::mutex mutex_;
};

/// A job record as JSON (what the admin protocol's list, show and download return, and the
/// dashboard shows), with what its folder under `workspace` adds: the rounds its rounds.csv
/// holds (a running job's store record lags them) and the privacy spent (`epsilon`: null
/// without [privacy] or without noise).
nlohmann::json to_json(const JobRecord& record, const std::filesystem::path& workspace);

}  // namespace cohort::jobs
