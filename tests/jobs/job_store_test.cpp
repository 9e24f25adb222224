#include "support/temp_dir.hpp"

#include "job_store.hpp"

#include <doctest/doctest.h>

using cohort::jobs::JobRecord;
using cohort::jobs::JobStore;

namespace {

JobRecord record(const std::string& id) {
  JobRecord r;
  r.id = id;
  r.name = "job-" + id;
  r.status = "SUBMITTED";
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
    store.set_status("b", "RUNNING");
    store.set_status("b", "COMPLETED", "done");
    store.set_progress("b", 3);
  }
  JobStore store(dir / "jobs.db");
  const auto all = store.list();
  REQUIRE(all.size() == 2);
  CHECK(all[0].id == "b");  // submitted first
  CHECK(all[1].id == "a");
  CHECK(all[0].status == "COMPLETED");
  CHECK(all[0].message == "done");
  CHECK(all[0].rounds_completed == 3);
  CHECK(all[0].started_at > 0);
  CHECK(all[0].ended_at >= all[0].started_at);
  CHECK(all[1].ended_at == 0);
  CHECK(store.with_status("SUBMITTED").size() == 1);
  CHECK_FALSE(store.get("missing").has_value());
}

TEST_CASE("job store: after a restart, DISPATCHED and RUNNING jobs become ABNORMAL; others keep their state") {
  cohort::test::TempDir dir;
  JobStore store(dir / "jobs.db");
  for (const char* id : {"waiting", "dispatched", "running", "done"}) store.add(record(id));
  store.set_status("dispatched", "DISPATCHED");
  store.set_status("running", "RUNNING");
  store.set_status("done", "COMPLETED");
  const auto marked = store.mark_interrupted();
  CHECK(marked == std::vector<std::string>{"dispatched", "running"});
  CHECK(store.get("running")->status == "ABNORMAL");
  CHECK(store.get("dispatched")->status == "ABNORMAL");
  CHECK(store.get("waiting")->status == "SUBMITTED");
  CHECK(store.get("done")->status == "COMPLETED");
  CHECK(cohort::jobs::is_finished("ABNORMAL"));
  CHECK_FALSE(cohort::jobs::is_finished("RUNNING"));
}

TEST_CASE("job store: a duplicate id or an unwritable file is an error naming the store") {
  cohort::test::TempDir dir;
  JobStore store(dir / "jobs.db");
  store.add(record("x"));
  CHECK_THROWS_WITH_AS(store.add(record("x")), doctest::Contains("jobs.db"), std::runtime_error);
  cohort::test::write_text(dir / "file", "not a folder");
  CHECK_THROWS_AS(JobStore(dir / "file" / "jobs.db"), std::exception);
}
