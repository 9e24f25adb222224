#include "support/temp_dir.hpp"

#include "jobs/job_store.hpp"

#include <doctest/doctest.h>

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

TEST_CASE("job store: after a restart, DISPATCHED and RUNNING jobs become ABNORMAL; others keep their state") {
  cohort::test::TempDir dir;
  JobStore store(dir / "jobs.db");
  for (const char* id : {"waiting", "dispatched", "running", "done"}) store.add(record(id));
  store.set_state("dispatched", JobState::dispatched);
  store.set_state("running", JobState::running);
  store.set_state("done", JobState::completed);
  const auto marked = store.mark_interrupted();
  CHECK(marked == std::vector<std::string>{"dispatched", "running"});
  CHECK(store.get("running")->state == JobState::abnormal);
  CHECK(store.get("dispatched")->state == JobState::abnormal);
  CHECK(store.get("waiting")->state == JobState::submitted);
  CHECK(store.get("done")->state == JobState::completed);
  CHECK(cohort::jobs::is_finished(JobState::abnormal));
  CHECK_FALSE(cohort::jobs::is_finished(JobState::running));
  for (auto state : {JobState::submitted, JobState::dispatched, JobState::running, JobState::completed, JobState::aborted,
                     JobState::execution_exception, JobState::abnormal, JobState::can_not_schedule})
    CHECK(cohort::jobs::parse_job_state(cohort::jobs::to_string(state)) == state);
  CHECK_FALSE(cohort::jobs::parse_job_state("FINISHED"));
}

TEST_CASE("job store: a duplicate id or an unwritable file is an error naming the store") {
  cohort::test::TempDir dir;
  JobStore store(dir / "jobs.db");
  store.add(record("x"));
  CHECK_THROWS_WITH_AS(store.add(record("x")), doctest::Contains("jobs.db"), std::runtime_error);
  cohort::test::write_text(dir / "file", "not a folder");
  CHECK_THROWS_AS(JobStore(dir / "file" / "jobs.db"), std::exception);
}
