// The job's CSV files: each row type written and read back by column name, cells that
// need quoting, and a row being written when a reader looks.
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <fstream>

using namespace cohort::jobs;

TEST_CASE("job files: rounds.csv rows come back as written, empty counts included") {
  cohort::test::TempDir dir;
  const auto file = dir / "rounds.csv";
  {
    RoundsWriter w(file);
    RoundRow r;
    r.round = 0;
    r.seconds = 1.25;
    r.results = 3;
    r.failed = 1;
    r.server_rss_mb = 200.5;
    r.server_round_peak_rss_mb = 300.25;
    r.server_tensor_mb = 100;
    r.model_mb = 100;
    w.append(r);
    r.round = 1;
    r.results.reset();
    r.failed.reset();
    r.server_tensor_mb.reset();
    w.append(r);
  }
  const auto rows = read_rounds(file);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].results == 3);
  CHECK(rows[0].failed == 1);
  CHECK(rows[0].seconds == doctest::Approx(1.25));
  CHECK(rows[0].server_round_peak_rss_mb == doctest::Approx(300.25));
  CHECK(rows[0].server_tensor_mb == doctest::Approx(100));
  CHECK(rows[1].round == 1);
  CHECK_FALSE(rows[1].results);
  CHECK_FALSE(rows[1].server_tensor_mb);
}

TEST_CASE("job files: metrics.csv keeps named and extra metrics, and quotes what must be quoted") {
  cohort::test::TempDir dir;
  const auto file = dir / "metrics.csv";
  {
    MetricsWriter w(file);
    w.append({0, "site-1", {{"loss", 0.5}, {"accuracy", 0.84293}, {"test_examples", 5000}, {"odd, name", 2}}});
    w.append({0, "global", {{"accuracy", 0.8}}});
  }
  const auto rows = read_metrics(file);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].site == "site-1");
  CHECK(rows[0].metrics.at("accuracy") == doctest::Approx(0.84293));
  CHECK(rows[0].metrics.at("test_examples") == 5000);
  CHECK(rows[0].metrics.at("odd, name") == 2);
  CHECK(rows[1].metrics.size() == 1);
  const auto table = CsvTable::read(file);
  CHECK(table.columns() == std::vector<std::string>{"round", "site", "loss", "accuracy", "examples", "seconds", "extra"});
}

TEST_CASE("job files: memory rows round-trip, and a half-written last line is not read") {
  cohort::test::TempDir dir;
  const auto file = dir / "memory" / "server.csv";
  {
    MemoryWriter w(file);
    MemoryRow r;
    r.elapsed_s = 0.5;
    r.rss_mb = 150;
    r.cleanups = 2;
    r.round = 3;
    r.allocator = "glibc";
    w.append(r);
  }
  {
    std::ofstream out(file, std::ios::app);
    out << "0.700,151";  // a row a writer is in the middle of
  }
  const auto rows = read_memory(file);
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].rss_mb == 150);
  CHECK(rows[0].cleanups == 2);
  CHECK(rows[0].round == 3);
  CHECK(rows[0].allocator == "glibc");
  CHECK_FALSE(rows[0].tensor_mb);
}

TEST_CASE("job files: readers find columns by name, whatever their order, a missing file has no rows") {
  cohort::test::TempDir dir;
  {
    std::ofstream out(dir / "rounds.csv");
    out << "model_mb,round,seconds\n8,4,2.5\n";
  }
  const auto rows = read_rounds(dir / "rounds.csv");
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].round == 4);
  CHECK(rows[0].model_mb == 8);
  CHECK(read_rounds(dir / "none.csv").empty());
  CHECK_FALSE(rows[0].results);  // a column the file lacks reads as empty
}

TEST_CASE("job directory: status.txt is written atomically and read back as a state and a reason") {
  cohort::test::TempDir dir;
  const JobDirectory job(dir.path(), "job-1");
  job.create();
  CHECK_FALSE(job.read_status());
  job.write_status(JobState::execution_exception, "round 2: no site completed its task");
  const auto status = job.read_status();
  REQUIRE(status);
  CHECK(status->state == JobState::execution_exception);
  CHECK(status->message == "round 2: no site completed its task");
  CHECK(JobDirectory::at(job.root()).status_file() == job.status_file());
}
