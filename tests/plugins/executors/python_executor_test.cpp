// The python executor against a fake site: real Python scripts (Debian's python3-torch)
// started by the plugin, tasks handed over shared memory; no server, no network.
#include "plugin/registry.hpp"
#include "config/toml_file.hpp"
#include "support/temp_dir.hpp"

#include <cohort/executor.hpp>

#include <ATen/ops/allclose.h>
#include <ATen/ops/full.h>
#include <spdlog/logger.h>
#include <spdlog/sinks/ringbuffer_sink.h>

#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>

namespace fs = std::filesystem;
using cohort::test::TempDir;

namespace {

const fs::path kPlugins = fs::path(COHORT_EXECUTABLE).parent_path().parent_path() / "lib/cohort/plugins";
const fs::path kScripts = fs::path(COHORT_SOURCE_DIR) / "tests/fixtures/python";

class FakeSite final : public cohort::ExecutorContext {
 public:
  // Declared before the executor: the scripts' output reaches its log until the executor is gone.
  explicit FakeSite(std::string site, std::int64_t index = 0)
      : site_(std::move(site)), index_(index), sink_(std::make_shared<spdlog::sinks::ringbuffer_sink_mt>(256)),
        log_("site", sink_) {
    job_.id = "job-1";
    job_.name = "python-test";
    job_.num_rounds = 3;
  }
  const std::string& site() const override { return site_; }
  std::int64_t site_index() const override { return index_; }
  std::int64_t num_sites() const override { return 2; }
  const cohort::JobInfo& job() const override { return job_; }
  spdlog::logger& log() override { return log_; }
  bool abort_requested() const override { return false; }
  void log_scalar(const std::string& tag, double value, std::int64_t step) override {
    scalars.push_back({tag, value, step});
  }
  struct Logged {
    std::string tag;
    double value;
    std::int64_t step;
  };
  /// What the script logged, in order.
  std::vector<Logged> scalars;
  /// Everything logged so far, one line each.
  std::string logged() const {
    std::string text;
    for (const auto& line : sink_->last_formatted()) text += line;
    return text;
  }

 private:
  std::string site_;
  std::int64_t index_;
  cohort::JobInfo job_;
  std::shared_ptr<spdlog::sinks::ringbuffer_sink_mt> sink_;
  spdlog::logger log_;
};

// A python executor made from `args` (a recipe's [executor.args]), the recipe written in
// `dir` so that a relative script path is relative to it.
struct Loaded {
  std::shared_ptr<cohort::plugin::LoadedPlugin> plugin;
  std::shared_ptr<cohort::Executor> executor;
};

Loaded make_executor(const TempDir& dir, const std::string& args) {
  const fs::path recipe = dir / "recipe.toml";
  cohort::test::write_text(recipe, "[executor.args]\n" + args);
  cohort::Args parsed = cohort::config::read_toml_file(recipe).table("executor").table("args");
  cohort::plugin::Registry registry({kPlugins});
  auto plugin = registry.load(cohort::PluginKind::executor, "python", {});
  cohort::JobInfo job;
  cohort::Args model;
  return {plugin, plugin->make_executor({parsed, job, model})};
}

std::string script_args(const std::string& mode, const std::string& extra = "") {
  return "script = \"" + (kScripts / "scripted_site.py").string() + "\"\nargs = [\"" + mode + "\"]\n" + extra;
}

cohort::Task train_task(std::int64_t round = 0) {
  cohort::Task task{"train", round, {}, {{"lr", "0.1"}}};
  task.model.tensors.push_back({"fc1.weight", at::full({3, 4}, 0.5f)});
  task.model.tensors.push_back({"fc1.bias", at::full({3}, -1.0f)});
  return task;
}

// Runs a task; a failure is rethrown as a std::runtime_error of the same text (the
// plugin's own exception types go when its library does).
cohort::Model run(cohort::Executor& executor, FakeSite& site, cohort::Task task) {
  try {
    return executor.execute(std::move(task), site);
  } catch (const std::exception& e) {
    throw std::runtime_error(e.what());
  }
}

std::string failure(cohort::Executor& executor, FakeSite& site, cohort::Task task = train_task()) {
  try {
    executor.execute(std::move(task), site);
  } catch (const std::exception& e) {
    return e.what();
  }
  return "no error";
}

void check_shifted(const cohort::Model& result, float shift) {
  REQUIRE(result.tensors.size() == 2);
  CHECK(result.tensors[0].name == "fc1.weight");
  CHECK(at::allclose(result.tensors[0].tensor, at::full({3, 4}, 0.5f + shift)));
  CHECK(result.tensors[1].name == "fc1.bias");
  CHECK(at::allclose(result.tensors[1].tensor, at::full({3}, -1.0f + shift)));
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

}  // namespace

TEST_CASE("python executor: a FULL result comes back with its steps and metrics") {
  TempDir dir;
  FakeSite site("site-2", 1);
  auto loaded = make_executor(dir, script_args("full"));
  auto result = run(*loaded.executor, site, train_task(2));
  check_shifted(result, 2.0f);
  CHECK(result.num_steps == 20);
  CHECK(result.metrics.at("loss") == doctest::Approx(1.0 / 3));
  CHECK(result.metrics.at("round_seen") == 2);
  CHECK(result.round == 2);
}

TEST_CASE("python executor: the network's memory is the script's: tensors changed in place are not copied") {
  TempDir dir;
  FakeSite site("site-1", 0);
  auto loaded = make_executor(dir, script_args("in-place"));
  // As the client process does: the placement first, the stream fills it, then the task.
  auto placement = loaded.executor->model_placement(site);
  REQUIRE(placement);
  placement->reserve(2, 12 * 4 + 3 * 4);
  cohort::Task task{"train", 0, {}, {}};
  for (auto [name, shape, value] : {std::tuple{"fc1.weight", std::vector<std::int64_t>{3, 4}, 0.5f},
                                    std::tuple{"fc1.bias", std::vector<std::int64_t>{3}, -1.0f}}) {
    cohort::TensorInfo info{name, c10::ScalarType::Float, shape, 4u * (shape.size() == 2 ? 12u : 3u), 0};
    at::Tensor t = placement->place(info);
    t.fill_(value);
    task.model.tensors.push_back({name, t});
  }
  const void* weight = task.model.tensors[0].tensor.data_ptr();
  const void* bias = task.model.tensors[1].tensor.data_ptr();
  auto result = run(*loaded.executor, site, std::move(task));
  check_shifted(result, 1.0f);
  CHECK(result.tensors[0].tensor.data_ptr() == weight);
  CHECK(result.tensors[1].tensor.data_ptr() == bias);
}

TEST_CASE("python executor: a DIFF result is added to the received model") {
  TempDir dir;
  FakeSite site("site-1", 0);
  auto loaded = make_executor(dir, script_args("diff"));
  check_shifted(run(*loaded.executor, site, train_task()), 1.0f);
}

TEST_CASE("python executor: launched once, one script serves every task of a site, per task, one each") {
  TempDir dir;
  FakeSite site("site-1", 0);
  auto count_starts = [&] {
    const auto text = site.logged();
    std::size_t n = 0;
    for (auto at = text.find("started pid"); at != std::string::npos; at = text.find("started pid", at + 1)) ++n;
    return n;
  };
  {
    auto once = make_executor(dir, script_args("full"));
    for (int round = 0; round < 3; ++round) check_shifted(run(*once.executor, site, train_task(round)), 1.0f);
  }
  CHECK(count_starts() == 1);
  {
    auto per_task = make_executor(dir, script_args("full", "launch = \"per_task\""));
    for (int round = 0; round < 2; ++round) check_shifted(run(*per_task.executor, site, train_task(round)), 1.0f);
  }
  CHECK(count_starts() == 3);
}

TEST_CASE("python executor: a validate task returns metrics only, mid-task scalars reach the site") {
  TempDir dir;
  FakeSite site("site-1", 0);
  auto loaded = make_executor(dir, script_args("log"));
  auto task = train_task();
  task.name = "validate";
  auto result = run(*loaded.executor, site, std::move(task));
  CHECK(result.tensors.empty());
  CHECK(result.metrics.at("accuracy") == 0.5);
  check_shifted(run(*loaded.executor, site, train_task()), 1.0f);
  // The script logs loss 0.25 at step 7, then batch_loss at steps 0, 1, 2 without one,
  // then a NaN (null on the channel: the site counts it as dropped).
  REQUIRE(site.scalars.size() >= 5);
  CHECK(site.scalars[0].tag == "loss");
  CHECK(site.scalars[0].value == 0.25);
  CHECK(site.scalars[0].step == 7);
  for (int i = 0; i < 3; ++i) {
    CHECK(site.scalars[1 + i].tag == "batch_loss");
    CHECK(site.scalars[1 + i].step == i);
    CHECK(site.scalars[1 + i].value == doctest::Approx(1.0 / (i + 1)));
  }
  CHECK(site.scalars[4].tag == "diverged");
  CHECK(std::isnan(site.scalars[4].value));
}

TEST_CASE("python executor: a bad script fails its task with its name, the site and its last lines") {
  TempDir dir;
  FakeSite site("site-1", 0);
  struct Case {
    std::string mode;
    std::vector<std::string> parts;
  };
  const std::vector<Case> cases = {
      {"raise", {"site 'site-1': script scripted_site.py: exited before it sent a result (exit status 1)",
                 "RuntimeError: the training diverged", "scripted_site.py\", line"}},
      {"exit", {"exited before it sent a result (exit status 3)"}},
      {"no-init-exit", {"exited before it called cohort.init() (exit status 0); it printed nothing"}},
      {"wrong-name", {"ValueError: cohort.send(): tensor 'fc9.weight' is not in the task's model (it has fc1.weight, fc1.bias)"}},
      {"wrong-dtype", {"ValueError: cohort.send(): tensor 'fc1.weight' is float64 [3, 4]; the task's model has float32 [3, 4]"}},
      {"wrong-shape", {"ValueError: cohort.send(): tensor 'fc1.weight' is float32 [1]; the task's model has float32 [3, 4]"}},
      {"raw-wrong-name", {"sent tensor 'nope', which the task's model does not have (it has fc1.weight, fc1.bias)"}},
      {"raw-outside", {"sent a tensor outside its region"}},
  };
  for (const auto& c : cases) {
    CAPTURE(c.mode);
    auto loaded = make_executor(dir, script_args(c.mode));
    const auto error = failure(*loaded.executor, site);
    for (const auto& part : c.parts) CHECK_MESSAGE(contains(error, part), error);
    // The executor goes on: the next task starts a new script.
  }
}

TEST_CASE("python executor: a script that fails to import says where") {
  TempDir dir;
  FakeSite site("site-1", 0);
  auto loaded = make_executor(dir, "script = \"" + (kScripts / "import_error.py").string() + "\"");
  const auto error = failure(*loaded.executor, site);
  CHECK_MESSAGE(contains(error, "import_error.py\", line 2"), error);
  CHECK_MESSAGE(contains(error, "ModuleNotFoundError: No module named 'a_module_that_does_not_exist'"), error);
}

TEST_CASE("python executor: a script that hangs is stopped at task_timeout_s, and the next task runs") {
  TempDir dir;
  FakeSite site("site-1", 0);
  {
    auto loaded = make_executor(dir, script_args("hang", "task_timeout_s = 1.5"));
    const auto error = failure(*loaded.executor, site);
    CHECK_MESSAGE(contains(error, "sent no result within task_timeout_s = 1.5 s; it was stopped"), error);
  }
  {
    auto loaded = make_executor(dir, script_args("no-init-hang", "start_timeout_s = 1.5"));
    const auto error = failure(*loaded.executor, site);
    CHECK_MESSAGE(contains(error, "did not call cohort.init() in time"), error);
  }
}

TEST_CASE("python executor: a script that does not exist is a recipe error at its line") {
  TempDir dir;
  try {
    make_executor(dir, "launch = \"once\"\nscript = \"missing.py\"\n");
    FAIL("no error");
  } catch (const cohort::ConfigError& e) {
    CHECK(e.where().line == 3);
    CHECK(contains(e.what(), "executor.args.script: '" + (dir / "missing.py").string() + "' is not a file"));
  }
}
