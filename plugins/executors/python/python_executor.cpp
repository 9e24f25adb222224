// python: runs a user's Python training script as a site's executor.
//
// The script uses the `cohort` package (python/cohort): cohort.init(), a loop on
// cohort.is_running(), model = cohort.receive(), training, cohort.send(model). Per site,
// the executor starts the script (once for the job, or once per task), and hands each task
// over a Unix socket: the task's tensors lie in a shared-memory region (the network wrote
// them there, see model_placement), the script maps it and its tensors view it; the
// result comes back written into that region (or one the script made), from which the
// client streams it. A script that fails, exits, breaks the protocol, sends a tensor the
// model does not have or hangs past task_timeout_s fails its task with its last lines of
// output; the client process goes on.
#include "script_process.hpp"
#include "shared_region.hpp"

#include "memory/memory.hpp"

#include <cohort/plugin.hpp>

#include <spdlog/fmt/fmt.h>
#include <spdlog/logger.h>


#include <chrono>
#include <filesystem>
#include <limits>
#include <mutex>
#include <set>

namespace {

namespace fs = std::filesystem;
using namespace cohort::python;
using Clock = std::chrono::steady_clock;

enum class Launch { once, per_task };

/// Whose Client API the script is written against.
enum class Api { cohort, nvflare, flower };

struct PythonConfig {
  fs::path script;
  Api api = Api::cohort;
  /// nvflare: params as numpy arrays (views of the same memory) instead of torch tensors.
  bool numpy_params = false;
  /// flower: the ClientApp (or client_fn) the script defines, and the run's config.
  std::string client_app;
  std::string run_config = "{}";
  std::vector<std::string> args;
  std::string python = "/usr/bin/python3";
  std::map<std::string, std::string> env;
  Launch launch = Launch::once;
  std::chrono::milliseconds task_timeout{0};
  std::chrono::milliseconds start_timeout{std::chrono::seconds(120)};
};

// The dtype names of the control protocol (torch's Python names); the script's side has
// the same table in python/cohort/_channel.py.
const std::vector<std::pair<c10::ScalarType, std::string>>& dtype_names() {
  static const std::vector<std::pair<c10::ScalarType, std::string>> names = {
      {c10::ScalarType::Float, "float32"}, {c10::ScalarType::Double, "float64"},
      {c10::ScalarType::Half, "float16"},  {c10::ScalarType::BFloat16, "bfloat16"},
      {c10::ScalarType::Long, "int64"},    {c10::ScalarType::Int, "int32"},
      {c10::ScalarType::Short, "int16"},   {c10::ScalarType::Char, "int8"},
      {c10::ScalarType::Byte, "uint8"},    {c10::ScalarType::Bool, "bool"}};
  return names;
}

std::string dtype_name(c10::ScalarType t) {
  for (const auto& [type, name] : dtype_names()) {
    if (type == t) return name;
  }
  throw std::invalid_argument(std::string("dtype ") + c10::toString(t) + " cannot be handed to a Python script");
}

std::optional<c10::ScalarType> dtype_of(const std::string& name) {
  for (const auto& [type, n] : dtype_names()) {
    if (n == name) return type;
  }
  return std::nullopt;
}

// Where the cohort package is: python/ beside the plugins folder (lib/cohort/python when
// installed; the build tree links it to the sources).
fs::path package_dir() { return cohort::sdk_directory() / "cohort" / "python"; }

// What a site holds between tasks: its script (when launched once) and where its next
// model lands.
struct SiteState {
  std::unique_ptr<ScriptProcess> script;
  std::shared_ptr<RegionPlacement> placement;
  /// With model memory reuse: the last task's region, for the next model to land in.
  std::shared_ptr<SharedRegion> last_region;
};

class PythonExecutor final : public cohort::Executor {
 public:
  // Destroyed, it stops every site's script (ScriptProcess's destructor).
  explicit PythonExecutor(PythonConfig config) : config_(std::move(config)), package_(package_dir()) {}

  std::shared_ptr<cohort::TensorPlacement> model_placement(cohort::ExecutorContext& ctx) override {
    std::lock_guard lock(mutex_);
    SiteState& state = sites_[ctx.site()];
    auto placement = std::make_shared<RegionPlacement>("cohort-task-" + ctx.site(), std::move(state.last_region));
    state.placement = placement;
    return placement;
  }

  cohort::Model execute(cohort::Task task, cohort::ExecutorContext& ctx) override {
    std::lock_guard lock(mutex_);
    SiteState& state = sites_[ctx.site()];
    auto placement = std::move(state.placement);
    const auto region = task_region(task.model, placement, ctx.site());
    if (cohort::memory::model_memory_reuse()) state.last_region = region;
    const std::string who = "site '" + ctx.site() + "': script " + config_.script.filename().string();

    if (state.script && !state.script->running()) state.script.reset();
    if (!state.script) state.script = start(ctx, who);
    ScriptProcess& script = *state.script;

    const auto deadline = config_.task_timeout.count() > 0 ? Clock::now() + config_.task_timeout : Clock::time_point::max();
    auto keep_waiting = [&] { return !ctx.abort_requested() && Clock::now() < deadline; };
    auto why_not = [&]() -> std::string {
      if (ctx.abort_requested()) return "was stopped: the job is ending";
      return fmt::format("sent no result within task_timeout_s = {:g} s; it was stopped",
                         std::chrono::duration<double>(config_.task_timeout).count());
    };
    cohort::Model result;
    try {
      std::vector<int> fds;
      if (region) fds.push_back(region->fd());
      script.send(task_frame(task, ctx, region), fds);
      while (true) {
        Frame frame = script.receive(keep_waiting, why_not);
        const std::string op = frame.body["op"];
        if (op == "log") {
          log_metric(frame.body, ctx);
        } else if (op == "result") {
          result = task.name == cohort::kGetParametersTask ? read_parameters(frame, script)
                                                            : read_result(frame, task, region, script);
          break;
        } else {
          throw ScriptError(script.describe_failure("sent an unknown message \"" + op + "\""));
        }
      }
    } catch (const ScriptError&) {
      state.script->stop(std::chrono::milliseconds(0));
      state.script.reset();
      throw;
    }
    if (config_.launch == Launch::per_task) {
      state.script->stop(std::chrono::seconds(10));
      state.script.reset();
    }
    result.round = task.round;
    return result;
  }

 private:
  std::unique_ptr<ScriptProcess> start(cohort::ExecutorContext& ctx, const std::string& who) {
    ScriptCommand command;
    command.who = who;
    if (config_.api == Api::flower)
      command.argv = {config_.python, "-m", "cohort.flower", config_.script.string(), config_.client_app};
    else
      command.argv = {config_.python, config_.script.string()};
    command.argv.insert(command.argv.end(), config_.args.begin(), config_.args.end());
    command.env = config_.env;
    // Another framework's API comes from cohort's shims, first on the path of this script
    // only: nothing else sees them, and they win over a real installation (shims/README.md).
    std::string path = config_.api == Api::cohort ? package_.string()
                                                 : (package_ / "shims").string() + ":" + package_.string();
    if (config_.numpy_params) command.env["COHORT_PARAMS_FORMAT"] = "numpy";
    if (config_.api == Api::flower) command.env["COHORT_RUN_CONFIG"] = config_.run_config;
    if (const char* existing = std::getenv("PYTHONPATH"); existing && *existing) path += std::string(":") + existing;
    command.env["PYTHONPATH"] = path;
    command.env["PYTHONUNBUFFERED"] = "1";  // its lines reach the log as they are printed
    command.env["COHORT_SITE"] = ctx.site();
    if (!listener_) listener_.emplace();
    auto script = std::make_unique<ScriptProcess>(command, *listener_, ctx.log());
    const auto deadline = Clock::now() + config_.start_timeout;
    nlohmann::json welcome = {{"op", "welcome"},
                              {"site", ctx.site()},
                              {"site_index", ctx.site_index()},
                              {"num_sites", ctx.num_sites()},
                              {"job_id", ctx.job().id},
                              {"job_name", ctx.job().name},
                              {"total_rounds", ctx.job().num_rounds},
                              {"launch", config_.launch == Launch::once ? "once" : "per_task"}};
    script->connect(welcome, [&] { return !ctx.abort_requested() && Clock::now() < deadline; });
    return script;
  }

  // The region holding the task's tensors: the one the network filled when every tensor
  // lies in it, else a new one they are moved into (a model that came another way, e.g.
  // relayed by a site workflow: one copy, and the model's tensors become views of it).
  static std::shared_ptr<SharedRegion> task_region(cohort::Model& model,
                                                   const std::shared_ptr<RegionPlacement>& placement,
                                                   const std::string& site) {
    if (model.tensors.empty()) return nullptr;
    if (placement && placement->region()) {
      const auto& region = placement->region();
      bool inside = true;
      for (const auto& t : model.tensors) {
        inside = inside && t.tensor.is_contiguous() && region->contains(t.tensor.data_ptr(), t.tensor.nbytes());
      }
      if (inside) return region;
    }
    std::vector<std::uint64_t> sizes;
    for (const auto& t : model.tensors) sizes.push_back(t.tensor.nbytes());
    auto region = SharedRegion::create(aligned_size(sizes), "cohort-task-" + site);
    std::uint64_t offset = 0;
    for (auto& t : model.tensors) {
      auto view = region->view(offset, t.tensor.scalar_type(), t.tensor.sizes().vec());
      view.copy_(t.tensor);
      offset = aligned_size({offset + static_cast<std::uint64_t>(t.tensor.nbytes())});
      t.tensor = view;
    }
    return region;
  }

  static nlohmann::json task_frame(const cohort::Task& task, cohort::ExecutorContext& ctx,
                                   const std::shared_ptr<SharedRegion>& region) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& t : task.model.tensors) {
      tensors.push_back({{"name", t.name},
                         {"dtype", dtype_name(t.tensor.scalar_type())},
                         {"shape", t.tensor.sizes().vec()},
                         {"offset", region->offset_of(t.tensor.data_ptr())}});
    }
    return {{"op", "task"},
            {"task", task.name},
            {"round", task.round},
            {"total_rounds", ctx.job().num_rounds},
            {"meta", task.meta},
            {"tensors", tensors}};
  }

  // cohort.log(tag, value, step): each metric becomes a scalar of the site
  // (ExecutorContext::log_scalar); null stands for a value JSON cannot hold (NaN,
  // infinity), which the site counts as dropped. The line in the site's log is debug.
  static void log_metric(const nlohmann::json& body, cohort::ExecutorContext& ctx) {
    const auto& step_field = body.contains("step") ? body["step"] : nlohmann::json();
    const std::int64_t step = step_field.is_number_integer() ? step_field.get<std::int64_t>() : 0;
    if (!body.contains("metrics") || !body["metrics"].is_object()) return;
    for (const auto& [tag, value] : body["metrics"].items()) {
      const double number = value.is_number() ? value.get<double>() : std::numeric_limits<double>::quiet_NaN();
      ctx.log_scalar(tag, number, step);
      ctx.log().debug("site '{}': {} = {} (step {})", ctx.site(), tag, value.dump(), step);
    }
  }

  // The script's result, checked against the task's model: every tensor it sends must be
  // one the model has, with the same dtype and shape, and every tensor of the model must
  // be sent (the script's side turns a DIFF into a full model before sending). The
  // tensors are where the script wrote them: in the task's region.
  cohort::Model read_result(const Frame& frame, const cohort::Task& task, const std::shared_ptr<SharedRegion>& region,
                            ScriptProcess& script) {
    auto fail = [&](const std::string& message) -> ScriptError {
      return ScriptError(script.describe_failure(message));
    };
    const auto& body = frame.body;
    cohort::Model result;
    try {
      if (body.contains("num_steps") && !body["num_steps"].is_null()) {
        result.num_steps = body["num_steps"].get<std::int64_t>();
        if (*result.num_steps < 0) throw fail("sent num_steps " + std::to_string(*result.num_steps));
      }
      if (body.contains("metrics")) {
        for (const auto& [key, value] : body["metrics"].items()) {
          if (!value.is_number()) throw fail("sent metric '" + key + "' = " + value.dump() + ", not a number");
          result.metrics[key] = value.get<double>();
        }
      }
      const auto& sent = body.value("tensors", nlohmann::json::array());
      std::map<std::string, const nlohmann::json*> by_name;
      for (const auto& t : sent) {
        const std::string name = t.at("name");
        const auto* expected = task.model.find(name);
        if (!expected) {
          std::string names;
          for (const auto& m : task.model.tensors) names += (names.empty() ? "" : ", ") + m.name;
          throw fail("sent tensor '" + name + "', which the task's model does not have" +
                     (names.empty() ? std::string(" (it has no tensors)") : " (it has " + names + ")"));
        }
        if (!by_name.emplace(name, &t).second) throw fail("sent tensor '" + name + "' twice");
        const std::string dtype = t.at("dtype");
        const auto type = dtype_of(dtype);
        const auto shape = t.at("shape").get<std::vector<std::int64_t>>();
        if (type != expected->scalar_type() || shape != expected->sizes().vec()) {
          throw fail("sent tensor '" + name + "' as " + dtype + " " + nlohmann::json(shape).dump() + "; the model has " +
                     dtype_name(expected->scalar_type()) + " " + nlohmann::json(expected->sizes().vec()).dump());
        }
      }
      if (!sent.empty() || task.name == "train") {
        for (const auto& m : task.model.tensors) {
          auto it = by_name.find(m.name);
          if (it == by_name.end()) throw fail("sent no tensor '" + m.name + "' (a result has every tensor of the model)");
          // Written into the task's region: the result is streamed from there.
          const auto offset = it->second->at("offset").get<std::uint64_t>();
          result.tensors.push_back({m.name, region->view(offset, m.tensor.scalar_type(), m.tensor.sizes().vec())});
        }
      }
    } catch (const nlohmann::json::exception& e) {
      throw fail(std::string("sent a malformed result: ") + e.what());
    } catch (const std::out_of_range& e) {
      throw fail(std::string("sent a tensor outside its region: ") + e.what());
    }
    return result;
  }

  // The answer to a get_parameters task: the script's own tensors, whatever they are, in a
  // region it made and sent with the frame.
  static cohort::Model read_parameters(Frame& frame, ScriptProcess& script) {
    auto fail = [&](const std::string& message) -> ScriptError {
      return ScriptError(script.describe_failure(message));
    };
    const auto& sent = frame.body.value("tensors", nlohmann::json::array());
    if (sent.empty()) throw fail("sent no parameters for the initial model (a get_parameters task's result needs them)");
    if (frame.fds.size() != 1) throw fail("sent its parameters without the memory that holds them");
    cohort::Model result;
    try {
      auto region = SharedRegion::open(std::move(frame.fds.front()));
      std::set<std::string> names;
      for (const auto& t : sent) {
        const std::string name = t.at("name");
        if (!names.insert(name).second) throw fail("sent tensor '" + name + "' twice");
        const auto type = dtype_of(t.at("dtype"));
        if (!type) throw fail("sent tensor '" + name + "' of dtype " + t.at("dtype").dump() + ", which cohort cannot carry");
        result.tensors.push_back({name, region->view(t.at("offset").get<std::uint64_t>(), *type,
                                                     t.at("shape").get<std::vector<std::int64_t>>())});
      }
    } catch (const nlohmann::json::exception& e) {
      throw fail(std::string("sent malformed parameters: ") + e.what());
    } catch (const std::out_of_range& e) {
      throw fail(std::string("sent a tensor outside its region: ") + e.what());
    } catch (const std::system_error& e) {
      throw fail(std::string("sent memory that cannot be mapped: ") + e.what());
    }
    return result;
  }

  PythonConfig config_;
  fs::path package_;
  std::mutex mutex_;
  std::optional<ControlListener> listener_;
  std::map<std::string, SiteState> sites_;
};

PythonConfig parse_config(const cohort::Args& args) {
  PythonConfig c;
  // Relative to the recipe's folder; the script travels with the job with its folder
  // (the modules it imports from beside it).
  c.script = args.file("script", cohort::Args::with_its_folder);
  const std::string api = args.choice("api", "cohort", {"cohort", "nvflare", "flower"});
  c.api = api == "nvflare" ? Api::nvflare : api == "flower" ? Api::flower : Api::cohort;
  if (c.api == Api::nvflare) {
    c.numpy_params = args.choice("params", "torch", {"torch", "numpy"}) == "numpy";
  } else if (c.api == Api::flower) {
    c.client_app = args.required<std::string>("client_app");
    c.run_config = args.json_table("config");
  }
  c.args = args.get<std::vector<std::string>>("args", {});
  c.python = args.get<std::string>("python", c.python);
  for (const auto& entry : args.get<std::vector<std::string>>("env", {})) {
    const auto eq = entry.find('=');
    if (eq == std::string::npos || eq == 0) args.fail("env", "'" + entry + "' is not NAME=VALUE");
    c.env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  c.launch = args.choice("launch", "once", {"once", "per_task"}) == "once" ? Launch::once : Launch::per_task;
  c.task_timeout = args.seconds("task_timeout_s", c.task_timeout);
  c.start_timeout = args.seconds("start_timeout_s", c.start_timeout, cohort::at_least(1));
  args.finish();
  return c;
}

std::unique_ptr<cohort::Executor> make(const cohort::PluginConfig& config) {
  return std::make_unique<PythonExecutor>(parse_config(config.args));
}

}  // namespace

COHORT_PLUGIN(cohort::executor_plugin("python", "1.0.0",
                                      "Runs a user's Python training script (the cohort Client API) per site", &make))
