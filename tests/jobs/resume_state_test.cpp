#include "support/temp_dir.hpp"

#include "jobs/resume_state.hpp"

#include <doctest/doctest.h>

using namespace cohort::jobs;
namespace fs = std::filesystem;

namespace {

ResumeState state_after(std::int64_t round) {
  ResumeState s;
  s.round = round;
  s.epoch = 2;
  s.global_model = state_global_model(JobDirectory::at("/x"), round).filename().string();
  s.controller = {{"best", "0.75"}, {"rng", "1 2 3"}};
  s.runner = {{"rng", "4 5 6"}};
  s.participants = {"site-2", "site-1"};
  s.file_sizes = {{"metrics.csv", 120}, {"rounds.csv", 80}};
  return s;
}

void touch(const fs::path& file) { cohort::test::write_text(file, "x"); }

}  // namespace

TEST_CASE("resume state: written and read back, the files of earlier rounds go") {
  cohort::test::TempDir dir;
  const auto job = JobDirectory::at(dir);
  CHECK_FALSE(read_resume_state(job));
  touch(state_global_model(job, 3));
  write_resume_state(job, state_after(3));
  touch(state_global_model(job, 4));
  auto next = state_after(4);
  next.controller_tensors = state_controller_tensors(job, 4).filename().string();
  touch(state_controller_tensors(job, 4));
  write_resume_state(job, next);
  const auto read = read_resume_state(job);
  REQUIRE(read);
  CHECK(read->round == 4);
  CHECK(read->epoch == 2);
  CHECK(read->global_model == "global-4.pt");
  CHECK(read->controller_tensors == "controller-4.pt");
  CHECK(read->controller == next.controller);
  CHECK(read->runner == next.runner);
  CHECK(read->participants == next.participants);
  CHECK(read->file_sizes == next.file_sizes);
  CHECK_FALSE(fs::exists(state_global_model(job, 3)));
  CHECK(fs::exists(state_global_model(job, 4)));
  remove_resume_state(job);
  CHECK_FALSE(fs::exists(state_folder(job)));
}

TEST_CASE("resume state: a record of another version, malformed, or naming a missing file is refused, naming it") {
  cohort::test::TempDir dir;
  const auto job = JobDirectory::at(dir);
  const auto record = state_folder(job) / "job_state.json";
  SUBCASE("missing model") {
    write_resume_state(job, state_after(1));
    CHECK_THROWS_WITH(read_resume_state(job), (record.string() + ": names global-1.pt, which is missing from " +
                                               state_folder(job).string()).c_str());
  }
  SUBCASE("version") {
    cohort::test::write_text(record, "{\"version\": 7}");
    CHECK_THROWS_WITH(read_resume_state(job), (record.string() + ": not a job state cohort can resume from: version 7, "
                                                                 "this cohort reads version 1").c_str());
  }
  SUBCASE("malformed") {
    cohort::test::write_text(record, "{\"version\": 1, \"round\": ");
    CHECK_THROWS_AS(read_resume_state(job), std::runtime_error);
  }
}

TEST_CASE("resume state: before the first round it keeps the sites and names no model") {
  cohort::test::TempDir dir;
  const auto job = JobDirectory::at(dir);
  ResumeState start;
  start.participants = {"site-1", "site-2", "site-3"};
  write_resume_state(job, start);
  const auto read = read_resume_state(job);
  REQUIRE(read);
  CHECK(read->round == -1);
  CHECK(read->global_model.empty());
  CHECK(read->participants == start.participants);
}
