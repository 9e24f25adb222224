// A client process killed in the middle of uploading its result.
//
// The documented semantics (aggregation.hpp): every element of the aggregate is the
// weighted mean over the results that delivered it whole, chunk by chunk. Site i of 3
// returns global + (i + 1), so an element is 2 when all three delivered it and 1.5 when
// only sites 1 and 2 did; the dead site's elements form a prefix of its stream.
#include "support/processes.hpp"
#include "jobs/job_directory.hpp"
#include "jobs/job_files.hpp"
#include "support/temp_dir.hpp"

#include "provisioning/local_project.hpp"

#include <cohort/model.hpp>

#include <doctest/doctest.h>

#include <csignal>
#include <thread>

using namespace cohort::test;
using cohort::process::ChildProcess;

namespace {

std::string recipe(const std::string& controller_args) {
  return R"(
[job]
name = "kill"
num_rounds = 1
min_clients = 3
[controller]
plugin = "fedavg"
[controller.args]
final_validation = false
)" + controller_args + R"(
[executor]
plugin = "synthetic"
[model]
arch = "synthetic"
size_mb = 4.0
tensors = 4
)";
}

struct Run {
  int server_status = -1;
  std::filesystem::path job;
};

Run run_with_a_killed_client(const TempDir& dir, const std::string& controller_args) {
  write_text(dir / "recipe.toml", recipe(controller_args));
  // site-3 kills itself (SIGKILL) after 1.5 MiB of its 4 MiB result are written.
  auto local = run_local_job(dir, 3, 3, 3 * 512 * 1024, {"--chunk-kib", "64"});
  Run run;
  run.server_status = local.server_status;
  CHECK(local.clients[2].wait_for(std::chrono::seconds(30)) == 128 + SIGKILL);
  run.job = only_job(dir / "ws");
  return run;
}

}  // namespace

TEST_CASE("kill mid-upload: the aggregate counts the dead site only where its bytes arrived") {
  TempDir dir;
  // Two results suffice, but the server waits for the third until it is cut off.
  auto run = run_with_a_killed_client(dir, "min_responses = 2\nwait_after_min_s = 60");
  REQUIRE(run.server_status == 0);
  auto model = cohort::load_checkpoint(run.job / "global_model.pt");
  // Walk the elements in stream order: a prefix of 2s (all three sites), then 1.5s.
  std::size_t with_all = 0, without = 0, other = 0;
  bool in_prefix = true, prefix_broken = false;
  for (const auto& t : model.tensors) {
    const float* v = t.tensor.data_ptr<float>();
    for (std::int64_t i = 0; i < t.tensor.numel(); ++i) {
      if (v[i] == 2.0f) {
        ++with_all;
        if (!in_prefix) prefix_broken = true;
      } else if (v[i] == 1.5f) {
        ++without;
        in_prefix = false;
      } else {
        ++other;
      }
    }
  }
  MESSAGE("elements with the dead site: " << with_all << ", without: " << without);
  CHECK(other == 0);
  CHECK_FALSE(prefix_broken);
  CHECK(without > 0);
  // It wrote all of tensor 0 (1 MiB) and half of tensor 1 before the cut.
  CHECK(with_all == 3 * 512 * 1024 / 4);
  auto rounds = cohort::jobs::read_rounds(cohort::jobs::JobDirectory::at(run.job).rounds_csv());
  REQUIRE(rounds.size() == 1);
  CHECK(rounds[0].results == 2);
  CHECK(rounds[0].failed == 1);
}

TEST_CASE("kill mid-upload: when every result is needed, the job fails cleanly") {
  TempDir dir;
  auto run = run_with_a_killed_client(dir, "");
  CHECK(run.server_status == 1);
  const auto status = cohort::jobs::JobDirectory::at(run.job).read_status();
  REQUIRE(status);
  CHECK(status->state == cohort::jobs::JobState::execution_exception);
  CHECK(status->message.rfind("round 0: 2 of 3 results arrived", 0) == 0);
  CHECK_FALSE(std::filesystem::exists(run.job / "global_model.pt"));
}
