// Where a round's time went: the parts of its critical path, from timeline.csv's rows.
#include "jobs/round_timeline.hpp"
#include "support/temp_dir.hpp"

#include <doctest/doctest.h>

using namespace cohort::jobs;

namespace {

TimelineRow row(std::int64_t broadcast, const std::string& site, const std::string& event, double seconds) {
  return TimelineRow{0, broadcast, "train", site, event, seconds};
}

}  // namespace

TEST_CASE("round timeline: a round splits along its slowest site into parts that add up") {
  const std::vector<TimelineRow> rows{
      row(0, "server", "broadcast_began", 0.01),
      row(0, "site-1", "sent", 0.10),       row(0, "site-2", "sent", 0.20),
      row(0, "site-1", "accepted", 0.02),   row(0, "site-2", "accepted", 0.03),
      row(0, "site-1", "result_began", 0.50), row(0, "site-1", "result_ended", 0.60),
      row(0, "site-2", "result_began", 0.90), row(0, "site-2", "result_ended", 1.00),
      row(0, "server", "broadcast_ended", 1.02),
      {0, -1, "", "server", "round_ended", 1.10}};
  const auto parts = round_parts(rows);
  REQUIRE(parts.count(0) == 1);
  const auto& p = parts.at(0);
  CHECK(p.seconds == doctest::Approx(1.10));
  CHECK(p.send == doctest::Approx(0.19));     // 0.01 -> site-2's task written at 0.20
  CHECK(p.sites == doctest::Approx(0.70));    // -> its result began at 0.90
  CHECK(p.receive == doctest::Approx(0.10));  // -> and ended at 1.00
  CHECK(p.server == doctest::Approx(0.11));   // the first 0.01 and the last 0.10
  CHECK(p.send + p.sites + p.receive + p.server == doctest::Approx(p.seconds));
  CHECK(p.slowest_site == "site-2");
  CHECK(p.slowest_after_first == doctest::Approx(0.40));
  CHECK(describe(p) == "1.10 s = send 0.19 + sites 0.70 + receive 0.10 + server 0.11 "
                       "(slowest site-2, 0.40 s after the first result)");
}

TEST_CASE("round timeline: broadcasts in turn add up, a failed site ends its path, and unfinished rounds are left out") {
  const std::vector<TimelineRow> rows{
      row(0, "server", "broadcast_began", 0.0), row(0, "site-1", "sent", 0.1),
      row(0, "site-1", "result_began", 0.3),    row(0, "site-1", "result_ended", 0.4),
      row(0, "server", "broadcast_ended", 0.4),
      row(1, "server", "broadcast_began", 0.5), row(1, "site-2", "sent", 0.6),
      row(1, "site-2", "failed", 0.9),          row(1, "server", "broadcast_ended", 0.9),
      {0, -1, "", "server", "round_ended", 1.0},
      {1, 0, "train", "server", "broadcast_began", 0.0}};  // round 1 has not ended
  const auto parts = round_parts(rows);
  REQUIRE(parts.size() == 1);
  const auto& p = parts.at(0);
  CHECK(p.send == doctest::Approx(0.2));
  CHECK(p.sites == doctest::Approx(0.5));  // 0.2 + a failure 0.3 after its task was sent
  CHECK(p.receive == doctest::Approx(0.1));
  CHECK(p.server == doctest::Approx(0.2));
  CHECK(p.slowest_site == "site-2");
}

TEST_CASE("round timeline: rows read back from timeline.csv as written") {
  cohort::test::TempDir dir;
  {
    TimelineWriter writer(dir / "timeline.csv");
    writer.append(row(0, "site-1", "result_ended", 0.123456));
    writer.append({0, -1, "", "server", "round_ended", 1.5});
  }
  const auto rows = read_timeline(dir / "timeline.csv");
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].task == "train");
  CHECK(rows[0].site == "site-1");
  CHECK(rows[0].event == "result_ended");
  CHECK(rows[0].seconds == doctest::Approx(0.123456));
  CHECK(rows[1].broadcast == -1);
}
