// cohort recipe check FILE: validate a recipe and print it resolved.
// cohort recipe files FILE: the files that travel with its job, one absolute path a line.
// cohort recipe probe FILE: one site's training task run here, and the memory it took.
#include "runtime/commands.hpp"
#include "runtime/initial_model.hpp"
#include "process/launch.hpp"
#include "process/runtime_commands.hpp"

#include "model_zoo.hpp"
#include "plugin/registry.hpp"
#include "recipe/recipe.hpp"

#include "memory/memory.hpp"

#include "config/text_file.hpp"
#include "config/toml_file.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/logger.h>
#include <spdlog/sinks/stdout_sinks.h>

#include <atomic>
#include <chrono>
#include <iostream>
#include <thread>

namespace cohort::runtime {

namespace {

/// The recipe, checked: its plugins (found in the `--plugin-path` folders, then the
/// defaults) and its [model], which is the zoo's to check whatever the executor.
recipe::Recipe load_checked(const std::string& file, const std::vector<std::string>& paths,
                            const config::Overrides& overrides = {}) {
  std::vector<std::filesystem::path> dirs(paths.begin(), paths.end());
  for (auto& d : plugin::Registry::default_directories()) dirs.push_back(d);
  auto recipe = recipe::load_recipe(file, dirs, overrides);
  models::parse_spec(recipe.model);
  return recipe;
}

/// The context of the probe's one task: site 0 of `num_sites`.
class ProbeContext final : public ExecutorContext {
 public:
  ProbeContext(JobInfo job, std::int64_t num_sites)
      : job_(std::move(job)), num_sites_(num_sites),
        log_(std::make_shared<spdlog::logger>("probe", std::make_shared<spdlog::sinks::stderr_sink_mt>())) {
    log_->set_level(spdlog::level::warn);
  }
  const std::string& site() const override { return site_; }
  std::int64_t site_index() const override { return 0; }
  std::int64_t num_sites() const override { return num_sites_; }
  const JobInfo& job() const override { return job_; }
  spdlog::logger& log() override { return *log_; }
  bool abort_requested() const override { return false; }
  /// The probe sizes processes: what its task logs goes nowhere.
  void log_scalar(const std::string&, double, std::int64_t) override {}

 private:
  JobInfo job_;
  std::int64_t num_sites_;
  std::string site_ = "site-1";
  std::shared_ptr<spdlog::logger> log_;
};

/// Runs one training task of `recipe` in this process, as a client process would (the
/// model placed where the executor asks for it), and prints what it took:
/// `peak_rss_mb`, `children_peak_rss_mb` (the processes it started, a Python script),
/// `children_kept_rss_mb` (those still running after the task: what a site keeps until
/// the job ends, a script launched once) and `seconds`, one `key value` a line.
int probe_task(const recipe::Recipe& recipe, std::int64_t num_sites) {
  const auto started = std::chrono::steady_clock::now();
  ProbeContext ctx(recipe.job, num_sites);
  auto executor = recipe.executor_plugin->make_executor(PluginConfig{recipe.executor.args, recipe.job, recipe.model});
  auto initial = make_initial_model(models::parse_spec(recipe.model, recipe.job.seed));
  // [model] from_site: the site's own parameters, as the job would get them first.
  Model model = initial ? std::move(*initial) : executor->execute(Task{kGetParametersTask, -1, {}, {}}, ctx);
  if (auto placement = executor->model_placement(ctx)) {
    std::uint64_t total = 0;
    for (const auto& t : model.tensors) total += t.tensor.nbytes();
    placement->reserve(static_cast<std::uint32_t>(model.tensors.size()), total);
    for (std::size_t i = 0; i < model.tensors.size(); ++i) {
      auto& t = model.tensors[i];
      TensorInfo info{t.name, t.tensor.scalar_type(), t.tensor.sizes().vec(), t.tensor.nbytes(), i};
      at::Tensor placed = placement->place(info);
      placed.copy_(t.tensor);
      t.tensor = placed;
    }
  }
  // The task's children (a Python script) are sampled while it runs.
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> children_peak{0};
  std::thread sampler([&] {
    while (!done) {
      children_peak = std::max<std::uint64_t>(children_peak, memory::children_rss_bytes());
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  try {
    Model result = executor->execute(Task{"train", 0, std::move(model), {}}, ctx);
  } catch (...) {
    done = true;
    sampler.join();
    throw;
  }
  const std::uint64_t children_kept = memory::children_rss_bytes();
  children_peak = std::max<std::uint64_t>(children_peak, children_kept);
  done = true;
  sampler.join();
  std::cout << "peak_rss_mb " << memory::mib(memory::process_memory().peak_rss_bytes) << "\n"
            << "children_peak_rss_mb " << memory::mib(children_peak) << "\n"
            << "children_kept_rss_mb " << memory::mib(children_kept) << "\n"
            << "seconds " << std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count()
            << "\n";
  executor.reset();  // stops what it started before the process exits
  return process::kExitOk;
}

/// probe_task, its failures said as a job's task failure is (the site, the round, the
/// task, what the executor said) and ending the process with status 1. The error is
/// turned into the host's own here, while the recipe holds the plugin's library: an
/// exception of a type the plugin defines must not be rethrown once its library is gone.
int probe(const recipe::Recipe& recipe, std::int64_t num_sites) {
  const std::string task = "site 'site-1': round 0 task 'train' failed: ";
  try {
    return probe_task(recipe, num_sites);
  } catch (const ConfigError&) {
    throw;  // the recipe's args, located: exit 2
  } catch (const std::exception& e) {
    throw process::ExitStatusError(process::kExitFailure, task + "executor failed: " + error_message(e));
  } catch (...) {
    throw process::ExitStatusError(process::kExitFailure, task + "the executor threw something that is not an exception");
  }
}

}  // namespace

void add_recipe_command(CLI::App& app, GlobalOptions& global, Command& run) {
  auto* recipe = app.add_subcommand("recipe", process::runtime_command_description("recipe"));
  recipe->require_subcommand(1);
  auto check = std::make_shared<process::RecipeCheckLaunch>();
  process::add_options(*recipe->add_subcommand("check", "Validate a recipe and print it resolved, with every default filled in"),
                       *check);
  recipe->get_subcommand("check")->callback([&run, check] {
    run = [check] {
      const auto& [file, paths, overrides] = check->recipe;
      const auto recipe = load_checked(file, paths, overrides);
      if (auto warning = config::privacy_warning(recipe.privacy, recipe.job.min_clients)) std::cerr << *warning << "\n";
      if (check->format == "text") {
        std::cout << recipe::render(recipe);
        return process::kExitOk;
      }
      nlohmann::json files = nlohmann::json::array();
      for (const auto& f : recipe::travelling_files(recipe)) files.push_back(f.string());
      std::cout << nlohmann::json{{"file", std::filesystem::absolute(file).string()},
                                  {"name", recipe.job.name},
                                  {"controller", recipe.controller.plugin},
                                  {"executor", recipe.executor.plugin},
                                  {"num_rounds", recipe.job.num_rounds},
                                  {"text", recipe.text},
                                  {"files", files},
                                  {"resolved", recipe::render(recipe)}}
                       .dump()
                << "\n";
      return process::kExitOk;
    };
  });
  auto files = std::make_shared<process::RecipeFilesLaunch>();
  auto* files_cmd = recipe->add_subcommand(
      "files", "Validate a recipe and list the files that travel with its job (what `job submit` sends)");
  process::add_options(*files_cmd, *files);
  files_cmd->callback([&run, files] {
    run = [files] {
      const auto& [file, paths, overrides] = files->recipe;
      for (const auto& f : recipe::travelling_files(load_checked(file, paths, overrides))) std::cout << f.string() << "\n";
      return process::kExitOk;
    };
  });
  auto probe_args = std::make_shared<process::RecipeProbeLaunch>();
  auto* probe_cmd = recipe->add_subcommand(
      "probe", "Run one site's training task of a recipe in this process and print the memory it took "
               "(what `cohort simulate --workers auto` sizes its client processes by)");
  process::add_options(*probe_cmd, *probe_args);
  probe_cmd->callback([&run, probe_args] {
    run = [probe_args] {
      const auto& [file, paths, overrides] = probe_args->recipe;
      return probe(load_checked(file, paths, overrides), probe_args->sites);
    };
  });
}

}  // namespace cohort::runtime
