// cohort memprofile end to end: each setting in its own process tree, real RSS curves,
// the table, the CSVs, the PNG and the HTML page.
#include "support/sanitizers.hpp"
#include "support/processes.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using namespace cohort::test;

TEST_CASE("memprofile: a small experiment writes its table, CSVs, plot and report") {
  TempDir dir;
  auto result = run(cohort_command({"memprofile", "--gc-rounds", "0,1", "--num-rounds", "3", "--model-size", "4",
                                    "--output", (dir / "out").string(), "--insecure"}),
                    dir / "memprofile.out");
  if (result.status != 0) MESSAGE(result.output);
  REQUIRE(result.status == 0);
  CHECK(result.output.find("SUMMARY (server)") != std::string::npos);
  std::filesystem::path run_dir;
  for (const auto& e : std::filesystem::directory_iterator(dir / "out")) run_dir = e.path();
  const auto summary = cohort::jobs::CsvTable::read(run_dir / "summary.csv");
  CHECK(summary.rows().size() == 6);  // two settings x (server + two clients)
  for (const auto& row : summary.rows()) CHECK(row.number("initial_mb").value_or(0) > 50);  // a real process
  CHECK(cohort::jobs::CsvTable::read(run_dir / "rss.csv").rows().size() > 10);
  CHECK(std::filesystem::file_size(run_dir / "rss.png") > 10000);
  const auto html = read_text(run_dir / "report.html");
  CHECK(html.find("<svg") != std::string::npos);
  CHECK(html.find("gc_rounds=1 vs disabled") != std::string::npos);
}

TEST_CASE("memprofile: with jemalloc preloaded every process runs on jemalloc" *
          doctest::skip(cohort::test::kSanitizerAllocator)) {
  TempDir dir;
  auto result = run(cohort_command({"memprofile", "--gc-rounds", "1", "--num-rounds", "2", "--model-size", "4",
                                    "--allocator", "jemalloc", "--output", (dir / "out").string(), "--insecure"}),
                    dir / "memprofile.out");
  if (result.status != 0) MESSAGE(result.output);
  REQUIRE(result.status == 0);
  std::filesystem::path run_dir;
  for (const auto& e : std::filesystem::directory_iterator(dir / "out")) run_dir = e.path();
  // Every process records the allocator it detected in each memory sample.
  std::size_t processes = 0;
  for (const auto& e : std::filesystem::directory_iterator(
           cohort::jobs::JobDirectory::at(only_job(run_dir / "gc1" / "ws")).memory_folder())) {
    ++processes;
    for (const auto& row : cohort::jobs::read_memory(e.path())) CHECK(row.allocator == "jemalloc");
  }
  CHECK(processes == 3);  // server and two clients
}
