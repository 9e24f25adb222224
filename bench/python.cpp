// Python scripts as executors: the hand-off of a model between the client process and the
// script (shared memory) against a plain memcpy of the same bytes in the same run, the
// memory that client and script use together during a task, and drift over 100 rounds.
#include "suites.hpp"

#include "config/toml_file.hpp"
#include "plugin/registry.hpp"

#include "memory/memory.hpp"
#include <cohort/plugin.hpp>

#include <spdlog/logger.h>
#include <spdlog/sinks/null_sink.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <sstream>
#include <thread>

namespace cohort::bench {

namespace {

using Clock = std::chrono::steady_clock;
namespace fs = std::filesystem;

const fs::path kScript = fs::path(COHORT_BENCH_SOURCE) / "python/site.py";
const fs::path kFlareScript = fs::path(COHORT_BENCH_SOURCE) / "python/flare_site.py";

class BenchSite final : public ExecutorContext {
 public:
  BenchSite() : log_("bench-site", std::make_shared<spdlog::sinks::null_sink_mt>()) {
    job_.id = "bench";
    job_.num_rounds = 1000;
  }
  const std::string& site() const override { return site_; }
  std::int64_t site_index() const override { return 0; }
  std::int64_t num_sites() const override { return 1; }
  const JobInfo& job() const override { return job_; }
  spdlog::logger& log() override { return log_; }
  bool abort_requested() const override { return false; }
  void log_scalar(const std::string&, double, std::int64_t) override {}

 private:
  std::string site_ = "site-1";
  JobInfo job_;
  spdlog::logger log_;
};

struct PythonExecutor {
  std::shared_ptr<plugin::LoadedPlugin> plugin;
  std::shared_ptr<Executor> executor;
};

/// The python executor running `script SCRIPT_ARGS...` (the first: the script's mode);
/// `extra` are more lines of its args.
PythonExecutor python_executor(const Context& ctx, const std::vector<std::string>& script_args,
                               const fs::path& script = kScript, const std::string& extra = "") {
  const fs::path recipe = ctx.work / "python" / ("recipe-" + script.stem().string() + "-" + script_args.at(0) + ".toml");
  fs::create_directories(recipe.parent_path());
  std::ofstream toml(recipe);
  toml << "[executor.args]\nscript = \"" << script.string() << "\"\nargs = [";
  for (std::size_t i = 0; i < script_args.size(); ++i) toml << (i ? ", " : "") << "\"" << script_args[i] << "\"";
  toml << "]\n" << extra;
  toml.close();
  Args args = config::read_toml_file(recipe).table("executor").table("args");
  plugin::Registry registry({ctx.cohort.parent_path().parent_path() / "lib/cohort/plugins"});
  auto plugin = registry.load(PluginKind::executor, "python", {});
  JobInfo job;
  Args model;
  return {plugin, plugin->make_executor({args, job, model})};
}

// A task whose model lands where the executor wants it, as the network would put it:
// `tensors` tensors of `bytes` in all, filled (outside the timing).
Task placed_task(Executor& executor, BenchSite& site, std::size_t bytes, int tensors) {
  auto placement = executor.model_placement(site);
  const std::int64_t elements = static_cast<std::int64_t>(bytes / 4 / tensors);
  placement->reserve(static_cast<std::uint32_t>(tensors), static_cast<std::uint64_t>(elements) * 4 * tensors);
  Task task{"train", 0, {}, {}};
  for (int i = 0; i < tensors; ++i) {
    TensorInfo info{"w" + std::to_string(i), c10::ScalarType::Float, {elements}, static_cast<std::uint64_t>(elements) * 4,
                    static_cast<std::size_t>(i)};
    at::Tensor t = placement->place(info);
    t.fill_(0.5f);
    task.model.tensors.push_back({info.name, t});
  }
  return task;
}

// Seconds for one memcpy of `bytes` between two buffers already in memory.
double memcpy_seconds(std::size_t bytes) {
  std::vector<char> from(bytes, 1), to(bytes, 0);
  const auto start = Clock::now();
  std::memcpy(to.data(), from.data(), bytes);
  const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  if (to[bytes / 2] != 1) throw std::logic_error("memcpy");
  return seconds;
}

// Memory in use by this process and the processes it started, in bytes: each one's
// resident memory (/proc/PID/status, cheap enough to sample every few milliseconds) with
// the shared-memory region that they all map counted once (the largest RssShmem).
std::uint64_t in_use_with_children() {
  auto status = [](const std::string& pid) {
    std::ifstream in("/proc/" + pid + "/status");
    std::string key;
    std::uint64_t rss = 0, shmem = 0, kib = 0;
    while (in >> key) {
      if (key == "VmRSS:" && in >> kib) rss = kib * 1024;
      else if (key == "RssShmem:" && in >> kib) shmem = kib * 1024;
      in.ignore(1 << 16, '\n');
    }
    return std::pair{rss, shmem};
  };
  auto [rss, shmem] = status("self");
  std::uint64_t total = rss - shmem, shared = shmem;
  for (int pid : memory::descendant_pids()) {
    auto [child_rss, child_shmem] = status(std::to_string(pid));
    total += child_rss - child_shmem;
    shared = std::max(shared, child_shmem);
  }
  return total + shared;
}

// The largest rise of in_use_with_children() above `idle` while `work` runs, in bytes.
template <class Work>
double peak_above(std::uint64_t idle, Work&& work) {
  std::atomic<bool> done{false};
  std::atomic<std::uint64_t> highest{idle};
  std::thread sampler([&] {
    while (!done) {
      const auto now = in_use_with_children();
      if (now > highest) highest = now;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
  });
  work();
  done = true;
  sampler.join();
  return static_cast<double>(highest.load() - idle);
}

/// A hand-off row: `seconds` against one memcpy of the model timed in the same run (`copy`);
/// met at no more than two memcpys, one each way.
Row handoff_row(const std::string& setting, const std::vector<double>& seconds, const std::vector<double>& copy,
                const std::string& note) {
  Row row;
  row.benchmark = "python";
  row.setting = setting;
  row.figure = stats(seconds);
  row.unit = "s";
  row.baseline = stats(copy);
  row.baseline_unit = "s for one memcpy of the model";
  const double ratio = row.figure.median / row.baseline->median;
  row.goal = "<= 2 memcpy (1 each way)";
  row.met = ratio <= 2.0;
  row.note = "ratio " + std::to_string(ratio).substr(0, 6) + " memcpy; " + note;
  return row;
}

}  // namespace

std::vector<Row> python(const Context& ctx) {
  const std::size_t bytes = ctx.quick ? (64u << 20) : (1u << 30);
  const int runs = ctx.quick ? 2 : 5;
  const std::string size = ctx.quick ? "64 MiB" : "1 GiB";
  std::vector<Row> rows;
  BenchSite site;

  // Hand-offs: a task into the script and its result back (the script is started by a
  // first task, outside the timing), against one memcpy of the model in the same run.
  struct Handoff {
    std::string mode;
    fs::path script;
    std::string args;
    std::string setting;
    std::string note;
  };
  const std::vector<Handoff> handoffs{
      {"unchanged", kScript, "", "into the script and back (receive() + send() of unchanged tensors)",
       "no tensor byte is copied: the script's tensors view the shared region"},
      {"unchanged", kFlareScript, "api = \"nvflare\"\n",
       "through the NVIDIA FLARE shim (flare.receive() + flare.send() of unchanged torch params)",
       "FLModel.params are the same views: no copy either way"},
      {"unchanged", kFlareScript, "api = \"nvflare\"\nparams = \"numpy\"\n",
       "through the NVIDIA FLARE shim with params = \"numpy\" (unchanged arrays)",
       "numpy arrays over the same memory, and back as torch views of them: no copy either way"},
  };
  for (const auto& h : handoffs) {
    auto python = python_executor(ctx, {h.mode}, h.script, h.args);
    python.executor->execute(placed_task(*python.executor, site, 4096, 1), site);
    std::vector<double> handoff, copy;
    for (int r = 0; r < runs; ++r) {
      copy.push_back(memcpy_seconds(bytes));
      Task task = placed_task(*python.executor, site, bytes, 4);
      const auto start = Clock::now();
      Model result = python.executor->execute(std::move(task), site);
      handoff.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    rows.push_back(handoff_row("hand-off of a " + size + " model " + h.setting, handoff, copy, h.note));
  }

  // numpy parameters that the script copies into arrays of its own and sends back: cohort's
  // part, flare.receive() + flare.send() as the script times them (its own copy, and the
  // first touch of the task's fresh memory that comes with it, are the script's work).
  {
    const fs::path times = ctx.work / "python" / "flare-numpy-times.txt";
    fs::remove(times);
    auto python = python_executor(ctx, {"new", times.string()}, kFlareScript, "api = \"nvflare\"\nparams = \"numpy\"\n");
    python.executor->execute(placed_task(*python.executor, site, 4096, 1), site);
    std::vector<double> copy;
    for (int r = 0; r < runs; ++r) {
      copy.push_back(memcpy_seconds(bytes));
      Model result = python.executor->execute(placed_task(*python.executor, site, bytes, 4), site);
    }
    std::vector<double> cohorts_part;
    std::ifstream in(times);
    double receive = 0, send = 0;
    for (int line = 0; in >> receive >> send; ++line)
      if (line > 0) cohorts_part.push_back(receive + send);  // the first was the warm-up task
    rows.push_back(handoff_row("hand-off of a " + size + " model through the NVIDIA FLARE shim with params = \"numpy\", "
                               "the script sending arrays of its own: flare.receive() + flare.send()",
                               cohorts_part, copy,
                               "receive() hands numpy views (no copy), send() copies each array once into the shared region"));
  }

  // Memory of client and script together during a task whose script copies the tensors
  // into its own parameters (load_state_dict's pattern), changes them and sends them back.
  // Each run starts a script, so that its idle level holds no parameters yet.
  {
    std::vector<double> peaks, times;
    for (int r = 0; r < runs; ++r) {
      auto python = python_executor(ctx, {"trained"});
      python.executor->execute(placed_task(*python.executor, site, 4096, 1), site);
      const auto idle = in_use_with_children();
      const auto start = Clock::now();
      peaks.push_back(peak_above(idle, [&] {
                        Task task = placed_task(*python.executor, site, bytes, 4);
                        Model result = python.executor->execute(std::move(task), site);
                      }) /
                      static_cast<double>(bytes));
      times.push_back(std::chrono::duration<double>(Clock::now() - start).count());
    }
    Row row;
    row.benchmark = "python";
    row.setting = "client process + script during a task with a " + size +
                  " model (the script copies it into its own parameters, changes them, sends them)";
    row.figure = stats(peaks);
    row.unit = "× model above their idle level (both processes' resident memory, the shared region once)";
    row.goal = "<= 2.1";
    row.met = row.figure.median <= 2.1;
    row.note = "one shared region plus the script's own parameters; task " + std::to_string(stats(times).median).substr(0, 5) +
               " s including the network-side fill";
    rows.push_back(row);
  }

  // Drift over a 100-round FedAvg job with the python executor (synthetic model).
  {
    const std::int64_t rounds = ctx.quick ? 15 : 100;
    const double model_mb = ctx.quick ? 10 : 50;
    std::ostringstream recipe;
    recipe << "[job]\nname = \"python-drift\"\nnum_rounds = " << rounds << "\nmin_clients = 2\n"
           << "[controller]\nplugin = \"fedavg\"\n[controller.args]\nfinal_validation = false\n"
           << "[executor]\nplugin = \"python\"\n[executor.args]\nscript = \"" << kScript.string()
           << "\"\nargs = [\"trained\"]\n[model]\narch = \"synthetic\"\nsize_mb = " << model_mb
           << "\ntensors = 4\n[memory]\nmonitor_interval_ms = 500\n[simulation]\nclients = 2\nworkers = 2\n";
    const auto job = simulate(ctx, "python-drift", recipe.str());
    for (const std::string process : {"client-1", "client-2"}) {
      const auto csv = jobs::JobDirectory::at(job).memory_csv(process);
      for (auto [who, column] : {std::pair{process, &jobs::MemoryRow::rss_mb},
                                 std::pair{process + "'s script", &jobs::MemoryRow::children_rss_mb}}) {
        const auto values = by_round(csv, column);
        const double per_round = slope(values, 10, rounds);
        auto at = [&](std::int64_t r) { auto it = values.find(r); return it == values.end() ? 0.0 : it->second; };
        Row row;
        row.benchmark = "python";
        row.setting = "drift of " + who + ", FedAvg with the python executor, " +
                      std::to_string(static_cast<int>(model_mb)) + " MB model, rounds 10–" + std::to_string(rounds);
        row.figure = stats({per_round});
        row.unit = "MiB/round (least-squares slope of the RSS at each round's end)";
        row.goal = "< 1";
        row.met = per_round < 1.0;
        row.note = "RSS " + std::to_string(static_cast<int>(at(10))) + " MiB after round 10, " +
                   std::to_string(static_cast<int>(at(rounds))) + " at the end";
        rows.push_back(row);
      }
    }
  }
  return rows;
}

}  // namespace cohort::bench
