#include "support/temp_dir.hpp"

#include "jobs/job_store.hpp"

#include <doctest/doctest.h>

#include <sqlite3.h>

using cohort::jobs::JobRecord;
using cohort::jobs::JobState;
using cohort::jobs::JobStore;

namespace {

JobRecord record(const std::string& id) {
  JobRecord r;
  r.id = id;
  r.name = "job-" + id;
  r.state = JobState::submitted;
  r.submitter = "boss@a";
  r.submitter_org = "a";
  r.submitter_role = "project_admin";
  r.num_rounds = 3;
  return r;
}

}  // namespace

TEST_CASE("job store: records survive reopening, in submission order, with their states and times") {
  cohort::test::TempDir dir;
  {
    JobStore store(dir / "jobs.db");
    store.add(record("b"));
    store.add(record("a"));
    store.set_state("b", JobState::running);
    store.set_state("b", JobState::completed, "done");
    store.set_progress("b", 3);
  }
  JobStore store(dir / "jobs.db");
  const auto all = store.list();
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == "b");  // submitted first
  CHECK(all[1].id == "a");
  CHECK(all[0].state == JobState::completed);
  CHECK(all[0].message == "done");
  CHECK(all[0].rounds_completed == 3);
  CHECK(all[0].started_at > 0);
  CHECK(all[0].ended_at >= all[0].started_at);
  CHECK(all[1].ended_at == 0);
  CHECK(store.in_state(JobState::submitted).size() == 1);
  CHECK_FALSE(store.get("missing").has_value());
}

TEST_CASE("job store: after a restart, the interrupted jobs are found, a resume counts and keeps its reason") {
  cohort::test::TempDir dir;
  JobStore store(dir / "jobs.db");
  for (const char* id : {"waiting", "dispatched", "running", "resumed", "done"}) store.add(record(id));
  store.set_state("dispatched", JobState::dispatched);
  store.set_state("running", JobState::running);
  store.set_state("resumed", JobState::running);
  store.mark_resumed("resumed", "the server stopped while the job was running");
  store.set_state("done", JobState::completed);
  std::vector<std::string> ids;
  for (const auto& r : store.interrupted()) ids.push_back(r.id);
  CHECK(ids == std::vector<std::string>{"dispatched", "running", "resumed"});

  store.mark_resumed("resumed", "the server stopped again");
  auto resumed = store.get("resumed");
  CHECK(resumed->state == JobState::resumed);
  CHECK(resumed->resumes == 2);
  CHECK(resumed->last_error == "the server stopped again");
  // A job that fails keeps why as its last error; one that completes keeps the last one it met.
  store.set_state("running", JobState::abnormal, "the server stopped while the job was running");
  CHECK(store.get("running")->last_error == "the server stopped while the job was running");
  store.set_progress("resumed", 7);
  store.set_state("resumed", JobState::completed);
  CHECK(store.get("resumed")->last_error == "the server stopped again");
  CHECK(store.get("resumed")->rounds_completed == 7);
  CHECK(store.get("waiting")->resumes == 0);
  CHECK(store.get("waiting")->last_error.empty());

  CHECK(cohort::jobs::is_finished(JobState::abnormal));
  CHECK_FALSE(cohort::jobs::is_finished(JobState::running));
  CHECK_FALSE(cohort::jobs::is_finished(JobState::resumed));
  for (auto state : {JobState::submitted, JobState::dispatched, JobState::running, JobState::resumed,
                     JobState::completed, JobState::aborted, JobState::execution_exception, JobState::abnormal,
                     JobState::can_not_schedule})
    CHECK(cohort::jobs::parse_job_state(cohort::jobs::to_string(state)) == state);
  CHECK_FALSE(cohort::jobs::parse_job_state("FINISHED"));
}

TEST_CASE("job store: a store written before jobs could resume opens with its records, their resumes at 0") {
  cohort::test::TempDir dir;
  {
    sqlite3* db = nullptr;
    REQUIRE(sqlite3_open((dir / "jobs.db").c_str(), &db) == SQLITE_OK);
    // The table as the first wave wrote it.
    REQUIRE(sqlite3_exec(db,
                         "CREATE TABLE jobs (id TEXT PRIMARY KEY, name TEXT NOT NULL, status TEXT NOT NULL, "
                         "submitter TEXT NOT NULL, submitter_org TEXT NOT NULL, submitter_role TEXT NOT NULL, "
                         "submitted_at INTEGER NOT NULL, started_at INTEGER NOT NULL DEFAULT 0, ended_at INTEGER NOT "
                         "NULL DEFAULT 0, message TEXT NOT NULL DEFAULT '', rounds_completed INTEGER NOT NULL DEFAULT "
                         "0, num_rounds INTEGER NOT NULL DEFAULT 0, seq INTEGER);"
                         "INSERT INTO jobs (id, name, status, submitter, submitter_org, submitter_role, submitted_at, "
                         "seq) VALUES ('old', 'old', 'COMPLETED', 'boss@a', 'a', 'project_admin', 1, 1);",
                         nullptr, nullptr, nullptr) == SQLITE_OK);
    sqlite3_close(db);
  }
  JobStore store(dir / "jobs.db");
  const auto old = store.get("old");
  REQUIRE(old);
  CHECK(old->state == JobState::completed);
  CHECK(old->resumes == 0);
  store.add(record("new"));
  store.mark_resumed("new", "why");
  CHECK(store.get("new")->resumes == 1);
}

TEST_CASE("job store: a duplicate id or an unwritable file is an error naming the store") {
  cohort::test::TempDir dir;
  JobStore store(dir / "jobs.db");
  store.add(record("x"));
  CHECK_THROWS_WITH_AS(store.add(record("x")), doctest::Contains("jobs.db"), std::runtime_error);
  cohort::test::write_text(dir / "file", "not a folder");
  CHECK_THROWS_AS(JobStore(dir / "file" / "jobs.db"), std::exception);
}
