// TensorBoard's event files and a job's tracking/ folder.

#include "jobs/event_file.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/tracking.hpp"

#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <limits>
#include <vector>

using namespace cohort::jobs;

namespace {

std::string read_bytes(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), {}};
}

std::uint64_t u64(const std::string& bytes, std::size_t at) {
  std::uint64_t v = 0;
  std::memcpy(&v, bytes.data() + at, 8);
  return v;
}

std::uint32_t u32(const std::string& bytes, std::size_t at) {
  std::uint32_t v = 0;
  std::memcpy(&v, bytes.data() + at, 4);
  return v;
}

/// The records of a TFRecord file, each checked against both of its CRCs.
std::vector<std::string> records(const std::string& bytes) {
  std::vector<std::string> out;
  for (std::size_t at = 0; at < bytes.size();) {
    REQUIRE(at + 12 <= bytes.size());
    const std::uint64_t length = u64(bytes, at);
    CHECK(u32(bytes, at + 8) == masked_crc32c(bytes.substr(at, 8)));
    REQUIRE(at + 12 + length + 4 <= bytes.size());
    const std::string record = bytes.substr(at + 12, length);
    CHECK(u32(bytes, at + 12 + length) == masked_crc32c(record));
    out.push_back(record);
    at += 12 + length + 4;
  }
  return out;
}

}  // namespace

TEST_CASE("tracking: CRC-32C's check value and TFRecord's mask") {
  CHECK(crc32c("123456789") == 0xE3069283u);
  CHECK(masked_crc32c("123456789") == 0xC78AB0E5u);
  CHECK(crc32c("") == 0u);
}

TEST_CASE("tracking: one scalar event is the golden bytes encoded from TensorBoard's schema") {
  // tests/fixtures/tracking/make_golden.py wrote them without cohort's code.
  const auto golden = read_bytes(std::filesystem::path(COHORT_SOURCE_DIR) / "tests/fixtures/tracking/one_scalar.tfevents");
  REQUIRE(golden.size() == 42);
  CHECK(tfrecord(scalar_event(1700000000.5, 0, "loss", 0.5f)) == golden);
}

TEST_CASE("tracking: an event file opens with brain.Event:2, then one record a scalar") {
  cohort::test::TempDir dir;
  std::filesystem::path file;
  {
    EventFileWriter writer(dir / "run");
    file = writer.file();
    writer.add_scalar("loss", 0.25f, 0, 1700000000.000001);
    writer.add_scalar("loss", 0.125f, 7, 1700000001.5);
  }
  CHECK(file.filename().string().rfind("events.out.tfevents.", 0) == 0);
  const auto all = records(read_bytes(file));
  REQUIRE(all.size() == 3);
  CHECK(all[0].find("brain.Event:2") != std::string::npos);
  CHECK(all[1] == scalar_event(1700000000.000001, 0, "loss", 0.25f));
  CHECK(all[2] == scalar_event(1700000001.5, 7, "loss", 0.125f));
}

TEST_CASE("tracking: a job's scalars go to an event file per source and to metrics.jsonl, and non-finite ones are counted") {
  cohort::test::TempDir dir;
  const JobDirectory job(dir.path(), "job-1");
  {
    Tracking tracking(job);
    tracking.add("server", "round/seconds", 1.5, 0);
    tracking.add("site-1", "loss", 0.5, 0);
    tracking.add("site-1", "loss", std::numeric_limits<double>::quiet_NaN(), 1);
    tracking.add("site-1", "loss", std::numeric_limits<double>::infinity(), 2);
    tracking.add("../escape", "loss", 0.25, 1);
    CHECK(tracking.dropped() == 2);
  }
  const auto scalars = read_tracked(job);
  REQUIRE(scalars.size() == 3);
  CHECK(scalars[0].source == "server");
  CHECK(scalars[0].tag == "round/seconds");
  CHECK(scalars[0].step == 0);
  CHECK(scalars[0].value == 1.5);
  CHECK(scalars[0].wall_time > 1.7e9);
  CHECK(scalars[1].source == "site-1");
  CHECK(scalars[2].source == "../escape");
  for (const auto* folder : {"server", "site-1", ".._escape"}) {
    const auto path = job.tracking_folder() / folder;
    REQUIRE(std::filesystem::is_directory(path));
    CHECK(std::distance(std::filesystem::directory_iterator(path), {}) == 1);
  }
  CHECK(tracking_folder_name("..") == "_");
  CHECK(tracking_folder_name("site a/b") == "site_a_b");
}

TEST_CASE("tracking: with more sources than open files, each event file is closed and opened again to append") {
  cohort::test::TempDir dir;
  const JobDirectory job(dir.path(), "job-1");
  const std::size_t sources = kMostOpenEventFiles * 3;
  auto open_descriptors = [] {
    std::size_t n = 0;
    for ([[maybe_unused]] const auto& entry : std::filesystem::directory_iterator("/proc/self/fd")) ++n;
    return n;
  };
  const std::size_t before = open_descriptors();
  {
    Tracking tracking(job);
    for (int round = 0; round < 2; ++round)
      for (std::size_t s = 0; s < sources; ++s) tracking.add("site-" + std::to_string(s), "loss", 0.5 * round, round);
    CHECK(open_descriptors() <= before + kMostOpenEventFiles + 1);  // and metrics.jsonl
  }
  for (std::size_t s = 0; s < sources; ++s) {
    const auto folder = job.tracking_folder() / ("site-" + std::to_string(s));
    REQUIRE(std::distance(std::filesystem::directory_iterator(folder), {}) == 1);  // one file, reopened
    const auto all = records(read_bytes(std::filesystem::directory_iterator(folder)->path()));
    REQUIRE(all.size() == 3);
    CHECK(all[2].find("loss") != std::string::npos);
  }
}
