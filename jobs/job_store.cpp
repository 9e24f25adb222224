#include "jobs/job_store.hpp"

#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"

#include <cohort/error.hpp>
#include <nlohmann/json.hpp>
#include <sqlite3.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <stdexcept>

namespace cohort::jobs {

namespace {

std::int64_t now_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
}

/// A prepared statement, finalized on scope exit.
class Statement {
 public:
  Statement(sqlite3* db, const std::string& sql, const std::filesystem::path& file) : db_(db), file_(file) {
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt_, nullptr) != SQLITE_OK) fail("prepare");
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement& bind(int i, const std::string& v) {
    sqlite3_bind_text(stmt_, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
    return *this;
  }
  Statement& bind(int i, std::int64_t v) {
    sqlite3_bind_int64(stmt_, i, v);
    return *this;
  }
  /// Steps once; returns whether a row is available.
  bool step() {
    const int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc != SQLITE_DONE) fail("step");
    return false;
  }
  std::string text(int i) const {
    const auto* p = sqlite3_column_text(stmt_, i);
    return p ? reinterpret_cast<const char*>(p) : "";
  }
  std::int64_t integer(int i) const { return sqlite3_column_int64(stmt_, i); }

 private:
  [[noreturn]] void fail(const char* what) const {
    throw IoError(file_, std::string("job store: ") + what + ": " + sqlite3_errmsg(db_));
  }
  sqlite3* db_;
  std::filesystem::path file_;
  sqlite3_stmt* stmt_ = nullptr;
};

constexpr const char* kColumns =
    "id, name, status, submitter, submitter_org, submitter_role, submitted_at, started_at, ended_at, message, "
    "rounds_completed, num_rounds, resumes, last_error";

}  // namespace


JobStore::JobStore(const std::filesystem::path& file) : file_(file) {
  if (file.has_parent_path()) std::filesystem::create_directories(file.parent_path());
  if (sqlite3_open_v2(file.c_str(), &db_, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr) !=
      SQLITE_OK) {
    const std::string message = db_ ? sqlite3_errmsg(db_) : "out of memory";
    sqlite3_close(db_);
    throw IoError(file, "cannot open the job store: " + message);
  }
  sqlite3_busy_timeout(db_, 5000);
  // WAL with synchronous=FULL: a committed change survives a crash of the process or machine.
  exec("PRAGMA journal_mode=WAL");
  exec("PRAGMA synchronous=FULL");
  exec("CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, "
       "submitter TEXT NOT NULL, submitter_org TEXT NOT NULL, submitter_role TEXT NOT NULL, "
       "submitted_at INTEGER NOT NULL, started_at INTEGER NOT NULL DEFAULT 0, ended_at INTEGER NOT NULL DEFAULT 0, "
       "message TEXT NOT NULL DEFAULT '', rounds_completed INTEGER NOT NULL DEFAULT 0, "
       "num_rounds INTEGER NOT NULL DEFAULT 0, seq INTEGER, resumes INTEGER NOT NULL DEFAULT 0, "
       "last_error TEXT NOT NULL DEFAULT '')");
  // A store written before jobs could resume lacks their two columns.
  bool has_resumes = false;
  {
    Statement columns(db_, "PRAGMA table_info(jobs)", file_);
    while (columns.step()) has_resumes = has_resumes || columns.text(1) == "resumes";
  }
  if (!has_resumes) {
    exec("ALTER TABLE jobs ADD COLUMN resumes INTEGER NOT NULL DEFAULT 0");
    exec("ALTER TABLE jobs ADD COLUMN last_error TEXT NOT NULL DEFAULT ''");
  }
}

JobStore::~JobStore() { sqlite3_close(db_); }

void JobStore::exec(const std::string& sql) const {
  char* error = nullptr;
  if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &error) != SQLITE_OK) {
    const std::string message = error ? error : "unknown error";
    sqlite3_free(error);
    throw IoError(file_, "job store: " + message);
  }
}

void JobStore::add(const JobRecord& r) {
  std::lock_guard lock(mutex_);
  Statement s(db_,
              "INSERT INTO jobs (id, name, status, submitter, submitter_org, submitter_role, submitted_at, message, "
              "num_rounds, seq) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, (SELECT IFNULL(MAX(seq), 0) + 1 FROM jobs))",
              file_);
  s.bind(1, r.id).bind(2, r.name).bind(3, std::string(to_string(r.state))).bind(4, r.submitter).bind(5, r.submitter_org);
  s.bind(6, r.submitter_role).bind(7, r.submitted_at ? r.submitted_at : now_seconds()).bind(8, r.message);
  s.bind(9, r.num_rounds);
  s.step();
}

std::vector<JobRecord> JobStore::query(const std::string& where, const std::vector<std::string>& args) const {
  std::lock_guard lock(mutex_);
  Statement s(db_, std::string("SELECT ") + kColumns + " FROM jobs " + where + " ORDER BY seq", file_);
  for (std::size_t i = 0; i < args.size(); ++i) s.bind(static_cast<int>(i + 1), args[i]);
  std::vector<JobRecord> out;
  while (s.step()) {
    JobRecord r;
    r.id = s.text(0);
    r.name = s.text(1);
    const std::string state = s.text(2);
    r.state = parse_job_state(state).value_or(JobState::abnormal);
    r.submitter = s.text(3);
    r.submitter_org = s.text(4);
    r.submitter_role = s.text(5);
    r.submitted_at = s.integer(6);
    r.started_at = s.integer(7);
    r.ended_at = s.integer(8);
    r.message = s.text(9);
    r.rounds_completed = s.integer(10);
    r.num_rounds = s.integer(11);
    r.resumes = s.integer(12);
    r.last_error = s.text(13);
    out.push_back(std::move(r));
  }
  return out;
}

std::optional<JobRecord> JobStore::get(const std::string& id) const {
  auto rows = query("WHERE id = ?1", {id});
  if (rows.empty()) return std::nullopt;
  return rows.front();
}

std::vector<JobRecord> JobStore::list() const { return query("", {}); }

std::vector<JobRecord> JobStore::in_state(JobState state) const {
  return query("WHERE status = ?1", {std::string(to_string(state))});
}

void JobStore::set_state(const std::string& id, JobState state, const std::string& message) {
  std::lock_guard lock(mutex_);
  const bool failed =
      state == JobState::execution_exception || state == JobState::abnormal || state == JobState::can_not_schedule;
  const std::string sql =
      std::string(state == JobState::running ? "UPDATE jobs SET status = ?2, message = ?3, started_at = ?4"
                  : is_finished(state)       ? "UPDATE jobs SET status = ?2, message = ?3, ended_at = ?4"
                                             : "UPDATE jobs SET status = ?2, message = ?3") +
      (failed ? ", last_error = ?3" : "") + " WHERE id = ?1 AND ?4 >= 0";
  Statement s(db_, sql, file_);
  s.bind(1, id).bind(2, std::string(to_string(state))).bind(3, message).bind(4, now_seconds());
  s.step();
}

void JobStore::set_progress(const std::string& id, std::int64_t rounds_completed) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "UPDATE jobs SET rounds_completed = ?2 WHERE id = ?1", file_);
  s.bind(1, id).bind(2, rounds_completed);
  s.step();
}

std::vector<JobRecord> JobStore::interrupted() const {
  return query("WHERE status IN (?1, ?2, ?3)", {std::string(to_string(JobState::dispatched)),
                                                 std::string(to_string(JobState::running)),
                                                 std::string(to_string(JobState::resumed))});
}

void JobStore::mark_resumed(const std::string& id, const std::string& why) {
  std::lock_guard lock(mutex_);
  Statement s(db_, "UPDATE jobs SET status = ?2, resumes = resumes + 1, last_error = ?3, message = '' WHERE id = ?1",
              file_);
  s.bind(1, id).bind(2, std::string(to_string(JobState::resumed))).bind(3, why);
  s.step();
}

nlohmann::json to_json(const JobRecord& r, const std::filesystem::path& workspace) {
  const auto rounds = read_rounds(JobDirectory(workspace, r.id).rounds_csv());
  const auto epsilon = privacy_spent(rounds);
  return nlohmann::json{{"id", r.id},
                        {"name", r.name},
                        {"status", std::string(to_string(r.state))},
                        {"submitter", r.submitter},
                        {"submitter_org", r.submitter_org},
                        {"submitter_role", r.submitter_role},
                        {"submitted_at", r.submitted_at},
                        {"started_at", r.started_at},
                        {"ended_at", r.ended_at},
                        {"message", r.message},
                        {"num_rounds", r.num_rounds},
                        {"rounds_completed", std::max(r.rounds_completed, static_cast<std::int64_t>(rounds.size()))},
                        {"resumes", r.resumes},
                        {"last_error", r.last_error},
                        {"epsilon", epsilon && std::isfinite(*epsilon) ? nlohmann::json(*epsilon) : nlohmann::json()}};
}

}  // namespace cohort::jobs
